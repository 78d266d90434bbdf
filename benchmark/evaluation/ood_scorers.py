"""OOD detection (docs/design.md §3.6): scorers as small plugins and the OpenOOD metrics.

A scorer is fitted on train features (and labels) of the in-distribution set and returns, for any
features, a confidence score where *higher means more in-distribution*. MSP and energy read the
logits of the val-selected linear head; Mahalanobis and kNN-distance read the features only.
Scorers run on the device the features are on (the job's device); the metrics read the scores on
the host.

Metrics follow OpenOOD's conventions (Yang et al. 2022): ID is the positive class and the score is
the confidence. AUROC is the area under the ROC curve; FPR@95 is the fraction of OOD samples accepted
at the highest threshold that still accepts ≥ 95 % of ID samples (ties at the threshold are
accepted, so a constant scorer gets FPR@95 = 1, never a flattering 0); AUPR-In is the trapezoidal
area under the precision–recall curve with ID positive and the confidence as score, AUPR-Out the same
with OOD positive and the negated confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.registry import Registry
from benchmark.core.specs import TaskSpec
from benchmark.evaluation.metrics import column_aurocs

# ---------------------------------------------------------------------------------------------
# metrics


def _as_np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, float)


def auroc(id_scores, ood_scores) -> float:
    """P(score_ID > score_OOD) + ½ P(tie): the Mann–Whitney statistic, equal to the ROC area."""
    s_in, s_out = _as_np(id_scores), _as_np(ood_scores)
    scores = np.concatenate([s_in, s_out])[:, None]
    is_id = np.r_[np.ones(len(s_in), bool), np.zeros(len(s_out), bool)][:, None]
    return float(column_aurocs(is_id, scores)[0])


def _curve(pos, neg):
    """Cumulative (true positives, false positives) when accepting scores ≥ each distinct value,
    thresholds descending (ties grouped)."""
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_pos = scores[order], is_pos[order]
    last_of_value = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(is_pos)[last_of_value]
    fp = np.cumsum(1 - is_pos)[last_of_value]
    return tp, fp


def fpr_at_tpr(id_scores, ood_scores, tpr: float = 0.95) -> float:
    s_in, s_out = _as_np(id_scores), _as_np(ood_scores)
    tp, fp = _curve(s_in, s_out)
    first = int(np.argmax(tp / len(s_in) >= tpr - 1e-12))
    return float(fp[first] / len(s_out))


def aupr(pos_scores, neg_scores) -> float:
    """Trapezoidal area under precision(recall), the curve starting at (recall 0, precision 1)."""
    tp, fp = _curve(_as_np(pos_scores), _as_np(neg_scores))
    precision = np.r_[1.0, tp / (tp + fp)]
    recall = np.r_[0.0, tp / tp[-1]]
    return float(np.trapezoid(precision, recall))


def ood_metrics(id_scores, ood_scores) -> dict[str, float]:
    s_in, s_out = _as_np(id_scores), _as_np(ood_scores)
    return {
        "auroc": auroc(s_in, s_out),
        "fpr95": fpr_at_tpr(s_in, s_out, 0.95),
        "aupr_in": aupr(s_in, s_out),
        "aupr_out": aupr(-s_out, -s_in),
    }


# ---------------------------------------------------------------------------------------------
# scorers


@dataclass
class FitData:
    train_x: torch.Tensor  # features of the labelled train pool
    train_y: torch.Tensor
    task: TaskSpec


class Scorer:
    name: ClassVar[str]
    needs_logits: ClassVar[bool] = False

    def fit(self, data: FitData) -> "Scorer":
        return self

    def score(self, feats: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


SCORERS: Registry[type[Scorer]] = Registry("OOD scorer")
register_scorer = SCORERS.register


@register_scorer
class MSP(Scorer):
    """Maximum softmax probability (Hendrycks & Gimpel 2017); multi-label: max per-label sigmoid."""

    name = "msp"
    needs_logits = True

    def fit(self, data):
        self.multilabel = data.task.multilabel
        return self

    def score(self, feats, logits):
        p = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits.double(), 1)
        return p.max(1).values.double()


@register_scorer
class Energy(Scorer):
    """Negative free energy T·logsumexp(f/T), T = 1 (Liu et al. 2020); multi-label: the joint
    energy Σ_c log(1 + e^{f_c}) (Wang et al. 2021)."""

    name = "energy"
    needs_logits = True
    temperature = 1.0

    def fit(self, data):
        self.multilabel = data.task.multilabel
        return self

    def score(self, feats, logits):
        z = logits.double() / self.temperature
        if self.multilabel:
            return F.softplus(z).sum(1)
        return self.temperature * torch.logsumexp(z, 1)


@register_scorer
class Mahalanobis(Scorer):
    """Negative minimum Mahalanobis distance to the class means under one tied covariance, both
    estimated on train features (Lee et al. 2018, without input preprocessing)."""

    name = "mahalanobis"

    def fit(self, data):
        x = data.train_x.double()
        y = data.train_y.to(x.device)
        y = y if not data.task.multilabel else y.argmax(1)  # dominant label
        classes = torch.unique(y)
        self.means = torch.stack([x[y == c].mean(0) for c in classes])
        centred = x - self.means[torch.searchsorted(classes, y)]
        cov = centred.t() @ centred / max(1, len(x))
        self.precision = torch.linalg.pinv(cov, hermitian=True)
        return self

    def score(self, feats, logits):
        x = feats.double()
        out = []
        for chunk in torch.split(x, 4096):
            d = chunk.unsqueeze(1) - self.means.unsqueeze(0)  # (n, C, D)
            m = torch.einsum("ncd,de,nce->nc", d, self.precision, d)
            out.append(-m.min(1).values)
        return torch.cat(out)


@register_scorer
class KNNDistance(Scorer):
    """Negative distance to the k-th nearest L2-normalised train feature (Sun et al. 2022, k = 50
    as for CIFAR-10 there; fewer when the train pool is smaller)."""

    name = "knn"
    k = 50

    def fit(self, data):
        self.bank = F.normalize(data.train_x.float(), dim=1)
        return self

    def score(self, feats, logits):
        k = min(self.k, self.bank.shape[0])
        out = []
        for q in torch.split(F.normalize(feats.float(), dim=1), 2048):
            sim = q @ self.bank.t()
            kth_sim = sim.topk(k, dim=1).values[:, -1]
            out.append(-(2 - 2 * kth_sim).clamp_min(0).sqrt().double())  # unit vectors: ‖a-b‖²=2-2a·b
        return torch.cat(out)


def score_all(
    train_x,
    train_y,
    task: TaskSpec,
    sets: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
    scorers: list[str] | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """Fit each scorer once and score every named feature set. `sets`: name → (features, logits).
    Scorers needing logits are skipped when a set has none. Returns scorer → set name → scores."""
    data = FitData(train_x, train_y, task)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in scorers or list(SCORERS):
        sc = SCORERS[name]().fit(data)
        out[name] = {
            k: sc.score(f, lg) for k, (f, lg) in sets.items() if not (sc.needs_logits and lg is None)
        }
    return out


# ---------------------------------------------------------------------------------------------
# the synthetic far partner


def synthetic_noise_inputs(reference: torch.Tensor, n: int, kind: str, seed: int) -> torch.Tensor:
    """Structured noise in the raw input format of `reference` (N, *shape), same dtype and range:
    for spatial specs a smooth random field (Gaussian noise at ¼ resolution, upsampled) matched to
    the reference's per-channel mean and std; for tabular features each column is an independent
    permutation of the reference column (marginals kept, joint structure destroyed)."""
    g = torch.Generator().manual_seed(seed)
    ref = reference.double()
    if kind == "tabular" or ref.dim() == 2:
        cols = [ref[torch.randint(0, len(ref), (n,), generator=g), j] for j in range(ref.shape[1])]
        out = torch.stack(cols, 1)
    else:
        spatial = ref.shape[2:]
        low = tuple(max(2, s // 4) for s in spatial)
        noise = torch.randn((n, ref.shape[1], *low), generator=g, dtype=torch.float64)
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spatial)]
        field = F.interpolate(noise, size=spatial, mode=mode, align_corners=False)
        field = field - field.mean(dim=tuple(range(2, field.dim())), keepdim=True)
        field = field / field.flatten(2).std(2).clamp_min(1e-12).view(n, -1, *[1] * len(spatial))
        dims = [0] + list(range(2, ref.dim()))
        mean = ref.mean(dim=dims).view(1, -1, *[1] * len(spatial))
        std = ref.std(dim=dims).view(1, -1, *[1] * len(spatial))
        out = field * std + mean
    out = out.clamp(float(ref.min()), float(ref.max()))
    if not reference.dtype.is_floating_point:
        out = out.round()
    return out.to(reference.dtype)
