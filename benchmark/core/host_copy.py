"""Copies from the host to a CUDA device that do not make the host wait.

A copy from pageable host memory to the GPU returns only once the GPU has run everything queued
before it, so one such copy per training step stalls the loop on the GPU (issue #32); a copy from
page-locked memory with `non_blocking=True` is queued like a kernel. On CPU both are no-ops.
"""

from __future__ import annotations

import functools
from typing import Any

import torch


def pin_batch(batch: Any, device: torch.device) -> Any:
    """Page-locked copy of a CPU batch (tensor, or tuple/list/dict of them) when the target is CUDA,
    so `prepare`'s `.to(device, non_blocking=True)` is a truly asynchronous copy; a no-op on CPU."""
    if torch.device(device).type != "cuda":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory() if batch.device.type == "cpu" else batch
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(pin_batch(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: pin_batch(v, device) for k, v in batch.items()}
    return batch


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`; a host tensor bound for CUDA goes through page-locked memory, so the copy is
    queued and the host goes on (what a per-step mask or index drawn on the host needs)."""
    if t.device == torch.device(device):
        return t
    return pin_batch(t, device).to(device, non_blocking=True)


@functools.lru_cache(maxsize=64)
def _constant(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, device=device, dtype=dtype)


def constant(values: tuple, device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`torch.tensor(values)` on `device`, made once per process for each device and dtype: a view's
    fixed weights (luminance, a smoothing kernel) cost no host copy per call. Callers must not
    write into it."""
    return _constant(values, torch.device(device), dtype)
