"""OOD protocol honesty: OpenOOD metrics (hand-computed and against scikit-learn), a constant
encoder gives AUROC 0.5 for every scorer, a perfect separator gives AUROC 1 / FPR95 0, partners of
another spec are skipped with a reason, the synthetic far partner is deterministic."""

import logging

import numpy as np
import pytest
import torch
from _protocol_toys import registered, toy_ctx, toy_job
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score, roc_curve

from benchmark.core.specs import TaskSpec
from benchmark.evaluation.ood_scorers import (
    SCORERS,
    aupr,
    auroc,
    fpr_at_tpr,
    ood_metrics,
    score_all,
    synthetic_noise_inputs,
)


@pytest.fixture(scope="module", autouse=True)
def toys():
    with registered():
        yield


def test_metrics_hand_computed():
    id_s, ood_s = [0.9, 0.8, 0.4], [0.7, 0.3]
    m = ood_metrics(id_s, ood_s)
    # 5 of the 6 (ID, OOD) pairs are ordered correctly (0.4 < 0.7 is not)
    assert m["auroc"] == pytest.approx(5 / 6)
    # accepting ≥ 95 % of ID needs threshold 0.4, which accepts OOD 0.7: 1 of 2
    assert m["fpr95"] == pytest.approx(0.5)
    # PR (ID positive): (0,1) (1/3,1) (2/3,1) (2/3,2/3) (1,3/4) (1,3/5) → 2/3 + (2/3+3/4)/2·1/3
    assert m["aupr_in"] == pytest.approx(65 / 72)
    # PR (OOD positive, −score): (0,1) (1/2,1) (1/2,1/2) (1,2/3) … → 1/2 + (1/2+2/3)/2·1/2
    assert m["aupr_out"] == pytest.approx(19 / 24)


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_sklearn_on_random_inputs(ties):
    rng = np.random.default_rng(3)
    for _ in range(20):
        s_in, s_out = rng.normal(0.5, 1, 300), rng.normal(0, 1, 200)
        if ties:
            s_in, s_out = np.round(s_in, 1), np.round(s_out, 1)
        y = np.r_[np.ones(300), np.zeros(200)]
        s = np.r_[s_in, s_out]
        assert auroc(s_in, s_out) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        fpr, tpr, _ = roc_curve(y, s)
        assert fpr_at_tpr(s_in, s_out) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)
        p, r, _ = precision_recall_curve(y, s)
        assert aupr(s_in, s_out) == pytest.approx(auc(r, p), abs=1e-12)
        p, r, _ = precision_recall_curve(1 - y, -s)
        assert aupr(-s_out, -s_in) == pytest.approx(auc(r, p), abs=1e-12)


def test_constant_scores_are_uninformative():
    m = ood_metrics(np.zeros(50), np.zeros(70))
    assert m["auroc"] == 0.5 and m["fpr95"] == 1.0


def test_constant_encoder_gives_auroc_half_for_every_scorer(tmp_path):
    ctx = toy_ctx(toy_job("toy_constant", protocols=["ood"]), tmp_path)
    from benchmark.evaluation.protocols import PROTOCOLS

    rows = PROTOCOLS["ood"](ctx)
    partners = {r["ood_partner"] for r in rows}
    assert partners == {"near:toy_blobs_b", "far:synthetic_noise"}  # toy_wide skipped (other shape)
    assert {r["probe"] for r in rows} == set(SCORERS)
    for r in rows:
        if r["metric"] == "auroc":
            assert r["value"] == 0.5, r
        if r["metric"] == "fpr95":
            assert r["value"] == 1.0, r


def test_partner_of_other_spec_is_skipped_with_reason(tmp_path, caplog):
    ctx = toy_ctx(toy_job("random_init", protocols=["ood"]), tmp_path)
    from benchmark.evaluation.protocols.ood import partner_sets

    with caplog.at_level(logging.WARNING, logger="sslbench.protocols"):
        names = [n for n, _ in partner_sets(ctx, 1.0)]
    assert names == ["near:toy_blobs_b", "far:synthetic_noise"]
    assert any("toy_wide" in m and "(1, 8, 12)" in m and "skipped" in m for m in caplog.messages)


def test_random_encoder_detects_synthetic_noise(tmp_path):
    # A real (random-init) encoder on the toy data: structured noise is far OOD, every scorer beats
    # chance clearly on it.
    from benchmark.evaluation.protocols import PROTOCOLS

    rows = PROTOCOLS["ood"](toy_ctx(toy_job("random_init", protocols=["ood"]), tmp_path))
    far = {
        r["probe"]: r["value"]
        for r in rows
        if r["ood_partner"] == "far:synthetic_noise" and r["metric"] == "auroc"
    }
    assert len(far) == 4 and all(v > 0.8 for v in far.values()), far


def test_perfect_separator_gives_auroc_one_fpr_zero():
    # ID: three tight clusters on orthogonal axes; OOD: points at the centroid of the class means,
    # where the linear head is unsure (MSP, energy low), Mahalanobis distance is large and the
    # normalised direction is far from every train feature.
    from benchmark.evaluation.protocols.common import LinearHead

    g = torch.Generator().manual_seed(0)
    task = TaskSpec(3)
    centres = torch.zeros(3, 16)
    centres[0, 0] = centres[1, 1] = centres[2, 2] = 10.0
    centres += 1.0

    def sample(n):
        y = torch.arange(n) % 3
        return centres[y] + 0.3 * torch.randn(n, 16, generator=g), y

    (tx, ty), (vx, vy), (ix, _) = sample(300), sample(150), sample(200)
    ox = centres.mean(0) + 0.3 * torch.randn(200, 16, generator=g)
    head = LinearHead(tx, ty, vx, vy, task)
    scores = score_all(tx, ty, task, {"id": (ix, head.logits(ix)), "ood": (ox, head.logits(ox))})
    assert set(scores) == set(SCORERS)
    for name, s in scores.items():
        m = ood_metrics(s["id"], s["ood"])
        assert m["auroc"] == 1.0 and m["fpr95"] == 0.0, (name, m)
        assert m["aupr_in"] == pytest.approx(1.0) and m["aupr_out"] == pytest.approx(1.0)


def test_synthetic_noise_partner_is_deterministic_and_in_format():
    ref = (torch.rand(50, 1, 8, 8) * 255).to(torch.uint8)
    a = synthetic_noise_inputs(ref, 40, "image2d", seed=7)
    b = synthetic_noise_inputs(ref, 40, "image2d", seed=7)
    c = synthetic_noise_inputs(ref, 40, "image2d", seed=8)
    assert a.dtype == torch.uint8 and a.shape == (40, 1, 8, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.min()) >= int(ref.min()) and int(a.max()) <= int(ref.max())
    tab = torch.randn(30, 5)
    t = synthetic_noise_inputs(tab, 30, "tabular", seed=1)
    assert t.shape == (30, 5) and all(set(t[:, j].tolist()) <= set(tab[:, j].tolist()) for j in range(5))
