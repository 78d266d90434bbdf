"""Every registered method trains one step on every tensor spec kind (finite loss, gradients reach
the encoder, embeddings of out_dim); the runner wiring for masked (own encoder) and
semi-supervised (masked labels) methods; unsupported specs are skipped with a logged reason."""

import pytest
import torch

import methods  # noqa: F401  (registers every method)
from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.models.encoders import encoder_for_spec
from benchmark.models.tokens import TokenEncoder
from methods.base import METHODS

SPECS = {
    "image2d": InputSpec("image2d", (1, 16, 16)),
    "spectrogram": InputSpec("spectrogram", (1, 16, 24)),
    "volume3d": InputSpec("volume3d", (1, 8, 8, 8)),
    "signal1d": InputSpec("signal1d", (2, 64)),
    "tabular": InputSpec("tabular", (7,)),
}
# Narrow heads keep the grid fast; every value is an ordinary hyper-parameter override.
SMALL = {
    "simclr": {"proj_hidden": 32, "proj_dim": 16},
    "moco_v2": {"proj_hidden": 32, "proj_dim": 16, "queue_size": 24},
    "moco_v3": {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32},
    "byol": {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32},
    "simsiam": {"proj_hidden": 32, "proj_dim": 32, "pred_hidden": 8},
    "barlow_twins": {"proj_hidden": 32, "proj_dim": 32},
    "vicreg": {"proj_hidden": 32, "proj_dim": 32},
    "swav": {"proj_hidden": 32, "proj_dim": 16, "num_prototypes": 10, "queue_size": 8},
    "dino": {"out_dim": 64, "hidden": 32, "bottleneck": 16, "n_local_views": 1},
    "mmcr": {"proj_hidden": 32, "proj_dim": 16, "n_views": 3},
    "mae": {"enc_dim": 32, "enc_depth": 1, "enc_heads": 2, "dec_dim": 16, "dec_depth": 1, "dec_heads": 2},
    "jepa": {"enc_dim": 32, "enc_depth": 1, "enc_heads": 2, "pred_dim": 16, "pred_depth": 1, "pred_heads": 2},
}
EXPECTED = {
    "simclr",
    "moco_v2",
    "moco_v3",
    "byol",
    "simsiam",
    "barlow_twins",
    "vicreg",
    "swav",
    "dino",
    "mae",
    "mmcr",
    "jepa",
    "fixmatch",
    "mixmatch",
    "mean_teacher",
    "random_init",
    "supervised",
    "random_init_tokens",
}


def test_registry_holds_every_method():
    assert EXPECTED <= set(METHODS)
    for name in EXPECTED:
        d = METHODS[name].describe()
        assert d["family"] and d["paper"] and d["specs"]
    assert {n for n, c in METHODS.items() if c.semi_supervised} == {"fixmatch", "mixmatch", "mean_teacher"}
    assert {n for n, c in METHODS.items() if c.builds_encoder} == {"mae", "jepa", "random_init_tokens"}


@pytest.mark.parametrize("kind", list(SPECS))
def test_random_init_tokens_is_the_masked_methods_untrained_encoder(kind):
    # The floor for MAE/JEPA must be their encoder before training: same architecture and widths,
    # built from the same default hyper-parameters, and never trained.
    spec, ref = SPECS[kind], METHODS["random_init_tokens"]
    assert not ref.trains and ref.family == "reference"
    shapes = {k: v.shape for k, v in ref.build_encoder(spec).state_dict().items()}
    for name in ("mae", "jepa"):
        other = {k: v.shape for k, v in METHODS[name].build_encoder(spec).state_dict().items()}
        assert other == shapes, name


def _build(name, spec, task):
    cls = METHODS[name]
    hp = SMALL.get(name, {})
    enc = cls.build_encoder(spec, **hp) if cls.builds_encoder else encoder_for_spec(spec)
    return cls(enc, spec, task, **hp)


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("name", sorted(EXPECTED - {"random_init", "random_init_tokens"}))
def test_one_training_step(name, kind):
    spec = SPECS[kind]
    cls = METHODS[name]
    if kind not in cls.supported_specs:
        pytest.fail(f"{name} does not support {kind}")
    torch.manual_seed(0)
    task = TaskSpec(3)
    m = _build(name, spec, task).train()
    if cls.builds_encoder:
        assert isinstance(m.encoder, TokenEncoder)
    x = torch.randn(6, *spec.shape)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    if cls.semi_supervised:
        y = torch.tensor([0, -1, 2, -1, -1, 1])
    g = torch.Generator().manual_seed(1)
    view = lambda t, policy=None: t + 0.1 * torch.randn(t.shape, generator=g)  # noqa: E731
    loss = m.training_step(x, y if cls.uses_labels else None, view)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in m.encoder.parameters() if p.grad is not None]
    assert grads and sum(float(gr.abs().sum()) for gr in grads) > 0
    assert all(torch.isfinite(gr).all() for gr in grads)
    m.on_step_end(1, 10)
    m.eval()
    e = m.embed(x)
    assert e.shape == (6, m.encoder.out_dim) and torch.isfinite(e).all()


