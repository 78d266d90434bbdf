"""Barlow Twins (Zbontar et al., ICML 2021): drive the cross-correlation matrix of the two views'
batch-standardised projections to the identity (invariance on the diagonal, redundancy reduction
off it)."""

from __future__ import annotations

import torch

from methods.base import Method, projection_mlp, register_method
from methods.byol import BYOL_VIEWS
from methods.recipe import BATCH, DOMAINS, ENCODER, EPOCHS, HEADS, Recipe


def _standardise(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """C_ij = Σ_b ẑ1_bi ẑ2_bj / N with ẑ standardised per dimension over the batch."""
    return _standardise(z1).t() @ _standardise(z2) / z1.shape[0]


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float) -> torch.Tensor:
    """Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²."""
    c = cross_correlation(z1, z2)
    on = (1 - torch.diagonal(c)).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lambd * off


RECIPE = Recipe(
    source="Zbontar et al. 2021, §2 Implementation details: LARS, lr 0.2 (weights) / 0.0048 (biases, BN) "
    "× bs/256, wd 1.5e-6 (not on biases / BN), 10-epoch warm-up of 1000, cosine to 1/1000; BYOL's views",
    optimizer="lars",
    lr=0.2,
    lr_scaling="linear",
    weight_decay=1.5e-6,
    exclude_bias_norm=True,
    bias_norm_lr_scale=0.0048 / 0.2,
    lr_warmup_frac=0.01,
    lr_end=0.001,
    views=BYOL_VIEWS,
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
)


@register_method
class BarlowTwins(Method):
    name = "barlow_twins"
    family = "redundancy_reduction"
    paper = "Zbontar et al. 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction"
    # Paper: 3-layer 8192-d projector, λ = 5e-3 (solo-learn's CIFAR setting 2048-d, λ 0.0051).
    defaults = {"lambd": 0.0051, "proj_hidden": 1024, "proj_dim": 1024}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(
            encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], layers=3
        )

    def training_step(self, x, y, view):
        z1 = self.projector(self.encoder(self.augment(view, x, "view_1")))
        z2 = self.projector(self.encoder(self.augment(view, x, "view_2")))
        return barlow_twins_loss(z1, z2, self.hp["lambd"])
