"""Batched tensor augmentations for 1D signals (N, C, T) and spectrograms (N, C, F, T), floats.

As in `image_views`, every random parameter is drawn for the whole batch at once from the given
`torch.Generator`, on its device (datasets/draws.py), and applied with tensor ops — gather, masks,
`grid_sample` — never a per-sample Python loop.

Views used by the adapters:
- `waveform_view` (raw audio): random crop-and-stretch, time shift, gain, gaussian noise, time mask;
- `spectrogram_view` (log-mel): time shift, level (dB offset), gaussian noise, SpecAugment-style
  time and frequency masks (Park et al. 2019);
- `ecg_view`: random crop-and-stretch, amplitude scaling, baseline wander, gaussian noise,
  segment masking (after Mehari & Strodthoff 2022's ECG SSL augmentations).

Named views (`policy_view`; benchmark/core/views.py), the 1-D analogues of the image ones. No
paper defines a signal pipeline for the image methods, so `ssl` is the domain's view above; the
analogue of a multi-crop local crop is a short segment: a window of √scale of the length (the side
of a square crop of that area share) resampled to `resolution` of the length (at least 16 samples
for 1-D signals, 8 frames for spectrograms: what the default CNNs' poolings need), frequencies kept.
`crop`: a window of √scale of the length stretched back to full length (MAE, I-JEPA). `weak`: a
time shift by up to `translate` of the length (no flips: time does not run backwards). `strong`: the
domain view, then a Cutout analogue: one interval of up to half the length set to the mean.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.core.views import ViewPolicy, local_side
from datasets.draws import normal, on
from datasets.draws import uniform as _rand


def _bshape(n: int, x: torch.Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-sample value over the other dims of `x`."""
    return (n,) + (1,) * (x.dim() - 1)


