"""Optimisers and schedules built from a recipe (benchmark/training/optim.py), and the legacy path
that keeps the published rows reproducible."""

import math

import pytest
import torch
from torch import nn

from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training.optim import (
    LARS,
    Schedules,
    build_optimizer,
    lr_at,
    param_groups,
    scheduled_lr,
    weight_decay_at,
)
from benchmark.training.pretrain import PretrainConfig, Views, pretrain
from methods.base import Method
from methods.recipe import Freeze, Recipe, legacy_recipe
from tests._protocol_toys import ToyA


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.predictor = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.predictor(self.bn(self.lin(x)))


def test_lars_scales_each_weight_step_by_its_trust_ratio():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5, 3))
    b = nn.Parameter(torch.randn(5))
    opt = LARS(
        [{"params": [w], "lars": True}, {"params": [b], "lars": False, "weight_decay": 0.0}],
        lr=0.5,
        momentum=0.9,
        weight_decay=0.1,
        eta=0.001,
    )
    w.grad, b.grad = torch.randn(5, 3), torch.randn(5)
    w0, b0, gw, gb = w.detach().clone(), b.detach().clone(), w.grad.clone(), b.grad.clone()
    opt.step()
    g = gw + 0.1 * w0
    q = 0.001 * w0.norm() / g.norm()
    assert torch.allclose(w, w0 - 0.5 * q * g)  # first step: the buffer is the scaled gradient
    assert torch.allclose(b, b0 - 0.5 * gb)  # no adaptation, no decay: plain SGD
    w.grad, b.grad = gw, gb
    buf = q * g
    opt.step()
    w1 = w0 - 0.5 * q * g
    g1 = gw + 0.1 * w1
    buf = 0.9 * buf + 0.001 * w1.norm() / g1.norm() * g1
    assert torch.allclose(w, w1 - 0.5 * buf, atol=1e-6)


def _per_parameter_lars_step(params_groups, state, lr, momentum, wd, eta, nesterov):
    """LARS written parameter by parameter, straight from its definition (the class docstring)."""
    with torch.no_grad():
        for group in params_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                decay = group.get("weight_decay", wd)
                g = p.grad.add(p, alpha=decay) if decay else p.grad
                if group["lars"]:
                    wn, gn = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                    ok = (wn > 0) & (gn > 0)
                    g = g.mul(torch.where(ok, eta * wn / gn.clamp_min(1e-12), torch.ones_like(wn)))
                if p not in state:
                    state[p] = torch.clone(g)
                else:
                    state[p].mul_(momentum).add_(g)
                p.add_(g.add(state[p], alpha=momentum) if nesterov else state[p], alpha=-lr)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_multi_tensor_step_is_the_per_parameter_update_to_the_bit(nesterov):
    def make():
        torch.manual_seed(0)
        w = [nn.Parameter(torch.randn(6, 4)), nn.Parameter(torch.randn(3, 3, 2))]
        w.append(nn.Parameter(torch.zeros(5)))  # a zero weight: the ratio falls back to 1
        b = [nn.Parameter(torch.randn(6)), nn.Parameter(torch.randn(2))]
        return w, b

    (w1, b1), (w2, b2) = make(), make()
    groups = lambda w, b: [  # noqa: E731
        {"params": w, "lars": True},
        {"params": b, "lars": False, "weight_decay": 0.0},
    ]
    opt = LARS(groups(w1, b1), lr=0.3, momentum=0.9, weight_decay=1e-4, eta=0.02, nesterov=nesterov)
    ref_groups, ref_state = groups(w2, b2), {}
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        for p in w1 + b1 + w2 + b2:
            p.grad = None
        grads = [torch.randn(p.shape, generator=g) for p in w1 + b1]
        grads[0] = grads[0] * 0 if step == 2 else grads[0]  # a zero gradient: the ratio falls back to 1
        for i, (p1, p2) in enumerate(zip(w1 + b1, w2 + b2)):
            if step == 1 and i == 1:
                continue  # no gradient this step: the parameter and its buffer stay as they are
            p1.grad, p2.grad = grads[i].clone(), grads[i].clone()
        opt.step()
        _per_parameter_lars_step(ref_groups, ref_state, 0.3, 0.9, 1e-4, 0.02, nesterov)
        for p1, p2 in zip(w1 + b1, w2 + b2):
            assert torch.equal(p1, p2), step
            assert torch.equal(opt.state[p1]["momentum_buffer"], ref_state[p2]), step


def test_bias_and_norm_parameters_are_kept_out_of_decay_and_adaptation():
    net = Net()
    r = Recipe(source="t", optimizer="lars", weight_decay=0.1, exclude_bias_norm=True, bias_norm_lr_scale=0.5)
    groups, metas = param_groups(net, r)
    plain = [g for g in groups if not g["lars"]]
    assert len(plain) == 1 and {id(p) for p in plain[0]["params"]} == {
        id(net.lin.bias),
        id(net.bn.weight),
        id(net.bn.bias),
    }
    assert plain[0]["weight_decay"] == 0.0
    assert [m.lr_scale for m, g in zip(metas, groups) if not g["lars"]] == [0.5]
    # a recipe with nothing to separate: one group of every parameter, as the legacy loop had
    groups, metas = param_groups(net, legacy_recipe(1e-3, 1e-6))
    assert len(groups) == 1 and groups[0]["params"] == list(net.parameters())


