"""DINO (Caron et al., ICCV 2021): self-distillation with no labels — a student matches the centred,
sharpened output distribution of an EMA teacher over K prototypes; the centre is an EMA of the
teacher's batch mean (it prevents collapse to one dimension, sharpening prevents uniform output)."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from methods._utils import ema_update, frozen_copy
from methods.base import Method, register_method
from methods.byol import BYOL_VIEW_1, BYOL_VIEW_2
from methods.recipe import BATCH, DOMAINS, EMA, ENCODER, EPOCHS, Deviation, Freeze, Recipe


class DINOHead(nn.Module):
    """3-layer MLP (GELU) → bottleneck → L2 norm → weight-normalised linear layer to K outputs with
    the norm fixed to 1 (the paper's norm_last_layer=True)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, bottleneck: int, use_bn: bool = False):
        super().__init__()

        def bn() -> list[nn.Module]:  # the paper's use_bn_in_head (off: the layer indices stay as before)
            return [nn.BatchNorm1d(hidden)] if use_bn else []

        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden),
            *bn(),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            *bn(),
            nn.GELU(),
            nn.Linear(hidden, bottleneck),
        )
        self.last = nn.Parameter(torch.randn(out_dim, bottleneck) * 0.02)

    def forward(self, h):
        return F.normalize(self.mlp(h), dim=-1) @ F.normalize(self.last, dim=1).t()


def dino_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    center: torch.Tensor,
    student_temp: float,
    teacher_temp: float,
) -> torch.Tensor:
    """Mean over pairs (teacher view i, student view j ≠ i) of the cross entropy
    −Σ softmax((t_i − c)/τ_t) · log softmax(s_j/τ_s). Teacher outputs are detached."""
    total, terms = 0.0, 0
    log_ps = [F.log_softmax(s / student_temp, dim=-1) for s in student]
    for i, t in enumerate(teacher):
        pt = F.softmax((t.detach() - center) / teacher_temp, dim=-1)
        for j, lp in enumerate(log_ps):
            if j == i:
                continue
            total = total - (pt * lp).sum(-1).mean()
            terms += 1
    return total / terms


def update_center(center: torch.Tensor, teacher: list[torch.Tensor], momentum: float) -> torch.Tensor:
    """c ← m·c + (1 − m)·mean of the teacher outputs over the batch (all teacher views)."""
    batch_mean = torch.cat([t.detach() for t in teacher]).mean(0, keepdim=True)
    return center * momentum + batch_mean * (1 - momentum)


# Multi-crop (§3.1, App. / main_dino.py): 2 global crops of scale 0.4–1 (BYOL's view 1 / view 2
# photometry) and 8 local crops of 0.05–0.4 at 96/224 resolution, blur p 0.5, no solarisation.
DINO_GLOBAL_1 = replace(BYOL_VIEW_1, name="DINO global 1 (BYOL view 1, crop 0.4–1)", scale=(0.4, 1.0))
DINO_GLOBAL_2 = replace(BYOL_VIEW_2, name="DINO global 2 (BYOL view 2, crop 0.4–1)", scale=(0.4, 1.0))
DINO_LOCAL = replace(
    BYOL_VIEW_1,
    name="DINO local (crop 0.05–0.4 at 96/224 resolution, blur .5)",
    slot=1,
    scale=(0.05, 0.4),
    resolution=96 / 224,
    blur_p=0.5,
)

