"""Label fractions (DESIGN §3.2–3.3): for each fraction, the identical class-stratified subset for
every method; each probe selects on val and scores test once."""
from __future__ import annotations

from benchmark.probes import PROBES
from benchmark.protocols import register_protocol


@register_protocol("label_fraction")
def label_fraction(ctx) -> list[dict]:
    rows = []
    val_y = ctx.labels("val")
    test_y = ctx.labels("test")
    for f in ctx.job.fractions:
        sub = ctx.fraction_subset(f)  # positions within the train pool
        train_x = ctx.features("train", f)[sub]
        train_y = ctx.labels("train")[sub]
        fval_x = ctx.features("val", f)
        test_x = ctx.features("test", f)
        for probe in ctx.job.probes:
            res = PROBES[probe](train_x, train_y, fval_x, val_y, test_x, test_y, ctx.task)
            ctx.keep_probe(probe, f, res)
            for metric, value in res.metrics.items():
                rows.append({"protocol": "label_fraction", "probe": probe, "fraction": f,
                             "metric": metric, "value": value})
    return rows
