"""Hand-computed cases for every method's pure loss, plus stop-gradient / invariance checks."""

import math

import pytest
import torch
from torch import nn

from methods._utils import cosine_momentum, ema_update, frozen_copy
from methods.barlow_twins import barlow_twins_loss, cross_correlation
from methods.byol import byol_loss
from methods.dino import dino_loss, update_center
from methods.fixmatch import fixmatch_unlabelled_loss
from methods.jepa import jepa_loss, sample_batch_masks, sample_masks
from methods.mae import mae_loss, normalise_targets
from methods.mean_teacher import consistency_loss, sigmoid_rampup
from methods.mixmatch import mixmatch_loss, mixup, sharpen
from methods.mmcr import mmcr_loss
from methods.moco_v2 import enqueue, moco_infonce_loss
from methods.moco_v3 import moco_v3_loss
from methods.simsiam import simsiam_loss
from methods.swav import sinkhorn, swapped_prediction_loss
from methods.vicreg import covariance_term, variance_term, vicreg_loss

# Columns with mean 0, (biased) variance 1 and orthogonal: a standardised, decorrelated batch.
ORTHO = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])


# ---- Barlow Twins ------------------------------------------------------------------------------
def test_barlow_twins_zero_for_identity_cross_correlation():
    assert torch.allclose(cross_correlation(ORTHO, ORTHO), torch.eye(2), atol=1e-4)
    assert float(barlow_twins_loss(ORTHO, ORTHO, 0.005)) < 1e-8


def test_barlow_twins_hand_values():
    # z2 = −z1 → C = −I → Σ(1 − (−1))² = 4 per dimension, no off-diagonal term.
    assert math.isclose(float(barlow_twins_loss(ORTHO, -ORTHO, 0.005)), 8.0, rel_tol=1e-4)
    # Identical, perfectly correlated columns → C = all-ones: diagonal 0, off-diagonal λ·2.
    z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert math.isclose(float(barlow_twins_loss(z, z, 0.5)), 0.5 * 2, rel_tol=1e-4)
    # Invariant to per-dimension affine rescaling (batch standardisation inside).
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g)
    assert torch.allclose(barlow_twins_loss(a, b, 0.01), barlow_twins_loss(3 * a + 1, b - 2, 0.01), atol=1e-4)


# ---- VICReg --------------------------------------------------------------------------------------
def test_vicreg_variance_and_covariance_terms():
    # Column 0 constant → std = sqrt(0 + 1e-4) = 0.01 → hinge 0.99; column 1 std > 1 → 0.
    z = torch.tensor([[0.0, 2.0], [0.0, -2.0], [0.0, 2.0], [0.0, -2.0]])
    assert math.isclose(float(variance_term(z)), 0.99 / 2, rel_tol=1e-5)
    # Two rows ±(1, 1): unbiased covariance [[2, 2], [2, 2]] → off-diagonal 2·2² / D=2 → 4.
    z = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert math.isclose(float(covariance_term(z)), 4.0, rel_tol=1e-6)
    # Decorrelated batch: no covariance penalty.
    assert float(covariance_term(ORTHO)) < 1e-10


def test_vicreg_combination():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    expected = (
        25 * torch.mean((z1 - z2) ** 2)
        + 25 * 0.5 * (variance_term(z1) + variance_term(z2))
        + 1 * (covariance_term(z1) + covariance_term(z2))
    )
    assert torch.allclose(vicreg_loss(z1, z2, 25, 25, 1), expected)
    assert float(vicreg_loss(ORTHO * 2, ORTHO * 2, 25, 25, 1)) < 1e-8  # std 2.3 > 1, no cov, same views


# ---- SwAV ----------------------------------------------------------------------------------------
def test_sinkhorn_rows_and_columns():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(12, 4, generator=g)
    q = sinkhorn(scores, epsilon=0.5, iterations=200)
    assert q.shape == (12, 4) and (q >= 0).all()
    assert torch.allclose(q.sum(1), torch.ones(12), atol=1e-5)  # each sample's code sums to 1
    assert torch.allclose(q.sum(0), torch.full((4,), 12 / 4), atol=1e-3)  # equipartition B/K
    # Uniform scores → uniform codes 1/K.
    assert torch.allclose(sinkhorn(torch.zeros(6, 3), 0.05, 3), torch.full((6, 3), 1 / 3))


