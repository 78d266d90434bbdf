"""Evaluation protocols. Each is a function `(ctx: JobContext) -> list[result rows]` registered by
name in `common.PROTOCOLS`; the runner calls those the suite lists, after pretraining, on cached
embeddings. A new protocol is one module here plus its line below."""

from __future__ import annotations

from benchmark.evaluation.protocols import (  # noqa: F401
    label_fraction,
    ood,
    robustness,
    transfer,
    tu_cv,
    val_selection,
)
from benchmark.evaluation.protocols.common import PROTOCOLS, register_protocol  # noqa: F401
