"""Memory layouts for conv encoders."""

from __future__ import annotations

import torch
from torch import nn

# Channels-last layouts for 2-D/3-D convs: oneDNN's CPU kernels run these small CNNs ~1.7x faster
# in training and ~2.5x faster in inference than in the default NCHW layout (2 cores, batch 256,
# measured on 28² images, 64x101 spectrograms and 28³ volumes); CUDA's cuDNN supports it too.
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def channels_last(module: nn.Module, dims: int) -> nn.Module:
    """Store `module`'s conv weights channels-last (inputs are converted in `forward`)."""
    return module.to(memory_format=CHANNELS_LAST[dims]) if dims in CHANNELS_LAST else module


def as_channels_last(x: torch.Tensor, dims: int) -> torch.Tensor:
    return (
        x.contiguous(memory_format=CHANNELS_LAST[dims])
        if dims in CHANNELS_LAST and x.dim() == dims + 2
        else x
    )
