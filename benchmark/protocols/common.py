"""Helpers the protocols share: the val-selected linear head as a reusable predictor (the same
selection as `benchmark.probes.linear_probe`, so its test predictions are identical), the kNN
predictor, the headline metric and the evaluation fraction."""
from __future__ import annotations

import logging
from typing import Callable

import torch

from benchmark.probes import L2_GRID, _fit_logreg, _probs, _selection_score, knn_scores
from benchmark.specs import TaskSpec

log = logging.getLogger("sslbench.protocols")


def headline_metric(task: TaskSpec) -> str:
    """DESIGN §3.4: AUROC for multi-label sets (accuracy is trivially high there), else accuracy."""
    return "auroc" if task.multilabel else "accuracy"


def eval_fraction(ctx) -> float:
    """Robustness and OOD use the probes at the suite's largest label fraction (1.0 by default)."""
    return max(ctx.job.fractions)


class LinearHead:
    """Standardise with train statistics, fit multinomial logistic regression for each L2 in the
    grid, keep the one with the best val score. `logits(x)` / `probs(x)` apply it to any features."""

    def __init__(self, train_x, train_y, val_x, val_y, task: TaskSpec, l2_grid=L2_GRID):
        self.task = task
        self.mean = train_x.mean(0, keepdim=True)
        self.std = train_x.std(0, keepdim=True).nan_to_num(1.0).clamp_min(1e-6)
        tr, va = self._norm(train_x), self._norm(val_x)
        best = None
        for l2 in l2_grid:
            head = _fit_logreg(tr, train_y, task, l2)
            with torch.no_grad():
                score = _selection_score(_probs(head(va), task), val_y, task)
            if best is None or score > best[0] + 1e-12:
                best = (score, l2, head)
        self.val_score, self.l2, self.head = best

    def _norm(self, x):
        return ((x - self.mean) / self.std).double()

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._norm(x)).float()

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return _probs(self.logits(x), self.task)


def predictors(ctx, probes, train_x, train_y, val_x, val_y) -> dict[str, Callable]:
    """probe name → function(features) → class probabilities, for the frozen-feature probes."""
    out: dict[str, Callable] = {}
    for p in probes:
        if p == "linear":
            out[p] = LinearHead(train_x, train_y, val_x, val_y, ctx.task).probs
        elif p == "knn":
            out[p] = lambda x, tx=train_x, ty=train_y: knn_scores(tx, ty, x, ctx.task)
    return out
