"""SimSiam (Chen & He, CVPR 2021): symmetric negative cosine between the predictor output of one view
and the stop-gradient projection of the other; no momentum encoder, no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.views import ViewPolicy
from methods.base import Method, projection_mlp, register_method
from methods.recipe import BATCH, DOMAINS, ENCODER, EPOCHS, HEADS, Recipe


def simsiam_loss(p1: torch.Tensor, z1: torch.Tensor, p2: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """D(p1, sg(z2))/2 + D(p2, sg(z1))/2 with D = −cosine similarity; in [−1, 1]."""
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach(), dim=-1).mean()
        + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()
    )


# MoCo v2's augmentation, which SimSiam uses (§4 "Baseline settings"): crop 0.2–1, flip, jitter
# (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, blur p 0.5.
MOCO_V2_VIEW = ViewPolicy(
    "ssl",
    name="MoCo v2 (crop 0.2–1, flip, jitter .4/.4/.4/.1 p.8, gray .2, blur .5)",
    scale=(0.2, 1.0),
    jitter=(0.4, 0.4, 0.4, 0.1),
    jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=0.5,
    source="Chen et al. 2020 (MoCo v2), §2; main_moco.py --aug-plus",
)

RECIPE = Recipe(
    source="Chen & He 2021, §4 (SGD lr 0.05 × bs/256, momentum 0.9, wd 1e-4, cosine, no warm-up); "
    "predictor at a fixed lr (§4.1, main_simsiam.py --fix-pred-lr)",
    optimizer="sgd",
    lr=0.05,
    lr_scaling="linear",
    weight_decay=1e-4,
    exclude_bias_norm=False,
    fixed_lr=("predictor",),
    views={"view_1": MOCO_V2_VIEW, "view_2": MOCO_V2_VIEW},
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
)


@register_method
class SimSiam(Method):
    name = "simsiam"
    family = "distillation"
    paper = "Chen & He 2021, Exploring Simple Siamese Representation Learning"
    # Paper: 3-layer 2048-d projector with BN on the output, 2048→512→2048 predictor (bottleneck 1/4).
    defaults = {"proj_hidden": 512, "proj_dim": 512, "pred_hidden": 128}
    recipe = RECIPE

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
        z1 = self.projector(self.encoder(self.augment(view, x, "view_1")))
        z2 = self.projector(self.encoder(self.augment(view, x, "view_2")))
        return simsiam_loss(self.predictor(z1), z1, self.predictor(z2), z2)
