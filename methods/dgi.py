"""DGI (Veličković et al., ICLR 2019), Deep Graph Infomax: a bilinear discriminator tells each node's
embedding in the graph (positive) from its embedding in a corrupted graph (negative), both scored
against a summary of the whole graph. The corruption keeps the edges and shuffles the feature rows
among the nodes. Node tasks only: graph-level infomax is another paper (InfoGraph)."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import Method, register_method
from methods.recipe import EPOCHS, Deviation, Recipe


def dgi_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the discriminator's logits: positives (N,) labelled 1, negatives (M,)
    labelled 0, averaged over all N + M scores (the paper's eq. 1 with N = M)."""
    logits = torch.cat([positive, negative])
    labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def graph_summary(h: torch.Tensor) -> torch.Tensor:
    """The readout R: the sigmoid of the mean node embedding."""
    return torch.sigmoid(h.mean(0))


RECIPE = Recipe(
    source="Veličković et al. 2019 (DGI), §4.2 and execute.py (transductive): Adam lr 1e-3, no weight "
    "decay, the whole graph each step, corruption by a row permutation of the features",
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.0,
    exclude_bias_norm=False,
    schedule="constant",
    deviations=(
        EPOCHS,
        Deviation(
            "encoder",
            "the benchmark's GCN (2 layers, 256 then 128, ReLU) for the paper's one 512-wide PReLU layer",
        ),
        Deviation(
            "stopping",
            "the suite's fixed steps for the paper's early stopping on the training loss (patience 20)",
        ),
    ),
)


@register_method
class DGI(Method):
    name = "dgi"
    family = "infomax"
    paper = "Veličković et al. 2019, Deep Graph Infomax"
    supported_specs = ("graph",)
    defaults: dict = {}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        d = encoder.out_dim
        self.discriminator = nn.Bilinear(d, d, 1)
        nn.init.xavier_uniform_(self.discriminator.weight)  # as the paper's code initialises it
        nn.init.zeros_(self.discriminator.bias)

    @classmethod
    def supports(cls, spec) -> bool:
        return spec.kind == "graph" and spec.extras.get("task") == "node"

    def score(self, h: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit for each row of h against the summary."""
        return self.discriminator(h, summary.expand_as(h)).squeeze(-1)

    def training_step(self, x, y, view):
        # the corrupted graph: the same edges, the feature rows permuted among all of its nodes (the
        # global RNG, which checkpoints save, draws the permutation: resumes stay exact)
        perm = torch.randperm(x.x.shape[0], device=x.x.device)
        h = self.encoder(x)
        h_corrupt = self.encoder(replace(x, x=x.x[perm]))
        summary = graph_summary(h)
        return dgi_loss(self.score(h, summary), self.score(h_corrupt, summary))
