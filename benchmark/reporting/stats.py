"""Statistics across seeds and datasets (docs/design.md §3.8).

- mean ± std over seeds and the 95 % t-interval, clipped to the metric's range (`mean_std_ci`); one
  seed has no std and no interval (NaN), never "± 0";
- how one cell reads in every table (`cell_text`): the mean, ± std when there is one, and n;
- the majority-class floor (`at_or_below_floor`) that marks cells no better than a constant predictor;
- average rank of each method across datasets (rank 1 = best, ties share the mean rank);
- Friedman test on those ranks and the Nemenyi critical difference (Demšar 2006), reported only
  when there are ≥ 3 methods and ≥ 3 datasets as blocks (below that the test has no meaning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# Metrics whose values lie in [0, 1] (rates, areas, accuracies) and those that are only ≥ 0 (ratios
# of errors); a mean's confidence interval never leaves the metric's range.
UNIT_METRICS = frozenset(
    {
        "accuracy",
        "balanced_accuracy",
        "auroc",
        "fpr95",
        "aupr_in",
        "aupr_out",
        "mca",
        "clean_accuracy",
        "error",
        "macro_f1",
        "average_precision",
        "majority_floor",
        "accuracy_fold_std",
    }
)
NONNEG_METRICS = frozenset({"mce", "ce", "relative_robustness"})
FLOOR_METRIC = "majority_floor"


def metric_range(metric: str) -> tuple[float, float]:
    if metric in UNIT_METRICS:
        return 0.0, 1.0
    if metric in NONNEG_METRICS:
        return 0.0, math.inf
    return -math.inf, math.inf


def mean_std_ci(values, bounds: tuple[float, float] | None = None) -> tuple[float, float, int, float, float]:
    """(mean, sample std, n, CI low, CI high) of the finite values: the 95 % t-interval, clipped to
    `bounds` (the metric's range). With one value the std and the interval are NaN: one seed says
    nothing about the spread, and a zero-width interval would claim it does."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    nan = float("nan")
    if n == 0:
        return nan, nan, 0, nan, nan
    mean = sum(vals) / n
    if n == 1:
        return mean, nan, 1, nan, nan
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(float(bounds[0]), lo), min(float(bounds[1]), hi)
    return mean, std, n, lo, hi


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def cell_text(mean, std, n, scale: float = 1.0, digits: int = 4, below_floor: bool = False) -> str:
    """One table cell: 'mean ± std (n=k)', or 'mean (n=1)' for a single seed (never '± 0'); '▿'
    marks a cell at or below the majority-class floor; '—' when there is no value."""
    if _missing(mean):
        return "—"
    n = 0 if _missing(n) else int(n)
    text = f"{scale * float(mean):.{digits}f}"
    if n > 1 and not _missing(std):
        text += f" ± {scale * float(std):.{digits}f}"
    text += f" (n={n})"
    return text + " ▿" if below_floor else text


FLOOR_NOTE = (
    "▿ = at or below the majority-class floor (the accuracy of always predicting the labelled "
    "subset's majority class); such cells are not ranked above one another."
)


def at_or_below_floor(value, floor) -> bool:
    """True when an accuracy is no better than the constant majority-class predictor."""
    if _missing(value) or _missing(floor):
        return False
    return float(value) <= float(floor) + 1e-9


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


def dataset_blocks(cells: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """Datasets as the blocks of a rank test. `cells`: rows indexed by (dataset, cell …), methods as
    columns, complete rows only. Cells of one dataset (probes, fractions, conditions) share its data
    and are not independent, so each dataset counts once: a method's score there is its mean rank
    over the dataset's cells (1 = best; lower is better)."""
    ranks = rank_matrix(cells, higher_is_better)
    return ranks.groupby(level=0, sort=True).mean()


def clamp_to_floor(scores: pd.DataFrame, floors: pd.Series) -> pd.DataFrame:
    """Accuracies at or below their row's majority-class floor replaced by the floor, so such cells
    tie with one another instead of being ordered by noise below chance (higher is better)."""
    f = floors.reindex(scores.index)
    clamped = scores.where(~scores.le(f + 1e-9, axis=0), f, axis=0)
    return clamped.where(f.notna(), scores, axis=0) if f.isna().any() else clamped


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
