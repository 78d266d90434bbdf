"""Reference rows every table carries (docs/design.md §3.9)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from benchmark.models.tokens import TOKEN_SPECS
from methods.base import Method, register_method
from methods.mae import ENCODER_KEYS, MAE, token_encoder_from_hparams


@register_method
class RandomInit(Method):
    """The untrained encoder, probed exactly like the others: the floor SSL has to beat."""

    name = "random_init"
    family = "reference"
    paper = "untrained encoder (reference)"
    trains = False


@register_method
class Supervised(Method):
    """Encoder + linear head trained with cross-entropy on the labelled subset at the same fraction
    (on augmented views, as SSL methods see them)."""

    name = "supervised"
    family = "reference"
    paper = "supervised training on the labelled fraction (reference)"
    uses_labels = True
    defaults = {"epochs_over_labels": 30}

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)

    def training_step(self, x, y, view):
        logits = self.head(self.encoder(view(x)))
        if self.task.multilabel:
            return F.binary_cross_entropy_with_logits(logits, y.float())
        return F.cross_entropy(logits, y)


@register_method
class RandomInitTokens(Method):
    """The untrained token transformer that MAE and JEPA train (same spec tokens and widths, their
    defaults), probed like every other row: the floor for the masked methods' own encoder, next to
    `random_init`, the floor for the default conv/graph/MLP encoder. A random conv net is a strong
    feature extractor on small images (Fashion-MNIST 10 % linear ≈ 70 %); a random transformer over
    patch tokens is not, so the two floors answer different questions and both are reported."""

    name = "random_init_tokens"
    family = "reference"
    paper = "untrained token transformer (reference for MAE / JEPA)"
    trains = False
    builds_encoder = True
    supported_specs = TOKEN_SPECS
    defaults = {k: MAE.defaults[k] for k in ENCODER_KEYS}  # one source for the token encoder's widths

    @classmethod
    def build_encoder(cls, spec, **hparams):
        return token_encoder_from_hparams(cls, spec, hparams)
