"""SimCLR (Chen et al., ICML 2020): NT-Xent between two augmented views through an MLP projector."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from benchmark.core.gather import gather_with_grad, world
from benchmark.core.views import ViewPolicy
from methods.base import Method, projection_mlp, register_method
from methods.recipe import BATCH, DOMAINS, ENCODER, EPOCHS, HEADS, Deviation, Recipe


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
        targets = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
        return F.cross_entropy(sim, targets)
    big_n = n * world_size
    cand = torch.cat([gather_with_grad(z[:n]), gather_with_grad(z[n:])])  # global view 1, then view 2
    rows = torch.arange(n, device=z.device) + rank * n  # global index of our view-1 rows
    own, pos = torch.cat([rows, rows + big_n]), torch.cat([rows + big_n, rows])
    sim = z @ cand.t() / temperature
    sim = sim.masked_fill(F.one_hot(own, 2 * big_n).bool(), float("-inf"))
    return F.cross_entropy(sim, pos)


def grace_head(in_dim: int, hidden: int, out_dim: int) -> torch.nn.Sequential:
    """GRACE's projection head (Zhu et al. 2020, model.py `projection`): two linear layers with an
    ELU between them and no normalisation."""
    return torch.nn.Sequential(
        torch.nn.Linear(in_dim, hidden), torch.nn.ELU(), torch.nn.Linear(hidden, out_dim)
    )


# SimCLR's augmentation (App. A): crop 0.08–1 + flip, colour distortion of strength s — jitter
# (0.8s, 0.8s, 0.8s, 0.2s) with p 0.8, grayscale p 0.2 — and blur p 0.5 (ImageNet; blur is left out
# on CIFAR-10, App. B.9, which the blur's scaling to the image side reproduces). s = 0.5, the CIFAR-10
# strength (App. B.9), since the benchmark's images are CIFAR-sized or smaller.
SIMCLR_VIEW = ViewPolicy(
    "ssl",
    name="SimCLR (crop 0.08–1, flip, jitter .4/.4/.4/.1 p.8, gray .2, blur .5)",
    scale=(0.08, 1.0),
    jitter=(0.4, 0.4, 0.4, 0.1),
    jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=0.5,
    source="Chen et al. 2020, App. A, B.9",
)
PAIR_VIEWS = {"view_1": replace(SIMCLR_VIEW, slot=0), "view_2": SIMCLR_VIEW}


def _pair(first: str, second: str, source: str) -> dict[str, ViewPolicy]:
    """A domain's two views (slot 0 / 1, benchmark/core/views.py), named for the recipe table."""
    return {
        "view_1": ViewPolicy("ssl", name=first, slot=0, source=source),
        "view_2": ViewPolicy("ssl", name=second, slot=1, source=source),
    }


SCARF_VIEWS = _pair(
    "SCARF anchor (the row itself)", "SCARF corruption (each feature from a random row, p 0.6)", "SCARF §2"
)
GRAPHCL_VIEWS = _pair(
    "GraphCL anchor (the graph itself)",
    "GraphCL view (node drop, edge drop or attribute mask 10 %, or a 20 % subgraph)",
    "GraphCL unsupervised_TU/aug.py",
)
GRACE_VIEWS = _pair(
    "GRACE view 1 (edges 0.2, features 0.3 on Cora)",
    "GRACE view 2 (edges 0.4, features 0.4 on Cora)",
    "GRACE config",
)

