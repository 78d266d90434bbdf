"""FixMatch (Sohn et al., NeurIPS 2020): cross entropy on the labelled samples + cross entropy of the
strong view against the weak view's confident (≥ τ) hard pseudo-label.

Views: under the paper recipe the weak view is flip + translate and the strong view RandAugment +
Cutout (each domain's analogue, benchmark/core/views.py), and probes read an EMA (0.999) of the
encoder, as the paper evaluates. Legacy: the weak view is the adapter's one view, the strong view
`view(view(x))` — two independent augmentations composed — and probes read the trained encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods._semi import EMA_EVAL, STRONG_VIEW, WEAK_VIEW, probabilities, supervised_term
from methods._utils import ema_model_update, frozen_copy
from methods.base import Method, register_method
from methods.recipe import DOMAINS, EMA, ENCODER, EPOCHS, HEADS, Deviation, Recipe


def fixmatch_unlabelled_loss(
    logits_weak: torch.Tensor, logits_strong: torch.Tensor, threshold: float, multilabel: bool = False
) -> torch.Tensor:
    """mean_b 1[max p_weak ≥ τ] · CE(strong, argmax p_weak); p_weak detached. Multi-label: per
    label, pseudo-label 1[p ≥ 0.5] where p ≥ τ or p ≤ 1 − τ, BCE averaged over all entries."""
    with torch.no_grad():
        p = probabilities(logits_weak.detach(), multilabel)
    if multilabel:
        mask = ((p >= threshold) | (p <= 1 - threshold)).float()
        bce = F.binary_cross_entropy_with_logits(logits_strong, (p >= 0.5).float(), reduction="none")
        return (bce * mask).mean()
    conf, pseudo = p.max(dim=1)
    mask = (conf >= threshold).float()
    return (F.cross_entropy(logits_strong, pseudo, reduction="none") * mask).mean()


RECIPE = Recipe(
    source="Sohn et al. 2020, §4 and App. B.1: SGD (Nesterov, momentum 0.9) lr 0.03, wd 5e-4 on weights, "
    "lr η·cos(7πk/16K), no warm-up; EMA 0.999 evaluated; "
    "weak = flip + translate, strong = RandAugment + Cutout",
    optimizer="sgd",
    lr=0.03,
    nesterov=True,
    weight_decay=5e-4,
    exclude_bias_norm=True,
    schedule="fixmatch_cosine",
    ema=EMA(0.999, 0.999, "constant", true_average=True),
    views={"weak": WEAK_VIEW, "strong": STRONG_VIEW},
    deviations=(
        ENCODER,
        DOMAINS,
        EPOCHS,
        HEADS,
        Deviation("batch", "the suite's batch with 1/8 labelled (μ 7) instead of 64 + 448"),
        EMA_EVAL,
    ),
)


@register_method
class FixMatch(Method):
    name = "fixmatch"
    family = "semi_supervised"
    paper = "Sohn et al. 2020, FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence"
    uses_labels = True
    semi_supervised = True
    # Paper: τ 0.95, λ_u 1, μ 7 unlabelled per labelled → 1/8 of every batch is drawn from the
    # labelled samples (`labelled_share`, read by the pretraining loop), the rest from the pool.
    defaults = {"threshold": 0.95, "lambda_u": 1.0, "labelled_share": 0.125}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)
        self.ema = self.ema_schedule(None)
        if self.ema is not None:
            self.ema_encoder = frozen_copy(self.encoder)

    def training_step(self, x, y, view):
        weak = self.augment(view, x, "weak")
        strong = self.augment(view, x, "strong") if self.policy("strong") else view(view(x))
        logits_w = self.head(self.encoder(weak))
        logits_s = self.head(self.encoder(strong))
        ml = self.task.multilabel
        unlabelled = fixmatch_unlabelled_loss(logits_w, logits_s, self.hp["threshold"], ml)
        return supervised_term(logits_w, y, ml, self.batch_rows) + self.hp["lambda_u"] * unlabelled

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        if self.ema is not None:
            ema_model_update(self.ema_encoder, self.encoder, self.ema.at(step, total_steps))

    @torch.no_grad()
    def embed(self, x):
        return (self.ema_encoder if self.ema is not None else self.encoder)(x)  # the paper evaluates the EMA
