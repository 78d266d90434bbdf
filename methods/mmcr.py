"""MMCR (Yerxa et al., NeurIPS 2023), maximum manifold capacity representations: maximise the
nuclear norm of the matrix of per-sample centroids of several normalised views."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.base import Method, projection_mlp, register_method
from methods.recipe import SMALL_SCALE, Deviation, Recipe
from methods.simclr import SIMCLR_VIEW


def mmcr_loss(z: torch.Tensor, local_weight: float = 0.0) -> torch.Tensor:
    """z (B, V, D): V views per sample. Views are L2-normalised, centroids C (B, D) are their means,
    loss = −‖C‖_* + λ · mean_b ‖Z_b‖_* (the optional local term shrinks each sample's manifold)."""
    z = F.normalize(z, dim=-1)
    loss = -torch.linalg.matrix_norm(z.mean(1), ord="nuc")
    if local_weight:
        loss = loss + local_weight * torch.linalg.matrix_norm(z, ord="nuc").mean()
    return loss


RECIPE = Recipe(
    source="Yerxa et al. 2023, App. (CIFAR-10 / STL-10 setting): Adam, lr 1e-3, wd 1e-6, SimCLR-style views",
    optimizer="adamw",
    lr=1e-3,
    weight_decay=1e-6,
    exclude_bias_norm=False,
    views={"view": SIMCLR_VIEW},
    deviations=(
        *SMALL_SCALE,
        Deviation("views per sample", "4 instead of 16–40: the cost grows linearly with them"),
    ),
    notes=("recipe values recalled from the paper's appendix without access to it; to be checked",),
)


@register_method
class MMCR(Method):
    name = "mmcr"
    family = "manifold_capacity"
    paper = (
        "Yerxa et al. 2023, Learning Efficient Coding of Natural Images with Maximum Manifold Capacity "
        "Representations"
    )
    # Paper: 16–40 views, 512-d projection, λ_local 0. Scaled: 4 views (cost is linear in views).
    defaults = {"n_views": 4, "proj_hidden": 512, "proj_dim": 128, "local_weight": 0.0}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        if self.hp["n_views"] < 2:
            raise ValueError("mmcr: n_views must be ≥ 2")
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])

    def training_step(self, x, y, view):
        z = torch.stack(
            [self.projector(self.encoder(self.augment(view, x, "view"))) for _ in range(self.hp["n_views"])],
            dim=1,
        )
        return mmcr_loss(z, self.hp["local_weight"])
