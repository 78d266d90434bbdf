"""The random numbers of the batched views (datasets/*_views.py, the tabular and graph views).

Every draw is made on the view generator's own device and then used on the batch's device. The
pretraining loop gives adapters that declare `Adapter.views_on_device` a generator on the job's
device, so on CUDA the numbers are drawn where the batch is and never copied; each small copy from
pageable host memory would make the host wait for the GPU, several times per view. A CPU generator
draws exactly the numbers it drew before, in the same order, so CPU runs are unchanged.
"""

from __future__ import annotations

import torch

from benchmark.core.host_copy import to_device


def on(t: torch.Tensor, device) -> torch.Tensor:
    """`t` on `device`: no call when it is there already; numbers drawn on the host for a CUDA batch
    go through page-locked memory (`to_device`), so the host does not wait for the GPU."""
    return to_device(t, device)


def uniform(shape, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    """U[lo, hi) floats of `shape` (an int or a tuple) on `device`."""
    if isinstance(shape, int):
        shape = (shape,)
    return on(torch.rand(shape, generator=g, device=g.device) * (hi - lo) + lo, device)


def normal(shape, g: torch.Generator, device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N(0, 1) of `shape` on `device`, drawn in float32 and then cast to `dtype`."""
    return on(torch.randn(shape, generator=g, device=g.device), device).to(dtype)


def integers(low: int, high: int, shape, g: torch.Generator, device) -> torch.Tensor:
    """Integers uniform in [low, high) of `shape` on `device`."""
    if isinstance(shape, int):
        shape = (shape,)
    return on(torch.randint(low, high, shape, generator=g, device=g.device), device)


def host(t: torch.Tensor):
    """A NumPy view of drawn numbers that a host pass consumes (GraphCL's compiled index pass)."""
    return (t if t.device.type == "cpu" else t.cpu()).numpy()
