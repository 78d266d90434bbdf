"""The reference suite (docs/design.md §3.11): node- and graph-level SSL pretrain on the whole dataset
only where a suite says so (existing suites keep their config hashes and published numbers), the
suite expands, and a dataset no shipped suite lists runs through the recipes from a suite file alone."""

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.orchestration.job_context import JobContext
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.suites import available_suites, load_suite
from datasets.base import get_adapter


@pytest.mark.parametrize("suite", ["smoke", "quick", "methods"])
def test_other_suites_keep_the_train_pool(suite):
    # whole-dataset pretraining is the reference suite's choice only; the others pretrain on the
    # train pool, and a job without the option keeps the config hash it had before the option existed
    jobs = expand(load_suite(suite))
    assert jobs and all("pretrain_pool" not in j.dataset_options for j in jobs)
    # nor do they set a linear-probe grid: their jobs keep the hashes of their published rows
    assert all(j.linear_l2_grid is None and "linear_l2_grid" not in j.config() for j in jobs)


def test_reference_suites_linear_grid_reaches_every_probed_job_only():
    jobs = expand(load_suite("reference"), datasets=["cora"])
    grids = {j.method: j.linear_l2_grid for j in jobs}
    # wider than the probe's default at the strong end, the same for every probed method
    assert grids["mmcr"] == grids["random_init"] == grids["supervised"] and grids["mmcr"][-1] >= 10
    # an end-to-end recipe has no linear probe, so its config (and hash) does not carry the grid
    assert grids["gcn_supervised"] is None


@pytest.mark.parametrize("grid", [[0.1], [1.0, 0.1], [0.0, 1.0], ["a", 1.0], [True, 2.0], 0.1])
def test_a_bad_linear_l2_grid_is_one_usage_error(grid):
    from benchmark.core.errors import UsageError
    from benchmark.orchestration.suites import parse_suite

    data = {"name": "s", "datasets": [{"name": "cora"}], "methods": ["simclr"], "linear_l2_grid": grid}
    with pytest.raises(UsageError, match="linear_l2_grid"):
        parse_suite(data, "s.yaml")


def test_pretrain_pool_all_is_every_node_or_graph_without_labels(data_dir):
    cora = get_adapter("cora", data_dir=data_dir, pretrain_pool="all")
    whole = cora.pretraining_split()
    assert len(whole) == 2708 and bool((whole.labels == -1).all())
    assert torch.equal(whole.inputs.nodes, torch.arange(2708))
    assert get_adapter("cora", data_dir=data_dir).pretraining_split() is None  # default: train nodes
    mutag = get_adapter("mutag", data_dir=data_dir, pretrain_pool="all")
    w = mutag.pretraining_split()
    s = mutag.splits()
    assert len(w) == 188 and sorted(w.inputs.graph_ids.tolist()) == list(range(188))
    b = w.inputs[torch.arange(188)]
    assert b.x.shape[0] == 3371  # every node of every graph
    assert len(s["train"]) < 188
    with pytest.raises(ValueError, match="pretrain_pool must be 'train' or 'all'"):
        get_adapter("cora", data_dir=data_dir, pretrain_pool="everything")


def test_ssl_jobs_pretrain_on_the_whole_graph_only_when_asked(data_dir, tmp_path):
    def pool(options):
        job = Job("t", "simclr", "cora", 0, 1, [1.0], ["linear"], ["label_fraction"], {}, options)
        ctx = JobContext(
            job, get_adapter("cora", data_dir=data_dir, **options), torch.device("cpu"), tmp_path
        )
        split, idx = ctx.pretraining_pool(ctx.index["train"])
        return split.inputs.nodes[idx]

    assert len(pool({})) == 140
    assert len(pool({"pretrain_pool": "all"})) == 2708


