"""Short paper-recipe runs on real data: DINO and SwAV train on multi-crop views (global crops at
full resolution, local crops at a lower one); FixMatch / MixMatch draw weak and strong views and
probes read their EMA encoder; a suite's `recipes` switch reaches the jobs."""

from pathlib import Path

import pytest
import torch

from benchmark.orchestration.job_context import JobContext
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.suites import UsageError, load_suite, parse_suite
from benchmark.training.checkpoints import pretrain_key
from datasets.base import get_adapter

SMALL = {
    "dino": {"out_dim": 64, "hidden": 32, "bottleneck": 16, "local_crops": 2},
    "swav": {"proj_hidden": 32, "proj_dim": 16, "num_prototypes": 10, "queue_size": 32, "local_crops": 2},
}


def _job(method, dataset, recipes="paper", cap=128, **hp):
    return Job(
        suite="t",
        method=method,
        dataset=dataset,
        seed=0,
        epochs=1,
        fractions=[0.1],
        probes=["linear"],
        protocols=["label_fraction"],
        method_hparams={"batch_size": 32, **hp},
        max_train=cap,
        recipes=recipes,
    )


def _train(job, adapter, tmp_path):
    ctx = JobContext(job, adapter, torch.device("cpu"), tmp_path)
    sizes = set()
    original = JobContext.build_method

    def build(self, task=None):
        m = original(self, task)
        m.encoder.register_forward_pre_hook(lambda mod, args: sizes.add(tuple(args[0].shape[2:])))
        return m

    JobContext.build_method = build
    try:
        ctx.train_models()
    finally:
        JobContext.build_method = original
    return ctx, sizes


@pytest.fixture(params=["fashion_mnist", "breastmnist"])
def image_adapter(request, tmp_path):
    if request.param == "fashion_mnist":
        request.getfixturevalue("fmnist_dir")
        return get_adapter("fashion_mnist", data_dir=tmp_path, download=False)
    return get_adapter("breastmnist", data_dir=request.getfixturevalue("data_dir"), download=False)


@pytest.mark.parametrize("method", ["dino", "swav"])
def test_multi_crop_runs(method, image_adapter, tmp_path):
    job = _job(method, image_adapter.name, **SMALL[method])
    ctx, sizes = _train(job, image_adapter, tmp_path)
    hist = ctx.histories["pretrain"]
    assert hist["steps"] == 4 and all(torch.isfinite(torch.tensor(e["loss"])) for e in hist["epochs"])
    assert sizes == {(28, 28), (12, 12)}  # global crops at 28 px, local crops at 96/224 of it
    legacy, sizes = _train(
        _job(method, image_adapter.name, "legacy", **SMALL[method]), image_adapter, tmp_path
    )
    assert sizes == {(28, 28)}  # legacy: no local crops


def test_semi_supervised_views_and_ema_evaluation(data_dir, tmp_path):
    adapter = get_adapter("breastmnist", data_dir=data_dir, download=False)
    seen = []
    views = adapter.views
    adapter.views = lambda x, g, policy=None: seen.append(policy and policy.kind) or views(x, g, policy)
    for method, kinds in (("fixmatch", {"weak", "strong"}), ("mixmatch", {"weak"})):
        seen.clear()
        ctx, _ = _train(_job(method, "breastmnist"), adapter, tmp_path)
        assert set(seen) == kinds
        m = ctx.models[0.1]
        x = torch.rand(4, 1, 28, 28)
        assert torch.allclose(m.embed(x), m.ema_encoder(x))
        assert not torch.allclose(m.embed(x), m.encoder(x))  # the EMA, not the trained weights


def test_suite_switch_reaches_jobs_and_keys(tmp_path):
    base = {"name": "s", "datasets": ["sklearn_digits"], "methods": ["simclr"]}
    assert parse_suite(base, "s").recipes == "paper"
    assert parse_suite({**base, "recipes": "legacy"}, "s").recipes == "legacy"
    with pytest.raises(UsageError, match="recipes"):
        parse_suite({**base, "recipes": "papers"}, "s")
    with pytest.raises(UsageError, match="optimizer"):
        expand(parse_suite({**base, "method_hparams": {"simclr": {"optimizer": "adam"}}}, "s"))
    # the shipped suites train by the paper recipes; rows published before recipes existed stay
    # reproducible from the config published with them, which says legacy
    root = Path(__file__).resolve().parents[2]
    for name in ("quick", "methods"):
        assert {j.recipes for j in expand(load_suite(name))} == {"paper"}
    for snapshot in sorted((root / "leaderboards").glob("*/suite.yaml")):
        if "# Added when recipes became a suite key" in snapshot.read_text():
            assert {j.recipes for j in expand(load_suite(str(snapshot)))} == {"legacy"}, snapshot
    legacy, paper = _job("simclr", "sklearn_digits", "legacy"), _job("simclr", "sklearn_digits")
    assert "recipes" not in legacy.config() and paper.config()["recipes"] == "paper"
    assert legacy.config_hash() != paper.config_hash()
    key = ("simclr", {}, 0, 1, "sklearn_digits", {}, None)
    assert pretrain_key(*key) == pretrain_key(*key, "legacy") != pretrain_key(*key, "paper")
    ctx = JobContext(paper, get_adapter("sklearn_digits", data_dir=tmp_path), torch.device("cpu"), tmp_path)
    assert ctx.build_method().recipes == "paper" and ctx.build_method().training_recipe.optimizer == "lars"
