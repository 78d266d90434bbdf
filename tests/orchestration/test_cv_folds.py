"""A suite entry with `folds` runs one job per fold and pools the folds into one table cell."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.orchestration.jobs import expand
from benchmark.orchestration.suites import load_suite
from benchmark.reporting.compare import delta_table
from benchmark.reporting.tables import long_table


def _suite(tmp_path, entry: str) -> str:
    f = tmp_path / "cv.yaml"
    f.write_text(f"name: cv\ndatasets:\n{entry}\nmethods: [random_init, supervised]\nseeds: [0, 1]\n")
    return str(f)


def test_folds_expand_to_one_job_per_fold_and_seed_sharing_one_cell(tmp_path):
    suite = load_suite(_suite(tmp_path, "  - name: esc50\n    folds: [1, 2, 3, 4, 5]"))
    jobs = expand(suite, ["random_init"])
    assert len(jobs) == 10
    assert sorted((j.cv_fold, j.seed) for j in jobs) == [(f, s) for f in range(1, 6) for s in (0, 1)]
    assert all(j.dataset_options == {"fold": j.cv_fold} for j in jobs)
    assert len({j.config_hash() for j in jobs}) == 10  # ten runs ...
    assert len({j.group_hash() for j in jobs}) == 1  # ... one cell
    assert "fold 3" in next(j for j in jobs if j.cv_fold == 3).label()
    # a suite without folds keeps the hashes it had (no cv_fold key in its config)
    plain = expand(load_suite(_suite(tmp_path, "  - name: esc50")), ["random_init"])
    assert "cv_fold" not in plain[0].config() and plain[0].dataset_options == {}


def test_pooled_cell_averages_every_fold_and_seed():
    rows = []
    for fold in (1, 2, 3, 4, 5):
        for seed in (0, 1):
            rows.append(
                dict(
                    config_hash=f"h{fold}{seed}",
                    group_hash="g",
                    suite="cv",
                    method="random_init",
                    dataset="esc50",
                    domain="audio",
                    encoder="default:spectrogram",
                    pretrain_budget="0ep",
                    seed=seed,
                    fold=fold,
                    code_version="x",
                    dataset_version="master",
                    created_at=f"2026-12-04T00:00:0{fold}Z",
                    protocol="label_fraction",
                    probe="linear",
                    fraction=1.0,
                    corruption="",
                    severity=0,
                    ood_partner="",
                    metric="accuracy",
                    value=0.1 * fold + 0.01 * seed,
                )
            )
    frame = pd.DataFrame(rows)
    long = long_table(frame)
    assert len(long) == 1
    assert long.iloc[0]["n_seeds"] == 10 and long.iloc[0]["mean"] == pytest.approx(0.305)
    # compare pairs by seed and fold: ten pairs, a constant difference
    other = frame.assign(
        method="supervised", value=frame["value"] + 0.05, config_hash=frame["config_hash"] + "s"
    )
    deltas = delta_table(pd.concat([frame, other]), "cv", "supervised", ["random_init"])
    assert deltas.iloc[0]["n_pairs"] == 10 and deltas.iloc[0]["diff_mean"] == pytest.approx(0.05)


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            "  - name: esc50\n    folds: [1, 6]",
            "esc50: option fold must be one of the official folds 1..5, got 6",
        ),
        ("  - name: esc50\n    folds: [2]", "folds must be a list of at least two distinct fold numbers"),
        (
            "  - name: esc50\n    options: {fold: 1}\n    folds: [1, 2]",
            "give either options.fold (one fold) or folds (cross-validation), not both",
        ),
        ("  - name: fsdd\n    folds: [1, 2]", "fsdd: unknown option(s) ['fold']"),
    ],
)
def test_bad_folds_are_one_usage_line_before_any_job(tmp_path, capsys, entry, message):
    out = tmp_path / "out"
    assert main(["run", "--suite", _suite(tmp_path, entry), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not out.exists()
