"""Deterministic corruptions of image2d batches (docs/design.md §3.5), after CIFAR-10-C (Hendrycks &
Dietterich 2019), with its per-severity parameters for 32 px images (spatial ones scaled by H/32).

Every corruption has the `datasets.base.Corruption` signature `fn(x, index, severity)`: `x` is a
prepared float batch (N, C, H, W) in [0, 1] (gray C=1 or RGB C=3), `index` the samples' indices
within their split (LongTensor (N,)), `severity` an int in 1..5. The result depends only on
(sample index, corruption name, severity) and the sample itself — never on the batch it came in —
because the random draws come from a generator per sample seeded with a hash of (index, name,
severity) (`per_sample_noise`), or for a few draws per sample from a counter-based hash of
(index, name, severity, element) (`hashed_uniform`).

Registry: `IMAGE_CORRUPTIONS` = gaussian_noise, shot_noise, gaussian_blur, contrast, brightness,
jpeg, pixelate. The helpers `hashed_uniform`, `hashed_normal`, `check_severity` and
`gaussian_kernel1d` are shared with `datasets.volume_corruptions`.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.core.registry import Registry
from datasets.splitting import name_seed

SEVERITIES = (1, 2, 3, 4, 5)
_M32 = 0xFFFFFFFF


def check_severity(severity) -> int:
    """The severity as an int in 1..5 (numpy/torch integers accepted; 0, floats and bools are not)."""
    if (
        isinstance(severity, bool)
        or not isinstance(severity, numbers.Integral)
        or int(severity) not in SEVERITIES
    ):
        raise ValueError(f"corruption severity must be an int in 1..5, got {severity!r}")
    return int(severity)


# ---- counter-based randomness ---------------------------------------------------------------
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2**32 for x in [0, 2**32) held in int64, without int64 overflow."""
    lo = (x & 0xFFFF) * c
    hi = ((x >> 16) * c) & 0xFFFF
    return (lo + (hi << 16)) & _M32


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (Wellons' "lowbias32") on int64 tensors with values in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def sample_keys(index: torch.Tensor, *parts, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent 32-bit keys per sample from (parts..., sample index)."""
    base = name_seed("corruption", *parts)
    idx = index.to(device=device, dtype=torch.int64)
    lo = _hash32((idx & _M32) ^ (base & _M32))
    lo = _hash32(lo ^ ((idx >> 32) & _M32))
    hi = _hash32(lo ^ ((base >> 32) & _M32))
    return lo, hi


def _hashed_bits(index: torch.Tensor, numel: int, parts, device) -> torch.Tensor:
    """(N, numel) 32-bit hashes: sample i's stream is lowbias32(element + key_i), key_i a hash of
    (parts, index[i]) — one mixing round per element, so noise for a batch costs ~20 tensor ops."""
    k1, _ = sample_keys(index, *parts, device=device)
    j = torch.arange(numel, device=k1.device, dtype=torch.int64).unsqueeze(0)
    return _hash32((j + k1.unsqueeze(1)) & _M32)


def hashed_uniform(index: torch.Tensor, numel: int, *parts, device=None) -> torch.Tensor:
    """(N, numel) floats in (0, 1), a pure function of (parts, index[i], element)."""
    h = _hashed_bits(index, numel, parts, device)
    return ((h >> 8).to(torch.float32) + 0.5) / float(1 << 24)


def hashed_normal(index: torch.Tensor, numel: int, *parts, device=None) -> torch.Tensor:
    """(N, numel) standard normals: Box–Muller, both outputs of each pair of hashed uniforms."""
    m = (numel + 1) // 2
    u = hashed_uniform(index, 2 * m, *parts, "normal", device=device)
    r = torch.sqrt(-2.0 * torch.log(u[:, :m]))
    phi = (2.0 * math.pi) * u[:, m:]
    return torch.cat([r * torch.cos(phi), r * torch.sin(phi)], dim=1)[:, :numel]


def per_sample_noise(x: torch.Tensor, index: torch.Tensor, *parts, kind: str = "normal") -> torch.Tensor:
    """Noise shaped like `x` (N, ...): sample i's noise comes from a CPU generator seeded with the
    64-bit key of (parts, index[i]) (`sample_keys`), so it depends on the sample and never on its
    batch. One generator call per sample is ~40x cheaper than hashing every element when samples
    are large (an image or a volume: 784 to 22k elements), which the hashed streams are not made for."""
    n, m = x.shape[0], x[0].numel()
    lo, hi = sample_keys(index, *parts, kind)
    out = torch.empty(n, m, dtype=torch.float32)
    g = torch.Generator()
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist())):
        g.manual_seed((a << 32) | b)
        if kind == "normal":
            torch.randn(m, generator=g, out=out[i])
        else:  # uniform in (0, 1): never exactly 0, so log(u) and quantile transforms stay finite
            torch.rand(m, generator=g, out=out[i]).mul_(1 - 2.0**-24).add_(2.0**-25)
    return out.view_as(x).to(device=x.device, dtype=x.dtype)