RECIPE = Recipe(
    source="Caron et al. 2021, App. (training setup) and main_dino.py: AdamW lr 5e-4 × bs/256, "
    "10-epoch warm-up "
    "of 100, cosine; wd 0.04 → 0.4 (cosine, not on biases / norms); gradient clip 3.0; last layer frozen in "
    "epoch 1; teacher m 0.996 → 1 (cosine), τ_t 0.04 → 0.07 over 30 epochs; 2 global + 8 local crops",
    optimizer="adamw",
    lr=5e-4,
    lr_scaling="linear",
    weight_decay=0.04,
    weight_decay_end=0.4,
    exclude_bias_norm=True,
    lr_warmup_frac=0.1,
    clip_grad=3.0,
    freeze=(Freeze("head.last", 0.01),),
    ema=EMA(0.996, 1.0, "cosine"),
    views={"global_1": DINO_GLOBAL_1, "global_2": DINO_GLOBAL_2, "local": DINO_LOCAL},
    hparams={"teacher_temp": 0.07, "warmup_teacher_temp": 0.04, "warmup_frac": 0.3, "local_crops": 8},
    deviations=(
        ENCODER,
        DOMAINS,
        EPOCHS,
        BATCH,
        Deviation(
            "head", "K 1024, hidden 512, bottleneck 128 instead of 65536 / 2048 / 256 (128-d encoders)"
        ),
        Deviation("multi-crop", "only where the adapter makes smaller crops (not tables or graphs: 2 views)"),
    ),
)


@register_method
class DINO(Method):
    name = "dino"
    family = "distillation"
    paper = "Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers (DINO)"
    # Paper: K 65536, head 2048 hidden / 256 bottleneck, τ_s 0.1, τ_t 0.04 (warm-up to 0.07),
    # centre momentum 0.9, teacher m 0.996 → 1 (cosine), multi-crop. Scaled: K 1024, 512/128, m 0.99.
    # `n_local_views` adds student-only views (the adapter makes one view size).
    defaults = {
        "out_dim": 1024,
        "hidden": 512,
        "bottleneck": 128,
        "student_temp": 0.1,
        "teacher_temp": 0.04,
        "warmup_teacher_temp": 0.04,
        "warmup_frac": 0.0,
        "center_momentum": 0.9,
        "momentum": 0.99,
        "n_local_views": 0,
        "use_bn_in_head": False,
        "local_crops": 0,  # multi-crop local crops at a lower resolution (paper recipe)
    }
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = DINOHead(
            encoder.out_dim,
            self.hp["out_dim"],
            self.hp["hidden"],
            self.hp["bottleneck"],
            self.hp["use_bn_in_head"],
        )
        self.teacher_encoder = frozen_copy(self.encoder)
        self.teacher_head = frozen_copy(self.head)
        self.register_buffer("center", torch.zeros(1, self.hp["out_dim"]))
        self._step, self._total = 0, 1
        self._teacher_out: list[torch.Tensor] = []
        self.ema = self.ema_schedule(EMA(self.hp["momentum"], 1.0, "cosine"), "momentum")

    def teacher_temperature(self) -> float:
        warm = self.hp["warmup_frac"] * self._total
        if warm > 0 and self._step < warm:
            a = self._step / warm
            return self.hp["warmup_teacher_temp"] + a * (
                self.hp["teacher_temp"] - self.hp["warmup_teacher_temp"]
            )
        return self.hp["teacher_temp"]

    def training_step(self, x, y, view):
        globals_ = [self.augment(view, x, "global_1"), self.augment(view, x, "global_2")]
        locals_ = [view(x) for _ in range(self.hp["n_local_views"])]  # legacy: same-size extra views
        locals_ += self.local_views(view, x, "local", self.hp["local_crops"])
        student = self.forward_views(lambda v: self.head(self.encoder(v)), globals_ + locals_)
        with torch.no_grad():
            teacher = self.forward_views(lambda v: self.teacher_head(self.teacher_encoder(v)), globals_)
        self._teacher_out = teacher
        return dino_loss(student, teacher, self.center, self.hp["student_temp"], self.teacher_temperature())

    @torch.no_grad()
    def on_step_start(self, step, total_steps):
        self._step, self._total = step, total_steps

    def on_step_end(self, step, total_steps):
        if self._teacher_out:
            self.center.copy_(update_center(self.center, self._teacher_out, self.hp["center_momentum"]))
        self._teacher_out = []
        m = self.ema.at(step, total_steps)
        ema_update(self.teacher_encoder, self.encoder, m)
        ema_update(self.teacher_head, self.head, m)

    @torch.no_grad()
    def embed(self, x):
        return self.teacher_encoder(x)  # the paper evaluates the teacher