def test_legacy_recipe_builds_the_pre_recipe_optimiser():
    net = Net()
    opt, _ = build_optimizer(net, legacy_recipe(1e-3, 1e-6), 256, torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 1
    g = opt.param_groups[0]
    assert g["params"] == list(net.parameters())
    assert (g["lr"], g["weight_decay"], g["betas"], g["fused"]) == (1e-3, 1e-6, (0.9, 0.999), True)
    r = legacy_recipe(2e-3, 0.0)
    for step in (0, 3, 50, 99):
        assert scheduled_lr(r, step, 100, r.peak_lr(64)) == lr_at(step, 100, 2e-3, 0.1)


def test_lr_scaling_and_schedules():
    r = Recipe(source="t", lr=0.3, lr_scaling="linear", lr_warmup_frac=0.1)
    assert r.peak_lr(128) == pytest.approx(0.15)
    peak = r.peak_lr(128)
    assert scheduled_lr(r, 0, 100, peak) == pytest.approx(peak / 10)
    assert scheduled_lr(r, 9, 100, peak) == pytest.approx(peak)
    assert scheduled_lr(r, 99, 100, peak) < 0.01 * peak
    end = Recipe(source="t", lr=1.0, lr_end=0.001)
    assert scheduled_lr(end, 100, 100, 1.0) == pytest.approx(0.001)
    fm = Recipe(source="t", lr=0.03, schedule="fixmatch_cosine")
    assert scheduled_lr(fm, 100, 100, 0.03) == pytest.approx(0.03 * math.cos(7 * math.pi / 16))
    assert scheduled_lr(Recipe(source="t", schedule="constant"), 77, 100, 0.002) == 0.002
    # the tuning axis every method shares multiplies the peak after the batch-size rule
    assert r.with_overrides({"lr_multiplier": 2.0}).peak_lr(128) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="lr_multiplier must be a number > 0"):
        Recipe(source="t", lr_multiplier=0)


def test_weight_decay_schedule_and_fixed_lr_group():
    r = Recipe(source="t", optimizer="sgd", weight_decay=0.04, weight_decay_end=0.4, fixed_lr=("predictor",))
    assert weight_decay_at(r, 0, 100) == pytest.approx(0.04) and weight_decay_at(
        r, 100, 100
    ) == pytest.approx(0.4)
    assert weight_decay_at(r, 50, 100) == pytest.approx(0.22)
    net = Net()
    opt, metas = build_optimizer(net, r, 256, torch.device("cpu"))
    sched = Schedules(net, r, opt, metas, 256)
    sched.before_step(90, 100)
    for group, meta in zip(opt.param_groups, metas):
        fixed = any(p is net.predictor.weight for p in group["params"])
        assert meta.fixed == fixed
        assert group["lr"] == pytest.approx(r.lr if fixed else scheduled_lr(r, 90, 100, r.lr))
        if meta.decay:
            assert group["weight_decay"] == pytest.approx(weight_decay_at(r, 90, 100))
        else:
            assert group["weight_decay"] == 0.0


def test_freeze_drops_gradients_for_its_share_of_the_run_and_clip_bounds_each_tensor():
    net = Net()
    r = Recipe(source="t", optimizer="sgd", lr=0.1, freeze=(Freeze("predictor", 0.1),), clip_grad=0.5)
    opt, metas = build_optimizer(net, r, 256, torch.device("cpu"))
    sched = Schedules(net, r, opt, metas, 256)
    net(torch.randn(8, 4)).pow(2).sum().mul(100).backward()
    sched.adjust_grads(9, 100)
    assert net.predictor.weight.grad is None
    assert all(p.grad.norm() <= 0.5 + 1e-5 for p in net.parameters() if p.grad is not None)
    net(torch.randn(8, 4)).pow(2).sum().backward()
    sched.adjust_grads(10, 100)  # the freeze is over
    assert net.predictor.weight.grad is not None
    with pytest.raises(ValueError, match="no such parameter"):
        Schedules(net, Recipe(source="t", freeze=(Freeze("nope", 0.5),)), opt, metas, 256)


class _ViewSpy(Method):
    name = "view_spy"
    family = "test"

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.calls = []

    def training_step(self, x, y, view):
        self.calls.append(getattr(view, "multi_crop", None))
        return self.encoder(view(x)).pow(2).mean()


def test_loop_views_fall_back_for_adapters_without_policies():
    # ToyA's views take no policy: named views get its one view, and no local crops are made
    adapter = ToyA()
    views = Views(adapter, torch.Generator().manual_seed(0))
    assert not views.takes_policy and not views.multi_crop
    x = adapter.prepare(adapter.batch(adapter.splits()["train"], torch.arange(4)), torch.device("cpu"))
    from benchmark.core.views import ViewPolicy

    a = views(x, ViewPolicy("weak"))
    b = Views(adapter, torch.Generator().manual_seed(0))(x)
    assert torch.equal(a, b)


def test_pretrain_without_a_recipe_is_the_legacy_recipe():
    adapter = ToyA()
    split = adapter.splits()["train"]
    runs = []
    for recipe in (None, legacy_recipe(1e-3, 1e-6)):
        torch.manual_seed(0)
        m = _ViewSpy(encoder_for(adapter), adapter.spec, TaskSpec(4))
        cfg = PretrainConfig(epochs=2, batch_size=64, lr=1e-3, weight_decay=1e-6, seed=0, recipe=recipe)
        hist = pretrain(m, adapter, split, torch.arange(256), cfg)
        runs.append(([e["loss"] for e in hist["epochs"]], [p.detach().clone() for p in m.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
