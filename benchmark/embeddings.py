"""Embed once, probe many: frozen features cached per (checkpoint, dataset, split, corruption,
severity) as content-addressed tensor files, so every probe, fraction, seed and OOD scorer reuses
them."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from benchmark.io import atomic_torch_save, safe_torch_load
from datasets.base import Adapter, Split
from methods.base import Method


def embed_batch_size(adapter: Adapter, device) -> int:
    """Samples per inference batch. On CPU, about 2^20 input elements (a power of two, 32..1024):
    measured on 2 cores, a 28³ volume CNN embeds 7.1k/s at 64 and 3.1k/s at 1024, a 64x101
    spectrogram CNN 10.7k/s at 128 and 3.9k/s at 1024 (activations fall out of cache); 28² images
    are flat between 128 and 1024. GPUs take 1024."""
    if torch.device(device).type == "cuda":
        return 1024
    shape = getattr(getattr(adapter, "spec", None), "shape", None) or ()
    numel = 1
    for d in shape:
        numel *= int(d)
    size = 1024
    while size > 32 and size * numel > 1 << 20:
        size //= 2
    return size


@torch.no_grad()
def embed_split(method: Method, adapter: Adapter, split: Split, index: torch.Tensor, device,
                batch_size: int | None = None, transform: Callable | None = None) -> torch.Tensor:
    """Features of samples `index` (CPU float32). `transform(x, idx)` corrupts a prepared batch."""
    batch_size = batch_size or embed_batch_size(adapter, device)
    method.to(device).eval()
    out = []
    for idx in torch.split(index, batch_size):
        x = adapter.prepare(adapter.batch(split, idx), device)
        if transform is not None:
            x = transform(x, idx)
        out.append(method.embed(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


class EmbeddingCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return self.root / f"{digest}.pt"

    def get_or_compute(self, key: dict, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.path(key)
        if path.exists():
            try:
                feats = safe_torch_load(path)["features"]
                self.hits += 1
                return feats
            except Exception:  # a damaged cache file is recomputed, never trusted
                path.unlink(missing_ok=True)
        feats = compute()
        atomic_torch_save(path, {"key": json.dumps(key, sort_keys=True, default=str), "features": feats})
        self.misses += 1
        return feats
