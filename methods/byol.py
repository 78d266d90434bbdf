"""BYOL (Grill et al., NeurIPS 2020): an online network (encoder → projector → predictor) regresses
the projection of the other view by an EMA target network; no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods._utils import cosine_momentum, ema_update, frozen_copy
from methods.base import Method, projection_mlp, register_method


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 − 2·cos(p, z) averaged over the batch; z is the target projection, detached here (the
    stop-gradient is part of the loss)."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()


@register_method
class BYOL(Method):
    name = "byol"
    family = "distillation"
    paper = "Grill et al. 2020, Bootstrap Your Own Latent"
    # Paper: 4096-256 projector and predictor, τ_base 0.996 → 1 (cosine), LARS. Widths scaled for
    # 128-d encoders; τ_base 0.99 suits schedules of a few hundred steps.
    defaults = {"momentum": 0.99, "proj_hidden": 1024, "proj_dim": 256, "pred_hidden": 1024}

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.predictor = projection_mlp(self.hp["proj_dim"], self.hp["pred_hidden"], self.hp["proj_dim"])
        self.target_encoder = frozen_copy(self.encoder)
        self.target_projector = frozen_copy(self.projector)

    def training_step(self, x, y, view):
        x1, x2 = view(x), view(x)
        p1 = self.predictor(self.projector(self.encoder(x1)))
        p2 = self.predictor(self.projector(self.encoder(x2)))
        with torch.no_grad():
            z1 = self.target_projector(self.target_encoder(x1))
            z2 = self.target_projector(self.target_encoder(x2))
        return byol_loss(p1, z2) + byol_loss(p2, z1)

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        m = cosine_momentum(self.hp["momentum"], step, total_steps)
        ema_update(self.target_encoder, self.encoder, m)
        ema_update(self.target_projector, self.projector, m)
