"""Training recipes: how each method trains, as its paper says, with every deviation and its reason.

Each method file declares its `Recipe` next to its loss (`Method.recipe`). The pretraining loop
(benchmark/training/pretrain.py, optim.py) builds the optimiser, the lr and weight-decay schedules,
the parameter freezes and the gradient clipping from it; the method reads its EMA schedule, its
view policies (benchmark/core/views.py) and the hyper-parameters the paper sets from it.

Two modes, chosen per suite (`recipes: paper | legacy`, docs/design.md §3.12, §7):
- `paper`: the method's recipe. Budgets stay small by rule, not by hand per method: the base lr is
  scaled with the batch size (lr = base × batch/256 where the paper does so), and warm-up, decay,
  freezes and ramps are fractions of the run (the paper's share of its own schedule).
- `legacy`: what every method got before recipes existed — AdamW, lr 1e-3 (the `lr` hyper-
  parameter), weight decay 1e-6 on every parameter, 10 % linear warm-up then cosine, the adapter's
  one default view — so published rows computed that way stay reproducible bit for bit.

A suite overrides any field in `RECIPE_FIELDS` through `method_hparams` (e.g. `lr`, which is the base
lr before batch scaling, `weight_decay`, `optimizer`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from benchmark.core.views import ViewPolicy
from methods._utils import cosine_momentum

RECIPE_MODES = ("paper", "legacy")
OPTIMIZERS = ("lars", "sgd", "adamw")
LR_SCALING = ("linear", "none")
LR_SCHEDULES = ("cosine", "constant", "fixmatch_cosine")
EMA_SCHEDULES = ("constant", "cosine", "linear", "step")
# What a suite may override through method_hparams (the rest is the paper's, or code).
RECIPE_FIELDS = (
    "optimizer",
    "lr",
    "lr_multiplier",
    "lr_scaling",
    "sgd_momentum",
    "nesterov",
    "betas",
    "lars_eta",
    "weight_decay",
    "weight_decay_end",
    "exclude_bias_norm",
    "bias_norm_lr_scale",
    "schedule",
    "lr_warmup_frac",
    "lr_end",
    "clip_grad",
)


@dataclass(frozen=True)
class Deviation:
    what: str
    reason: str


@dataclass(frozen=True)
class EMA:
    """An EMA teacher's / evaluation model's momentum over the run: `start` → `end` by `schedule`
    (`step`: `start` until `switch` of the run, then `end`). `true_average`: the Mean Teacher code's
    min(m, 1 − 1/(t+1)), a plain average of the weights seen so far while that is the better estimate
    (it keeps a short run's EMA from holding on to the random init)."""

    start: float
    end: float = 1.0
    schedule: str = "cosine"
    switch: float = 0.0
    true_average: bool = False

    def __post_init__(self):
        if self.schedule not in EMA_SCHEDULES:
            raise ValueError(f"EMA schedule must be one of {EMA_SCHEDULES}, got {self.schedule!r}")

    def at(self, step: int, total: int) -> float:
        if self.schedule == "cosine":
            m = cosine_momentum(self.start, step, total, self.end)
        elif self.schedule == "linear":
            m = self.start + (self.end - self.start) * min(1.0, max(0, step) / max(1, total))
        elif self.schedule == "step":
            m = self.start if step < self.switch * total else self.end
        else:
            m = self.start
        return min(m, 1.0 - 1.0 / (step + 1)) if self.true_average else m

    def describe(self) -> str:
        if self.schedule == "constant":
            text = f"{self.start:g}"
        elif self.schedule == "step":
            text = f"{self.start:g} for the first {self.switch:.3g} of the run, then {self.end:g}"
        else:
            text = f"{self.start:g} → {self.end:g} ({self.schedule})"
        return text + (", true average while shorter" if self.true_average else "")


@dataclass(frozen=True)
class Freeze:
    """Parameters whose name starts with `prefix` get no update for the first `until` of the run."""

    prefix: str
    until: float


@dataclass(frozen=True)
class Recipe:
    source: str
    optimizer: str = "adamw"
    lr: float = 1e-3  # base lr; the peak lr is lr × batch/256 under linear scaling
    lr_scaling: str = "none"
    # A tuning axis every method shares (docs/protocol.md): the peak lr × this, whatever the optimiser.
    lr_multiplier: float = 1.0
    sgd_momentum: float = 0.9  # SGD and LARS
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW
    lars_eta: float = 0.001  # LARS trust coefficient
    weight_decay: float = 0.0
    weight_decay_end: float | None = None  # cosine schedule weight_decay → weight_decay_end
    # Biases and normalisation parameters (every parameter with ≤ 1 dimension): no weight decay and,
    # under LARS, no trust-ratio adaptation, as the SimCLR / BYOL / Barlow Twins papers do.
    exclude_bias_norm: bool = True
    bias_norm_lr_scale: float = 1.0  # Barlow Twins: biases and norms at 0.0048 / 0.2 of the lr
    schedule: str = "cosine"  # after the linear warm-up
    lr_warmup_frac: float = 0.0
    lr_end: float = 0.0  # the cosine's final lr as a fraction of the peak
    fixed_lr: tuple[str, ...] = ()  # parameter-name prefixes kept at the peak lr (SimSiam's predictor)
    clip_grad: float | None = None  # per parameter tensor, as DINO's clip_gradients
    freeze: tuple[Freeze, ...] = ()
    ema: EMA | None = None
    views: Mapping[str, ViewPolicy] = field(default_factory=dict)  # role in training_step → policy
    hparams: Mapping[str, Any] = field(default_factory=dict)  # method hyper-parameters the paper sets
    by_spec: Mapping[str, "Recipe"] = field(default_factory=dict)  # the domain's own paper (spec_key)
    deviations: tuple[Deviation, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        checks = (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("lr_scaling", self.lr_scaling, LR_SCALING),
            ("schedule", self.schedule, LR_SCHEDULES),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"recipe {name} must be one of {allowed}, got {value!r}")
        if not (isinstance(self.lr_multiplier, (int, float)) and self.lr_multiplier > 0):
            raise ValueError(f"lr_multiplier must be a number > 0, got {self.lr_multiplier!r}")
        if not 0 <= self.lr_warmup_frac < 1:
            raise ValueError(f"lr_warmup_frac must be in [0, 1), got {self.lr_warmup_frac}")
        if isinstance(self.betas, list):  # from YAML
            object.__setattr__(self, "betas", tuple(self.betas))

    def peak_lr(self, batch_size: int) -> float:
        lr = self.lr * batch_size / 256 if self.lr_scaling == "linear" else self.lr
        return lr * self.lr_multiplier

    def for_spec(self, spec) -> "Recipe":
        return self.by_spec.get(spec_key(spec), self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Recipe":
        return replace(self, **{k: overrides[k] for k in RECIPE_FIELDS if k in overrides})

    def describe(self) -> dict[str, str]:
        """The recipe as table cells (docs/recipes.md, `list methods --recipes`)."""
        opt = {"lars": "LARS", "sgd": "SGD", "adamw": "AdamW"}[self.optimizer]
        if self.optimizer == "adamw":
            opt += f" β=({self.betas[0]:g}, {self.betas[1]:g})"
        else:
            opt += f" m={self.sgd_momentum:g}" + (" nesterov" if self.nesterov else "")
            if self.optimizer == "lars":
                opt += f" η={self.lars_eta:g}"
        lr = f"{self.lr:g}" + (" × bs/256" if self.lr_scaling == "linear" else "")
        if self.bias_norm_lr_scale != 1:
            lr += f" (bias/norm × {self.bias_norm_lr_scale:g})"
        if self.fixed_lr:
            lr += f"; fixed: {', '.join(self.fixed_lr)}"
        sched = {"cosine": "cosine", "constant": "constant", "fixmatch_cosine": "cos(7πk/16K)"}[self.schedule]
        if self.schedule == "cosine" and self.lr_end:
            sched += f" to {self.lr_end:g}×"
        if self.lr_warmup_frac:
            sched = f"warm-up {self.lr_warmup_frac:.3g}, " + sched
        wd = f"{self.weight_decay:g}"
        if self.weight_decay_end is not None:
            wd += f" → {self.weight_decay_end:g} (cosine)"
        if self.exclude_bias_norm:
            wd += ", not on bias/norm"
        extras = [f"clip {self.clip_grad:g}"] if self.clip_grad else []
        extras += [f"freeze {f.prefix} for {f.until:.3g}" for f in self.freeze]
        named: dict[str, list[str]] = {}  # roles with the same view are listed together
        for role, policy in self.views.items():
            named.setdefault(policy.name or policy.kind, []).append(role)
        views = "; ".join(f"{', '.join(roles)}: {name}" for name, roles in named.items()) or "default"
        hps = ", ".join(f"{k}={_fmt(v)}" for k, v in self.hparams.items())
        return {
            "source": self.source,
            "optimizer": opt,
            "lr": lr,
            "schedule": sched,
            "weight_decay": wd,
            "ema": self.ema.describe() if self.ema else "—",
            "extras": ", ".join(extras) or "—",
            "views": views,
            "hparams": hps or "—",
            "deviations": " ".join(f"{d.what}: {d.reason}." for d in self.deviations) or "none",
        }


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def spec_key(spec) -> str:
    """`graph:node` / `graph:graph` for graphs (their papers differ), else the spec kind."""
    if spec.kind == "graph":
        return f"graph:{spec.extras.get('task', 'graph')}"
    return spec.kind


def legacy_recipe(lr: float, weight_decay: float, lr_warmup_frac: float = 0.1) -> Recipe:
    """What every method trained with before recipes: the published rows of the `legacy` suites."""
    return Recipe(
        source="legacy: the loop's one optimiser for every method",
        optimizer="adamw",
        lr=lr,
        lr_scaling="none",
        weight_decay=weight_decay,
        exclude_bias_norm=False,
        lr_warmup_frac=lr_warmup_frac,
    )


def resolve_recipe(
    recipe: Recipe | None, spec, mode: str, hp: Mapping[str, Any], overrides: Mapping[str, Any]
) -> Recipe:
    """The recipe a job trains with: the method's paper recipe (its variant for the spec) or the
    legacy one, then the suite's overrides of `RECIPE_FIELDS`."""
    if mode not in RECIPE_MODES:
        raise ValueError(f"recipes must be one of {RECIPE_MODES}, got {mode!r}")
    if mode == "legacy" or recipe is None:
        base = legacy_recipe(hp["lr"], hp["weight_decay"])
    else:
        base = recipe.for_spec(spec)
    return base.with_overrides(overrides)


# Recipe fields that are prose or lookup tables, not training behaviour: left out of `recipe_digest`.
_PROSE_FIELDS = ("source", "by_spec", "deviations", "notes", "views", "hparams")


def recipe_digest(recipe: Recipe, hparams: Mapping[str, Any]) -> str:
    """16 hex digits over the recipe's behaviour (every field but its prose; views without their names
    and sources) and the hyper-parameters: equal digests train the same way."""
    data = {f.name: getattr(recipe, f.name) for f in fields(Recipe) if f.name not in _PROSE_FIELDS}
    data["ema"] = asdict(recipe.ema) if recipe.ema is not None else None
    data["freeze"] = [asdict(f) for f in recipe.freeze]
    data["views"] = {
        role: {k: v for k, v in asdict(p).items() if k not in ("name", "source")}
        for role, p in sorted(recipe.views.items())
    }
    data["hparams"] = dict(hparams)
    text = json.dumps(data, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe_fields() -> list[str]:
    return [f.name for f in fields(Recipe)]


# ---- shared pieces of the papers' recipes -------------------------------------------------------
EPOCHS = Deviation(
    "epochs",
    "scaled to the CPU budget (the suite's epochs); warm-up and decay keep the paper's share of its run",
)
BATCH = Deviation(
    "batch size", "the suite's (64–256 on CPU) instead of the paper's thousands; the lr follows by its rule"
)
HEADS = Deviation("head widths", "scaled to the 128-d default encoders (method defaults)")
ENCODER = Deviation(
    "encoder",
    "the benchmark's small encoders (4-block CNN, 1-D CNN, MLP, GCN / GIN) for the paper's ResNet / "
    "WideResNet: one encoder per domain for every method, sized for CPU",
)
DOMAINS = Deviation(
    "views outside images",
    "each domain's analogue of the paper's image views (benchmark/core/views.py): the paper has none",
)
# What every method trained at CPU scale deviates in (the order docs/recipes.md lists them).
SMALL_SCALE = (ENCODER, DOMAINS, EPOCHS, BATCH, HEADS)
