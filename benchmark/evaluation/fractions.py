"""Label-fraction subsets (docs/design.md §3.2): class-stratified, ≥1 example per class, drawn from a
generator seeded by (dataset, fraction, seed) only — so every method gets the identical subset."""

from __future__ import annotations

import torch

from datasets.splitting import name_seed


def label_fraction_subset(labels: torch.Tensor, fraction: float, dataset: str, seed: int) -> torch.Tensor:
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(name_seed("fraction", dataset, f"{fraction:g}", seed))
    if labels.dim() > 1:  # multi-label: plain random subset (stratification is per label there)
        n = max(1, int(round(fraction * len(labels))))
        return torch.sort(torch.randperm(len(labels), generator=g)[:n]).values
    chosen = []
    for c in torch.unique(labels):
        idx = torch.nonzero(labels == c).flatten()
        k = max(1, int(round(fraction * len(idx))))
        chosen.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.sort(torch.cat(chosen)).values


def stratified_subset(labels: torch.Tensor, n: int, *seed_parts) -> torch.Tensor:
    """At most `n` indices, class proportions kept, fixed by `seed_parts` (used to cap pool sizes in
    quick suites; identical for every method and seed)."""
    if n >= len(labels):
        return torch.arange(len(labels))
    g = torch.Generator().manual_seed(name_seed("cap", *seed_parts))
    flat = labels if labels.dim() == 1 else labels.argmax(1)
    chosen = []
    for c in torch.unique(flat):
        idx = torch.nonzero(flat == c).flatten()
        k = max(1, int(round(n * len(idx) / len(flat))))
        chosen.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.sort(torch.cat(chosen)).values