def shift_time(x: torch.Tensor, shift: torch.Tensor, fill: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Shift every sample along the last axis by its own integer `shift` (positive = later), filling
    the vacated part with `fill` (a scalar or a per-sample tensor). No wrap-around."""
    n, t = x.shape[0], x.shape[-1]
    pos = torch.arange(t, device=x.device).view((1,) * (x.dim() - 1) + (t,))
    src = pos - on(shift, x.device).long().view(_bshape(n, x))
    valid = (src >= 0) & (src < t)
    out = torch.gather(x, -1, src.clamp(0, t - 1).expand(x.shape))
    if isinstance(fill, torch.Tensor):
        fill = on(fill, x.device).to(x.dtype)
        fill = fill.view(_bshape(n, x)) if fill.dim() > 0 else fill
    # a number stays a scalar operand: no tensor made on the host and copied per call
    return torch.where(valid.expand(x.shape), out, fill)


def random_time_shift(x, g, max_frac: float = 0.1, fill=0.0):
    n, t = x.shape[0], x.shape[-1]
    shift = torch.round(_rand(n, -max_frac, max_frac, g, x.device) * t)
    return shift_time(x, shift, fill)


def random_crop_stretch(
    x: torch.Tensor, g: torch.Generator, scale=(0.6, 1.0), length: int | None = None
) -> torch.Tensor:
    """Crop a random window covering `scale` of the signal and resample it to length T, or `length`
    (linear interpolation via one `grid_sample` call for the whole batch). 1D signals only."""
    n, c, t = x.shape
    out_t = t if length is None else length
    width = _rand(n, *scale, g, x.device)  # fraction of the signal kept
    centre = (_rand(n, 0, 1, g, x.device) * 2 - 1) * (1 - width)
    base = torch.linspace(-1, 1, out_t, device=x.device, dtype=x.dtype)
    gx = centre.view(n, 1).to(x.dtype) + width.view(n, 1).to(x.dtype) * base.view(1, out_t)
    grid = torch.stack([gx, torch.zeros_like(gx)], -1).view(n, 1, out_t, 2)
    out = F.grid_sample(x.unsqueeze(2), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.squeeze(2)


def amplitude_scale(x, g, lo: float = 0.7, hi: float = 1.4, log_uniform: bool = True):
    n = x.shape[0]
    if log_uniform:
        s = torch.exp(_rand(n, math.log(lo), math.log(hi), g, x.device))
    else:
        s = _rand(n, lo, hi, g, x.device)
    return x * s.to(x.dtype).view(_bshape(n, x))


def gaussian_noise(x, g, max_rel_std: float = 0.1, p: float = 0.8):
    """Add white noise whose std is a random fraction (up to `max_rel_std`) of each sample's std."""
    n = x.shape[0]
    std = x.flatten(1).std(1).clamp_min(1e-8)
    rel = _rand(n, 0, max_rel_std, g, x.device) * (_rand(n, 0, 1, g, x.device) < p)
    noise = normal(x.shape, g, x.device, x.dtype)
    return x + noise * (std * rel).to(x.dtype).view(_bshape(n, x))


def _band_mask(n: int, length: int, max_width: int, g, device, n_masks: int = 1) -> torch.Tensor:
    """(n, length) bool mask of `n_masks` random intervals of width in [0, max_width] per sample."""
    pos = torch.arange(length, device=device).view(1, length)
    mask = torch.zeros(n, length, dtype=torch.bool, device=device)
    for _ in range(n_masks):  # a fixed small count, not a per-sample loop
        w = (_rand(n, 0, 1, g, device) * (max_width + 1)).long().clamp(max=length)
        start = (_rand(n, 0, 1, g, device) * (length - w + 1).float()).long()
        mask |= (pos >= start.view(n, 1)) & (pos < (start + w).view(n, 1))
    return mask


def time_mask(x, g, max_frac: float = 0.1, n_masks: int = 2, fill: str = "mean"):
    """Mask random time intervals (last axis) with each sample's mean (or zero)."""
    n, t = x.shape[0], x.shape[-1]
    m = _band_mask(n, t, max(1, int(max_frac * t)), g, x.device, n_masks)
    m = m.view((n,) + (1,) * (x.dim() - 2) + (t,))
    value = x.flatten(1).mean(1).view(_bshape(n, x)) if fill == "mean" else torch.zeros((), device=x.device)
    return torch.where(m, value.to(x.dtype), x)


def freq_mask(x, g, max_frac: float = 0.15, n_masks: int = 2):
    """SpecAugment frequency masking on (N, C, F, T): random mel-band intervals set to the mean."""
    n, f = x.shape[0], x.shape[-2]
    m = _band_mask(n, f, max(1, int(max_frac * f)), g, x.device, n_masks).view(n, 1, f, 1)
    value = x.flatten(1).mean(1).view(n, 1, 1, 1)
    return torch.where(m, value.to(x.dtype), x)


def baseline_wander(x, g, fs: float, max_rel_amp: float = 0.3, freq=(0.05, 0.5), p: float = 0.8):
    """Add a slow sinusoidal drift (respiration-like, `freq` Hz, random phase) of amplitude up to
    `max_rel_amp` × each sample's std, shared across leads."""
    n, _, t = x.shape
    std = x.flatten(1).std(1).clamp_min(1e-8)
    amp = _rand(n, 0, max_rel_amp, g, x.device) * (_rand(n, 0, 1, g, x.device) < p) * std
    f = _rand(n, *freq, g, x.device)
    phase = _rand(n, 0, 2 * math.pi, g, x.device)
    tt = torch.arange(t, device=x.device, dtype=x.dtype) / fs
    drift = amp.view(n, 1) * torch.sin(2 * math.pi * f.view(n, 1) * tt.view(1, t) + phase.view(n, 1))
    return x + drift.to(x.dtype).unsqueeze(1)


def waveform_view(x, g):
    x = random_crop_stretch(x, g, scale=(0.8, 1.0))
    x = random_time_shift(x, g, 0.1)
    x = amplitude_scale(x, g, 0.5, 2.0)
    x = gaussian_noise(x, g, 0.2)
    return time_mask(x, g, 0.1, n_masks=1, fill="zero")


def spectrogram_view(x, g):
    """Log-mel (standardised dB) view: time shift filled with the sample's minimum (silence), a
    random level offset (the dB image of a gain), small noise, then time and frequency masks."""
    n = x.shape[0]
    x = random_time_shift(x, g, 0.1, fill=x.flatten(1).min(1).values)
    x = x + _rand(n, -0.3, 0.3, g, x.device).to(x.dtype).view(n, 1, 1, 1)
    x = gaussian_noise(x, g, 0.1)
    x = time_mask(x, g, 0.1, n_masks=2)
    return freq_mask(x, g, 0.15, n_masks=2)


def ecg_view(x, g, fs: float):
    x = random_crop_stretch(x, g, scale=(0.7, 1.0))
    x = amplitude_scale(x, g, 0.6, 1.6)
    x = baseline_wander(x, g, fs)
    x = gaussian_noise(x, g, 0.15)
    return time_mask(x, g, 0.1, n_masks=1, fill="mean")


def _time_crop(x: torch.Tensor, g: torch.Generator, scale, length: int | None) -> torch.Tensor:
    """A window of `scale` of the time axis resampled to `length`, for (N, C, T) and (N, C, F, T)."""
    if x.dim() == 3:
        return random_crop_stretch(x, g, scale, length)
    n, c, f, t = x.shape
    y = random_crop_stretch(x.reshape(n, c * f, t), g, scale, length)
    return y.reshape(n, c, f, y.shape[-1])


def policy_view(
    x: torch.Tensor, g: torch.Generator, policy: ViewPolicy, domain_view: Callable
) -> torch.Tensor:
    """The signal / spectrogram analogue of a named view (module docstring); `domain_view(x, g)` is
    the adapter's own view."""
    lo, hi = math.sqrt(policy.scale[0]), math.sqrt(policy.scale[1])
    if policy.kind == "crop":
        return _time_crop(x, g, (lo, hi), None)
    if policy.kind == "weak":
        n, t = x.shape[0], x.shape[-1]
        shift = torch.round(_rand(n, -policy.translate, policy.translate, g, x.device) * t)
        fill = x.flatten(1).min(1).values if x.dim() == 4 else x.flatten(1).mean(1)  # silence / baseline
        return shift_time(x, shift, fill)
    if policy.kind == "strong":
        x = domain_view(x, g)
        return time_mask(x, g, 0.5, n_masks=1, fill="mean")
    x = domain_view(x, g)
    if policy.local:
        minimum = 16 if x.dim() == 3 else 8
        x = _time_crop(x, g, (lo, hi), local_side(x.shape[-1], policy.resolution, minimum))
    return x
