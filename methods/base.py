"""The method interface and its registry.

A method is one small file: a `Method` subclass registered by name that builds its heads around the
encoder it is given, plus a pure loss function tested on its own. The pretraining loop knows nothing
else about it: it calls `training_step(x, y, view)` where `view(x)` returns a fresh random
augmentation of the batch (call it as many times as the method needs views), then `on_step_end`.
`view(x, policy)` asks for a named view (benchmark/core/views.py); methods go through `augment`,
which asks for the policy its recipe gives the role, or the adapter's default view in legacy mode.

How a method trains (optimiser, schedules, EMA, views, freezes) is its `recipe` (methods/recipe.py),
declared in its file next to its loss; `recipes="legacy"` reproduces the pre-recipe training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from benchmark.core.host_copy import to_device
from benchmark.core.registry import Registry
from benchmark.core.specs import SPEC_KINDS, InputSpec, TaskSpec
from benchmark.core.views import ViewPolicy
from methods.recipe import EMA, RECIPE_FIELDS, Recipe, recipe_digest, resolve_recipe

View = Callable[..., Any]  # view(x) or view(x, policy)


def labelled_mask(y: torch.Tensor) -> torch.Tensor:
    """Which rows of `y` carry a label (−1, or a row of −1 for multi-label sets, marks the rest)."""
    return (y >= 0).all(1) if y.dim() > 1 else y >= 0


@dataclass(frozen=True)
class LabelledRows:
    """The labelled and the unlabelled rows of a batch, as ascending indices on the batch's device.
    Their counts are shapes, so a step sizes its parts by them without reading the device."""

    labelled: torch.Tensor
    unlabelled: torch.Tensor

    @classmethod
    def of(cls, y: torch.Tensor, device: torch.device | str | None = None) -> LabelledRows:
        """The rows of the labels `y`, placed on `device` (`y`'s own by default). From labels on the
        host the indices are queued to the device without a wait; from labels on a GPU the host
        waits for them (the nonzero's size)."""
        lab = labelled_mask(y)
        device = y.device if device is None else device
        return cls(to_device(lab.nonzero().flatten(), device), to_device((~lab).nonzero().flatten(), device))

    @property
    def count(self) -> int:
        return len(self.labelled)


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
    # `lr` and `weight_decay` are the legacy recipe's; a paper recipe brings its own (a suite's
    # override of either replaces the recipe's value).
    base_defaults: ClassVar[dict[str, Any]] = {"lr": 1e-3, "weight_decay": 1e-6, "batch_size": 256}
    # The paper's training recipe; None: the legacy recipe in both modes (references).
    recipe: ClassVar[Recipe | None] = None
    # Semi-supervised methods: the labelled rows of the batch in hand, set by the pretraining loop
    # from its host copy of the labels for the length of `training_step`, so a step splits its batch
    # without reading `y` back from a GPU; None (a direct call): read them from `y` (`labelled_rows`).
    batch_rows: LabelledRows | None = None

    def __init__(
        self, encoder: nn.Module, spec: InputSpec, task: TaskSpec, recipes: str = "paper", **hparams: Any
    ):
        super().__init__()
        known = self.known_hparams()
        unknown = set(hparams) - known
        if unknown:
            raise ValueError(
                f"method {self.name!r}: unknown hyper-parameter(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        paper = recipes == "paper" and self.recipe is not None
        # legacy defaults, then what the paper sets (its recipe for this spec), then the suite's
        own = dict(self.recipe.for_spec(spec).hparams) if paper else {}
        self.hp = {**self.base_defaults, **self.defaults, **own, **hparams}
        self.recipes = recipes
        self.training_recipe = resolve_recipe(self.recipe, spec, recipes, self.hp, hparams)
        self.hp_overrides = dict(hparams)
        self.hp["lr"], self.hp["weight_decay"] = self.training_recipe.lr, self.training_recipe.weight_decay
        self.encoder = encoder
        self.spec = spec
        self.task = task

    @classmethod
    def training_fingerprint(cls, spec: InputSpec | None, recipes: str, hparams: dict[str, Any]) -> str:
        """A digest of how a job of this method trains beyond its config: the resolved recipe
        (numbers, views, EMA, freezes; not its prose) and the merged hyper-parameters. A stored job
        whose digest differs from today's ran under an earlier recipe (`run` runs it again)."""
        paper = recipes == "paper" and cls.recipe is not None
        recipe = cls.recipe.for_spec(spec) if paper and spec is not None else cls.recipe
        own = dict(recipe.hparams) if paper else {}
        hp = {**cls.base_defaults, **cls.defaults, **own, **hparams}
        return recipe_digest(resolve_recipe(recipe, spec, recipes, hp, hparams), hp)

    @classmethod
    def known_hparams(cls) -> set[str]:
        return {*cls.base_defaults, *cls.defaults, *RECIPE_FIELDS}

    # ---- views and EMA as the recipe says ----------------------------------------------------
    def policy(self, role: str) -> ViewPolicy | None:
        """The view policy of `role` in the recipe; None (the adapter's default view) in legacy mode."""
        return self.training_recipe.views.get(role)

    def augment(self, view: View, x: Any, role: str) -> Any:
        policy = self.policy(role)
        return view(x) if policy is None else view(x, policy)

    def local_views(self, view: View, x: Any, role: str, n: int) -> list[Any]:
        """`n` multi-crop local crops of role `role`; none where the adapter cannot make smaller
        views (tables, graphs: `view.multi_crop` is False) or the recipe has no such role."""
        policy = self.policy(role)
        if policy is None or n <= 0 or (policy.local and not getattr(view, "multi_crop", False)):
            return []
        return [view(x, policy) for _ in range(n)]

    def forward_views(self, fn: Callable[[Any], torch.Tensor], views: list[Any]) -> list[torch.Tensor]:
        """`fn` of each view. Under a paper recipe, consecutive tensor views of one shape go through
        `fn` as one batch, as the papers' multi-crop wrappers do (BatchNorm sees all crops of one
        resolution together); legacy mode keeps one call per view."""
        if self.recipes != "paper" or not all(isinstance(v, torch.Tensor) for v in views):
            return [fn(v) for v in views]
        out, i = [], 0
        while i < len(views):
            j = i + 1
            while j < len(views) and views[j].shape == views[i].shape:
                j += 1
            if j - i == 1:
                out.append(fn(views[i]))
            else:
                out.extend(fn(torch.cat(views[i:j])).split(views[i].shape[0]))
            i = j
        return out

    def ema_schedule(self, legacy: EMA | None, key: str | None = None) -> EMA | None:
        """The EMA the method's paper uses (its recipe's, with a suite's override of the start value
        under `key`), or `legacy` in legacy mode."""
        if self.recipes != "paper" or self.recipe is None:
            return legacy
        ema = self.training_recipe.ema
        if ema is not None and key is not None and key in self.hp_overrides:
            ema = replace(ema, start=float(self.hp_overrides[key]))
        return ema

    def training_step(self, x: Any, y: torch.Tensor | None, view: View) -> torch.Tensor:
        raise NotImplementedError

    def labelled_rows(self, y: torch.Tensor) -> LabelledRows:
        """The batch's labelled rows: the loop's (`batch_rows`) when it gave them, else read from `y`."""
        rows = self.batch_rows
        if rows is not None and rows.count + len(rows.unlabelled) == len(y):
            return rows
        return LabelledRows.of(y)

    def on_step_start(self, step: int, total_steps: int) -> None:
        """Called before each training step with the steps already done: a loss that depends on
        training progress (ramps, warm-ups) reads it here, so the first step after a resume sees the
        progress an uninterrupted run would."""

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
            "recipe": cls.recipe.source if cls.recipe else "legacy",
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
