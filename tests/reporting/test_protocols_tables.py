"""End to end on the toy adapters: `run_jobs` + `write_tables` write label_fraction / robustness /
ood / transfer CSVs in the long format and a Markdown summary per protocol with the reference rows;
regenerating after deleting the Markdown gives identical files; transfer usage errors are clear."""

import csv

import pytest
import torch
from _protocol_toys import registered

from benchmark.cli import main
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.runner import run_jobs
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import UsageError, parse_suite
from benchmark.orchestration.transfer import checkpoint_key, transfer_jobs
from benchmark.reporting.tables import LONG_COLUMNS, write_tables
from benchmark.training.checkpoints import pretrain_key

SUITE = {
    "name": "toy",
    "datasets": [{"name": "toy_blobs_a"}],
    "methods": ["simclr", "random_init", "supervised"],
    "seeds": [0, 1],
    "fractions": [0.1, 1.0],
    "probes": ["linear", "knn"],
    "protocols": ["label_fraction", "robustness", "ood"],
    "pretrain": {"epochs": 1, "batch_size": 64},
}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    with registered(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSLBENCH_THREADS", "1")
        out = tmp_path_factory.mktemp("toyrun")
        suite = parse_suite(SUITE, "toy")
        jobs = expand(suite, seeds=[0]) + transfer_jobs(suite, ["toy_blobs_b"], ["toy_blobs_a"], seeds=[0])
        jobs += transfer_jobs(suite, ["toy_blobs_a", "toy_blobs_b"], ["toy_blobs_a"], ["simclr"], seeds=[0])
        store = ResultStore(out / "store.sqlite")
        summary = run_jobs(
            jobs, store, out, out, torch.device("cpu"), log=lambda m: None, show_progress=False
        )
        written = write_tables(store, out, "toy")
        yield out, suite, jobs, store, summary, written


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_all_protocol_tables_written(toy_run):
    out, suite, jobs, store, summary, written = toy_run
    assert summary["ran"] == 7 and not summary["failed"], summary
    assert summary["train_s"] > 0 and summary["eval_s"] > 0  # evaluation cost is measured
    for name in ("label_fraction", "robustness", "ood", "transfer"):
        rows = _rows(out / f"{name}.csv")
        assert rows and list(rows[0]) == LONG_COLUMNS, name
        assert {r["protocol"] for r in rows} == {name}
    for name in ("label_fraction.md", "robustness.md", "ood.md", "transfer.md", "stats.md"):
        assert name in written, name
    for name in ("label_fraction.md", "robustness.md", "ood.md", "transfer.md"):
        md = (out / name).read_text()
        assert "| random_init |" in md and "| supervised |" in md and "| simclr |" in md, name


def test_robustness_table_has_mce_one_for_supervised(toy_run):
    out = toy_run[0]
    rows = _rows(out / "robustness.csv")
    mce = {(r["method"], r["probe"]): float(r["mean"]) for r in rows if r["metric"] == "mce"}
    assert mce[("supervised", "linear")] == pytest.approx(1.0) and mce[
        ("supervised", "knn")
    ] == pytest.approx(1.0)
    assert {m for m, _ in mce} == {"simclr", "random_init", "supervised"}
    sev = {
        int(r["severity"]) for r in rows if r["corruption"] == "gaussian_noise" and r["metric"] == "accuracy"
    }
    assert sev == {1, 2, 3, 4, 5}
    md = (out / "robustness.md").read_text()
    assert "1.000 (n=1)" in md and "± 0.0" not in md  # one seed: a value with its n, never "± 0"


def test_ood_table(toy_run):
    rows = _rows(toy_run[0] / "ood.csv")
    assert {r["ood_partner"] for r in rows} == {"near:toy_blobs_b", "far:synthetic_noise"}
    assert {r["probe"] for r in rows} == {"msp", "energy", "mahalanobis", "knn"}
    assert {r["metric"] for r in rows} == {"auroc", "fpr95", "aupr_in", "aupr_out"}
    assert all(0 <= float(r["mean"]) <= 1 for r in rows)


def test_transfer_rows_name_their_source_and_share_checkpoints(toy_run):
    out, suite, jobs, *_ = toy_run
    rows = _rows(out / "transfer.csv")
    assert {r["pretrain_budget"] for r in rows} == {"1ep@toy_blobs_b", "1ep@toy_blobs_a+toy_blobs_b"}
    assert {r["dataset"] for r in rows} == {"toy_blobs_a"}
    assert {r["method"] for r in rows if "+" in r["pretrain_budget"]} == {"simclr"}
    md = (out / "transfer.md").read_text()
    assert "in-domain" in md and "toy_blobs_a+toy_blobs_b" in md
    # one checkpoint per (method, hparams, seed, epochs, sources), whatever the target; label-free
    # pretraining on one source is named like (and shared with) that source's in-domain run
    tj = [j for j in jobs if j.pretrain_on]
    for j in tj:
        if j.method == "random_init":
            continue
        if len(j.pretrain_on) == 1:
            src = j.pretrain_on[0]
            key = pretrain_key(
                j.method,
                j.method_hparams,
                j.seed,
                j.epochs,
                src["name"],
                src.get("options", {}),
                src.get("max_train"),
                j.recipes,
            )
            name = f"pretrain-{key}.pt" if j.method == "simclr" else f"supervised-{key}-f1.pt"
            assert (out / "checkpoints" / name).exists()
        else:
            assert (out / "checkpoints" / f"transfer-{checkpoint_key(j)}.pt").exists()


@pytest.mark.parametrize("method", ["simclr", "supervised"])
def test_transfer_reuses_the_in_domain_pretraining_checkpoint(tmp_path, method):
    # toy_blobs_b's in-domain job, then toy_blobs_b -> toy_blobs_a: the transfer job loads the
    # finished checkpoint (SimCLR's, or the supervised reference's at 100 % labels), trains no epoch
    # and probes the identical encoder.
    with registered(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSLBENCH_THREADS", "1")
        suite = parse_suite({**SUITE, "datasets": [{"name": "toy_blobs_a"}, {"name": "toy_blobs_b"}]}, "toy")
        src_job = [j for j in expand(suite, [method], ["toy_blobs_b"], [0])][0]
        tr_job = transfer_jobs(suite, ["toy_blobs_b"], ["toy_blobs_a"], [method], seeds=[0])[0]
        from benchmark.orchestration.runner import run_job

        src = run_job(src_job, tmp_path, tmp_path, torch.device("cpu"))
        ckpts = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
        epochs_run = []
        tr = run_job(
            tr_job,
            tmp_path,
            tmp_path,
            torch.device("cpu"),
            progress=lambda epoch, rec: epochs_run.append(epoch),
        )
        assert src.status == tr.status == "done"
        assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ckpts  # nothing new
        assert epochs_run == []  # resumed complete: not one epoch trained again
        src_hist = src.history["pretrain" if method == "simclr" else "fraction=1"]
        assert tr.history["pretrain"]["epochs"] == src_hist["epochs"]


def test_report_regenerates_identical_markdown(toy_run):
    out, suite, jobs, store, _, written = toy_run
    before = {n: (out / n).read_text() for n in written if n.endswith(".md")}
    for n in before:
        (out / n).unlink()
    write_tables(store, out, "toy")
    assert {n: (out / n).read_text() for n in before} == before


def test_in_domain_job_hash_unchanged_by_transfer_field():
    j = Job(
        suite="s",
        method="m",
        dataset="d",
        seed=0,
        epochs=1,
        fractions=[1.0],
        probes=["linear"],
        protocols=["label_fraction"],
    )
    assert "pretrain_on" not in j.config()


def test_transfer_usage_errors(tmp_path, capsys):
    with registered():
        suite = parse_suite(SUITE, "toy")
        with pytest.raises(UsageError, match="one input spec.*toy_wide"):
            transfer_jobs(suite, ["toy_blobs_a"], ["toy_wide"])
        with pytest.raises(UsageError, match="go together"):
            transfer_jobs(suite, ["toy_blobs_a"], [])
        with pytest.raises(UsageError, match="in-domain"):
            transfer_jobs(suite, ["toy_blobs_a"], ["toy_blobs_a"])
        with pytest.raises(UsageError, match="unknown dataset"):
            transfer_jobs(suite, ["nope"], ["toy_blobs_a"])
        suite_file = tmp_path / "toy.yaml"
        import yaml

        suite_file.write_text(yaml.safe_dump(SUITE))
        rc = main(
            [
                "run",
                "--suite",
                str(suite_file),
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
                "--pretrain-on",
                "toy_blobs_a",
                "--evaluate-on",
                "toy_wide",
            ]
        )
        assert rc == 2 and "one input spec" in capsys.readouterr().err
        rc = main(
            [
                "run",
                "--suite",
                str(suite_file),
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
                "--evaluate-on",
                "toy_blobs_b",
            ]
        )
        assert rc == 2 and "go together" in capsys.readouterr().err


def test_suite_transfer_entries():
    from benchmark.orchestration.transfer import suite_transfer_jobs

    with registered():
        s = parse_suite(
            {
                **SUITE,
                "transfer": [
                    {"pretrain_on": "toy_blobs_b", "evaluate_on": ["toy_blobs_a"]},
                    {
                        "pretrain_on": ["toy_blobs_a", "toy_blobs_b"],
                        "evaluate_on": ["toy_blobs_a", "toy_blobs_b"],
                    },
                ],
            },
            "toy",
        )
        jobs = suite_transfer_jobs(s, seeds=[0])
        assert len(jobs) == 3 * 3 and {j.protocols[0] for j in jobs} == {"transfer"}
        assert [len(j.pretrain_on) for j in jobs] == [1] * 3 + [2] * 6
        assert len(suite_transfer_jobs(s, seeds=[0], datasets=["toy_blobs_b"])) == 3
        with pytest.raises(UsageError, match=r"transfer\[0\]"):
            parse_suite({**SUITE, "transfer": [{"pretrain_on": "toy_blobs_b"}]}, "toy")
        with pytest.raises(UsageError, match="one input spec"):
            suite_transfer_jobs(
                parse_suite(
                    {**SUITE, "transfer": [{"pretrain_on": "toy_wide", "evaluate_on": "toy_blobs_a"}]}, "toy"
                )
            )


def test_transfer_source_given_as_a_mapping_with_options():
    """A transfer item may be a dataset mapping (options, caps, epochs) for a source the suite does
    not otherwise run; its options decide the spec (MIT-BIH `length: 96` = ECG200's (1, 96))."""
    from benchmark.orchestration.suites import DatasetEntry
    from benchmark.orchestration.transfer import suite_transfer_jobs

    base = {**SUITE, "datasets": ["ecg200"], "methods": ["simclr"]}
    s = parse_suite(
        {
            **base,
            "transfer": [
                {
                    "pretrain_on": [
                        {"name": "mitdb", "options": {"length": 96}, "max_train": 300, "epochs": 3}
                    ],
                    "evaluate_on": "ecg200",
                }
            ],
        },
        "q",
    )
    assert s.transfer[0]["pretrain_on"] == [DatasetEntry("mitdb", {"length": 96}, 300, epochs=3)]
    (job,) = suite_transfer_jobs(s, seeds=[0])
    assert job.dataset == "ecg200" and job.epochs == 3
    assert job.pretrain_on == [
        {"name": "mitdb", "options": {"length": 96}, "max_train": 300, "max_val": None, "max_test": None}
    ]
    with pytest.raises(UsageError, match=r"mitdb is signal1d\(1, 252\) but ecg200"):
        suite_transfer_jobs(
            parse_suite({**base, "transfer": [{"pretrain_on": "mitdb", "evaluate_on": "ecg200"}]}, "q")
        )
    # a transfer target the suite does not run in-domain is a valid --datasets filter
    g = parse_suite(
        {
            **base,
            "transfer": [
                {
                    "pretrain_on": [{"name": "proteins", "options": {"node_features": "degree"}}],
                    "evaluate_on": [{"name": "mutag", "options": {"node_features": "degree"}}],
                }
            ],
        },
        "q",
    )
    assert expand(g, datasets=["mutag"]) == []
    (gj,) = suite_transfer_jobs(g, seeds=[0], datasets=["mutag"])
    assert gj.dataset == "mutag" and gj.dataset_options == {"node_features": "degree"}
    with pytest.raises(UsageError, match=r"transfer targets \['mutag'\]"):
        expand(g, datasets=["proteins"])
    with pytest.raises(UsageError, match=r"transfer\[0\].pretrain_on\[0\]: unknown field"):
        parse_suite(
            {
                **base,
                "transfer": [{"pretrain_on": [{"name": "mitdb", "lenght": 96}], "evaluate_on": "ecg200"}],
            },
            "q",
        )
    with pytest.raises(UsageError, match="mitdb options"):
        suite_transfer_jobs(
            parse_suite(
                {
                    **base,
                    "transfer": [
                        {
                            "pretrain_on": [{"name": "mitdb", "options": {"length": "x"}}],
                            "evaluate_on": "ecg200",
                        }
                    ],
                },
                "q",
            )
        )


def test_per_dataset_epochs_and_hparams_override_the_suite():
    with registered():
        s = parse_suite(
            {
                **SUITE,
                "datasets": [
                    {"name": "toy_blobs_a", "epochs": 7, "method_hparams": {"simclr": {"temperature": 0.2}}},
                    {"name": "toy_blobs_b"},
                ],
                "method_hparams": {"simclr": {"temperature": 0.5, "lr": 0.01}},
                "transfer": [{"pretrain_on": "toy_blobs_a", "evaluate_on": "toy_blobs_b"}],
            },
            "toy",
        )
        jobs = {(j.dataset, j.method): j for j in expand(s, seeds=[0])}
        a, b = jobs["toy_blobs_a", "simclr"], jobs["toy_blobs_b", "simclr"]
        assert (a.epochs, a.method_hparams["temperature"], a.method_hparams["lr"]) == (7, 0.2, 0.01)
        assert (b.epochs, b.method_hparams["temperature"]) == (1, 0.5)
        assert jobs["toy_blobs_a", "random_init"].epochs == 7
        from benchmark.orchestration.transfer import suite_transfer_jobs

        t = [j for j in suite_transfer_jobs(s, seeds=[0]) if j.method == "simclr"][0]
        assert (t.dataset, t.epochs, t.method_hparams["temperature"]) == (
            "toy_blobs_b",
            7,
            0.2,
        )  # source's budget
        with pytest.raises(UsageError, match=r"datasets\[0\]\.epochs"):
            parse_suite({**SUITE, "datasets": [{"name": "toy_blobs_a", "epochs": 0}]}, "toy")
        with pytest.raises(UsageError, match=r"unknown hyper-parameter"):
            expand(
                parse_suite(
                    {
                        **SUITE,
                        "datasets": [{"name": "toy_blobs_a", "method_hparams": {"simclr": {"nope": 1}}}],
                    },
                    "toy",
                )
            )


def test_robustness_cap_from_suite():
    with registered():
        jobs = expand(parse_suite({**SUITE, "robustness": {"max_test": 50}}, "toy"), seeds=[0])
        assert {j.robustness_max_test for j in jobs} == {50}
        plain = expand(parse_suite(SUITE, "toy"), seeds=[0])
        assert "robustness_max_test" not in plain[0].config()  # older hashes unchanged
        assert jobs[0].config_hash() != plain[0].config_hash()
        for bad in ({"max_test": 5}, {"max_tests": 50}, [50]):
            with pytest.raises(UsageError, match="robustness"):
                parse_suite({**SUITE, "robustness": bad}, "toy")


def test_tables_never_pool_an_older_config_of_the_same_row():
    # A store holding seed 0 of an older config (e.g. before the suite's robustness cap changed) and
    # seeds 0-2 of the current one: the row reports the current config's 3 seeds, not 4 values.
    import pandas as pd

    from benchmark.reporting.tables import latest_configs, long_table

    base = {
        "suite": "quick",
        "domain": "image",
        "dataset": "d",
        "method": "simclr",
        "encoder": "default:image2d",
        "pretrain_budget": "5ep",
        "protocol": "label_fraction",
        "probe": "linear",
        "fraction": 0.1,
        "corruption": "",
        "severity": 0,
        "ood_partner": "",
        "metric": "accuracy",
        "code_version": "x",
    }
    old = [
        {
            **base,
            "group_hash": "old",
            "config_hash": "o0",
            "seed": 0,
            "value": 0.1,
            "created_at": "2026-01-01T00:00:00Z",
        }
    ]
    new = [
        {
            **base,
            "group_hash": "new",
            "config_hash": f"n{s}",
            "seed": s,
            "value": 0.5 + s / 100,
            "created_at": f"2026-02-01T00:00:0{s}Z",
        }
        for s in range(3)
    ]
    other = [
        {
            **base,
            "method": "random_init",
            "group_hash": "ri",
            "config_hash": "r0",
            "seed": 0,
            "value": 0.3,
            "created_at": "2025-12-01T00:00:00Z",
        }
    ]  # another row: kept though older
    frame = pd.DataFrame(old + new + other)
    kept = latest_configs(frame)
    assert sorted(kept["config_hash"]) == ["n0", "n1", "n2", "r0"]
    long = long_table(frame).set_index("method")
    assert long.loc["simclr", "n_seeds"] == 3
    assert long.loc["simclr", "mean"] == pytest.approx(0.51)
    assert long.loc["random_init", "n_seeds"] == 1


def test_dataset_batch_size_applies_to_every_method_unless_overridden():
    with registered():
        suite = parse_suite(
            {
                **SUITE,
                "datasets": [
                    {
                        "name": "toy_blobs_a",
                        "batch_size": 16,
                        "method_hparams": {"supervised": {"batch_size": 8}},
                    },
                    {"name": "toy_blobs_b"},
                ],
            },
            "toy",
        )
        bs = {(j.dataset, j.method): j.method_hparams["batch_size"] for j in expand(suite, seeds=[0])}
    assert bs[("toy_blobs_a", "simclr")] == bs[("toy_blobs_a", "random_init")] == 16
    assert bs[("toy_blobs_a", "supervised")] == 8
    assert bs[("toy_blobs_b", "simclr")] == 64  # the suite's pretrain.batch_size
    with pytest.raises(UsageError, match=r"datasets\[0\].batch_size"):
        parse_suite({**SUITE, "datasets": [{"name": "toy_blobs_a", "batch_size": 1}]}, "toy")


def test_every_row_records_the_dataset_version(toy_run, monkeypatch):
    out, suite, jobs, store, summary, written = toy_run
    rows = _rows(out / "label_fraction.csv")
    assert {r["dataset_version"] for r in rows} == {""}  # the toy adapters name no release
    from benchmark.orchestration.runner import job_record
    from datasets.base import ADAPTERS

    assert (
        job_record(
            expand(parse_suite({**SUITE, "datasets": ["breastmnist"]}, "t"))[0], ADAPTERS["breastmnist"]
        )["dataset_version"]
        == "v3"
    )  # what medmnist.INFO describes (medmnist 3.x)
    assert ADAPTERS["mitdb"].version() == "1.0.0" and ADAPTERS["ptbxl"].version() == "1.0.3"


def test_store_without_dataset_version_gains_the_column(tmp_path):
    import sqlite3

    db = tmp_path / "store.sqlite"
    con = sqlite3.connect(db)  # a store as written before the column existed
    con.executescript(
        "CREATE TABLE jobs (config_hash TEXT PRIMARY KEY, group_hash TEXT NOT NULL, suite TEXT NOT NULL,"
        " method TEXT NOT NULL, dataset TEXT NOT NULL, domain TEXT NOT NULL, encoder TEXT NOT NULL,"
        " pretrain_budget TEXT NOT NULL, seed INTEGER NOT NULL, config_json TEXT NOT NULL,"
        " status TEXT NOT NULL, error TEXT, code_version TEXT NOT NULL, created_at TEXT NOT NULL,"
        " wall_s REAL, history_json TEXT);"
        "INSERT INTO jobs VALUES ('h','g','s','m','d','x','e','1ep',0,'{}','done',NULL,'v',"
        "'2026-01-01T00:00:00Z',1,NULL);"
    )
    con.commit()
    con.close()
    store = ResultStore(db)
    job = {
        "config_hash": "h2",
        "group_hash": "g2",
        "suite": "s",
        "method": "m",
        "dataset": "d",
        "domain": "x",
        "encoder": "e",
        "pretrain_budget": "1ep",
        "seed": 0,
        "config": {},
        "dataset_version": "1.0.0",
    }
    rows = [
        {"protocol": "label_fraction", "probe": "knn", "fraction": 1.0, "metric": "accuracy", "value": 0.5}
    ]
    store.record(job, rows, history={"ood_missing": {"near:p": "DataError: gone"}})
    f = store.frame()
    assert f["dataset_version"].tolist() == ["1.0.0"]
    assert ("d", {"ood_missing": {"near:p": "DataError: gone"}}) in store.histories("s")


def test_ood_markdown_lists_missing_partners_as_rows():
    import pandas as pd

    from benchmark.reporting.protocol_tables import ood_markdown

    row = {
        "dataset": "fashion_mnist",
        "method": "simclr",
        "protocol": "ood",
        "probe": "msp",
        "fraction": 1.0,
        "ood_partner": "far:synthetic_noise",
        "metric": "auroc",
        "mean": 0.9,
        "std": 0.0,
        "n_seeds": 1,
    }
    long = pd.DataFrame([row, {**row, "metric": "fpr95", "mean": 0.2}])
    md = ood_markdown(
        long, {"fashion_mnist": {"near:pneumoniamnist": "DataError: not found"}, "cora": {"near:x": "y"}}
    )
    assert "| near:pneumoniamnist | missing — not scored | DataError: not found |" in md
    assert "### cora — OOD detection" in md and "No partner could be scored" in md


def test_missing_partner_recorded_by_the_job_and_listed(tmp_path):
    """An OOD partner that cannot load: the job still runs, records it, the summary and ood.md list it."""
    from datasets.base import ADAPTERS, Adapter, DataError

    with registered(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSLBENCH_THREADS", "1")

        class Broken(Adapter):
            name = "toy_broken_partner"
            domain = "natural_images"
            spec = ADAPTERS["toy_blobs_a"].spec
            task = ADAPTERS["toy_blobs_a"].task

            def load_splits(self):
                raise DataError("toy_broken_partner: files not found in the data dir")

        snap = ADAPTERS.snapshot()
        ADAPTERS.register(Broken)
        mp.setattr(ADAPTERS["toy_blobs_a"], "ood_partners", {"near": ["toy_broken_partner"], "far": []})
        try:
            suite = parse_suite({**SUITE, "methods": ["random_init"], "protocols": ["ood"]}, "toy")
            store = ResultStore(tmp_path / "store.sqlite")
            summary = run_jobs(
                expand(suite, seeds=[0]), store, tmp_path, tmp_path, torch.device("cpu"), log=lambda m: None
            )
            write_tables(store, tmp_path, "toy")
        finally:
            ADAPTERS.restore(snap)
    assert not summary["failed"]
    assert list(summary["missing_partners"]) == [("toy_blobs_a", "near:toy_broken_partner")]
    md = (tmp_path / "ood.md").read_text()
    assert "| near:toy_broken_partner | missing — not scored |" in md and "far:synthetic_noise" in md
