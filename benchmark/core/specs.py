"""Typed input specs (docs/design.md §2).

An adapter declares one `InputSpec`; encoders, batched views and token masks are chosen from it,
so a method is written once and runs on every domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SPEC_KINDS = ("image2d", "volume3d", "signal1d", "spectrogram", "graph", "tabular")


@dataclass(frozen=True)
class InputSpec:
    """What one sample looks like.

    kind:  one of SPEC_KINDS.
    shape: per-sample tensor shape — (C,H,W) image2d, (C,D,H,W) volume3d, (C,T) signal1d,
           (C,F,T) spectrogram, (num_node_features,) graph, (num_features,) tabular.
    extras: kind-specific facts, e.g. {"categorical_cardinalities": [...]} for tables or
           {"task": "node"|"graph"} for graphs.
    """

    kind: str
    shape: tuple[int, ...]
    extras: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.kind not in SPEC_KINDS:
            raise ValueError(f"InputSpec.kind must be one of {SPEC_KINDS}, got {self.kind!r}")
        if not all(isinstance(s, int) and s > 0 for s in self.shape):
            raise ValueError(f"InputSpec.shape must be positive ints, got {self.shape!r}")

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class TaskSpec:
    """The labels: number of classes and whether they are multi-label (one binary label each)."""

    num_classes: int
    multilabel: bool = False
    class_names: tuple[str, ...] = ()

    @property
    def headline_metric(self) -> str:
        """AUROC for multi-label sets (accuracy is trivially high there), else accuracy: the metric
        val selection uses and the tables lead with (docs/design.md, Metrics)."""
        return "auroc" if self.multilabel else "accuracy"
