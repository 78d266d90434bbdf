"""Transfer protocol (docs/design.md §3.7): the label-fraction probes on the target dataset of a job whose
model was pretrained elsewhere (see benchmark/orchestration/transfer.py); rows carry protocol `transfer`."""

from __future__ import annotations

from benchmark.evaluation.protocols.common import log, register_protocol
from benchmark.evaluation.protocols.label_fraction import probe_rows


@register_protocol("transfer")
def transfer(ctx) -> list[dict]:
    if not ctx.job.pretrain_on:
        log.warning(
            "transfer: job %s was pretrained in-domain; use --pretrain-on/--evaluate-on", ctx.job.label()
        )
        return []
    return probe_rows(ctx, "transfer")
