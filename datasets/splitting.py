"""Deterministic, stratified splitting helpers (docs/design.md §3.1–3.2)."""

from __future__ import annotations

import hashlib

import torch


def name_seed(*parts) -> int:
    """A stable 63-bit seed from names and numbers (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def stratified_holdout(labels: torch.Tensor, frac: float, *seed_parts) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (keep, holdout) with `frac` of every class held out (≥1 per class when
    the class has ≥2 samples), seeded from `seed_parts`. Returned indices are sorted."""
    g = torch.Generator().manual_seed(name_seed("holdout", frac, *seed_parts))
    labels = labels if labels.dim() == 1 else labels.argmax(1)
    keep, hold = [], []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(frac * len(idx)))
        k = max(k, 1) if len(idx) >= 2 else 0
        hold.append(idx[:k])
        keep.append(idx[k:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(hold)).values
