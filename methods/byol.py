"""BYOL (Grill et al., NeurIPS 2020): an online network (encoder → projector → predictor) regresses
the projection of the other view by an EMA target network; no negatives."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from benchmark.core.views import ViewPolicy
from methods._utils import ema_update, frozen_copy
from methods.base import Method, projection_mlp, register_method
from methods.recipe import BATCH, DOMAINS, EMA, ENCODER, EPOCHS, HEADS, Recipe


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 − 2·cos(p, z) averaged over the batch; z is the target projection, detached here (the
    stop-gradient is part of the loss)."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()


# BYOL's asymmetric pair (Table 6): crop 0.08–1, flip, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale
# p 0.2; blur p 1.0 / 0.1 and solarisation p 0 / 0.2 for view 1 / 2. MoCo v3, Barlow Twins, VICReg
# and DINO use it too.
BYOL_VIEW_1 = ViewPolicy(
    "ssl",
    name="BYOL view 1 (crop 0.08–1, flip, jitter .4/.4/.2/.1 p.8, gray .2, blur 1)",
    slot=0,
    scale=(0.08, 1.0),
    jitter=(0.4, 0.4, 0.2, 0.1),
    jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=1.0,
    source="Grill et al. 2020, App. B, Table 6",
)
BYOL_VIEW_2 = replace(
    BYOL_VIEW_1, name="BYOL view 2 (as view 1, blur .1, solarize .2)", slot=1, blur_p=0.1, solarize_p=0.2
)
BYOL_VIEWS = {"view_1": BYOL_VIEW_1, "view_2": BYOL_VIEW_2}

RECIPE = Recipe(
    source="Grill et al. 2020, §3.3 and App. C: LARS lr 0.2 × bs/256, wd 1.5e-6 (not on biases / BN), "
    "10-epoch warm-up of 1000, cosine; τ 0.996 → 1 (cosine)",
    optimizer="lars",
    lr=0.2,
    lr_scaling="linear",
    weight_decay=1.5e-6,
    exclude_bias_norm=True,
    lr_warmup_frac=0.01,
    ema=EMA(0.996, 1.0, "cosine"),
    views=BYOL_VIEWS,
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
)


@register_method
class BYOL(Method):
    name = "byol"
    family = "distillation"
    paper = "Grill et al. 2020, Bootstrap Your Own Latent"
    # Paper: 4096-256 projector and predictor, τ_base 0.996 → 1 (cosine), LARS. Widths scaled for
    # 128-d encoders; τ_base 0.99 suits schedules of a few hundred steps.
    defaults = {"momentum": 0.99, "proj_hidden": 1024, "proj_dim": 256, "pred_hidden": 1024}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.predictor = projection_mlp(self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"])
        self.target_encoder = frozen_copy(self.encoder)
        self.target_projector = frozen_copy(self.projector)
        self.ema = self.ema_schedule(EMA(self.hp["momentum"], 1.0, "cosine"), "momentum")

    def training_step(self, x, y, view):
        x1, x2 = self.augment(view, x, "view_1"), self.augment(view, x, "view_2")
        p1 = self.predictor(self.projector(self.encoder(x1)))
        p2 = self.predictor(self.projector(self.encoder(x2)))
        with torch.no_grad():
            z1 = self.target_projector(self.target_encoder(x1))
            z2 = self.target_projector(self.target_encoder(x2))
        return byol_loss(p1, z2) + byol_loss(p2, z1)

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        m = self.ema.at(step, total_steps)
        ema_update(self.target_encoder, self.encoder, m)
        ema_update(self.target_projector, self.projector, m)