def test_swapped_prediction_hand_value():
    s1, s2 = torch.zeros(2, 3), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    q1, q2 = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), torch.full((2, 3), 1 / 3)
    t = 1.0
    # view 1's code predicted from s2: −log softmax(s2)[true] = −log(e/(e+2));
    # view 2's uniform code from s1 = 0: −Σ (1/3) log(1/3) = log 3.
    expected = 0.5 * (-math.log(math.e / (math.e + 2)) + math.log(3))
    assert math.isclose(float(swapped_prediction_loss([s1, s2], [q1, q2], t)), expected, rel_tol=1e-6)


# ---- DINO ----------------------------------------------------------------------------------------
def test_dino_center_update_formula():
    c = torch.zeros(1, 3)
    t1, t2 = torch.full((4, 3), 2.0), torch.full((4, 3), 4.0)
    assert torch.allclose(update_center(c, [t1, t2], 0.9), torch.full((1, 3), 0.1 * 3.0))
    c = torch.tensor([[1.0, 2.0, 3.0]])
    t = torch.tensor([[0.0, 0.0, 0.0], [2.0, 4.0, 6.0]])
    assert torch.allclose(update_center(c, [t], 0.5), 0.5 * c + 0.5 * torch.tensor([[1.0, 2.0, 3.0]]))


def test_dino_loss_values():
    k = 5
    zeros = [torch.zeros(3, k), torch.zeros(3, k)]
    # Uniform teacher and student: cross entropy = log K.
    assert math.isclose(
        float(dino_loss(zeros, zeros, torch.zeros(1, k), 0.1, 0.04)), math.log(k), rel_tol=1e-6
    )
    # Centering: a teacher equal to the centre is uniform whatever its values.
    t = [torch.randn(3, k)] * 2
    c = t[0][:1]
    same = [t[0][:1].expand(3, k)] * 2
    assert math.isclose(float(dino_loss(zeros, same, c, 0.1, 0.04)), math.log(k), rel_tol=1e-5)
    # Sharpening: a lower teacher temperature makes the target closer to one-hot.
    s = [torch.tensor([[5.0, 0, 0, 0, 0]])] * 2
    tt = [torch.tensor([[1.0, 0, 0, 0, 0]])] * 2
    assert dino_loss(s, tt, torch.zeros(1, k), 1.0, 0.04) < dino_loss(s, tt, torch.zeros(1, k), 1.0, 1.0)
    # No gradient reaches the teacher outputs.
    tg = torch.randn(3, k, requires_grad=True)
    sg = torch.randn(3, k, requires_grad=True)
    dino_loss([sg, sg], [tg, tg], torch.zeros(1, k), 0.1, 0.04).backward()
    assert tg.grad is None and sg.grad.abs().sum() > 0


def test_dino_head_batchnorm_option():
    from methods.dino import DINOHead

    plain, bn = DINOHead(8, 16, 32, 4), DINOHead(8, 16, 32, 4, use_bn=True)
    # Off: the layers (and so the checkpoint keys) are those of the head without the option.
    assert [type(m).__name__ for m in plain.mlp] == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in bn.mlp) == 2
    bn.train()
    h = torch.randn(6, 8) * 10 + 3
    out = bn(h)
    assert out.shape == (6, 16)
    # Rows are cosines with unit-norm prototypes: within [-1, 1].
    assert out.abs().max() <= 1 + 1e-5
    # After each BatchNorm the batch is standardised per unit (train mode).
    z = bn.mlp[1](bn.mlp[0](h))
    assert torch.allclose(z.mean(0), torch.zeros(32), atol=1e-5)


# ---- MMCR ----------------------------------------------------------------------------------------
def test_mmcr_orthogonal_centroids():
    b, v, d = 4, 3, 6
    z = torch.eye(d)[:b].unsqueeze(1).expand(b, v, d) * 2.5  # every view of sample i = 2.5·e_i
    assert math.isclose(float(mmcr_loss(z)), -b, rel_tol=1e-5)  # C = I_b → ‖C‖_* = b
    collapsed = torch.zeros(b, v, d)
    collapsed[..., 0] = 1.0
    assert math.isclose(float(mmcr_loss(collapsed)), -math.sqrt(b), rel_tol=1e-5)  # rank one
    # Rotation invariance of the nuclear norm.
    g = torch.Generator().manual_seed(0)
    zr = torch.randn(5, 3, d, generator=g)
    rot, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    assert torch.allclose(mmcr_loss(zr), mmcr_loss(zr @ rot), atol=1e-5)
    # Local term: V identical unit views form a rank-one V×D matrix with singular value √V.
    assert math.isclose(float(mmcr_loss(z, local_weight=1.0)), -b + math.sqrt(v), rel_tol=1e-5)


