"""MoCo v2 (Chen et al. 2020, on He et al. CVPR 2020): InfoNCE of a query against its momentum-encoded
key and a FIFO queue of past keys as negatives; MLP projector, symmetrised over the two views."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods._utils import ema_update, frozen_copy
from methods.base import Method, projection_mlp, register_method
from methods.recipe import EMA, SMALL_SCALE, Deviation, Recipe
from methods.simsiam import MOCO_V2_VIEW


def moco_infonce_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cross entropy with the positive key at index 0: logits [q·k⁺, q·queue] / T, all L2-normalised.
    q (N, D), k (N, D) — no gradient is meant to reach k (it comes from the momentum encoder),
    queue (K, D)."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    pos = (q * k).sum(1, keepdim=True)
    neg = q @ F.normalize(queue, dim=1).t()
    logits = torch.cat([pos, neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def enqueue(queue: torch.Tensor, ptr: int | torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """FIFO: write `keys` at `ptr` (wrapping round), overwriting the oldest entries; returns the new
    queue and pointer (an int for an int `ptr`; for a 0-dim tensor, a tensor on its device, so the
    training step never reads the pointer on the host). Pure: the input queue is not modified."""
    size = queue.shape[0]
    keys = keys[-size:]
    n = keys.shape[0]
    idx = (torch.arange(n, device=queue.device) + ptr) % size
    out = queue.clone()
    out[idx] = keys.to(out.dtype)
    return out, (ptr + n) % size


RECIPE = Recipe(
    source="Chen et al. 2020 (MoCo v2), §2 and main_moco.py: SGD lr 0.03 × bs/256, momentum 0.9, wd 1e-4, "
    "cosine, 200 epochs; m 0.999, T 0.2, MLP head without BN, asymmetric loss",
    optimizer="sgd",
    lr=0.03,
    lr_scaling="linear",
    weight_decay=1e-4,
    exclude_bias_norm=False,
    ema=EMA(0.999, 0.999, "constant"),
    views={"view_1": replace(MOCO_V2_VIEW, slot=0), "view_2": MOCO_V2_VIEW},
    hparams={"proj_bn": False, "symmetric": False},
    deviations=(
        *SMALL_SCALE,
        Deviation(
            "queue",
            "2048 keys instead of 65536 (5 % of ImageNet): at most about one epoch of our pools, "
            "older keys would repeat the same images",
        ),
        Deviation("shuffling BN", "one device: the batch is not shuffled across GPUs before the key encoder"),
    ),
)


def moco_v2_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """The official MoCo v2 head: Linear-ReLU-Linear, no BatchNorm."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


@register_method
class MoCoV2(Method):
    name = "moco_v2"
    family = "contrastive"
    paper = "Chen et al. 2020, Improved Baselines with Momentum Contrastive Learning (MoCo v2)"
    # Paper: queue 65536, m 0.999, T 0.2, 2048-128 MLP head. Queue scaled to small pools (keys older
    # than ~1 epoch are stale at our step counts), momentum to short schedules.
    defaults = {
        "temperature": 0.2,
        "queue_size": 2048,
        "momentum": 0.99,
        "proj_hidden": 512,
        "proj_dim": 128,
        "symmetric": True,
        "proj_bn": True,  # legacy: the library's BN projector; the paper's head has no BN
    }
    recipe = RECIPE

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        if self.hp["proj_bn"]:
            self.projector = projection_mlp(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        else:
            self.projector = moco_v2_head(encoder.out_dim, self.hp["proj_hidden"], self.hp["proj_dim"])
        self.key_encoder = frozen_copy(self.encoder)
        self.key_projector = frozen_copy(self.projector)
        self.register_buffer(
            "queue", F.normalize(torch.randn(self.hp["queue_size"], self.hp["proj_dim"]), dim=1)
        )
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._pending: list[torch.Tensor] = []
        self.ema = self.ema_schedule(EMA(self.hp["momentum"], self.hp["momentum"], "constant"), "momentum")

    def _keys(self, x):
        with torch.no_grad():
            return F.normalize(self.key_projector(self.key_encoder(x)), dim=1)

    def training_step(self, x, y, view):
        x1, x2 = self.augment(view, x, "view_1"), self.augment(view, x, "view_2")
        q1 = self.projector(self.encoder(x1))
        k2 = self._keys(x2)
        loss = moco_infonce_loss(q1, k2, self.queue, self.hp["temperature"])
        keys = [k2]
        if self.hp["symmetric"]:
            q2 = self.projector(self.encoder(x2))
            k1 = self._keys(x1)
            loss = 0.5 * (loss + moco_infonce_loss(q2, k1, self.queue, self.hp["temperature"]))
            keys.append(k1)
        self._pending = keys  # enqueued after the optimiser step: the queue is in the graph now
        return loss

    @torch.no_grad()
    def on_step_end(self, step, total_steps):
        m = self.ema.at(step, total_steps)
        ema_update(self.key_encoder, self.encoder, m)
        ema_update(self.key_projector, self.projector, m)
        for k in self._pending:
            q, p = enqueue(self.queue, self.queue_ptr, k)
            self.queue.copy_(q)
            self.queue_ptr.copy_(p)
        self._pending = []
