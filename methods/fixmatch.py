"""FixMatch (Sohn et al., NeurIPS 2020): cross entropy on the labelled samples + cross entropy of the
strong view against the weak view's confident (≥ τ) hard pseudo-label.

Views: the adapters expose one augmentation, `view`; the weak view is `view(x)` and the strong view
is `view(view(x))` — two independent random augmentations composed (a harsher distortion), standing in
for RandAugment, which only exists for images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods._semi import probabilities, supervised_term
from methods.base import Method, register_method


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

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)

    def training_step(self, x, y, view):
        weak = view(x)
        strong = view(view(x))
        logits_w = self.head(self.encoder(weak))
        logits_s = self.head(self.encoder(strong))
        ml = self.task.multilabel
        return supervised_term(logits_w, y, ml) + self.hp["lambda_u"] * fixmatch_unlabelled_loss(
            logits_w, logits_s, self.hp["threshold"], ml
        )
