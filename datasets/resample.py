"""Axis-aligned crop/flip resampling as batched 1-D interpolation matmuls.

A crop + flip + resize is an affine map without rotation, so bilinear (2-D) or trilinear (3-D)
resampling is separable: one small (N, size, size) interpolation matrix per axis, applied with
batched matmuls. On CPU this is several times cheaper than `affine_grid` + `grid_sample`, which
evaluates the full grid per output pixel, and gives the same values (tested against grid_sample).
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=64)
def output_centres(o: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The normalised centres of `o` output pixels, in (-1, 1): made once per size, device and
    dtype (five kernels a call otherwise, twice per view; on a GPU the host's launches are the cost)."""
    return (2 * torch.arange(o, device=device, dtype=dtype) + 1) / o - 1


def interp_matrix(
    size: int, scale: torch.Tensor, shift: torch.Tensor, dtype, out: int | None = None
) -> torch.Tensor:
    """(N, out, size) linear-interpolation matrices M with out[i] = Σ_j M[i, j] in[j], matching
    grid_sample (align_corners=False, padding 'border') for the normalised source coordinate
    scale·u + shift of each output centre u. For sources inside [-1, 1] 'reflection' padding is
    the same map (grid_sample reflects about the pixel edges, then clamps to the centres).
    `out` (default `size`) is the output length: smaller for multi-crop local crops."""
    n = scale.shape[0]
    o = size if out is None else out
    u = output_centres(o, scale.device, dtype)
    src = scale.view(n, 1).to(dtype) * u + shift.view(n, 1).to(dtype)
    pos = (((src + 1) * size - 1) / 2).clamp(0, size - 1)  # border padding = clamp the coordinate
    lo = pos.floor()
    w_hi = pos - lo
    lo = lo.long()
    hi = (lo + 1).clamp(max=size - 1)
    m = torch.zeros(n, o, size, device=scale.device, dtype=dtype)
    m.scatter_add_(2, lo.unsqueeze(2), (1 - w_hi).unsqueeze(2))
    m.scatter_add_(2, hi.unsqueeze(2), w_hi.unsqueeze(2))
    return m


def separable_resample_2d(
    x: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """x (N, C, H, W); scale/centre (N, 2) in (H, W) order, normalised coordinates; output (H, W)
    or `size`."""
    n, c, h, w = x.shape
    oh, ow = size or (h, w)
    mh = interp_matrix(h, scale[:, 0], centre[:, 0], x.dtype, oh)
    mw = interp_matrix(w, scale[:, 1], centre[:, 1], x.dtype, ow)
    # (N, 1, H, H) @ (N, C, H, W) @ (N, 1, W, W)^T: rows, then columns, one batched matmul each.
    return torch.matmul(torch.matmul(mh.unsqueeze(1), x), mw.transpose(1, 2).unsqueeze(1))


def separable_resample_3d(
    x: torch.Tensor, scale: torch.Tensor, centre: torch.Tensor, size: tuple[int, int, int] | None = None
) -> torch.Tensor:
    """x (N, C, D, H, W); scale/centre (N, 3) in (D, H, W) order, normalised coordinates; output
    (D, H, W) or `size`."""
    n, c, d, h, w = x.shape
    od, oh, ow = size or (d, h, w)
    md = interp_matrix(d, scale[:, 0], centre[:, 0], x.dtype, od)
    mh = interp_matrix(h, scale[:, 1], centre[:, 1], x.dtype, oh)
    mw = interp_matrix(w, scale[:, 2], centre[:, 2], x.dtype, ow)
    y = torch.einsum("nad,ncdhw->ncahw", md, x)
    y = torch.einsum("nbh,ncahw->ncabw", mh, y)
    return torch.einsum("nkw,ncabw->ncabk", mw, y)
