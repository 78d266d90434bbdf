"""Batched tensor augmentations for image2d batches (N, C, H, W), floats.

Every random parameter is drawn for the whole batch at once from the given `torch.Generator`, on
the generator's device (datasets/draws.py: the trainer's generator is on the batch's device, so a
GPU batch's views copy nothing from the host; a CPU generator draws what it always drew), and
applied to the whole batch at once (crops as separable batched interpolation matmuls) — per-sample
Python transforms are as slow as the model step on 2 cores (docs/design.md §6).

Named views (`policy_view`, for a method's recipe; benchmark/core/views.py):
- `ssl`: RandomResizedCrop at the policy's scale (a multi-crop local crop at a lower resolution),
  flip, colour jitter (brightness, contrast, saturation, hue; SimCLR App. A), grayscale, Gaussian
  blur and solarisation with the policy's probabilities (BYOL Table 6 for the asymmetric pair).
  Blur σ is the papers' [0.1, 2.0] px at 224 px scaled to the image side: on 28–32 px images it is
  almost the identity, as SimCLR leaves blur out for CIFAR-10 (App. B.9). Saturation, hue and
  grayscale need RGB and are skipped on 1-channel images.
- `crop`: crop + flip only (MAE, I-JEPA).
- `weak`: flip + translation by up to `translate` of each side (FixMatch, MixMatch, Mean Teacher);
  border pixels repeat where the papers reflect.
- `strong`: weak, then RandAugment (2 ops, random magnitudes, FixMatch's op list, App. E) and
  Cutout (a gray square of up to half the side).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from benchmark.core.host_copy import constant
from benchmark.core.views import ViewPolicy, local_side
from datasets.draws import on
from datasets.draws import uniform as _rand
from datasets.resample import separable_resample_2d


def random_resized_crop_flip(
    x: torch.Tensor,
    g: torch.Generator,
    scale=(0.3, 1.0),
    ratio=(3 / 4, 4 / 3),
    flip: bool = True,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """RandomResizedCrop + horizontal flip as one affine resample per sample, to the input's size or
    `size` (multi-crop local crops)."""
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
    return separable_resample_2d(x, scale, centre, size)


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
    w = constant(LUMA, x.device, x.dtype).view(1, 3, 1, 1)
    gray = (x * w).sum(1, keepdim=True)
    return apply * (gray + f * (x - gray)).clamp(0, 1) + (1 - apply) * x


def random_grayscale(x: torch.Tensor, g: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """RGB only: replace an image by its luminance (kept 3-channel) with probability p."""
    n = x.shape[0]
    apply = (_rand(n, 0, 1, g, x.device) < p).to(x.dtype).view(n, 1, 1, 1)
    w = constant(LUMA, x.device, x.dtype).view(1, 3, 1, 1)
    gray = (x * w).sum(1, keepdim=True).expand_as(x)
    return apply * gray + (1 - apply) * x


def simclr_rgb_view(x: torch.Tensor, g: torch.Generator, flip: bool = True) -> torch.Tensor:
    """`simclr_image_view` plus SimCLR's saturation jitter and random grayscale, for RGB batches."""
    x = random_resized_crop_flip(x, g, flip=flip)
    x = color_jitter(x, g)
    x = saturation_jitter(x, g)
    x = random_grayscale(x, g)
    return random_erase(x, g)


# ==== named views (policies) ================================================================
LUMA = (0.299, 0.587, 0.114)


