"""Helpers for the semi-supervised methods: which rows carry a label and the supervised term.
`y` is −1 (a row of −1 for multi-label sets) for samples outside the labelled subset."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multilabel else F.softmax(logits, dim=-1)
