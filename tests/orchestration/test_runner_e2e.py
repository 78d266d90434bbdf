"""End-to-end on real Fashion-MNIST with tiny caps: tables from the store, rerun skips, resume."""

import csv
import sqlite3

import pytest
import torch

from benchmark.models.encoders import encoder_for
from benchmark.orchestration.jobs import expand
from benchmark.orchestration.runner import run_jobs
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import parse_suite
from benchmark.reporting.tables import LONG_COLUMNS, write_tables
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import get_adapter
from methods.base import get_method_class

TINY = {
    "name": "tiny",
    "datasets": [{"name": "fashion_mnist", "max_train": 600, "max_val": 200, "max_test": 300}],
    "methods": ["simclr", "random_init", "supervised"],
    "seeds": [0, 1],
    "fractions": [0.1, 1.0],
    "probes": ["linear", "knn"],
    "pretrain": {"epochs": 1, "batch_size": 64},
}


@pytest.fixture(scope="module")
def tiny_run(fmnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    suite = parse_suite(TINY, "tiny")
    jobs = expand(suite)
    store = ResultStore(out / "store.sqlite")
    summary = run_jobs(
        jobs, store, out / "data", out, torch.device("cpu"), log=lambda m: None, show_progress=False
    )
    return out, suite, jobs, store, summary


def test_run_writes_long_csv_and_markdown(tiny_run):
    out, suite, jobs, store, summary = tiny_run
    assert summary["ran"] == 6 and not summary["failed"]
    write_tables(store, out, "tiny")
    rows = list(csv.DictReader(open(out / "label_fraction.csv")))
    assert list(rows[0].keys()) == LONG_COLUMNS
    # 3 methods × 2 probes × 2 fractions × (3 metrics + the majority floor), each over 2 seeds
    assert len(rows) == 48 and {r["n_seeds"] for r in rows} == {"2"}
    assert {r["method"] for r in rows} == {"simclr", "random_init", "supervised"}
    floors = {(r["probe"], r["fraction"], r["mean"]) for r in rows if r["metric"] == "majority_floor"}
    assert len(floors) == 4  # method-independent: one value per (probe, fraction) across the methods
    for r in rows:
        assert 0 <= float(r["mean"]) <= 1 and float(r["ci95_low"]) <= float(r["mean"]) <= float(
            r["ci95_high"]
        )
    md = (out / "label_fraction.md").read_text()
    assert "| random_init |" in md and "| supervised |" in md and "±" in md


def test_rerun_executes_zero_jobs(tiny_run):
    out, suite, jobs, store, _ = tiny_run
    before = sqlite3.connect(out / "store.sqlite").execute("select count(*) from results").fetchone()
    summary = run_jobs(
        expand(suite), store, out / "data", out, torch.device("cpu"), log=lambda m: None, show_progress=False
    )
    assert summary["ran"] == 0 and summary["skipped"] == 6
    after = sqlite3.connect(out / "store.sqlite").execute("select count(*) from results").fetchone()
    assert before == after


def test_supervised_and_probes_share_label_subsets(tiny_run):
    # The same (dataset, fraction, seed) gives the same subset no matter which method asks.
    from benchmark.orchestration.job_context import JobContext

    out, suite, jobs, store, _ = tiny_run
    a = get_adapter("fashion_mnist", data_dir=out / "data")
    subsets = {}
    for j in jobs:
        ctx = JobContext(j, a, torch.device("cpu"), out)
        subsets.setdefault(j.seed, set()).add(tuple(ctx.fraction_subset(0.1).tolist()))
    assert all(len(s) == 1 for s in subsets.values())
    assert subsets[0] != subsets[1]


def test_resumed_pretraining_equals_uninterrupted(fmnist_dir, tmp_path):
    a = get_adapter("fashion_mnist", data_dir=tmp_path)
    split = a.splits()["train"]
    pool = torch.arange(256)

    def build():
        torch.manual_seed(0)
        return get_method_class("simclr")(encoder_for(a), a.spec, a.task)

    cfg = dict(batch_size=64, lr=1e-3, weight_decay=1e-6, seed=0)
    m_full = build()
    pretrain(m_full, a, split, pool, PretrainConfig(epochs=3, **cfg), tmp_path / "full.pt")
    m_part = build()

    class Interrupted(Exception):
        pass

    def crash_after_two(epoch, record):  # a kill after epoch 2's checkpoint was written
        if epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        pretrain(
            m_part,
            a,
            split,
            pool,
            PretrainConfig(epochs=3, **cfg),
            tmp_path / "part.pt",
            on_epoch=crash_after_two,
        )
    m_resumed = build()  # a fresh process would start from scratch; the checkpoint carries it on
    hist = pretrain(m_resumed, a, split, pool, PretrainConfig(epochs=3, **cfg), tmp_path / "part.pt")
    assert len(hist["epochs"]) == 3
    for (k, v1), v2 in zip(m_full.state_dict().items(), m_resumed.state_dict().values()):
        assert torch.equal(v1, v2), k


def test_encoder_label_names_the_encoder_actually_built():
    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.runner import encoder_label
    from datasets.base import ADAPTERS

    def label(method, **options):
        job = Job("s", method, "fashion_mnist", 0, 1, [0.1], ["linear"], ["label_fraction"], {}, options)
        return encoder_label(job, ADAPTERS["fashion_mnist"])

    assert label("simclr") == label("supervised", encoder="small") == "default:image2d"
    assert label("simclr", encoder="resnet18") == "resnet18:image2d"
    assert label("mae") == label("jepa") == "tokens:image2d"  # their own token transformer


def test_pretrain_checkpoint_key_follows_method_defaults(monkeypatch):
    """A checkpoint is named by what trained it, defaults included: after a method's default changes,
    the old finished checkpoint must not be picked up as this run's (and spelling out a default
    names the same checkpoint as leaving it implicit)."""
    from benchmark.training.checkpoints import pretrain_key

    cls = get_method_class("mae")
    args = ("mae", {}, 0, 20, "fashion_mnist", {}, 2000)
    before = pretrain_key(*args)
    assert pretrain_key("mae", {"dec_depth": cls.defaults["dec_depth"]}, *args[2:]) == before
    assert pretrain_key("mae", {"lr": cls.base_defaults["lr"]}, *args[2:]) == before
    monkeypatch.setitem(cls.defaults, "dec_depth", cls.defaults["dec_depth"] + 1)
    assert pretrain_key(*args) != before


def test_method_epochs_override_dataset_and_suite_epochs():
    """`method_epochs` (suite level, then per dataset) sets one method's epochs; the others keep the
    dataset's; the budget shows in the job (and so in the leaderboard's pretrain_budget column)."""
    from benchmark.orchestration.suites import UsageError

    suite = parse_suite(
        {
            **TINY,
            "methods": ["simclr", "mae", "random_init"],
            "method_epochs": {"mae": 3, "simclr": 5},
            "datasets": [
                {"name": "fashion_mnist", "epochs": 2, "method_epochs": {"mae": 4}},
                {"name": "breastmnist"},
            ],
        },
        "tiny",
    )
    epochs = {(j.dataset, j.method): j.epochs for j in expand(suite, seeds=[0])}
    assert epochs == {
        ("fashion_mnist", "simclr"): 5,
        ("fashion_mnist", "mae"): 4,
        ("fashion_mnist", "random_init"): 2,
        ("breastmnist", "simclr"): 5,
        ("breastmnist", "mae"): 3,
        ("breastmnist", "random_init"): 1,
    }
    for bad in ({"method_epochs": {"mae": 0}}, {"method_epochs": ["mae"]}):
        with pytest.raises(UsageError, match="method_epochs"):
            parse_suite({**TINY, **bad}, "tiny")
    with pytest.raises(UsageError, match=r"datasets\[0\]\.method_epochs"):
        parse_suite({**TINY, "datasets": [{"name": "fashion_mnist", "method_epochs": {"mae": 1.5}}]}, "tiny")