def _luminance(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    w = constant(LUMA, x.device, x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _chosen(n: int, p: float, g: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    return (_rand(n, 0, 1, g, x.device) < p).view(n, 1, 1, 1)


def rgb_hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of RGB images in [0, 1] by `shift` (N,) turns (HSV round trip)."""
    n = x.shape[0]
    r, gr, b = x.unbind(1)
    maxc, minc = x.max(1).values, x.min(1).values
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    rc, gc, bc = (maxc - r) / d, (maxc - gr) / d, (maxc - b) / d
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == gr, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    h = (h + shift.view(n, 1, 1)) % 1.0
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    v = maxc
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    cands = torch.stack(
        [torch.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 1
    )  # (N, 6, 3, H, W)
    idx = i.view(n, 1, 1, *i.shape[1:]).expand(n, 1, 3, *i.shape[1:])
    return cands.gather(1, idx).squeeze(1)


def colour_jitter(
    x: torch.Tensor, g: torch.Generator, strengths: tuple[float, float, float, float], p: float
) -> torch.Tensor:
    """torchvision's ColorJitter(brightness, contrast, saturation, hue) in a fixed order, applied
    with probability p: brightness scales, contrast blends with the mean luminance, saturation
    blends with the luminance image, hue rotates in HSV (the last two on RGB only)."""
    n = x.shape[0]
    b, c, s, h = strengths
    apply = _chosen(n, p, g, x)
    fb = _rand(n, 1 - b, 1 + b, g, x.device).view(n, 1, 1, 1)
    fc = _rand(n, 1 - c, 1 + c, g, x.device).view(n, 1, 1, 1)
    fs = _rand(n, 1 - s, 1 + s, g, x.device).view(n, 1, 1, 1)
    fh = _rand(n, -h, h, g, x.device)
    y = (x * fb).clamp(0, 1)
    m = _luminance(y).mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - m) * fc + m).clamp(0, 1)
    if x.shape[1] == 3:
        gray = _luminance(y)
        y = (gray + fs * (y - gray)).clamp(0, 1)
        if h > 0:
            y = rgb_hue_shift(y, fh)
    return torch.where(apply, y, x)


def gaussian_blur(
    x: torch.Tensor, g: torch.Generator, p: float, sigma=(0.1, 2.0), reference_side: int = 224
) -> torch.Tensor:
    """Per-sample Gaussian blur with probability p: σ drawn in `sigma` px at `reference_side` and
    scaled to this image's side, kernel 10 % of the side (odd, ≥ 3), separable, reflect padding."""
    n, _, h, w = x.shape
    side = min(h, w)
    apply = _chosen(n, p, g, x)
    sig = _rand(n, *sigma, g, x.device) * side / reference_side
    k = max(3, int(0.1 * side) // 2 * 2 + 1)
    r = k // 2
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    wts = torch.exp(-(t.view(1, k) ** 2) / (2 * sig.view(n, 1).to(x.dtype) ** 2))
    wts = (wts / wts.sum(1, keepdim=True)).view(n, 1, 1, 1, k)
    y = F.pad(x, (r, r, r, r), mode="reflect" if side > r else "replicate")
    y = (y.unfold(3, k, 1) * wts).sum(-1)
    y = (y.unfold(2, k, 1) * wts).sum(-1)
    return torch.where(apply, y, x)


def solarize(x: torch.Tensor, g: torch.Generator, p: float, threshold: float = 0.5) -> torch.Tensor:
    """Invert the pixels at or above `threshold`, with probability p (BYOL's view 2)."""
    apply = _chosen(x.shape[0], p, g, x)
    return torch.where(apply & (x >= threshold), 1 - x, x)


def translate_flip(x: torch.Tensor, g: torch.Generator, max_frac: float, flip: bool = True) -> torch.Tensor:
    """Shift each image by a whole number of pixels, up to `max_frac` of each side (pad-and-crop),
    and flip horizontally with probability 1/2; vacated pixels repeat the border."""
    n, _, h, w = x.shape
    dy = torch.round(_rand(n, -max_frac, max_frac, g, x.device) * h)
    dx = torch.round(_rand(n, -max_frac, max_frac, g, x.device) * w)
    sign = (
        torch.where(_rand(n, 0, 1, g, x.device) < 0.5, -1.0, 1.0) if flip else torch.ones(n, device=x.device)
    )
    scale = torch.stack([torch.ones(n, device=x.device), sign], 1)
    centre = torch.stack([2 * dy / h, 2 * dx / w], 1)  # normalised coordinates span 2 per side
    return separable_resample_2d(x, scale, centre)


def _affine(x: torch.Tensor, theta: torch.Tensor, fill: float = 0.5) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def _blend(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (b + f.view(-1, 1, 1, 1) * (a - b)).clamp(0, 1)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel on 256 levels (PIL's ImageOps.equalize up to
    its rounding)."""
    m, c = x.shape[:2]
    q = (x * 255).round().long().clamp(0, 255).flatten(2)
    hist = torch.zeros(m, c, 256, device=x.device, dtype=x.dtype).scatter_add_(
        2, q, torch.ones_like(q, dtype=x.dtype)
    )
    cdf = hist.cumsum(-1)
    cdf_min = cdf.masked_fill(hist == 0, float("inf")).min(-1, keepdim=True).values
    span = (q.shape[-1] - cdf_min).clamp_min(1)
    lut = ((cdf - cdf_min) / span).clamp(0, 1)
    out = lut.gather(2, q).view_as(x)
    return torch.where((q.shape[-1] - cdf_min).view(m, c, 1, 1) > 0, out, x)


def rand_augment_op(k: int, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """RandAugment op `k` of `RA_OPS` on images x (M, C, H, W) with magnitudes v ∈ [0, 1] (M,)."""
    name = RA_OPS[k]
    m = x.shape[0]
    f = 1 + (2 * v - 1) * 0.95  # enhancement factors in [0.05, 1.95]
    sgn = 2 * v - 1  # signed magnitude in [-1, 1]
    eye = torch.zeros(m, 2, 3, device=x.device)
    eye[:, 0, 0] = 1
    eye[:, 1, 1] = 1
    if name == "identity":
        return x
    if name == "autocontrast":
        lo = x.amin(dim=(2, 3), keepdim=True)
        hi = x.amax(dim=(2, 3), keepdim=True)
        return torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-6), x)
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), f)
    if name == "color":
        return _blend(x, _luminance(x).expand_as(x), f) if x.shape[1] == 3 else x
    if name == "contrast":
        return _blend(x, _luminance(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), f)
    if name == "equalize":
        return equalize(x)
    if name == "posterize":
        bits = (4 + torch.round(4 * v)).view(m, 1, 1, 1)
        step = 2 ** (8 - bits)
        return torch.floor(x * 255 / step) * step / 255
    if name == "rotate":
        a = sgn * math.pi / 6  # ±30°
        theta = eye.clone()
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
        return _affine(x, theta)
    if name == "sharpness":
        kernel = constant(((1.0, 1, 1), (1, 5, 1), (1, 1, 1)), x.device, x.dtype) / 13
        c = x.shape[1]
        smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)
        return _blend(x, smooth, f)
    if name in ("shear_x", "shear_y"):
        theta = eye.clone()
        theta[:, 0 if name == "shear_x" else 1, 1 if name == "shear_x" else 0] = 0.3 * sgn
        return _affine(x, theta)
    if name == "solarize":
        return torch.where(x >= v.view(m, 1, 1, 1), 1 - x, x)
    if name in ("translate_x", "translate_y"):
        theta = eye.clone()
        theta[:, 0 if name == "translate_x" else 1, 2] = 2 * 0.3 * sgn  # up to 30 % of the side
        return _affine(x, theta)
    raise KeyError(name)


# FixMatch's RandAugment ops (App. E, Table 12), magnitudes drawn uniformly per application.
RA_OPS = (
    "identity",
    "autocontrast",
    "brightness",
    "color",
    "contrast",
    "equalize",
    "posterize",
    "rotate",
    "sharpness",
    "shear_x",
    "shear_y",
    "solarize",
    "translate_x",
    "translate_y",
)


def rand_augment(x: torch.Tensor, g: torch.Generator, n_ops: int = 2) -> torch.Tensor:
    """RandAugment with random magnitudes (FixMatch's variant): each image gets `n_ops` ops drawn
    uniformly from `RA_OPS`. Ops drawn on the host run once each on the images that drew them
    (batched per op); ops drawn on a GPU go through `rand_augment_masked`, as finding who drew
    what would make the host wait for the GPU once per op."""
    n = x.shape[0]
    for _ in range(n_ops):
        ops = torch.randint(0, len(RA_OPS), (n,), generator=g, device=g.device)
        mags = torch.rand(n, generator=g, device=g.device)
        if ops.device.type != "cpu":
            x = rand_augment_masked(x, ops, mags.to(x.device)).clamp(0, 1)
            continue
        out = x.clone()
        for k in ops.unique().tolist():  # which ops were drawn: read on the host, no wait
            idx = on((ops == k).nonzero().flatten(), x.device)
            out[idx] = rand_augment_op(k, x[idx], on(mags[ops == k], x.device))
        x = out.clamp(0, 1)
    return x


def rand_augment_masked(x: torch.Tensor, ops: torch.Tensor, mags: torch.Tensor) -> torch.Tensor:
    """One RandAugment round with each image's op `ops` and magnitude `mags` on the device: every op
    runs on the whole batch and each image keeps its own op's result. The same per-image numbers as
    running each op on its images (no op looks across images), in a fixed number of kernels that
    never read `ops` on the host; the extra work is a dozen cheap ops on small images."""
    out = x
    for k, name in enumerate(RA_OPS):
        if name != "identity":
            out = torch.where((ops == k).view(-1, 1, 1, 1), rand_augment_op(k, x, mags), out)
    return out


def cutout(x: torch.Tensor, g: torch.Generator, max_frac: float = 0.5, fill: float = 0.5) -> torch.Tensor:
    """Cutout as FixMatch's strong view ends: a square of side v · `max_frac` · side, v ~ U[0, 1],
    centred anywhere in the image (clipped at the border), filled gray."""
    n, _, h, w = x.shape
    side = (_rand(n, 0, max_frac, g, x.device) * min(h, w)).round()
    cy = _rand(n, 0, 1, g, x.device) * h
    cx = _rand(n, 0, 1, g, x.device) * w
    rows = torch.arange(h, device=x.device).view(1, h)
    cols = torch.arange(w, device=x.device).view(1, w)
    in_r = (rows >= (cy - side / 2).view(n, 1)) & (rows < (cy + side / 2).view(n, 1))
    in_c = (cols >= (cx - side / 2).view(n, 1)) & (cols < (cx + side / 2).view(n, 1))
    box = (in_r.unsqueeze(2) & in_c.unsqueeze(1)).unsqueeze(1)
    return torch.where(box, torch.full_like(x, fill), x)


def policy_view(x: torch.Tensor, g: torch.Generator, policy: ViewPolicy, flip: bool = True) -> torch.Tensor:
    """The image analogue of a named view (module docstring). `flip` False: the dataset bans mirror
    flips (digits, left/right organs) whatever the policy says."""
    flip = flip and policy.flip
    if policy.kind in ("ssl", "crop"):
        size = None
        if policy.local:  # ≥ 8 px: three 2x poolings of the default CNN still leave one pixel
            size = (
                local_side(x.shape[2], policy.resolution, 8),
                local_side(x.shape[3], policy.resolution, 8),
            )
        x = random_resized_crop_flip(x, g, scale=policy.scale, flip=flip, size=size)
        if policy.kind == "crop":
            return x
        if policy.jitter_p > 0:
            x = colour_jitter(x, g, policy.jitter, policy.jitter_p)
        if policy.grayscale_p > 0 and x.shape[1] == 3:
            x = random_grayscale(x, g, policy.grayscale_p)
        if policy.blur_p > 0:
            x = gaussian_blur(x, g, policy.blur_p)
        if policy.solarize_p > 0:
            x = solarize(x, g, policy.solarize_p)
        return x
    x = translate_flip(x, g, policy.translate, flip)
    if policy.kind == "weak":
        return x
    return cutout(rand_augment(x, g), g)
