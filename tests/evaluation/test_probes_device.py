"""The linear probe, kNN and the OOD scorers run on the device of the features they are given (the
job's device: `JobContext.features` puts them there), and only the metrics read results on the host.

On CPU that cannot fail by itself, so the heavy math runs under `AllocatesOnInputDevice`
(tests/_device_discipline.py): every tensor it creates must name a device, and nothing may be copied
to the host. Labels come from the host (`OnHost`); the functions move them to the features' device."""

import pytest
import torch

from benchmark.core.specs import TaskSpec
from benchmark.evaluation.ood_scorers import SCORERS, FitData
from benchmark.evaluation.probes import L2_GRID, LinearHead, fit_logreg_grid, knn_scores
from tests._device_discipline import AllocatesOnInputDevice, OnHost


def _data(multilabel: bool, n: int = 120, d: int = 12, classes: int = 3):
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, d, generator=g)
    x[:, :classes] += 2 * torch.nn.functional.one_hot(y, classes).float()
    if multilabel:
        y = (torch.rand(n, classes, generator=g) < 0.4).float()
        y[:, 0] = (x[:, 0] > 0.5).float()
    return x, y, TaskSpec(classes, multilabel=multilabel)


def _checked(fn, *args, metrics_inside=False):
    """fn(*args) under both checks; `metrics_inside`: fn also scores (the metrics read on the host),
    so only its allocations are checked, not its host reads."""
    OnHost.mixed.clear()
    with AllocatesOnInputDevice() as check:
        out = fn(*args)
    if metrics_inside:
        check.violations = [v for v in check.violations if "without a device" in v]
    assert not check.violations, check.violations
    assert not OnHost.mixed, f"host labels mixed with the features in {OnHost.mixed}"
    return out


def _host(y: torch.Tensor) -> torch.Tensor:
    return y.as_subclass(OnHost)


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_linear_probe_fits_and_predicts_on_the_features_device(multilabel):
    x, y, task = _data(multilabel)
    heads = _checked(fit_logreg_grid, x, _host(y), task, L2_GRID)
    assert all(h.weight.device == x.device for h in heads)
    head = _checked(LinearHead, x[:80], _host(y[:80]), x[80:], y[80:], task, metrics_inside=True)
    probs = _checked(head.probs, x[80:])
    assert probs.device == x.device and probs.shape == (40, 3)


@pytest.mark.parametrize("multilabel", [False, True])
def test_knn_votes_on_the_features_device(multilabel):
    x, y, task = _data(multilabel)
    scores = _checked(knn_scores, x[:80], _host(y[:80]), x[80:], task)
    assert scores.device == x.device and scores.shape == (40, 3)


@pytest.mark.parametrize("name", sorted(SCORERS))
@pytest.mark.parametrize("multilabel", [False, True])
def test_ood_scorers_fit_and_score_on_the_features_device(name, multilabel):
    x, y, task = _data(multilabel)
    logits = torch.randn(40, 3)
    scorer = _checked(SCORERS[name]().fit, FitData(x[:80], _host(y[:80]), task))
    scores = _checked(scorer.score, x[80:], logits)
    assert scores.device == x.device and scores.shape == (40,)


def test_the_check_catches_host_tensors_and_host_copies():
    x = torch.ones(3)
    with AllocatesOnInputDevice() as check:
        torch.zeros(3, device=x.device)  # fine
        torch.tensor([1.0, 2.0])  # a host tensor on a GPU run
        x.cpu()
        x.to("cpu")
    assert len(check.violations) == 3, check.violations


def test_job_features_live_on_the_jobs_device(tmp_path):
    """Embedded once (the cache keeps a CPU copy), then handed out on the job's device: here the
    meta device stands in for a GPU."""
    from benchmark.orchestration.job_context import JobContext
    from benchmark.orchestration.jobs import Job
    from datasets.base import get_adapter

    job = Job(
        suite="t",
        method="random_init",
        dataset="breast_cancer",
        seed=0,
        epochs=1,
        fractions=[1.0],
        probes=["linear"],
        protocols=["label_fraction"],
        method_hparams={},
    )
    ctx = JobContext(job, get_adapter("breast_cancer", data_dir=tmp_path), torch.device("cpu"), tmp_path)
    ctx.train_models()
    on_cpu = ctx.features("val", None)
    assert on_cpu.device.type == "cpu"
    ctx.device = torch.device("meta")  # the cached features, moved to the job's device
    on_meta = ctx.features("val", None)
    assert on_meta.device.type == "meta" and on_meta.shape == on_cpu.shape


def test_the_search_direction_never_makes_the_host_wait():
    # the L-BFGS two-loop recursion on the `meta` device (standing in for a GPU): its fallback to
    # steepest descent is chosen per grid value on the device, not by asking the host whether any
    # value needs it (one wait per iteration of every probe fit)
    from benchmark.evaluation.probes import CurvatureRing
    from tests.methods.test_step_host_syncs import HostWaits

    ring = CurvatureRing(history=3, K=4, D=5, dt=torch.float32, device="meta")
    g = torch.randn(4, 5, device="meta")
    for _ in range(2):
        ring.push(
            torch.randn(4, 5, device="meta"),
            torch.randn(4, 5, device="meta"),
            torch.ones(4, dtype=torch.bool, device="meta"),
        )
    with HostWaits() as mode:
        q, gtp = ring.direction(g)
    assert mode.waits == [] and q.shape == (4, 5) and gtp.shape == (4,)


def test_a_direction_that_does_not_descend_falls_back_to_scaled_steepest_descent():
    from benchmark.evaluation.probes import CurvatureRing

    f64 = torch.float64
    ring = CurvatureRing(history=2, K=2, D=3, dt=f64)
    # one stored pair per value; the second one's negative curvature turns its direction uphill
    ring.S[0] = torch.tensor([[1.0, 0, 0], [1.0, 0, 0]], dtype=f64)
    ring.Y[0] = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]], dtype=f64)
    ring.rho[0] = torch.tensor([1.0, -1.0], dtype=f64)
    ring.gamma = torch.tensor([1.0, 1.0], dtype=f64)
    ring.head, ring.filled = 1, 1
    g = torch.tensor([[1.0, 2.0, 0.0], [1.0, 0.1, 0.0]], dtype=f64)
    q, gtp = ring.direction(g)
    # by hand: the first value's recursion gives -g; the second's gives (1, -0.1, 0), uphill, so it
    # takes steepest descent scaled by 1 / |g|_1
    assert torch.allclose(q[0], -g[0]) and torch.allclose(q[1], -g[1] / 1.1)
    assert torch.allclose(gtp, (g * q).sum(1)) and bool((gtp < 0).all())
