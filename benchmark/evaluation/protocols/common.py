"""Helpers the protocols share: the val-selected linear head (`benchmark.evaluation.probes.LinearHead`,
the one `linear_probe` uses) and the kNN predictor as reusable predictors, the headline metric and the
evaluation fraction."""

from __future__ import annotations

import logging
from typing import Callable

from benchmark.core.registry import Registry
from benchmark.core.specs import TaskSpec
from benchmark.evaluation.probes import LinearHead, knn_scores  # noqa: F401 - LinearHead re-exported for protocols

log = logging.getLogger("sslbench.protocols")


PROTOCOLS: Registry[Callable] = Registry("protocol")
register_protocol = PROTOCOLS.register


def headline_metric(task: TaskSpec) -> str:
    return task.headline_metric


def eval_fraction(ctx) -> float:
    """Robustness and OOD use the probes at the suite's largest label fraction (1.0 by default)."""
    return max(ctx.job.fractions)


def predictors(ctx, probes, train_x, train_y, val_x, val_y) -> dict[str, Callable]:
    """probe name → function(features) → class probabilities, for the frozen-feature probes. The
    linear head is the job's val-selected head at the evaluation fraction (`JobContext.linear_head`),
    fitted once and shared with the label-fraction table."""
    out: dict[str, Callable] = {}
    for p in probes:
        if p == "linear":
            out[p] = ctx.linear_head(eval_fraction(ctx)).probs
        elif p == "knn":
            out[p] = lambda x, tx=train_x, ty=train_y: knn_scores(tx, ty, x, ctx.task)
    return out
