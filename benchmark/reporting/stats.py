"""Statistics across seeds and datasets (docs/design.md §3.8).

- mean ± std and the t-based 95 % CI over seeds: `benchmark.reporting.tables.mean_std_ci` (re-exported);
- average rank of each method across datasets (rank 1 = best, ties share the mean rank);
- Friedman test on those ranks and the Nemenyi critical difference (Demšar 2006), reported only
  when there are ≥ 3 methods and ≥ 3 datasets (below that the test has no meaning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def mean_std_ci(values) -> tuple[float, float, int, float, float]:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return (float("nan"),) * 2 + (0,) + (float("nan"),) * 2
    mean = sum(vals) / n
    if n == 1:
        return mean, 0.0, 1, mean, mean
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean, std, n, mean - half, mean + half


MIN_METHODS = 3
MIN_DATASETS = 3


def rank_matrix(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """`scores`: rows = datasets, columns = methods (no missing cells). Ranks within each row."""
    return scores.rank(axis=1, ascending=not higher_is_better, method="average")


def average_ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    return rank_matrix(scores, higher_is_better).mean(0).sort_values()


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Critical value q_α of the Nemenyi test: the studentized range quantile for k groups and
    infinite degrees of freedom, divided by √2 (Demšar 2006, Table 5: 2.343 for k = 3 at α = .05)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Critical difference of average ranks for k methods on n datasets."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))


@dataclass
class FriedmanResult:
    statistic: float  # Friedman χ²_F (tie-corrected)
    p_value: float
    iman_davenport_f: float
    avg_ranks: pd.Series
    cd: float  # Nemenyi critical difference at α
    n_methods: int
    n_datasets: int


def friedman_nemenyi(
    scores: pd.DataFrame, higher_is_better: bool = True, alpha: float = 0.05
) -> FriedmanResult | None:
    """Friedman test over datasets (rows) × methods (columns) with the Nemenyi CD; None when there
    are fewer than 3 methods or 3 datasets with every method present."""
    scores = scores.dropna(axis=0, how="any")
    n, k = scores.shape
    if k < MIN_METHODS or n < MIN_DATASETS:
        return None
    ranks = rank_matrix(scores, higher_is_better).to_numpy()
    r_mean = ranks.mean(0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r_mean**2) - k * (k + 1) ** 2 / 4)
    # tie correction: divide by 1 - Σ(t³ - t) / (n k (k² - 1)) over tie groups within rows
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts**3 - counts))
    denom = 1 - ties / (n * k * (k * k - 1))
    chi2 = chi2 / denom if denom > 0 else float("nan")
    p = float(stats.chi2.sf(chi2, k - 1)) if denom > 0 else float("nan")
    ff = (n - 1) * chi2 / (n * (k - 1) - chi2) if n * (k - 1) != chi2 else float("inf")
    return FriedmanResult(
        float(chi2),
        p,
        float(ff),
        pd.Series(r_mean, index=scores.columns).sort_values(),
        nemenyi_cd(k, n, alpha),
        k,
        n,
    )


def groups_not_different(avg_ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal runs of methods (in average-rank order) whose ranks differ by less than the CD —
    the bars of a critical-difference diagram."""
    names, vals = list(avg_ranks.index), list(avg_ranks.values)
    groups: list[list[str]] = []
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and vals[j + 1] - vals[i] < cd:
            j += 1
        if j > i and not any(set(names[i : j + 1]) <= set(g) for g in groups):
            groups.append(names[i : j + 1])
    return groups