def test_multilabel_semi_supervised_step():
    spec = SPECS["tabular"]
    task = TaskSpec(4, multilabel=True)
    y = torch.tensor([[1, 0, 1, 0], [-1, -1, -1, -1], [0, 1, 0, 0], [-1, -1, -1, -1]]).float()
    for name in ("fixmatch", "mixmatch", "mean_teacher"):
        torch.manual_seed(0)
        m = _build(name, spec, task)
        loss = m.training_step(torch.randn(4, 7), y, lambda t, policy=None: t + 0.1 * torch.randn_like(t))
        assert torch.isfinite(loss)
        loss.backward()


def test_momentum_queue_and_teacher_are_updated_not_trained():
    spec, task = SPECS["tabular"], TaskSpec(3)
    torch.manual_seed(0)
    m = _build("moco_v2", spec, task)
    x = torch.randn(8, 7)
    loss = m.training_step(x, None, lambda t, policy=None: t + 0.1 * torch.randn_like(t))
    loss.backward()
    assert all(p.grad is None for p in m.key_encoder.parameters())
    old_queue = m.queue.clone()
    m.on_step_end(1, 10)
    assert int(m.queue_ptr) == 8  # the paper's loss is asymmetric: one view's 8 keys entered the queue
    assert not torch.equal(old_queue[:8], m.queue[:8]) and torch.equal(old_queue[8:], m.queue[8:])
    legacy = METHODS["moco_v2"](encoder_for_spec(spec), spec, task, recipes="legacy", **SMALL["moco_v2"])
    legacy.training_step(x, None, lambda t: t + 0.1 * torch.randn_like(t)).backward()
    legacy.on_step_end(1, 10)
    assert int(legacy.queue_ptr) == 16 % 24  # legacy: symmetrised, two views × 8 keys
    for name, teacher in (
        ("byol", "target_encoder"),
        ("dino", "teacher_encoder"),
        ("jepa", "target_encoder"),
        ("mean_teacher", "teacher_encoder"),
    ):
        m = _build(name, spec, task)
        y = torch.tensor([0, 1, -1, -1, 2, -1, 0, 1])
        loss = m.training_step(x, y, lambda t, policy=None: t + 0.1 * torch.randn_like(t))
        loss.backward()
        assert all(p.grad is None for p in getattr(m, teacher).parameters()), name
        before = [p.clone() for p in getattr(m, teacher).parameters()]
        with torch.no_grad():
            for p in m.encoder.parameters():
                p.add_(1.0)
        m.on_step_end(1, 10)
        moved = any(not torch.equal(b, p) for b, p in zip(before, getattr(m, teacher).parameters()))
        assert moved, name


def test_runner_builds_token_encoder_and_masks_labels(tmp_path, monkeypatch):
    from benchmark.orchestration.job_context import JobContext
    from benchmark.orchestration.jobs import Job
    from datasets.base import get_adapter
    from methods.fixmatch import FixMatch

    adapter = get_adapter("sklearn_digits", data_dir=tmp_path)
    job = Job(
        suite="t",
        method="mae",
        dataset="sklearn_digits",
        seed=0,
        epochs=1,
        fractions=[0.1],
        probes=["linear"],
        protocols=["label_fraction"],
        max_train=120,
        max_val=50,
        max_test=50,
        method_hparams={"enc_dim": 32, "enc_depth": 1, "enc_heads": 2, "batch_size": 64},
    )
    ctx = JobContext(job, adapter, torch.device("cpu"), tmp_path)
    m = ctx.build_method()
    assert isinstance(m.encoder, TokenEncoder) and m.encoder.out_dim == 32

    seen = []
    orig = FixMatch.training_step

    def spy(self, x, y, view):
        seen.append(y.clone())
        return orig(self, x, y, view)

    monkeypatch.setattr(FixMatch, "training_step", spy)
    job = Job(
        suite="t",
        method="fixmatch",
        dataset="sklearn_digits",
        seed=0,
        epochs=1,
        fractions=[0.1, 1.0],
        probes=["linear"],
        protocols=["label_fraction"],
        max_train=120,
        max_val=50,
        max_test=50,
        method_hparams={"batch_size": 40},
    )
    ctx = JobContext(job, adapter, torch.device("cpu"), tmp_path)
    ctx.train_models()
    assert set(ctx.models) == {0.1, 1.0}
    assert len(seen) == 2 * 3  # per fraction: the SSL budget, 1 epoch × 120 // 40 steps
    n_sub = len(ctx.fraction_subset(0.1))
    # At 10 %: every batch of 40 opens with FixMatch's labelled share (1/8 → 5) drawn from the
    # labelled subset; the other 35 come from the whole pool, labels hidden outside the subset.
    for y in seen[:3]:
        assert len(y) == 40 and (y[:5] >= 0).all()
    first = torch.cat(seen[:3])
    assert int((first == -1).sum()) > 0 and int((first >= 0).sum()) >= 15
    assert int((first >= 0).sum()) <= 15 + n_sub  # labelled rows: the share plus the subset's own
    assert (torch.cat(seen[3:]) >= 0).all()  # 100 %: everything labelled
    assert set(ctx.histories) == {"fraction=0.1", "fraction=1"}


