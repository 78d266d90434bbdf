"""Multi-GPU inside one job: DDP launched with `torchrun`. Contrastive losses gather negatives from
every rank with `benchmark.core.gather.gather_with_grad` (SimCLR: `nt_xent_loss(..., gather=True)`).

Use under torchrun:

    torchrun --nproc_per_node 4 my_train.py     # in it: setup(); model = DDP(model, device_ids=[local_rank])
                                                #        loss = nt_xent_loss(z1, z2, 0.2, gather=True)
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup(backend: str | None = None) -> tuple[int, int, torch.device]:
    """Initialise the process group from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT). Returns (rank, world_size, device): one GPU per process under NCCL,
    the CPU under gloo."""
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if dist.get_backend() == "nccl":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device
