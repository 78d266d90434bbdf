"""Protocol honesty on real Fashion-MNIST features (small caps so it stays cheap): with shuffled
train labels the linear and kNN probes sit at chance; the robustness protocol embeds every
(corruption, severity) once and reproduces itself exactly."""

import pytest
import torch

from benchmark.evaluation.probes import knn_probe, linear_probe
from benchmark.evaluation.protocols import PROTOCOLS
from benchmark.orchestration.job_context import JobContext
from benchmark.orchestration.jobs import Job
from datasets.base import get_adapter


@pytest.fixture(scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ctx(tmp_path, protocols=("label_fraction",), **caps):
    job = Job(
        suite="t",
        method="random_init",
        dataset="fashion_mnist",
        seed=0,
        epochs=1,
        fractions=[1.0],
        probes=["linear", "knn"],
        protocols=list(protocols),
        **caps,
    )
    ctx = JobContext(job, get_adapter("fashion_mnist", data_dir=tmp_path), torch.device("cpu"), tmp_path)
    ctx.train_models()
    return ctx


def test_shuffled_labels_on_real_features_give_chance(fmnist_dir, tmp_path, one_thread):
    # 10 balanced classes → chance 0.1. With 2,000 test samples the binomial standard error is
    # √(0.1·0.9/2000) = 0.0067; we allow 0.03 (≈ 4.5 SE) for accuracy and 0.03 around 0.5 for AUROC.
    ctx = _ctx(tmp_path, max_train=2000, max_val=500, max_test=2000)
    g = torch.Generator().manual_seed(0)
    shuffle = lambda y: y[torch.randperm(len(y), generator=g)]  # noqa: E731
    tr, va, te = (ctx.features(s, 1.0) for s in ("train", "val", "test"))
    ytr, yva, yte = shuffle(ctx.labels("train")), shuffle(ctx.labels("val")), ctx.labels("test")
    real = linear_probe(tr, ctx.labels("train"), va, ctx.labels("val"), te, yte, ctx.task)
    assert real.metrics["accuracy"] > 0.6  # the same features with true labels are informative
    for probe in (linear_probe, knn_probe):
        res = probe(tr, ytr, va, yva, te, yte, ctx.task)
        assert abs(res.metrics["accuracy"] - 0.1) < 0.03, (probe.__name__, res.metrics)
        assert abs(res.metrics["auroc"] - 0.5) < 0.03, (probe.__name__, res.metrics)


@pytest.mark.slow  # 7 corruptions × 5 severities of real images; its cost grows with the registry
def test_robustness_on_fashion_mnist_embeds_each_cell_once(fmnist_dir, tmp_path, one_thread):
    caps = dict(max_train=300, max_val=100, max_test=200)
    ctx = _ctx(tmp_path, ("robustness",), **caps)
    corruptions = ctx.adapter.corruptions()
    if not corruptions:
        pytest.skip("Fashion-MNIST registers no corruptions yet")
    rows = PROTOCOLS["robustness"](ctx)
    assert ctx.cache.misses == 3 + 5 * len(corruptions)
    cells = {
        (r["corruption"], r["severity"]) for r in rows if r["probe"] == "linear" and r["metric"] == "accuracy"
    }
    assert cells == {("", 0)} | {(c, s) for c in corruptions for s in range(1, 6)}
    ctx2 = _ctx(tmp_path, ("robustness",), **caps)
    assert PROTOCOLS["robustness"](ctx2) == rows and ctx2.cache.misses == 0
