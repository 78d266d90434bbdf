"""Every stateful update a method makes between steps, against its reference formula, on the method
object itself (through `training_step` / `on_step_end`, as the pretraining loop drives it):

- EMA teachers (BYOL, DINO, MoCo v2/v3, Mean Teacher): θ_t ← m θ_t + (1 − m) θ_s, with m from the
  method's schedule (BYOL's cosine schedule, or a constant);
- DINO's centre: c ← m c + (1 − m) · mean of the teacher outputs of the step;
- the MoCo v2 key queue (FIFO, keys of view 2 then view 1, wrap-around, fixed size) and the SwAV
  embedding queue (newest first, fixed size, used for the codes once full).
"""

import pytest
import torch
import torch.nn.functional as F

import methods  # noqa: F401  (registers every method)
from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.models.encoders import encoder_for_spec
from methods._utils import cosine_momentum
from methods.base import METHODS

SPEC = InputSpec("tabular", (7,))
TASK = TaskSpec(3)
SMALL = {
    "byol": {"proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16},
    "dino": {"out_dim": 12, "hidden": 16, "bottleneck": 8},
    "moco_v2": {"proj_hidden": 16, "proj_dim": 8, "queue_size": 10},
    "moco_v3": {"proj_hidden": 16, "proj_dim": 8, "pred_hidden": 16},
    "mean_teacher": {},
    "swav": {"proj_hidden": 16, "proj_dim": 8, "num_prototypes": 5, "queue_size": 6},
}


def _build(name, recipes="legacy", **hp):
    # Legacy mode: one view per call and the hyper-parameter's momentum, so every formula below
    # reads off the method's hyper-parameters; the paper recipes' schedules are checked at the end.
    torch.manual_seed(0)
    return METHODS[name](encoder_for_spec(SPEC), SPEC, TASK, recipes=recipes, **{**SMALL[name], **hp}).train()


class Views:
    """A view function that remembers every view it returned."""

    def __init__(self, seed=1):
        self.g = torch.Generator().manual_seed(seed)
        self.made: list[torch.Tensor] = []

    def __call__(self, x, policy=None):  # a paper recipe's view policy changes nothing here
        v = x + 0.1 * torch.randn(x.shape, generator=self.g)
        self.made.append(v)
        return v


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


# (method, [(teacher attribute, student attribute)], momentum at (step, total) from its hyper-parameters)
EMA_CASES = [
    ("byol", [("target_encoder", "encoder"), ("target_projector", "projector")], "cosine", "momentum"),
    ("dino", [("teacher_encoder", "encoder"), ("teacher_head", "head")], "cosine", "momentum"),
    ("moco_v2", [("key_encoder", "encoder"), ("key_projector", "projector")], "constant", "momentum"),
    ("moco_v3", [("momentum_encoder", "encoder"), ("momentum_projector", "projector")], "cosine", "momentum"),
    ("mean_teacher", [("teacher_encoder", "encoder"), ("teacher_head", "head")], "constant", "ema"),
]


@pytest.mark.parametrize("name,pairs,schedule,hp", EMA_CASES, ids=[c[0] for c in EMA_CASES])
def test_ema_teacher_follows_its_formula_and_schedule(name, pairs, schedule, hp):
    m = _build(name)
    _check_ema_step(m, name, pairs, schedule, m.hp[hp])


def _check_ema_step(m, name, pairs, schedule, base, expected=None):
    x = torch.randn(8, 7)
    y = torch.tensor([0, 1, 2, -1, -1, 0, 1, -1])
    loss = m.training_step(x, y if m.uses_labels else None, Views())
    loss.backward()
    with torch.no_grad():  # stands in for the optimiser step: the student moves, the teacher not yet
        for p in m.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    before = {t: _params(getattr(m, t)) for t, _ in pairs}
    step, total = 3, 10
    m.on_step_end(step, total)
    mom = cosine_momentum(base, step, total) if schedule == "cosine" else base
    mom = mom if expected is None else expected(step, total)
    assert 0 < mom < 1 and (schedule == "constant" or mom != base)
    for t, s in pairs:
        for b, pt, ps in zip(before[t], getattr(m, t).parameters(), getattr(m, s).parameters()):
            assert torch.allclose(pt, mom * b + (1 - mom) * ps, atol=1e-7), (name, t)
            assert not pt.requires_grad


def test_dino_centre_is_the_ema_of_the_teacher_batch_mean():
    m = _build("dino", center_momentum=0.9)
    centre = torch.zeros(1, 12)
    assert torch.equal(m.center, centre)
    x = torch.randn(8, 7)
    for step in (1, 2, 3):
        views = Views(seed=step)
        m.training_step(x, None, views)
        with torch.no_grad():  # the teacher outputs of this step's two global views, before the EMA
            outs = [m.teacher_head(m.teacher_encoder(v)) for v in views.made[:2]]
        m.on_step_end(step, 10)
        centre = 0.9 * centre + 0.1 * torch.cat(outs).mean(0, keepdim=True)
        assert torch.allclose(m.center, centre, atol=1e-6), step
    assert m.center.abs().sum() > 0


def _moco_keys(m, v):
    with torch.no_grad():
        return F.normalize(m.key_projector(m.key_encoder(v)), dim=1)


def test_moco_queue_enqueues_view2_then_view1_keys_fifo_with_wraparound():
    m = _build("moco_v2")  # queue of 10 keys, batch of 4, two key batches per step
    q0 = m.queue.clone()
    x = torch.randn(4, 7)
    views = Views()
    m.training_step(x, None, views)
    k2, k1 = _moco_keys(m, views.made[1]), _moco_keys(m, views.made[0])
    m.on_step_end(1, 10)
    assert m.queue.shape == (10, 8) and int(m.queue_ptr) == 8
    assert torch.allclose(m.queue[:4], k2, atol=1e-6) and torch.allclose(m.queue[4:8], k1, atol=1e-6)
    assert torch.equal(m.queue[8:], q0[8:])  # the oldest slots not reached yet are untouched

    views = Views(seed=2)
    m.training_step(x, None, views)
    k2b, k1b = _moco_keys(m, views.made[1]), _moco_keys(m, views.made[0])
    q1 = m.queue.clone()
    m.on_step_end(2, 10)
    # 8 keys at pointer 8 of a 10-slot queue: slots 8, 9, then wrap round to 0..5; pointer 6
    assert int(m.queue_ptr) == 6 and m.queue.shape == (10, 8)
    assert torch.allclose(m.queue[8:10], k2b[:2], atol=1e-6)
    assert torch.allclose(m.queue[0:2], k2b[2:], atol=1e-6)
    assert torch.allclose(m.queue[2:6], k1b, atol=1e-6)
    assert torch.equal(m.queue[6:8], q1[6:8])  # the newest keys of step 1 survive


def test_swav_queue_puts_the_newest_first_keeps_its_size_and_is_used_once_full(monkeypatch):
    import methods.swav as swav

    m = _build("swav")  # queue of 6 embeddings per view, batch of 4
    sizes = []
    real = swav.sinkhorn
    monkeypatch.setattr(swav, "sinkhorn", lambda s, e, i: sizes.append(s.shape[0]) or real(s, e, i))
    x = torch.randn(4, 7)
    history = []
    for step in (1, 2, 3):
        views = Views(seed=step)
        m.training_step(x, None, views)
        with torch.no_grad():
            z = [F.normalize(m.projector(m.encoder(v)), dim=1) for v in views.made[:2]]
        before = m.queue.clone()
        m.on_step_end(step, 10)
        history.append(z)
        assert m.queue.shape == (2, 6, 8) and int(m.queue_filled) == 4 * step
        for i in range(2):
            assert torch.allclose(m.queue[i, :4], z[i], atol=1e-6)  # newest first
            assert torch.equal(m.queue[i, 4:], before[i, :2])  # the rest shifted back, oldest dropped
    # codes of steps 1 and 2 from the batch alone (the queue was not full); step 3 adds the 6 queued
    assert sizes == [4, 4, 4, 4, 4 + 6, 4 + 6]

    # the step reads a host copy of the fill count (no GPU wait); a loaded state dict (a resumed run)
    # sets it from the checkpointed buffer, so a restored full queue is used at once
    fresh = _build("swav")
    assert fresh._filled == 0
    fresh.load_state_dict(m.state_dict())
    assert fresh._filled == int(m.queue_filled) == 12
    sizes.clear()
    fresh._step, fresh._total = 3, 10
    fresh.training_step(x, None, Views(seed=4))
    assert sizes == [4 + 6, 4 + 6]


@pytest.mark.parametrize("name,pairs,schedule,hp", EMA_CASES, ids=[c[0] for c in EMA_CASES])
def test_paper_recipe_ema_teacher_follows_the_recipes_schedule(name, pairs, schedule, hp):
    """Under the paper recipe the teacher moves by the recipe's declared EMA (its start, end and
    schedule are checked against docs/recipes.md in test_recipes); here: the update uses it."""
    m = _build(name, recipes="paper")
    ema = m.recipe.for_spec(SPEC).ema
    assert ema is not None and m.ema == ema
    _check_ema_step(m, name, pairs, schedule, ema.start, expected=ema.at)