# ---- filters --------------------------------------------------------------------------------
def gaussian_kernel1d(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur2d(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable depthwise Gaussian blur with reflect padding (kernel clipped to the image)."""
    n, c, h, w = x.shape
    k = gaussian_kernel1d(sigma, x.device, x.dtype)
    r = min(len(k) // 2, h - 1, w - 1)
    k = k[len(k) // 2 - r : len(k) // 2 + r + 1]
    k = k / k.sum()
    y = F.pad(x.reshape(n * c, 1, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.conv2d(y, k.view(1, 1, -1, 1))
    return y.view(n, c, h, w)


def _scale(x: torch.Tensor) -> float:
    return max(1.0, x.shape[-1] / 32.0)


# ---- corruptions (CIFAR-10-C parameters) -----------------------------------------------------
def gaussian_noise(x, index, severity):
    severity = check_severity(severity)
    s = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return (x + s * per_sample_noise(x, index, "gaussian_noise", severity)).clamp(0, 1)


def _poisson_from_uniform(lam: torch.Tensor, u: torch.Tensor, exact_max: float = 12.0) -> torch.Tensor:
    """Poisson(lam) draws from uniforms `u`: CDF inversion where lam <= exact_max (only those
    elements are iterated), the rounded normal approximation (inverse normal CDF of the same `u`)
    above it. Vectorised over elements."""
    z = math.sqrt(2.0) * torch.erfinv((2.0 * u - 1.0).clamp(-1 + 1e-7, 1 - 1e-7))
    out = torch.round(lam + torch.sqrt(lam) * z).clamp_min(0)
    small = lam <= exact_max
    if bool(small.any()):
        ls, us = lam[small], u[small]
        p = torch.exp(-ls)
        cdf = p.clone()
        k_draw = torch.zeros_like(ls)
        kmax = int(exact_max + 6 * math.sqrt(exact_max) + 10)
        for k in range(1, kmax + 1):
            above = us > cdf
            if k % 8 == 1 and not bool(above.any()):
                break
            k_draw += above.to(ls.dtype)
            p = p * ls / k
            cdf = cdf + p
        out[small] = k_draw
    return out


def shot_noise(x, index, severity):
    severity = check_severity(severity)
    c = [500.0, 250.0, 100.0, 75.0, 50.0][severity - 1]
    u = per_sample_noise(x, index, "shot_noise", severity, kind="uniform").float()
    y = _poisson_from_uniform(x.float().clamp(0, 1) * c, u) / c
    return y.to(x.dtype).clamp(0, 1)


def gaussian_blur(x, index, severity):
    severity = check_severity(severity)
    s = [0.4, 0.6, 0.7, 0.8, 1.0][severity - 1] * _scale(x)
    return gaussian_blur2d(x, s).clamp(0, 1)


def contrast(x, index, severity):
    severity = check_severity(severity)
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean).clamp(0, 1)


def brightness(x, index, severity):
    """+c on HSV value (RGB keeps hue and saturation); +c on intensity for gray images."""
    severity = check_severity(severity)
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    if x.shape[1] != 3:
        return (x + c).clamp(0, 1)
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(0, 1)
    scaled = x * (v_new / v.clamp_min(1e-6))
    return torch.where(v > 1e-6, scaled, v_new.expand_as(x)).clamp(0, 1)


def jpeg(x, index, severity):
    """Round trip through libjpeg at CIFAR-10-C's qualities (torchvision.io, batched lists)."""
    severity = check_severity(severity)
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    q = [80, 65, 58, 50, 40][severity - 1]
    if x.shape[1] not in (1, 3):
        raise ValueError(f"jpeg corruption needs 1 or 3 channels, got {x.shape[1]}")
    u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    enc = encode_jpeg(list(u8), quality=q)
    mode = ImageReadMode.GRAY if x.shape[1] == 1 else ImageReadMode.RGB
    dec = torch.stack(decode_jpeg(enc, mode=mode))
    return dec.to(device=x.device, dtype=x.dtype) / 255.0


def pixelate(x, index, severity):
    severity = check_severity(severity)
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, int(h * c)), max(1, int(w * c))), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest").clamp(0, 1)


IMAGE_CORRUPTIONS: Registry[Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = Registry(
    "image corruption"
)
IMAGE_CORRUPTIONS.register(gaussian_noise, name="gaussian_noise")
IMAGE_CORRUPTIONS.register(shot_noise, name="shot_noise")
IMAGE_CORRUPTIONS.register(gaussian_blur, name="gaussian_blur")
IMAGE_CORRUPTIONS.register(contrast, name="contrast")
IMAGE_CORRUPTIONS.register(brightness, name="brightness")
IMAGE_CORRUPTIONS.register(jpeg, name="jpeg")
IMAGE_CORRUPTIONS.register(pixelate, name="pixelate")
