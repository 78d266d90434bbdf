"""VICReg (Bardes, Ponce & LeCun, ICLR 2022): invariance (MSE between views) + variance (hinge on the
per-dimension std) + covariance (squared off-diagonal covariances) regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.base import Method, projection_mlp, register_method
from methods.byol import BYOL_VIEWS
from methods.recipe import BATCH, DOMAINS, ENCODER, EPOCHS, HEADS, Recipe


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """mean_j relu(γ − sqrt(Var(z_j) + ε)), unbiased variance over the batch."""
    std = torch.sqrt(z.var(0) + eps)
    return F.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠j} Cov(z)_ij² / D with the unbiased covariance over the batch."""
    n, d = z.shape
    zc = z - z.mean(0)
    cov = zc.t() @ zc / (n - 1)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / d


def vicreg_loss(
    z1: torch.Tensor, z2: torch.Tensor, sim_coeff: float, std_coeff: float, cov_coeff: float
) -> torch.Tensor:
    """λ·MSE(z1, z2) + μ·[v(z1) + v(z2)]/2 + ν·[c(z1) + c(z2)] as in the official implementation."""
    inv = F.mse_loss(z1, z2)
    var = 0.5 * (variance_term(z1) + variance_term(z2))
    cov = covariance_term(z1) + covariance_term(z2)
    return sim_coeff * inv + std_coeff * var + cov_coeff * cov


RECIPE = Recipe(
    source="Bardes et al. 2022, §4.1 and App. C: LARS, lr 0.2 × bs/256, wd 1e-6 (not on biases / BN), "
    "10-epoch warm-up of 1000, cosine to 1/1000 (main_vicreg.py); BYOL's views",
    optimizer="lars",
    lr=0.2,
    lr_scaling="linear",
    weight_decay=1e-6,
    exclude_bias_norm=True,
    lr_warmup_frac=0.01,
    lr_end=0.001,
    views=BYOL_VIEWS,
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
)


@register_method
class VICReg(Method):
    name = "vicreg"
    family = "redundancy_reduction"
    paper = "Bardes, Ponce & LeCun 2022, VICReg: Variance-Invariance-Covariance Regularization"
    # Paper: 3-layer 8192-d expander, λ = μ = 25, ν = 1.
    defaults = {"sim_coeff": 25.0, "std_coeff": 25.0, "cov_coeff": 1.0, "proj_hidden": 1024, "proj_dim": 1024}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(
            encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"], layers=3
        )

    def training_step(self, x, y, view):
        z1 = self.projector(self.encoder(self.augment(view, x, "view_1")))
        z2 = self.projector(self.encoder(self.augment(view, x, "view_2")))
        return vicreg_loss(z1, z2, self.hp["sim_coeff"], self.hp["std_coeff"], self.hp["cov_coeff"])