# ---- MoCo ----------------------------------------------------------------------------------------
def test_moco_queue_is_fifo():
    queue = torch.arange(5.0).unsqueeze(1).repeat(1, 2)  # rows 0..4
    keys = torch.tensor([[10.0, 10.0], [11.0, 11.0], [12.0, 12.0]])
    new, ptr = enqueue(queue, 3, keys)
    assert ptr == 1
    assert new[:, 0].tolist() == [12.0, 1.0, 2.0, 10.0, 11.0]  # the oldest slots 3, 4, 0 replaced
    assert queue[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # pure
    new2, ptr2 = enqueue(new, ptr, torch.full((2, 2), 20.0))
    assert ptr2 == 3 and new2[:, 0].tolist() == [12.0, 20.0, 20.0, 10.0, 11.0]


def test_moco_infonce_hand_value():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[2.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0]])
    assert math.isclose(
        float(moco_infonce_loss(q, k, queue, 1.0)), -math.log(math.e / (math.e + 1)), rel_tol=1e-6
    )


def test_moco_v3_hand_value():
    q = torch.eye(2)
    # Each row: positive cos 1, one negative cos 0, T = 1, times 2τ = 2.
    assert math.isclose(
        float(moco_v3_loss(q, q.clone(), 1.0)), 2 * -math.log(math.e / (math.e + 1)), rel_tol=1e-6
    )


# ---- EMA -----------------------------------------------------------------------------------------
def test_ema_update_equals_formula():
    torch.manual_seed(0)
    online = nn.Linear(3, 2)
    target = frozen_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * o)
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995)


# ---- BYOL / SimSiam stop-gradient -----------------------------------------------------------------
def test_byol_and_simsiam_stop_gradient():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(4, 3, generator=g, requires_grad=True)
    z = torch.randn(4, 3, generator=g, requires_grad=True)
    byol_loss(p, z).backward()
    assert z.grad is None and p.grad.abs().sum() > 0
    assert float(byol_loss(z.detach(), 5 * z.detach())) == pytest.approx(0.0, abs=1e-6)  # 2 − 2cos(·,·) = 0
    assert float(byol_loss(torch.eye(2), -torch.eye(2))) == pytest.approx(4.0)
    p1, p2 = (torch.randn(4, 3, generator=g, requires_grad=True) for _ in range(2))
    z1, z2 = (torch.randn(4, 3, generator=g, requires_grad=True) for _ in range(2))
    simsiam_loss(p1, z1, p2, z2).backward()
    assert z1.grad is None and z2.grad is None and p1.grad is not None and p2.grad is not None
    assert float(simsiam_loss(z1.detach(), z1.detach(), z1.detach(), z1.detach())) == pytest.approx(
        -1.0, abs=1e-6
    )


# ---- MAE -----------------------------------------------------------------------------------------
def test_mae_loss_only_on_masked_tokens():
    target = torch.zeros(2, 4, 3)
    mask = torch.tensor([[True, False, False, True], [False, False, True, False]])
    pred = torch.zeros(2, 4, 3)
    pred[~mask] = 7.0  # errors on visible tokens do not count
    assert float(mae_loss(pred, target, mask)) == 0.0
    pred[0, 0] = 3.0  # masked token with squared error 9 per entry; 3 masked tokens in all
    assert float(mae_loss(pred, target, mask)) == pytest.approx(9.0 / 3)
    t = torch.tensor([[[1.0, 2.0, 3.0]]])
    n = normalise_targets(t)
    assert torch.allclose(n.mean(-1), torch.zeros(1, 1), atol=1e-6) and torch.allclose(
        n.var(-1), torch.ones(1, 1), atol=1e-4
    )
    scalar = torch.tensor([[[5.0]]])
    assert torch.equal(normalise_targets(scalar), scalar)  # table features: no per-token norm


# ---- JEPA ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "grid,ordered", [((7, 7), True), ((4, 4, 4), True), ((63,), True), ((13,), False), ((2,), False)]
)
def test_jepa_masks_disjoint_and_nonempty(grid, ordered):
    g = torch.Generator().manual_seed(0)
    n = math.prod(grid)
    for _ in range(20):
        ctx, tgt = sample_masks(grid, ordered, 4, (0.15, 0.2), (0.85, 1.0), g)
        assert len(ctx) > 0 and len(tgt) > 0
        assert not set(ctx.tolist()) & set(tgt.tolist())
        assert max(ctx.max(), tgt.max()) < n


