"""Batched tensor augmentations for volume3d batches (N, C, D, H, W), floats in [0, 1].

The 3D counterpart of `datasets.image_views`: every random parameter is drawn for the whole batch
at once from the given `torch.Generator`, on its device (datasets/draws.py), and the geometric part
is one 5-D `affine_grid` + `grid_sample` (trilinear) call — no per-sample Python.

Named views (`policy_view`; benchmark/core/views.py), the 3-D analogues of the image ones:
- `ssl`: a 3-D crop keeping the policy's share of the volume (resampled to a lower resolution for
  a multi-crop local crop, at least 16³: the default 3-D CNN's stride-2 stem and three poolings
  need it), flips, intensity jitter (gamma, contrast, brightness) with the policy's colour-jitter
  probability — the volumes are gray — and solarisation. Blur is left out: the papers' σ scaled
  to 28 voxels is below a voxel.
- `crop`: crop + flips. `weak`: flips + a shift by up to `translate` of each side.
- `strong`: weak, then intensity jitter, noise and a 3-D Cutout of up to half of each side (the
  RandAugment + Cutout analogue).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from benchmark.core.views import ViewPolicy, local_side
from datasets.draws import normal
from datasets.draws import uniform as _rand
from datasets.resample import separable_resample_3d


def random_resized_crop_flip_3d(
    x: torch.Tensor,
    g: torch.Generator,
    scale=(0.4, 1.0),
    ratio=(3 / 4, 4 / 3),
    flip_axes=(0, 1, 2),
    max_rotation: float = 0.0,
    size: tuple[int, int, int] | None = None,
) -> torch.Tensor:
    """RandomResizedCrop in 3D (+ flips along `flip_axes`, indices into (D, H, W), and an optional
    rotation about the D axis of up to `max_rotation` radians) as one affine resample per sample,
    to the input's size or `size` (multi-crop local crops; axis-aligned only).

    The crop keeps a fraction `scale` of the volume; each axis' extent is the cube root of that
    times a log-uniform aspect factor in `ratio` (then clipped to the volume)."""
    n = x.shape[0]
    dev, dt = x.device, x.dtype
    vol = _rand(n, *scale, g, dev)
    log_r = _rand((n, 3), math.log(ratio[0]), math.log(ratio[1]), g, dev)
    log_r = log_r - log_r.mean(dim=1, keepdim=True)  # aspect changes keep the volume fraction
    ext = (vol.unsqueeze(1).pow(1 / 3) * torch.exp(log_r)).clamp(max=1.0)  # (N, 3) as (D, H, W)
    centre = (_rand((n, 3), 0, 1, g, dev) * 2 - 1) * (1 - ext)
    flips = torch.where(_rand((n, 3), 0, 1, g, dev) < 0.5, -1.0, 1.0)
    keep = torch.ones(3, device=dev)
    keep[list(flip_axes)] = 0.0
    flips = torch.where(keep.bool().unsqueeze(0), torch.ones_like(flips), flips)
    angle = _rand(n, -max_rotation, max_rotation, g, dev) if max_rotation > 0 else torch.zeros(n, device=dev)
    # affine_grid's output coords are (x, y, z) = (W, H, D); build the matrix in that order.
    sx, sy, sz = ext[:, 2] * flips[:, 2], ext[:, 1] * flips[:, 1], ext[:, 0] * flips[:, 0]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 3, 4, device=dev, dtype=dt)
    theta[:, 0, 0] = cos * sx
    theta[:, 0, 1] = -sin * sy
    theta[:, 1, 0] = sin * sx
    theta[:, 1, 1] = cos * sy
    theta[:, 2, 2] = sz
    theta[:, 0, 3] = centre[:, 2]
    theta[:, 1, 3] = centre[:, 1]
    theta[:, 2, 3] = centre[:, 0]
    if max_rotation <= 0:
        # Axis-aligned: trilinear resampling is separable, so three batched 1-D interpolation
        # matmuls give grid_sample's result at a fraction of its cost (~10x on CPU at 28³).
        return separable_resample_3d(x, ext * flips, centre, size)
    if size is not None:
        raise ValueError("a resized 3-D crop must be axis-aligned (max_rotation 0)")
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def intensity_jitter(
    x: torch.Tensor,
    g: torch.Generator,
    brightness: float = 0.2,
    contrast: float = 0.3,
    gamma: float = 0.3,
    p: float = 0.8,
) -> torch.Tensor:
    """Per-sample gamma, contrast (about the volume mean) and brightness, with probability p."""
    n = x.shape[0]
    shape = (n,) + (1,) * (x.dim() - 1)
    apply = (_rand(n, 0, 1, g, x.device) < p).to(x.dtype).view(shape)
    gam = torch.exp(_rand(n, -gamma, gamma, g, x.device)).view(shape)
    c = _rand(n, 1 - contrast, 1 + contrast, g, x.device).view(shape)
    b = _rand(n, -brightness, brightness, g, x.device).view(shape)
    # x^gamma as in-place exp(gamma·log x) (3x faster than a broadcast pow on CPU; 0 maps to ~1e-5),
    # then contrast and brightness, all in one buffer: this runs on every 3-D view.
    y = x.clamp(1e-6, 1).log_().mul_(gam).exp_()
    mean = y.mean(dim=tuple(range(1, x.dim())), keepdim=True)
    y.sub_(mean).mul_(c).add_(mean + b).clamp_(0, 1)
    return torch.where(apply.bool(), y, x)


def gaussian_noise(
    x: torch.Tensor, g: torch.Generator, max_sigma: float = 0.05, p: float = 0.5
) -> torch.Tensor:
    n = x.shape[0]
    shape = (n,) + (1,) * (x.dim() - 1)
    sigma = (_rand(n, 0, max_sigma, g, x.device) * (_rand(n, 0, 1, g, x.device) < p)).view(shape)
    eps = normal(x.shape, g, x.device, x.dtype)
    return eps.mul_(sigma).add_(x).clamp_(0, 1)


def random_cutout_3d(
    x: torch.Tensor, g: torch.Generator, p: float = 0.25, max_frac: float = 0.4
) -> torch.Tensor:
    """Zero one random box per selected sample, vectorised with a broadcast mask."""
    n, _, d, h, w = x.shape
    dev = x.device
    apply = _rand(n, 0, 1, g, dev) < p
    sizes = torch.tensor([d, h, w], device=dev)
    ext = (_rand((n, 3), 0.1, max_frac, g, dev) * sizes).long().clamp(min=1)
    start = (_rand((n, 3), 0, 1, g, dev) * (sizes - ext)).long()
    mask = apply.view(n, 1, 1, 1)
    for axis, size in enumerate((d, h, w)):
        pos = torch.arange(size, device=dev)
        inside = (pos >= start[:, axis : axis + 1]) & (pos < (start + ext)[:, axis : axis + 1])  # (N, size)
        view = [n, 1, 1, 1]
        view[axis + 1] = size
        mask = mask & inside.view(view)
    return x.masked_fill(mask.unsqueeze(1), 0.0)


def volume_view(x: torch.Tensor, g: torch.Generator, flip_axes=(0, 1, 2)) -> torch.Tensor:
    """The default contrastive view for small volumes: 3D crop+flip, intensity jitter, noise,
    cutout."""
    x = random_resized_crop_flip_3d(x, g, flip_axes=flip_axes)
    x = intensity_jitter(x, g)
    x = gaussian_noise(x, g)
    return random_cutout_3d(x, g)


def translate_flip_3d(
    x: torch.Tensor, g: torch.Generator, max_frac: float, flip_axes=(0, 1, 2)
) -> torch.Tensor:
    """Shift by whole voxels, up to `max_frac` of each side, and flip along `flip_axes` with
    probability 1/2 each; vacated voxels repeat the border."""
    n, dev = x.shape[0], x.device
    sizes = torch.tensor(x.shape[2:], device=dev, dtype=x.dtype)
    shift = torch.round(_rand((n, 3), -max_frac, max_frac, g, dev) * sizes)
    flips = torch.where(_rand((n, 3), 0, 1, g, dev) < 0.5, -1.0, 1.0)
    keep = torch.ones(3, device=dev, dtype=torch.bool)
    keep[list(flip_axes)] = False
    flips = torch.where(keep.unsqueeze(0), torch.ones_like(flips), flips)
    return separable_resample_3d(x, flips, 2 * shift / sizes)


def policy_view(x: torch.Tensor, g: torch.Generator, policy: ViewPolicy, flip_axes=(0, 1, 2)) -> torch.Tensor:
    """The 3-D analogue of a named view (module docstring); `flip_axes` are the dataset's allowed
    mirror axes."""
    axes = flip_axes if policy.flip else ()
    if policy.kind in ("ssl", "crop"):
        size = None
        if policy.local:
            size = tuple(local_side(s, policy.resolution, 16) for s in x.shape[2:])
        x = random_resized_crop_flip_3d(x, g, scale=policy.scale, flip_axes=axes, size=size)
        if policy.kind == "crop":
            return x
        if policy.jitter_p > 0:
            x = intensity_jitter(x, g, p=policy.jitter_p)
        if policy.solarize_p > 0:
            apply = (_rand(x.shape[0], 0, 1, g, x.device) < policy.solarize_p).view(-1, 1, 1, 1, 1)
            x = torch.where(apply & (x >= 0.5), 1 - x, x)
        return x
    x = translate_flip_3d(x, g, policy.translate, axes)
    if policy.kind == "weak":
        return x
    x = intensity_jitter(x, g, p=1.0)
    x = gaussian_noise(x, g)
    return random_cutout_3d(x, g, p=1.0, max_frac=0.5)
