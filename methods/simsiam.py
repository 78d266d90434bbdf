"""SimSiam (Chen & He, CVPR 2021): symmetric negative cosine between the predictor output of one view
and the stop-gradient projection of the other; no momentum encoder, no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import Method, projection_mlp, register_method


def simsiam_loss(p1: torch.Tensor, z1: torch.Tensor, p2: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """D(p1, sg(z2))/2 + D(p2, sg(z1))/2 with D = −cosine similarity; in [−1, 1]."""
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach(), dim=-1).mean()
        + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()
    )


@register_method
class SimSiam(Method):
    name = "simsiam"
    family = "distillation"
    paper = "Chen & He 2021, Exploring Simple Siamese Representation Learning"
    # Paper: 3-layer 2048-d projector with BN on the output, 2048→512→2048 predictor (bottleneck 1/4).
    defaults = {"proj_hidden": 512, "proj_dim": 512, "pred_hidden": 128}

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(
            encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], layers=3, last_bn=True
        )
        self.predictor = nn.Sequential(
            nn.Linear(self.hp["proj_dim"], self.hp["pred_hidden"], bias=False),
            nn.BatchNorm1d(self.hp["pred_hidden"]),
            nn.ReLU(inplace=True),
            nn.Linear(self.hp["pred_hidden"], self.hp["proj_dim"]),
        )

    def training_step(self, x, y, view):
        z1 = self.projector(self.encoder(view(x)))
        z2 = self.projector(self.encoder(view(x)))
        return simsiam_loss(self.predictor(z1), z1, self.predictor(z2), z2)
