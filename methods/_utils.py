"""Helpers shared by several methods (EMA teachers and their momentum schedule). Not a method."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy with gradients off: the starting point of an EMA teacher / momentum encoder."""
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """θ_target ← m · θ_target + (1 − m) · θ_online, parameter by parameter (buffers such as
    BatchNorm statistics are the target's own)."""
    for pt, po in zip(target.parameters(), online.parameters()):
        pt.mul_(momentum).add_(po.detach(), alpha=1.0 - momentum)


@torch.no_grad()
def ema_model_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """An EMA copy for evaluation (FixMatch, MixMatch): parameters averaged, BatchNorm statistics
    copied from the online model (the running statistics are already averages)."""
    ema_update(target, online, momentum)
    for bt, bo in zip(target.buffers(), online.buffers()):
        bt.copy_(bo)


def cosine_momentum(base: float, step: int, total: int, final: float = 1.0) -> float:
    """BYOL's schedule: m = final − (final − base) · (cos(π k / K) + 1) / 2, from base to final."""
    if total <= 0:
        return base
    k = min(max(step, 0), total)
    return final - (final - base) * (math.cos(math.pi * k / total) + 1.0) / 2.0
