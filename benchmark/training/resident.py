"""Where a pretraining step's batch comes from: gathered on the host and copied (`HostBatches`, every
device), or gathered on the device from a copy of the split held there (`DeviceResidentSplit`).

Rule (`resident_on_device`): the split is held on the device when
1. the job's device is CUDA;
2. the adapter gathers with the default `Adapter.batch` (a plain index into `split.inputs`), so a
   batch gathered on the device is the batch the host would gather, and its `prepare` takes it;
3. `split.inputs` and `split.labels` are tensors (graph sets and other non-tensor inputs are not);
4. both, in the dtype they are stored in (uint8 images), take at most `RESIDENT_SHARE` of the
   device's free memory.
Otherwise each step gathers on the host, pins and copies, as before. On CPU nothing changes.

Either way the epoch's sample order comes from the host's data generator, so the batches are the
same samples in the same order; the resident path copies the epoch's indices to the device once.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmark.core.host_copy import pin_batch, to_device
from datasets.base import Adapter, Split

# Share of the device's free memory a resident split may take: the model, its activations and the
# optimiser keep the rest (several jobs per GPU each see what the others left free).
RESIDENT_SHARE = 0.25


def split_bytes(split: Split) -> int:
    return sum(t.numel() * t.element_size() for t in (split.inputs, split.labels))


def resident_on_device(
    adapter: Adapter, split: Split, device: torch.device, free_bytes: int | None = None
) -> bool:
    """Whether `split` is held on `device` for pretraining (the rule in the module docstring).
    `free_bytes`: the device's free memory (read from the device when None)."""
    device = torch.device(device)
    if device.type != "cuda":
        return False
    if type(adapter).batch is not Adapter.batch:
        return False
    if not (isinstance(split.inputs, torch.Tensor) and isinstance(split.labels, torch.Tensor)):
        return False
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return split_bytes(split) <= RESIDENT_SHARE * free_bytes


class HostBatches:
    """Today's path: each step gathers its samples on the host, pins them and copies them."""

    def __init__(self, adapter: Adapter, split: Split, device: torch.device):
        self.adapter, self.split, self.device = adapter, split, device

    def epoch(self, batches: list[torch.Tensor]) -> list[torch.Tensor]:
        return batches

    def inputs(self, idx: torch.Tensor) -> Any:
        return self.adapter.prepare(pin_batch(self.adapter.batch(self.split, idx), self.device), self.device)

    def labels(self, idx: torch.Tensor) -> torch.Tensor:
        return to_device(self.split.labels[idx], self.device)


class DeviceResidentSplit(HostBatches):
    """The split's tensors copied to the device once; each step gathers its batch there."""

    def __init__(self, adapter: Adapter, split: Split, device: torch.device):
        held = Split(split.inputs.to(device), split.labels.to(device))
        super().__init__(adapter, held, device)

    def epoch(self, batches: list[torch.Tensor]) -> list[torch.Tensor]:
        """The epoch's index batches on the device, in one copy (not one per step)."""
        if not batches:
            return batches
        flat = to_device(torch.cat(batches), self.device)
        return list(flat.split([len(b) for b in batches]))

    def inputs(self, idx: torch.Tensor) -> Any:
        return self.adapter.prepare(self.adapter.batch(self.split, idx), self.device)

    def labels(self, idx: torch.Tensor) -> torch.Tensor:
        return self.split.labels[idx]


def step_batches(
    adapter: Adapter, split: Split, device: torch.device, allow_resident: bool = True
) -> HostBatches:
    """The batch source of a pretraining run on `device` (the rule above; `allow_resident` False:
    always the host path)."""
    if allow_resident and resident_on_device(adapter, split, device):
        return DeviceResidentSplit(adapter, split, device)
    return HostBatches(adapter, split, device)
