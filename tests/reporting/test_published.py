"""Published numbers beside reproduced cells: the shipped published.csv / sources.csv are consistent,
and the README table matches each published row with the suite's cell for it."""

import pandas as pd
import pytest

from benchmark.core.errors import DataError
from benchmark.reporting.published import REFERENCE_DIR, read_published, reference_markdown


def test_shipped_published_numbers_are_consistent():
    pub, src = read_published(REFERENCE_DIR)
    assert {"cora", "mutag", "proteins", "breastmnist", "ecg200"} <= set(pub.dataset)
    assert set(pub.protocol) <= {"label_fraction", "tu_cv"}
    assert set(pub.source_key) <= set(src.key)


def _long(**kw):
    base = dict(
        dataset="mutag",
        method="simclr",
        protocol="tu_cv",
        probe="cv_logreg",
        fraction=1.0,
        corruption="",
        metric="accuracy",
        mean=0.85,
        std=0.02,
        n_seeds=5,
    )
    return {**base, **kw}


def test_readme_puts_the_reproduced_cell_beside_the_published_one():
    pub = pd.DataFrame(
        [
            ["mutag", "simclr", "tu_cv", "accuracy", 0.868, 0.0134, "you2020"],
            ["cora", "gcn_supervised", "label_fraction", "accuracy", 0.815, float("nan"), "kipf2017"],
        ],
        columns=["dataset", "method", "protocol", "metric", "value", "std", "source_key"],
    )
    src = pd.DataFrame(
        [["you2020", "GraphCL", "Table 3"], ["kipf2017", "GCN", "Table 2"]],
        columns=["key", "citation", "where"],
    )
    long = pd.DataFrame(
        [
            _long(),
            _long(metric="accuracy_fold_std", mean=0.07),
            _long(
                dataset="cora", method="gcn_supervised", protocol="label_fraction", probe="linear", mean=0.5
            ),
            _long(
                dataset="cora",
                method="gcn_supervised",
                protocol="label_fraction",
                probe="end_to_end",
                mean=0.812,
                std=0.006,
            ),
        ]
    )
    long = pd.concat(
        [
            long,
            pd.DataFrame(
                [
                    _long(method="byol", mean=0.86, std=0.01),
                    _long(method="random_init", mean=0.875, std=0.01),
                    # semi-supervised and reference rows are never the best label-free SSL method
                    _long(method="fixmatch", mean=0.95),
                    _long(
                        dataset="cora",
                        method="supervised",
                        protocol="label_fraction",
                        probe="linear",
                        mean=0.7,
                    ),
                ]
            ),
        ],
        ignore_index=True,
    )
    md = reference_markdown(pub, src, long)
    assert "| mutag | simclr | tu_cv | accuracy | 86.8 ± 1.3 | 85.0 ± 2.0 (n=5, cv_logreg) | -1.8 |" in md
    assert "| mutag | tu_cv | byol 86.0 ± 1.0 (n=5, cv_logreg) | 87.5 ± 1.0 (n=5, cv_logreg) | — | — |" in md
    assert (
        "| cora | label_fraction | — | — | 70.0 ± 2.0 (n=5, linear) "
        "| gcn_supervised 81.2 ± 0.6 (n=5, end_to_end) |" in md
    )
    # the recipe's own predictions are preferred over a probe on its features
    assert "| 81.5 | 81.2 ± 0.6 (n=5, end_to_end) |" in md
    assert "**kipf2017**: GCN. Table 2." in md
    assert "| 86.8 ± 1.3 | — |" in reference_markdown(pub, src, None)


def test_unknown_source_key_is_a_data_error(tmp_path):
    (tmp_path / "published.csv").write_text(
        "dataset,method,protocol,metric,value,std,source_key\ncora,dgi,label_fraction,accuracy,0.8,,nope\n"
    )
    (tmp_path / "sources.csv").write_text("key,citation,where\nkipf2017,GCN,Table 2\n")
    with pytest.raises(DataError, match=r"source_key\(s\) \['nope'\] not in sources.csv"):
        read_published(tmp_path)


def test_published_and_sources_csvs_are_not_leaderboard_tables(tmp_path):
    """leaderboards/reference/ holds published.csv and sources.csv before the suite has run: render,
    validate and withdraw read only `<protocol>.csv` files, so the other suites still render."""
    import shutil

    from benchmark.reporting.leaderboard.pages import load_leaderboards
    from benchmark.reporting.leaderboard.schema import leaderboard_csvs
    from benchmark.reporting.published import REFERENCE_DIR

    root = tmp_path / "leaderboards"
    (root / "reference").mkdir(parents=True)
    for name in ("published.csv", "sources.csv"):  # the folder as it is before the suite's first publish
        shutil.copy(REFERENCE_DIR / name, root / "reference" / name)
    shutil.copytree(REFERENCE_DIR.parent / "quick", root / "quick")
    (root / "quick" / "tuning.csv").write_text("dataset,method,trial\nmutag,simclr,0\n")
    assert [p.name for p in leaderboard_csvs(root / "quick")] == [
        "label_fraction.csv",
        "ood.csv",
        "robustness.csv",
        "transfer.csv",
    ]
    assert leaderboard_csvs(root / "reference") == []
    boards = load_leaderboards(root)
    assert set(boards) == {"quick"} and len(boards["quick"]) > 0
