"""The method interface and its registry.

A method is one small file: a `Method` subclass registered by name that builds its heads around the
encoder it is given, plus a pure loss function tested on its own. The pretraining loop knows nothing
else about it: it calls `training_step(x, y, view)` where `view(x)` returns a fresh random
augmentation of the batch (call it as many times as the method needs views), then `on_step_end`.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch import nn

from benchmark.core.registry import Registry
from benchmark.core.specs import SPEC_KINDS, InputSpec, TaskSpec

View = Callable[[Any], Any]


class Method(nn.Module):
    name: ClassVar[str]
    family: ClassVar[str]  # contrastive, distillation, redundancy_reduction, masked, reference, ...
    paper: ClassVar[str] = ""
    uses_labels: ClassVar[bool] = False  # supervised reference / semi-supervised methods
    trains: ClassVar[bool] = True  # False for random-init
    supported_specs: ClassVar[tuple[str, ...]] = SPEC_KINDS
    # Masked methods bring their own encoder (a token transformer built from the spec): the runner
    # then calls `build_encoder(spec, **hparams)` instead of the adapter's default encoder.
    builds_encoder: ClassVar[bool] = False
    # Semi-supervised methods train per label fraction on the whole train pool; `y` is -1 (rows of
    # -1 for multi-label sets) for the samples outside the labelled subset.
    semi_supervised: ClassVar[bool] = False
    # Reference recipes (methods/reference_recipes.py) train a published architecture end to end inside the
    # evaluation layer (benchmark/evaluation/reference_recipes.py) instead of the pretraining loop.
    end_to_end: ClassVar[bool] = False
    # Hyper-parameters with their defaults (paper values scaled for small encoders). Loop settings
    # (lr, weight_decay, batch_size) live here too so a suite can override them per method.
    defaults: ClassVar[dict[str, Any]] = {}
    base_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "weight_decay": 1e-6, "batch_size": 256}

    def __init__(self, encoder: nn.Module, spec: InputSpec, task: TaskSpec, **hparams: Any):
        super().__init__()
        known = {**self.base_defaults, **self.defaults}
        unknown = set(hparams) - set(known)
        if unknown:
            raise ValueError(
                f"method {self.name!r}: unknown hyper-parameter(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        self.hp = {**known, **hparams}
        self.encoder = encoder
        self.spec = spec
        self.task = task

    def training_step(self, x: Any, y: torch.Tensor | None, view: View) -> torch.Tensor:
        raise NotImplementedError

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (EMA teachers, queues, schedules)."""

    @torch.no_grad()
    def embed(self, x: Any) -> torch.Tensor:
        """Frozen features used by every probe."""
        return self.encoder(x)

    @classmethod
    def build_encoder(cls, spec: InputSpec, **hparams: Any) -> nn.Module:
        """The method's own encoder (only when `builds_encoder`); `hparams` are the job's overrides."""
        raise NotImplementedError(f"method {cls.name!r} uses the adapter's default encoder")

    @classmethod
    def supports(cls, spec: InputSpec) -> bool:
        """Whether the method runs on inputs of `spec` (the runner skips the job otherwise)."""
        return spec.kind in cls.supported_specs

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "name": cls.name,
            "family": cls.family,
            "paper": cls.paper,
            "uses_labels": cls.uses_labels,
            "specs": list(cls.supported_specs),
        }


def projection_mlp(
    in_dim: int, hidden: int, out_dim: int, layers: int = 2, last_bn: bool = False
) -> nn.Sequential:
    """The usual SSL projector: (Linear-BN-ReLU) × (layers-1) then Linear (optionally BN)."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        d = hidden
    mods.append(nn.Linear(d, out_dim, bias=not last_bn))
    if last_bn:
        mods.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*mods)


METHODS: Registry[type[Method]] = Registry("method")
register_method = METHODS.register


def get_method_class(name: str) -> type[Method]:
    return METHODS.get(name)
