"""A cross-rank all-gather that keeps gradients, for contrastive negatives from every rank.

`torch.distributed.all_gather` returns tensors without gradient, so a loss over negatives gathered
from other ranks silently drops their gradients (lightly #1528/#1977); a backward that returns the
local gradient without summing over ranks is wrong too. Here backward sums over ranks and returns
this rank's slice, so under DDP the gradients equal those of the single-process loss on the global
batch (tests/training/test_distributed.py checks it on 2 CPU processes).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 (equal shapes on every rank) that keeps the autograd graph.

    forward:  x (n, …) on each rank → cat over ranks (world·n, …), rank order.
    backward: grad (world·n, …) is this rank's loss gradient w.r.t. *every* rank's rows; summed over
              ranks (all_reduce) it is the gradient of the sum of all ranks' losses; return our slice.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """`x` from every rank, concatenated in rank order (just `x` outside a multi-process group)."""
    return x if world()[1] == 1 else GatherWithGrad.apply(x)
