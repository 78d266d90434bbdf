"""Helpers shared by the graph and tabular adapters.

- Keyed (counter-based) randomness for corruptions (docs/design.md §3.5): every random number is a pure
  function of (corruption name, sample index, element key), computed batched with integer hashing.
  A sample is therefore corrupted identically whichever batch it is embedded in, and since the
  severity only moves a threshold / scale applied to the same numbers, severity s+1 corrupts a
  superset of what severity s corrupts (monotone by construction).
- A stratified 70/10/20 split fixed by a name-derived seed (docs/design.md §3.1, for sets without one).
"""

from __future__ import annotations

import math

import torch

from datasets.splitting import name_seed, stratified_holdout

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser on int64 tensors holding values in [0, 2^32); the multiplier is
    below 2^27 so no product overflows int64."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    return (x >> 16) ^ x


def keyed_uniform(salt: str, *keys: torch.Tensor) -> torch.Tensor:
    """Uniform floats in (0, 1), one per broadcast element of `keys` (int tensors), determined only
    by `salt` and the key values."""
    h = torch.tensor(name_seed("keyed", salt) & _M32, dtype=torch.int64)
    for i, k in enumerate(keys):
        k = torch.as_tensor(k).to(torch.int64)
        h = _mix32(h ^ _mix32((k + 0x9E3779B1 * (i + 1)) & _M32))
    return (h.to(torch.float64) + 0.5) / 4294967296.0


def keyed_normal(salt: str, *keys: torch.Tensor) -> torch.Tensor:
    """Standard normals (Box–Muller on two keyed uniforms), float64."""
    u1 = keyed_uniform(salt + "/n1", *keys)
    u2 = keyed_uniform(salt + "/n2", *keys)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


def stratified_70_10_20(labels: torch.Tensor, *seed_parts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train, val, test) sorted index tensors: 20 % of every class to test, then 12.5 % of the rest
    (10 % of the whole) to val, seeded from `seed_parts` (the dataset name)."""
    rest, test = stratified_holdout(labels, 0.2, *seed_parts, "test")
    keep, val = stratified_holdout(labels[rest], 0.125, *seed_parts, "val")
    return rest[keep], rest[val], test


def stratified_kfold(
    labels: torch.Tensor, k: int, fold: int, *seed_parts
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold `fold` of a stratified k-fold: test = that fold; val = a stratified 10 % of the other
    folds; train = the rest. Every sample is in exactly one test fold across the k folds."""
    if not 0 <= fold < k:
        raise ValueError(f"fold must be in [0, {k}), got {fold}")
    g = torch.Generator().manual_seed(name_seed("kfold", k, *seed_parts))
    assign = torch.empty(len(labels), dtype=torch.long)
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        assign[idx] = torch.arange(len(idx)) % k
    test = torch.nonzero(assign == fold).flatten()
    rest = torch.nonzero(assign != fold).flatten()
    keep, val = stratified_holdout(labels[rest], 1 / (k - 1) * (k / 10), *seed_parts, "kfold-val", fold)
    return rest[keep], rest[val], test
