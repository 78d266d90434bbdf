"""SimCLR (Chen et al., ICML 2020): NT-Xent between two augmented views through an MLP projector."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.core.gather import gather_with_grad, world
from methods.base import Method, projection_mlp, register_method


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, gather: bool = False
) -> torch.Tensor:
    """Normalised-temperature cross entropy over 2N embeddings: for each of the 2N rows the positive
    is its other view and the 2N-2 remaining rows are negatives; mean over all 2N rows.

    `gather=True` under torch.distributed: negatives come from every rank's batch (equal local
    batch sizes); each rank returns the mean over its own 2n rows, and under DDP the gradients equal
    those of the loss on the concatenated global batch."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    rank, world_size = world() if gather else (0, 1)
    if world_size == 1:
        sim = z @ z.t() / temperature
        sim.fill_diagonal_(float("-inf"))  # a sample is never its own negative
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(sim, targets)
    big_n = n * world_size
    cand = torch.cat([gather_with_grad(z[:n]), gather_with_grad(z[n:])])  # global view 1, then view 2
    rows = torch.arange(n, device=z.device) + rank * n  # global index of our view-1 rows
    own, pos = torch.cat([rows, rows + big_n]), torch.cat([rows + big_n, rows])
    sim = z @ cand.t() / temperature
    sim = sim.masked_fill(F.one_hot(own, 2 * big_n).bool(), float("-inf"))
    return F.cross_entropy(sim, pos)


@register_method
class SimCLR(Method):
    name = "simclr"
    family = "contrastive"
    paper = "Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations"
    defaults = {"temperature": 0.2, "proj_hidden": 512, "proj_dim": 128}

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])

    def training_step(self, x, y, view):
        z1 = self.projector(self.encoder(view(x)))
        z2 = self.projector(self.encoder(view(x)))
        return nt_xent_loss(z1, z2, self.hp["temperature"])
