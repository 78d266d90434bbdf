"""SwAV (Caron et al., NeurIPS 2020): swapped prediction — the code (Sinkhorn-Knopp equipartitioned
assignment to learned prototypes) of one view is predicted from the other view's prototype scores.
Optional queue of past embeddings to stabilise assignments at small batch sizes. The paper recipe
adds multi-crop (2 global + 6 local crops; codes come from the global crops only), the queue and
the first-epoch prototype freeze (a recipe freeze, benchmark/training/optim.py)."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.views import ViewPolicy
from methods.base import Method, projection_mlp, register_method
from methods.recipe import SMALL_SCALE, Deviation, Freeze, Recipe


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Codes Q (B, K) for prototype scores (B, K): exp(scores/ε) alternately rescaled so that every
    prototype gets 1/K of the mass and every sample 1/B; returned ×B so that each row sums to 1
    (exactly, the last normalisation is over samples) and each column to ≈ B/K."""
    q = torch.exp((scores - scores.max()) / epsilon).t()  # K × B (max-shift for stability)
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    return (q * b).t()


def swapped_prediction_loss(
    scores: list[torch.Tensor], codes: list[torch.Tensor], temperature: float
) -> torch.Tensor:
    """Mean over (code view i, predicting view j ≠ i) of −Σ_k q_i log softmax(s_j / T)."""
    total, terms = 0.0, 0
    for i, q in enumerate(codes):
        for j, s in enumerate(scores):
            if j == i:
                continue
            total = total - (q * F.log_softmax(s / temperature, dim=1)).sum(1).mean()
            terms += 1
    return total / terms


# Multi-crop (§3.2, App. A): 2 × 224 px crops of scale 0.14–1 and 6 × 96 px crops of 0.05–0.14, each
# with SimCLR's colour distortion at strength 1 and blur p 0.5.
SWAV_GLOBAL = ViewPolicy(
    "ssl",
    name="SwAV global (crop 0.14–1, jitter .8/.8/.8/.2 p.8, gray .2, blur .5)",
    scale=(0.14, 1.0),
    jitter=(0.8, 0.8, 0.8, 0.2),
    jitter_p=0.8,
    grayscale_p=0.2,
    blur_p=0.5,
    source="Caron et al. 2020, §3.2 and App. A",
)
SWAV_LOCAL = replace(
    SWAV_GLOBAL,
    name="SwAV local (crop 0.05–0.14 at 96/224 resolution)",
    scale=(0.05, 0.14),
    resolution=96 / 224,
)

RECIPE = Recipe(
    source="Caron et al. 2020, App. A.1 and main_swav.py: LARS (trust 0.001, on every parameter), "
    "lr 4.8 at batch 4096 (0.3 × bs/256), wd 1e-6, 10-epoch warm-up of 100, cosine to 1/1000; "
    "prototypes frozen for the first epoch; queue 3840 from epoch 15 of 200 at batch 256; "
    "multi-crop 2×224 + 6×96",
    optimizer="lars",
    lr=0.3,
    lr_scaling="linear",
    weight_decay=1e-6,
    exclude_bias_norm=False,
    lr_warmup_frac=0.1,
    lr_end=0.001,
    freeze=(Freeze("prototypes", 0.01),),
    views={"global_1": SWAV_GLOBAL, "global_2": SWAV_GLOBAL, "local": SWAV_LOCAL},
    hparams={"queue_size": 3840, "queue_start_frac": 0.075, "local_crops": 6},
    deviations=(
        *SMALL_SCALE,
        Deviation("prototypes", "100 instead of 3000 (ImageNet's 1000 classes): ≥ 10 per class of our sets"),
        Deviation("multi-crop", "only where the adapter makes smaller crops (not tables or graphs: 2 views)"),
    ),
)


def _reread_queue_filled(module: nn.Module, incompatible_keys) -> None:
    module._filled = int(module.queue_filled)


@register_method
class SwAV(Method):
    name = "swav"
    family = "clustering"
    paper = "Caron et al. 2020, Unsupervised Learning of Visual Features by Contrasting Cluster Assignments"
    # Paper: 2048-128 projector, 3000 prototypes, T 0.1, ε 0.05, 3 Sinkhorn iterations, queue 3840
    # (optional), prototypes frozen for the first epoch, multi-crop. Prototypes scaled to small
    # datasets; multi-crop → `n_views` extra same-size views (the adapter makes one view size).
    defaults = {
        "temperature": 0.1,
        "epsilon": 0.05,
        "sinkhorn_iterations": 3,
        "num_prototypes": 100,
        "proj_hidden": 512,
        "proj_dim": 128,
        "queue_size": 0,
        "freeze_prototypes_steps": 0,
        "n_views": 2,
        "queue_start_frac": 0.0,  # the queue is used once full and after this share of the run
        "local_crops": 0,  # multi-crop local crops (paper recipe)
    }
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.prototypes = nn.Linear(self.hp["proj_dim"], self.hp["num_prototypes"], bias=False)
        self._normalise_prototypes()
        q = self.hp["queue_size"]
        self.register_buffer("queue", torch.zeros(2, q, self.hp["proj_dim"]))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        # a host copy of queue_filled, so the step's "is the queue full?" never waits for the GPU;
        # the buffer stays the checkpointed truth and a loaded state dict refreshes the copy
        self._filled = 0
        self.register_load_state_dict_post_hook(_reread_queue_filled)
        self._step, self._total = 0, 1
        self._pending: list[torch.Tensor] = []

    @torch.no_grad()
    def _normalise_prototypes(self):
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def training_step(self, x, y, view):
        xs = [self.augment(view, x, "global_1"), self.augment(view, x, "global_2")]
        xs += [view(x) for _ in range(self.hp["n_views"] - 2)]  # legacy: extra views of one size
        xs += self.local_views(view, x, "local", self.hp["local_crops"])
        zs = [
            F.normalize(h, dim=1) for h in self.forward_views(lambda v: self.projector(self.encoder(v)), xs)
        ]
        w = self.prototypes.weight
        if self._step < self.hp["freeze_prototypes_steps"]:
            w = w.detach()
        scores = [z @ w.t() for z in zs]
        codes = []
        qsize = self.hp["queue_size"]
        started = self._step >= self.hp["queue_start_frac"] * self._total
        use_queue = qsize > 0 and self._filled >= qsize and started
        for i in range(2):  # codes are computed for the first two views only
            s = scores[i].detach()
            if use_queue:
                s = torch.cat([s, self.queue[i] @ w.detach().t()])
            codes.append(sinkhorn(s, self.hp["epsilon"], self.hp["sinkhorn_iterations"])[: zs[i].shape[0]])
        self._pending = [z.detach() for z in zs[:2]]
        return swapped_prediction_loss(scores, codes, self.hp["temperature"])

    @torch.no_grad()
    def on_step_start(self, step, total_steps):
        self._step, self._total = step, total_steps

    def on_step_end(self, step, total_steps):
        self._normalise_prototypes()
        qsize = self.hp["queue_size"]
        if qsize > 0 and self._pending:
            n = min(self._pending[0].shape[0], qsize)
            for i in range(2):  # shift the queue and put the newest embeddings first
                self.queue[i, n:] = self.queue[i, :-n].clone()
                self.queue[i, :n] = self._pending[i][:n]
            self.queue_filled.add_(n)
            self._filled += n
        self._pending = []
