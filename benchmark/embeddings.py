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


@torch.no_grad()
def embed_split(method: Method, adapter: Adapter, split: Split, index: torch.Tensor, device,
                batch_size: int = 1024, transform: Callable | None = None) -> torch.Tensor:
    """Features of samples `index` (CPU float32). `transform(x, idx)` corrupts a prepared batch."""
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