@pytest.mark.parametrize("grid,ordered", [((7, 7), True), ((13,), False)])
def test_jepa_batch_masks_are_per_sample_cut_to_the_shortest(grid, ordered):
    """Each row is a subset of its own sample_masks draw (same generator stream), cut to the batch's
    shortest context / target, so rows differ but stack; context and target stay disjoint."""
    args = (grid, ordered, 4, (0.15, 0.2), (0.85, 1.0))
    ctx, tgt = sample_batch_masks(6, *args, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    draws = [sample_masks(*args, g) for _ in range(6)]
    assert ctx.shape == (6, min(len(c) for c, _ in draws)) and tgt.shape == (6, min(len(t) for _, t in draws))
    for i, (c, t) in enumerate(draws):
        assert set(ctx[i].tolist()) <= set(c.tolist()) and set(tgt[i].tolist()) <= set(t.tolist())
        assert len(set(ctx[i].tolist())) == ctx.shape[1]  # no index twice
    if ordered:
        assert len({tuple(r.tolist()) for r in tgt}) > 1  # not one mask for the whole batch


def test_jepa_loss_detaches_target():
    p = torch.randn(2, 3, 4, requires_grad=True)
    t = torch.randn(2, 3, 4, requires_grad=True)
    jepa_loss(p, t).backward()
    assert t.grad is None
    assert float(jepa_loss(t.detach(), t.detach())) == 0.0
    # smooth-L1: |d| < 1 → 0.5 d², else |d| − 0.5
    assert float(jepa_loss(torch.tensor([0.5]), torch.tensor([0.0]))) == pytest.approx(0.125)
    assert float(jepa_loss(torch.tensor([3.0]), torch.tensor([0.0]))) == pytest.approx(2.5)


# ---- semi-supervised -----------------------------------------------------------------------------
def test_fixmatch_threshold_and_pseudo_label():
    weak = torch.tensor([[10.0, 0.0], [0.0, 0.1]])  # confident class 0; unconfident
    strong = torch.tensor([[0.0, 0.0], [5.0, -5.0]])
    # Only row 0 passes τ = 0.95: CE(strong[0], 0) = log 2; mean over the 2 rows.
    assert float(fixmatch_unlabelled_loss(weak, strong, 0.95)) == pytest.approx(math.log(2) / 2, rel=1e-5)
    assert float(fixmatch_unlabelled_loss(weak * 0, strong, 0.95)) == 0.0
    w = weak.clone().requires_grad_()
    s = strong.clone().requires_grad_()
    fixmatch_unlabelled_loss(w, s, 0.5).backward()
    assert w.grad is None and s.grad.abs().sum() > 0
    # Multi-label: a label counts when p ≥ τ or p ≤ 1 − τ.
    ml = fixmatch_unlabelled_loss(
        torch.tensor([[10.0, 0.0]]), torch.tensor([[0.0, 3.0]]), 0.95, multilabel=True
    )
    assert float(ml) == pytest.approx(math.log(2) / 2, rel=1e-5)


def test_mixmatch_sharpen_mixup_and_loss():
    p = torch.tensor([[0.6, 0.4]])
    assert torch.allclose(sharpen(p, 0.5), torch.tensor([[0.36, 0.16]]) / 0.52)
    assert torch.allclose(sharpen(torch.tensor([[0.6]]), 0.5, multilabel=True), torch.tensor([[0.36 / 0.52]]))
    assert torch.allclose(mixup(torch.ones(2), torch.zeros(2), 0.7), torch.full((2,), 0.7))
    lx = torch.tensor([[0.0, 0.0]])
    tx = torch.tensor([[1.0, 0.0]])
    lu = torch.tensor([[0.0, 0.0]])
    tu = torch.tensor([[1.0, 0.0]])
    # CE with uniform prediction = log 2; MSE of (0.5, 0.5) vs (1, 0) = 0.25.
    assert float(mixmatch_loss(lx, tx, lu, tu, 10.0)) == pytest.approx(math.log(2) + 10 * 0.25)
    assert float(mixmatch_loss(lx[:0], tx[:0], lu, tu, 10.0)) == pytest.approx(2.5)


def test_mean_teacher_consistency_and_rampup():
    s = torch.tensor([[0.0, 0.0]], requires_grad=True)
    t = torch.tensor([[100.0, -100.0]], requires_grad=True)
    loss = consistency_loss(s, t)
    assert float(loss.detach()) == pytest.approx(0.25)  # (0.5 − 1)² and (0.5 − 0)², mean
    loss.backward()
    assert t.grad is None
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(10, 10) == 1.0 and sigmoid_rampup(50, 10) == 1.0