RECIPE = Recipe(
    source="Chen et al. 2020, §B.1 (LARS, lr 0.3 × bs/256, wd 1e-6, 10-epoch warm-up of 100, cosine); "
    "App. B.9 (τ 0.5 on CIFAR-10)",
    optimizer="lars",
    lr=0.3,
    lr_scaling="linear",
    weight_decay=1e-6,
    exclude_bias_norm=True,
    lr_warmup_frac=0.1,
    views=PAIR_VIEWS,
    hparams={"temperature": 0.5},
    deviations=(ENCODER, DOMAINS, EPOCHS, BATCH, HEADS),
    by_spec={
        # SCARF is SimCLR on tables: the anchor row against one corrupted row (datasets/tabular_base.py).
        "tabular": Recipe(
            source="Bahri et al. 2022 (SCARF), §3: Adam lr 1e-3, batch 128, τ 1, corruption 0.6",
            optimizer="adamw",
            lr=1e-3,
            exclude_bias_norm=False,
            views=SCARF_VIEWS,
            hparams={"temperature": 1.0},
            deviations=(
                EPOCHS,
                HEADS,
                Deviation("encoder", "the benchmark's MLP (256-256-128) for the paper's 4-layer MLP of 256"),
                Deviation("optimiser", "AdamW without weight decay is the paper's Adam"),
            ),
        ),
        # GraphCL's unsupervised TU setting: original graph vs one augmentation (datasets/graph_batches.py).
        "graph:graph": Recipe(
            source="You et al. 2020 (GraphCL), §4.2 and unsupervised_TU/gsimclr.py: Adam lr 0.01 (constant), "
            "τ 0.2, batch 128, 20 epochs",
            optimizer="adamw",
            lr=0.01,
            exclude_bias_norm=False,
            schedule="constant",
            views=GRAPHCL_VIEWS,
            hparams={"temperature": 0.2},
            deviations=(
                EPOCHS,
                HEADS,
                Deviation("encoder", "the benchmark's GIN (3 × 64) for the code's GIN (3 × 32)"),
            ),
        ),
        # GRACE is SimCLR on one graph: two views at their own drop rates, intra- and inter-view negatives.
        "graph:node": Recipe(
            source="Zhu et al. 2020 (GRACE), App. (Cora config) and train.py: Adam lr 5e-4 (constant), "
            "wd 1e-5, τ 0.4, 200 epochs",
            optimizer="adamw",
            lr=5e-4,
            weight_decay=1e-5,
            exclude_bias_norm=False,
            schedule="constant",
            views=GRACE_VIEWS,
            # GRACE's projection head (model.py): Linear(128, 128), ELU, Linear(128, 128), no BatchNorm
            hparams={"temperature": 0.4, "proj_head": "grace", "proj_hidden": 128, "proj_dim": 128},
            deviations=(
                EPOCHS,
                Deviation("weight decay", "decoupled (AdamW) for Adam's L2; at 1e-5 the two barely differ"),
                Deviation("τ", "Cora's 0.4 on every Planetoid graph (CiteSeer 0.9, PubMed 0.7 in the paper)"),
                Deviation("loss", "NT-Xent on a batch of train nodes, GRACE contrasts every node"),
            ),
        ),
    },
)


@register_method
class SimCLR(Method):
    name = "simclr"
    family = "contrastive"
    paper = "Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations"
    # proj_head: "bn_relu" (the library's projector, Linear-BN-ReLU-Linear) or "grace" (Linear-ELU-Linear)
    defaults = {"temperature": 0.2, "proj_hidden": 512, "proj_dim": 128, "proj_head": "bn_relu"}
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        hidden, out = self.hp["proj_hidden"], self.hp["proj_dim"]
        if self.hp["proj_head"] == "grace":
            self.projector = grace_head(encoder.out_dim, hidden, out)
        elif self.hp["proj_head"] == "bn_relu":
            self.projector = projection_mlp(encoder.out_dim, hidden, out)
        else:
            raise ValueError(f"simclr: proj_head must be 'bn_relu' or 'grace', got {self.hp['proj_head']!r}")

    def training_step(self, x, y, view):
        z1 = self.projector(self.encoder(self.augment(view, x, "view_1")))
        z2 = self.projector(self.encoder(self.augment(view, x, "view_2")))
        return nt_xent_loss(z1, z2, self.hp["temperature"])
