"""SwAV (Caron et al., NeurIPS 2020): swapped prediction — the code (Sinkhorn-Knopp equipartitioned
assignment to learned prototypes) of one view is predicted from the other view's prototype scores.
Optional queue of past embeddings to stabilise assignments at small batch sizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import Method, projection_mlp, register_method


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
    }

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.prototypes = nn.Linear(self.hp["proj_dim"], self.hp["num_prototypes"], bias=False)
        self._normalise_prototypes()
        q = self.hp["queue_size"]
        self.register_buffer("queue", torch.zeros(2, q, self.hp["proj_dim"]))
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long))
        self._step = 0
        self._pending: list[torch.Tensor] = []

    @torch.no_grad()
    def _normalise_prototypes(self):
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def training_step(self, x, y, view):
        zs = [
            F.normalize(self.projector(self.encoder(view(x))), dim=1)
            for _ in range(max(2, self.hp["n_views"]))
        ]
        w = self.prototypes.weight
        if self._step < self.hp["freeze_prototypes_steps"]:
            w = w.detach()
        scores = [z @ w.t() for z in zs]
        codes = []
        qsize = self.hp["queue_size"]
        use_queue = qsize > 0 and int(self.queue_filled) >= qsize
        for i in range(2):  # codes are computed for the first two views only
            s = scores[i].detach()
            if use_queue:
                s = torch.cat([s, self.queue[i] @ w.detach().t()])
            codes.append(sinkhorn(s, self.hp["epsilon"], self.hp["sinkhorn_iterations"])[: zs[i].shape[0]])
        self._pending = [z.detach() for z in zs[:2]]
        return swapped_prediction_loss(scores, codes, self.hp["temperature"])

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        self._step = step
        self._normalise_prototypes()
        qsize = self.hp["queue_size"]
        if qsize > 0 and self._pending:
            n = min(self._pending[0].shape[0], qsize)
            for i in range(2):  # shift the queue and put the newest embeddings first
                self.queue[i, n:] = self.queue[i, :-n].clone()
                self.queue[i, :n] = self._pending[i][:n]
            self.queue_filled.add_(n)
        self._pending = []
