"""Helpers for the semi-supervised methods: which rows carry a label and the supervised term.
`y` is −1 (a row of −1 for multi-label sets) for samples outside the labelled subset."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.core.views import ViewPolicy
from methods.recipe import Deviation


def labelled_mask(y: torch.Tensor) -> torch.Tensor:
    return (y >= 0).all(1) if y.dim() > 1 else y >= 0


def supervised_term(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Cross entropy (BCE for multi-label) over the labelled rows; 0 (with a graph) when none."""
    lab = labelled_mask(y)
    if not lab.any():
        return logits.sum() * 0.0
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits[lab], y[lab].float())
    return F.cross_entropy(logits[lab], y[lab])


# The semi-supervised papers' views (weak: flip + translate; strong: RandAugment + Cutout), named
# for the adapters (benchmark/core/views.py); each domain documents its analogue.
WEAK_VIEW = ViewPolicy(
    "weak", name="weak (flip, translate ≤ 12.5 %)", translate=0.125, source="FixMatch §2.3"
)
STRONG_VIEW = ViewPolicy(
    "strong",
    name="strong (weak + RandAugment 2 ops + Cutout ≤ ½ side)",
    translate=0.125,
    source="FixMatch §2.3",
)
EMA_EVAL = Deviation(
    "EMA start",
    "a plain average of the weights seen while that is the shorter memory (the Mean Teacher "
    "code's min(m, 1 − 1/(t+1))): 0.999 from the first of a few hundred steps would keep the random init",
)


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multilabel else F.softmax(logits, dim=-1)