def test_reference_suite_expands_with_every_method_and_recipe():
    # `reference` (2 CPU cores, published) and `reference_paper` (the published budgets) differ only
    # in their budgets: the same datasets, methods, seeds and protocols
    cpu, paper = load_suite("reference"), load_suite("reference_paper")
    assert {"reference", "reference_paper"} <= set(available_suites())
    for suite in (cpu, paper):
        names = {d.name for d in suite.datasets}
        assert names == {"cora", "mutag", "proteins", "breastmnist", "ecg200", "adult"}
        assert len(suite.seeds) == 5 and {"label_fraction", "tu_cv"} <= set(suite.protocols)
    assert cpu.methods == paper.methods
    by = {(j.method, j.dataset): j for j in expand(paper)}
    assert (
        by[("gcn_supervised", "cora")].epochs == 200
        and by[("resnet18_medmnist", "breastmnist")].epochs == 100
        and by[("fcn", "ecg200")].epochs == 2000
    )
    assert by[("simclr", "cora")].dataset_options == {"pretrain_pool": "all"}
    assert len({m for m, _ in by}) == 23  # 17 methods, DGI and 5 recipes
    small = {(j.method, j.dataset): j for j in expand(cpu)}
    assert set(small) == set(by)
    # the CPU budgets keep GraphCL's own TU budget and the GCN recipe, and pretrain on the whole graph
    assert small[("simclr", "mutag")].epochs == small[("simclr", "proteins")].epochs == 20
    assert small[("gcn_supervised", "cora")].epochs == 200
    assert small[("simclr", "cora")].dataset_options == {"pretrain_pool": "all"}
    assert small[("simclr", "cora")].method_hparams["batch_size"] == 2708


def _pneumonia_fixture(tmp_path, monkeypatch):
    import datasets.medmnist as mm

    n = {"train": 40, "val": 16, "test": 16}
    rng = np.random.default_rng(0)
    arrays = {}
    for s, k in n.items():
        y = np.arange(k) % 2
        img = rng.integers(0, 120, (k, 28, 28)).astype(np.uint8) + (y[:, None, None] * 100).astype(np.uint8)
        arrays[f"{s}_images"], arrays[f"{s}_labels"] = img, y[:, None].astype(np.uint8)
    (tmp_path / "medmnist").mkdir()
    np.savez(tmp_path / "medmnist" / "pneumoniamnist.npz", **arrays)
    info = dict(mm.medmnist_info("pneumoniamnist"), n_samples=dict(n))
    monkeypatch.setattr(mm, "medmnist_info", lambda f: info if f == "pneumoniamnist" else mm.medmnist_info(f))


def test_a_dataset_outside_the_shipped_suites_runs_the_recipes_from_a_suite_file(tmp_path, monkeypatch):
    # PneumoniaMNIST (a tiny fixture in the official layout) and wine (bundled with scikit-learn)
    # are in no reference suite; a suite file alone runs the recipes and tu_cv on them.
    from benchmark.cli import main

    _pneumonia_fixture(tmp_path, monkeypatch)
    suite = tmp_path / "mine.yaml"
    suite.write_text(
        "name: mine\n"
        "datasets:\n"
        "  - {name: pneumoniamnist, options: {download: false, verify: false}}\n"
        "  - wine\n"
        "methods: [resnet18_medmnist, logreg_reference, gbdt_reference]\n"
        "method_epochs: {resnet18_medmnist: 2}\n"
        "method_hparams: {resnet18_medmnist: {batch_size: 16}}\n"
        "seeds: [0]\nfractions: [1.0]\nprobes: [linear]\nprotocols: [label_fraction, tu_cv]\n"
    )
    out = tmp_path / "out"
    code = main(
        ["run", "--suite", str(suite), "--out", str(out), "--data-dir", str(tmp_path), "--device", "cpu"]
    )
    assert code == 0
    lf = pd.read_csv(out / "label_fraction.csv")
    cells = set(zip(lf.dataset, lf.method, lf.probe))
    assert cells == {
        ("pneumoniamnist", "resnet18_medmnist", "end_to_end"),
        ("wine", "logreg_reference", "end_to_end"),
        ("wine", "gbdt_reference", "end_to_end"),
    }
    wine = lf[(lf.dataset == "wine") & (lf.metric == "accuracy")]
    assert (wine["mean"] > 0.8).all()  # wine is nearly separable for both
    assert set(lf[lf.method == "resnet18_medmnist"].pretrain_budget) == {"2ep"}
