"""Label fractions (docs/design.md §3.2–3.3): for each fraction, the identical class-stratified subset for
every method; each probe selects on val and scores test once. Feature probes (linear, kNN) read the
cached embeddings; the fine-tune probe (`needs_model`) trains a copy of the model itself.

Each (fraction, probe) also gets a `majority_floor` row: the test accuracy of always predicting the
labelled subset's majority class. It depends on the dataset, fraction and seed only, so every method
records the same value; tables mark accuracies at or below it."""

from __future__ import annotations

import torch

from benchmark.evaluation import finetune  # noqa: F401  (registers the fine-tune probe)
from benchmark.evaluation.probes import PROBES, head_result
from benchmark.evaluation.protocols.common import register_protocol

FLOOR_METRIC = "majority_floor"


def majority_floor(train_y: torch.Tensor, test_y: torch.Tensor) -> float:
    """Test accuracy of a constant predictor of the labelled subset's majority class (ties: the
    lower class). Multi-label: each label predicted constant at its majority value, accuracy
    averaged over labels as `classification_metrics` does."""
    # float64 like the metrics: an accuracy equal to the floor must compare equal, not 1e-8 above it
    if train_y.dim() > 1:
        constant = (train_y.double().mean(0) > 0.5).to(test_y.dtype)
        return float((test_y == constant).double().mean())
    majority = int(torch.bincount(train_y).argmax())
    return float((test_y == majority).double().mean())


def probe_rows(ctx, protocol: str) -> list[dict]:
    rows = []
    val_y = ctx.labels("val")
    test_y = ctx.labels("test")
    for f in ctx.job.fractions:
        sub = ctx.fraction_subset(f)  # positions within the train pool
        train_y = ctx.labels("train")[sub]
        floor = majority_floor(train_y, test_y)
        for probe in ctx.job.probes:
            fn = PROBES[probe]
            if getattr(fn, "needs_model", False):
                res = fn(ctx, f)
            elif probe == "linear":  # the head robustness and OOD reuse at the largest fraction
                res = head_result(ctx.linear_head(f), ctx.features("test", f), test_y)
            else:
                train_x = ctx.features("train", f)[sub]
                res = fn(
                    train_x, train_y, ctx.features("val", f), val_y, ctx.features("test", f), test_y, ctx.task
                )
            ctx.keep_probe(probe, f, res)
            for metric, value in [*res.metrics.items(), (FLOOR_METRIC, floor)]:
                rows.append(
                    {"protocol": protocol, "probe": probe, "fraction": f, "metric": metric, "value": value}
                )
    return rows


@register_protocol("label_fraction")
def label_fraction(ctx) -> list[dict]:
    return probe_rows(ctx, "label_fraction")
