"""Val selection: the score a tuning trial is judged on (docs/protocol.md). The linear probe's val
score (the probe's own selection score) at each of the job's label fractions, on the identical labelled
subset every method gets. Test labels and test features are never read, so a tuning run cannot see test."""

from __future__ import annotations

from benchmark.evaluation.protocols.common import register_protocol

VAL_METRIC = "val_score"


@register_protocol("val_selection")
def val_selection(ctx) -> list[dict]:
    return [
        {
            "protocol": "val_selection",
            "probe": "linear",
            "fraction": f,
            "metric": VAL_METRIC,
            "value": float(ctx.linear_head(f).val_score),
        }
        for f in ctx.job.fractions
    ]
