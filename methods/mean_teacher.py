"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): cross entropy on the labelled samples + a
ramped-up consistency cost (MSE between class probabilities) between the student on one view and an
EMA teacher on another view. Probes read the teacher."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from methods._semi import WEAK_VIEW, probabilities, supervised_term
from methods._utils import ema_update, frozen_copy
from methods.base import Method, register_method
from methods.recipe import DOMAINS, EMA, ENCODER, EPOCHS, HEADS, Deviation, Recipe


def consistency_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, multilabel: bool = False
) -> torch.Tensor:
    """Mean squared difference of the probabilities (teacher detached), averaged over all entries."""
    return F.mse_loss(
        probabilities(student_logits, multilabel), probabilities(teacher_logits.detach(), multilabel)
    )


def sigmoid_rampup(step: int, rampup_steps: float) -> float:
    """exp(−5 (1 − t)²) with t = step / rampup_steps clipped to [0, 1] (the paper's ramp-up)."""
    if rampup_steps <= 0:
        return 1.0
    t = min(max(step / rampup_steps, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


RAMP = 40_000 / 150_000  # ramp-ups over the first 40k of 150k updates

RECIPE = Recipe(
    source="Tarvainen & Valpola 2017, App. B.1 (ConvNet, CIFAR-10): Adam lr 0.003, β (0.9, 0.999), no weight "
    "decay; lr and consistency ramped up over 40k of 150k steps; EMA 0.99 in the ramp-up, 0.999 after; "
    "translations ±2 px and flips",
    optimizer="adamw",
    lr=0.003,
    weight_decay=0.0,
    exclude_bias_norm=False,
    lr_warmup_frac=RAMP,
    ema=EMA(0.99, 0.999, "step", switch=RAMP, true_average=True),
    views={"weak": replace(WEAK_VIEW, name="weak (flip, translate ≤ 2 px of 32)", translate=2 / 32)},
    hparams={"rampup_frac": RAMP},
    deviations=(
        ENCODER,
        DOMAINS,
        EPOCHS,
        HEADS,
        Deviation("lr schedule", "linear warm-up then cosine for the paper's sigmoid ramp-up and ramp-down"),
        Deviation("β2", "0.999 throughout (the paper: 0.99 during the ramp-up)"),
        Deviation("input noise", "the ConvNet's Gaussian input noise (σ 0.15) is not added"),
    ),
    notes=("recipe values recalled from the paper's appendix without access to it; to be checked",),
)


@register_method
class MeanTeacher(Method):
    name = "mean_teacher"
    family = "semi_supervised"
    paper = "Tarvainen & Valpola 2017, Mean teachers are better role models"
    uses_labels = True
    semi_supervised = True
    # Paper (CIFAR-10): consistency weight 100 on the class-mean MSE, EMA 0.99 during ramp-up then
    # 0.999, sigmoid ramp-up. Ramp-up scaled to 30 % of the step budget, EMA 0.99 throughout.
    # `labelled_share`: the authors' CIFAR-10 runs put 62 labelled samples in each batch of 256.
    defaults = {"consistency": 100.0, "rampup_frac": 0.3, "ema": 0.99, "labelled_share": 0.25}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)
        self.teacher_encoder = frozen_copy(self.encoder)
        self.teacher_head = frozen_copy(self.head)
        self._step, self._total = 0, 1
        self.ema = self.ema_schedule(EMA(self.hp["ema"], self.hp["ema"], "constant"), "ema")

    def consistency_weight(self) -> float:
        return self.hp["consistency"] * sigmoid_rampup(self._step, self.hp["rampup_frac"] * self._total)

    def training_step(self, x, y, view):
        logits = self.head(self.encoder(self.augment(view, x, "weak")))
        with torch.no_grad():
            t_logits = self.teacher_head(self.teacher_encoder(self.augment(view, x, "weak")))
        ml = self.task.multilabel
        return supervised_term(logits, y, ml, self.batch_rows) + self.consistency_weight() * consistency_loss(
            logits, t_logits, ml
        )

    @torch.no_grad()
    def on_step_start(self, step, total_steps):
        self._step, self._total = step, total_steps

    def on_step_end(self, step, total_steps):
        m = self.ema.at(step, total_steps)
        ema_update(self.teacher_encoder, self.encoder, m)
        ema_update(self.teacher_head, self.head, m)

    @torch.no_grad()
    def embed(self, x):
        return self.teacher_encoder(x)
