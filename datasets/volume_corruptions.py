"""Deterministic corruptions of volume3d batches (N, C, D, H, W) in [0, 1] (docs/design.md §3.5).

Same contract as `datasets.image_corruptions`: `fn(x, index, severity)` with severity 1..5, every
random draw a counter-based hash of (sample index, corruption, severity, element), so a sample's
corrupted volume does not depend on the batch it is in. Spatial parameters are given for 28³
volumes and scaled by D/28 for 64³.

Registry `VOLUME_CORRUPTIONS`:
- noise: additive Gaussian noise, sigma 0.02–0.10 (scanner noise).
- blur: isotropic 3D Gaussian blur, sigma 0.4–1.2 voxels (partial-volume / low resolution).
- intensity_shift: global intensity offset of ±0.05–0.30 with a per-sample sign (the same at
  every severity), plus a mild contrast change (calibration / windowing differences between sites).
- slice_dropout: a fraction 5–40 % of axial slices (along D) zeroed per sample (missing or
  corrupted slices); the slice order is drawn per sample once, so severities are nested.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.core.registry import Registry
from datasets.image_corruptions import check_severity, gaussian_kernel1d, hashed_uniform, per_sample_noise


def _scale(x: torch.Tensor) -> float:
    return max(1.0, x.shape[2] / 28.0)


def gaussian_blur3d(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable depthwise 3D Gaussian blur, replicate padding."""
    n, c, d, h, w = x.shape
    k = gaussian_kernel1d(sigma, x.device, x.dtype)
    r = len(k) // 2
    y = F.pad(x.reshape(n * c, 1, d, h, w), (r, r, r, r, r, r), mode="replicate")
    y = F.conv3d(y, k.view(1, 1, -1, 1, 1))
    y = F.conv3d(y, k.view(1, 1, 1, -1, 1))
    y = F.conv3d(y, k.view(1, 1, 1, 1, -1))
    return y.reshape(n, c, d, h, w)


def noise(x, index, severity):
    severity = check_severity(severity)
    s = [0.02, 0.04, 0.06, 0.08, 0.10][severity - 1]
    return (x + s * per_sample_noise(x, index, "volume_noise", severity)).clamp(0, 1)


def blur(x, index, severity):
    severity = check_severity(severity)
    s = [0.4, 0.6, 0.8, 1.0, 1.2][severity - 1] * _scale(x)
    return gaussian_blur3d(x, s).clamp(0, 1)


def intensity_shift(x, index, severity):
    severity = check_severity(severity)
    shift = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    gain = [0.95, 0.9, 0.85, 0.8, 0.7][severity - 1]
    # the direction is drawn per sample once (not per severity), so the offset grows with severity
    u = hashed_uniform(index, 1, "intensity_shift", device=x.device).view(-1, 1, 1, 1, 1)
    sign = torch.where(u < 0.5, -1.0, 1.0).to(x.dtype)
    return (x * gain + sign * shift).clamp(0, 1)


def slice_dropout(x, index, severity):
    severity = check_severity(severity)
    p = [0.05, 0.1, 0.2, 0.3, 0.4][severity - 1]
    n, _, d = x.shape[:3]
    # One draw per (sample, slice), independent of the severity: the round(p·D) (≥ 1) lowest-ranked
    # slices are dropped, so a higher severity drops a superset of the slices a lower one drops.
    u = hashed_uniform(index, d, "slice_dropout", device=x.device)  # (N, D)
    k = max(1, int(round(p * d)))
    ranks = u.argsort(dim=1).argsort(dim=1)
    drop = (ranks < k).view(n, 1, d, 1, 1)
    return x.masked_fill(drop, 0.0)


VOLUME_CORRUPTIONS: Registry[Callable] = Registry("volume corruption")
VOLUME_CORRUPTIONS.register(noise, name="noise")
VOLUME_CORRUPTIONS.register(blur, name="blur")
VOLUME_CORRUPTIONS.register(intensity_shift, name="intensity_shift")
VOLUME_CORRUPTIONS.register(slice_dropout, name="slice_dropout")