@pytest.mark.parametrize("kind", list(SPECS))
def test_jepa_per_sample_masks_train_on_every_spec(kind):
    spec = SPECS[kind]
    torch.manual_seed(0)
    m = METHODS["jepa"](
        METHODS["jepa"].build_encoder(spec, **SMALL["jepa"]),
        spec,
        TaskSpec(3),
        **SMALL["jepa"],
        per_sample_masks=True,
    ).train()
    x = torch.randn(6, *spec.shape)
    loss = m.training_step(x, None, lambda t, policy=None: t)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in m.predictor.blocks.parameters())


@pytest.mark.parametrize("task", ["node", "graph"])
@pytest.mark.parametrize("name", ["mae", "jepa"])
def test_masked_methods_on_graph_batches(name, task):
    # Duck-typed graph batches as datasets/graph_batches.py builds them (node batch / disjoint union).
    from types import SimpleNamespace

    torch.manual_seed(0)
    x = torch.randn(9, 5)
    ei = torch.tensor([[0, 1, 1, 2, 3, 4, 5, 6, 7, 8], [1, 0, 2, 1, 4, 3, 6, 5, 8, 7]])
    if task == "node":
        b = SimpleNamespace(x=x, edge_index=ei, nodes=torch.tensor([0, 2, 3, 5, 7, 8]))
    else:
        b = SimpleNamespace(x=x, edge_index=ei, batch=torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3]), num_graphs=4)
    spec = InputSpec("graph", (5,), extras={"task": task})
    m = _build(name, spec, TaskSpec(2)).train()
    loss = m.training_step(b, None, lambda t, policy=None: t)
    assert torch.isfinite(loss)
    loss.backward()
    assert sum(float(p.grad.abs().sum()) for p in m.encoder.parameters() if p.grad is not None) > 0
    m.on_step_end(1, 10)
    assert m.eval().embed(b).shape == (len(b.nodes) if task == "node" else 4, 32)
    if name == "jepa":  # per-sample masks take the batch size from the tokens, not len(batch)
        ps = METHODS["jepa"](
            METHODS["jepa"].build_encoder(spec, **SMALL["jepa"]),
            spec,
            TaskSpec(2),
            **SMALL["jepa"],
            per_sample_masks=True,
        ).train()
        assert torch.isfinite(ps.training_step(b, None, lambda t, policy=None: t))


def test_runner_skips_unsupported_spec_with_reason(tmp_path, monkeypatch):
    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.runner import run_jobs
    from benchmark.orchestration.store import ResultStore
    from methods.mae import MAE

    # Every method supports every spec today; a method that declares fewer is skipped, not run.
    monkeypatch.setattr(MAE, "supported_specs", ("image2d",))
    job = Job(
        suite="t",
        method="mae",
        dataset="mutag",
        seed=0,
        epochs=1,
        fractions=[1.0],
        probes=["linear"],
        protocols=["label_fraction"],
    )
    logs = []
    summary = run_jobs(
        [job],
        ResultStore(tmp_path / "s.sqlite"),
        tmp_path,
        tmp_path,
        torch.device("cpu"),
        log=logs.append,
        show_progress=False,
    )
    assert summary["ran"] == 0 and summary["unsupported"]
    assert any("SKIP" in line and "graph" in line for line in logs)


def test_methods_suite_covers_every_domain_with_zero_skips():
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.runner import pending_jobs
    from benchmark.orchestration.suites import load_suite
    from datasets.base import ADAPTERS

    suite = load_suite("methods")
    jobs = expand(suite)
    domains = {ADAPTERS[d.name].spec.kind for d in suite.datasets}
    assert domains == {"image2d", "volume3d", "spectrogram", "signal1d", "graph", "tabular"}
    assert len({ADAPTERS[d.name].domain for d in suite.datasets}) == 7  # natural + medical images apart

    class NoStore:
        def done_hashes(self):
            return set()

    pending, summary = pending_jobs(jobs, NoStore(), log=lambda m: None)
    # 17 methods + random_init_tokens on 7 datasets, for each reported seed
    assert summary["unsupported"] == [] and len(pending) == len(jobs) == 18 * 7 * len(suite.seeds)
