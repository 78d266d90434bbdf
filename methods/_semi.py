"""Helpers for the semi-supervised methods: the supervised term and the papers' views. `y` is −1 (a
row of −1 for multi-label sets) for samples outside the labelled subset (`methods.base.LabelledRows`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.core.views import ViewPolicy
from methods.base import LabelledRows, labelled_mask
from methods.recipe import Deviation


def supervised_term(
    logits: torch.Tensor, y: torch.Tensor, multilabel: bool, rows: LabelledRows | None = None
) -> torch.Tensor:
    """Cross entropy (BCE for multi-label) over the labelled rows; 0 (with a graph) when none.
    `rows`: the labelled rows as the host knows them (`Method.batch_rows`, set by the pretraining
    loop), selected by index with no read of the device. Without them a GPU weights the rows by the
    mask (`masked_supervised_term`) rather than selecting them, which would make the host wait for
    the count; the CPU selects them, the same rows in the same order, so its numbers do not move."""
    if rows is None:
        if logits.device.type != "cpu":
            return masked_supervised_term(logits, y, labelled_mask(y), multilabel)
        rows = LabelledRows.of(y)
    if not rows.count:
        return logits.sum() * 0.0
    lab = rows.labelled
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits[lab], y[lab].float())
    return F.cross_entropy(logits[lab], y[lab])


def masked_supervised_term(
    logits: torch.Tensor, y: torch.Tensor, lab: torch.Tensor, multilabel: bool
) -> torch.Tensor:
    """`supervised_term` without reading the mask on the host: every row's loss (unlabelled rows
    given a dummy target), weighted by the mask and divided by the labelled count (at least 1), the
    same mean up to float summation order; 0 (with a graph) when no row is labelled."""
    w = lab.to(logits.dtype)
    if multilabel:
        per_row = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0).float(), reduction="none").mean(1)
    else:
        per_row = F.cross_entropy(logits, y.clamp(min=0), reduction="none")
    return (per_row * w).sum() / w.sum().clamp(min=1)


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
