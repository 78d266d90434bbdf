"""Evaluation protocols. Each is a function `(ctx: JobContext) -> list[result rows]` registered by
name; the runner calls those the suite lists, after pretraining, on cached embeddings."""
from __future__ import annotations

from typing import Callable

PROTOCOLS: dict[str, Callable] = {}


def register_protocol(name: str):
    def deco(fn):
        PROTOCOLS[name] = fn
        return fn
    return deco


from benchmark.evaluation.protocols import label_fraction  # noqa: E402,F401
from benchmark.evaluation.protocols import ood, robustness, transfer  # noqa: E402,F401
