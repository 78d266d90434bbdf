"""MixMatch (Berthelot et al., NeurIPS 2019): guess labels for unlabelled samples by averaging the
predictions over K augmentations and sharpening them, MixUp everything (labelled and unlabelled,
inputs and targets) with λ' = max(λ, 1 − λ), then cross entropy on the mixed labelled part + a
linearly ramped λ_u · MSE on the mixed unlabelled part.

Tensor inputs are mixed in input space (as the paper). Inputs that are not tensors (graph batches)
cannot be interpolated; for them the same recipe mixes encoder features (manifold MixUp).

The paper recipe: weak views (flip + translate), λ_u ramped over the first 1/64 of the run (16k of
1M steps) and probes on an EMA (0.999) of the encoder; legacy: the adapter's view, a ramp over the
whole run, the trained encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods._semi import EMA_EVAL, WEAK_VIEW, probabilities
from methods._utils import ema_model_update, frozen_copy
from methods.base import Method, register_method
from methods.recipe import DOMAINS, EMA, ENCODER, EPOCHS, HEADS, Deviation, Recipe


def sharpen(p: torch.Tensor, temperature: float, multilabel: bool = False) -> torch.Tensor:
    """p^(1/T) renormalised over classes (per label against its complement for multi-label)."""
    a = p.pow(1.0 / temperature)
    if multilabel:
        return a / (a + (1 - p).pow(1.0 / temperature))
    return a / a.sum(dim=1, keepdim=True)


def mixup(a: torch.Tensor, b: torch.Tensor, lam: float) -> torch.Tensor:
    return lam * a + (1 - lam) * b


def mixmatch_loss(
    logits_x: torch.Tensor,
    targets_x: torch.Tensor,
    logits_u: torch.Tensor,
    targets_u: torch.Tensor,
    lambda_u: float,
    multilabel: bool = False,
) -> torch.Tensor:
    """Soft cross entropy on the mixed labelled rows + λ_u · mean squared error between the
    probabilities and the mixed guessed targets on the unlabelled rows (empty parts count 0)."""
    zero = (logits_x.sum() + logits_u.sum()) * 0.0
    lx = zero
    if logits_x.shape[0]:
        if multilabel:
            lx = F.binary_cross_entropy_with_logits(logits_x, targets_x)
        else:
            lx = -(targets_x * F.log_softmax(logits_x, dim=1)).sum(1).mean()
    lu = zero
    if logits_u.shape[0]:
        lu = F.mse_loss(probabilities(logits_u, multilabel), targets_u)
    return lx + lambda_u * lu


RECIPE = Recipe(
    source="Berthelot et al. 2019, §4 and the official code: Adam lr 0.002 (constant), "
    "decoupled wd 0.02·lr on "
    "weights, EMA 0.999 evaluated, λ_u ramped over 16k of 1M steps; flip + crop (translate 4 px of 32)",
    optimizer="adamw",
    lr=0.002,
    weight_decay=0.02,
    exclude_bias_norm=True,
    schedule="constant",
    ema=EMA(0.999, 0.999, "constant", true_average=True),
    views={"weak": WEAK_VIEW},
    hparams={"rampup_frac": 1 / 64},
    deviations=(
        ENCODER,
        DOMAINS,
        EPOCHS,
        HEADS,
        Deviation("batch", "the suite's batch, half labelled, instead of 64 + 64"),
        EMA_EVAL,
    ),
)


@register_method
class MixMatch(Method):
    name = "mixmatch"
    family = "semi_supervised"
    paper = "Berthelot et al. 2019, MixMatch: A Holistic Approach to Semi-Supervised Learning"
    uses_labels = True
    semi_supervised = True
    # Paper: K 2, T 0.5, α 0.75, λ_u 75 (CIFAR-10) ramped up linearly over training.
    # `labelled_share`: the paper's batches are 64 labelled + 64 unlabelled samples.
    defaults = {
        "k": 2,
        "sharpen_temp": 0.5,
        "alpha": 0.75,
        "lambda_u": 75.0,
        "rampup_frac": 1.0,
        "labelled_share": 0.5,
    }
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)
        self._step, self._total = 0, 1
        self.ema = self.ema_schedule(None)
        if self.ema is not None:
            self.ema_encoder = frozen_copy(self.encoder)

    def _targets(self, y):
        if self.task.multilabel:
            return y.float()
        return F.one_hot(y, self.task.num_classes).float()

    def _lambda_u(self) -> float:
        ramp = self.hp["rampup_frac"] * self._total
        return self.hp["lambda_u"] * (min(1.0, self._step / ramp) if ramp > 0 else 1.0)

    def _mix(self, parts: list[torch.Tensor], targets: list[torch.Tensor]):
        xs, ts = torch.cat(parts), torch.cat(targets)
        lam = float(torch.distributions.Beta(self.hp["alpha"], self.hp["alpha"]).sample())
        lam = max(lam, 1 - lam)
        perm = torch.randperm(xs.shape[0], device=xs.device)
        return mixup(xs, xs[perm], lam), mixup(ts, ts[perm], lam)

    def training_step(self, x, y, view):
        ml = self.task.multilabel
        rows = self.labelled_rows(y)  # counts known on the host: the parts' sizes need no device read
        lab, unlab, k = rows.labelled, rows.unlabelled, self.hp["k"]
        nl, nu = rows.count, len(unlab)
        if isinstance(x, torch.Tensor):  # input-space MixUp (the paper)
            xl, xu = x[lab], x[unlab]
            xl = self.augment(view, xl, "weak") if nl else xl
            xu_views = [self.augment(view, xu, "weak") for _ in range(k)] if nu else []
            with torch.no_grad():
                guess = [probabilities(self.head(self.encoder(v)), ml) for v in xu_views]
            parts = [xl] + xu_views
            forward = lambda m: self.head(self.encoder(m))  # noqa: E731
        else:  # manifold MixUp for non-tensor batches
            feats = [self.encoder(self.augment(view, x, "weak")) for _ in range(k)]
            with torch.no_grad():
                guess = [probabilities(self.head(f[unlab]), ml) for f in feats] if nu else []
            parts = [feats[0][lab]] + ([f[unlab] for f in feats] if guess else [])
            forward = self.head
        targets = [self._targets(y[lab])]
        if guess:
            q = sharpen(torch.stack(guess).mean(0), self.hp["sharpen_temp"], ml)
            targets += [q] * k
        mixed_x, mixed_t = self._mix(parts, targets)
        logits = forward(mixed_x)
        return mixmatch_loss(logits[:nl], mixed_t[:nl], logits[nl:], mixed_t[nl:], self._lambda_u(), ml)

    @torch.no_grad()
    def on_step_start(self, step, total_steps):
        self._step, self._total = step, total_steps

    def on_step_end(self, step, total_steps):
        if self.ema is not None:
            ema_model_update(self.ema_encoder, self.encoder, self.ema.at(step, total_steps))

    @torch.no_grad()
    def embed(self, x):
        return (self.ema_encoder if self.ema is not None else self.encoder)(x)  # the paper evaluates the EMA
