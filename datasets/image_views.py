"""Batched tensor augmentations for image2d batches (N, C, H, W), floats.

Every random parameter is drawn for the whole batch at once from a CPU `torch.Generator` (so runs
are reproducible on any device) and applied to the whole batch at once (crops as separable batched
interpolation matmuls) — per-sample Python transforms are as slow as the model step on 2 cores
(docs/design.md §6).
"""

from __future__ import annotations

import math

import torch

from datasets.resample import separable_resample_2d


def _rand(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g) * (hi - lo) + lo).to(device)


def random_resized_crop_flip(
    x: torch.Tensor, g: torch.Generator, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), flip: bool = True
) -> torch.Tensor:
    """RandomResizedCrop + horizontal flip as one affine resample per sample."""
    n = x.shape[0]
    area = _rand(n, *scale, g, x.device)
    log_r = _rand(n, math.log(ratio[0]), math.log(ratio[1]), g, x.device)
    r = torch.exp(log_r)
    sw = torch.sqrt(area * r).clamp(max=1.0)  # crop width as a fraction of the image
    sh = torch.sqrt(area / r).clamp(max=1.0)
    cx = (_rand(n, 0, 1, g, x.device) * 2 - 1) * (1 - sw)  # centre so the crop stays inside
    cy = (_rand(n, 0, 1, g, x.device) * 2 - 1) * (1 - sh)
    sign = torch.ones(n, device=x.device)
    if flip:
        sign = torch.where(_rand(n, 0, 1, g, x.device) < 0.5, -1.0, 1.0)
    # No rotation, so the bilinear resample is separable: two batched interpolation matmuls give
    # grid_sample's values (reflection padding = clamping here, the crop stays inside) ~4x cheaper.
    scale = torch.stack([sh, sw * sign], dim=1)
    centre = torch.stack([cy, cx], dim=1)
    return separable_resample_2d(x, scale, centre)


def color_jitter(
    x: torch.Tensor, g: torch.Generator, brightness=0.4, contrast=0.4, p: float = 0.8
) -> torch.Tensor:
    """Per-sample brightness and contrast jitter, applied with probability p. Inputs in [0, 1]."""
    n = x.shape[0]
    apply = (_rand(n, 0, 1, g, x.device) < p).to(x.dtype).view(n, 1, 1, 1)
    b = _rand(n, 1 - brightness, 1 + brightness, g, x.device).view(n, 1, 1, 1)
    c = _rand(n, 1 - contrast, 1 + contrast, g, x.device).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    jittered = ((x * b - mean * b) * c + mean * b).clamp(0, 1)
    return apply * jittered + (1 - apply) * x


def random_erase(x: torch.Tensor, g: torch.Generator, p: float = 0.25, max_frac: float = 0.3):
    """Zero one random rectangle per selected sample (cutout), vectorised with a mask."""
    n, _, h, w = x.shape
    apply = _rand(n, 0, 1, g, x.device) < p
    eh = (_rand(n, 0.1, max_frac, g, x.device) * h).long().clamp(min=1)
    ew = (_rand(n, 0.1, max_frac, g, x.device) * w).long().clamp(min=1)
    y0 = (_rand(n, 0, 1, g, x.device) * (h - eh)).long()
    x0 = (_rand(n, 0, 1, g, x.device) * (w - ew)).long()
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= y0.view(n, 1)) & (rows < (y0 + eh).view(n, 1)) & apply.view(n, 1)  # (N, H)
    in_cols = (cols >= x0.view(n, 1)) & (cols < (x0 + ew).view(n, 1))  # (N, W)
    # One full-size op: the box mask is the outer product of a row and a column indicator.
    keep = 1 - in_rows.to(x.dtype).unsqueeze(2) * in_cols.to(x.dtype).unsqueeze(1)
    return x * keep.unsqueeze(1)


def simclr_image_view(x: torch.Tensor, g: torch.Generator, flip: bool = True) -> torch.Tensor:
    """The default contrastive view for small images: crop+flip, colour jitter, cutout."""
    x = random_resized_crop_flip(x, g, flip=flip)
    x = color_jitter(x, g)
    return random_erase(x, g)


def saturation_jitter(x: torch.Tensor, g: torch.Generator, saturation=0.4, p: float = 0.8) -> torch.Tensor:
    """RGB only: blend each image with its luminance by a factor in [1-s, 1+s], with probability p."""
    n = x.shape[0]
    apply = (_rand(n, 0, 1, g, x.device) < p).to(x.dtype).view(n, 1, 1, 1)
    f = _rand(n, 1 - saturation, 1 + saturation, g, x.device).view(n, 1, 1, 1)
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    gray = (x * w).sum(1, keepdim=True)
    return apply * (gray + f * (x - gray)).clamp(0, 1) + (1 - apply) * x


def random_grayscale(x: torch.Tensor, g: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """RGB only: replace an image by its luminance (kept 3-channel) with probability p."""
    n = x.shape[0]
    apply = (_rand(n, 0, 1, g, x.device) < p).to(x.dtype).view(n, 1, 1, 1)
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    gray = (x * w).sum(1, keepdim=True).expand_as(x)
    return apply * gray + (1 - apply) * x


def simclr_rgb_view(x: torch.Tensor, g: torch.Generator, flip: bool = True) -> torch.Tensor:
    """`simclr_image_view` plus SimCLR's saturation jitter and random grayscale, for RGB batches."""
    x = random_resized_crop_flip(x, g, flip=flip)
    x = color_jitter(x, g)
    x = saturation_jitter(x, g)
    x = random_grayscale(x, g)
    return random_erase(x, g)
