"""Leaderboard plots (PNG, matplotlib Agg) drawn from the long format of docs/design.md §4.

- label-efficiency curves: headline metric vs label fraction per method, band = ± std over seeds;
- robustness vs severity: headline metric averaged over corruptions at each severity (0 = clean);
- OOD AUROC per scorer (the `probe` column of OOD rows), one panel per OOD partner;
- average rank with datasets as the blocks (a method's rank in a dataset is its mean rank over that
  dataset's probe × fraction … cells), with a Friedman test and the Nemenyi critical difference
  (critical-difference diagram) where ≥ 3 methods × ≥ 3 datasets, else an average-rank chart that
  says why there is no test.
Every function skips (returns no path) when its protocol has no rows.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.reporting.axes import reference_order  # noqa: E402
from benchmark.reporting.styles import LOWER_IS_BETTER, method_style  # noqa: E402

REFERENCE_METHODS = ("random_init", "supervised")


def headline_metric(rows: pd.DataFrame, dataset: str, protocol: str) -> str | None:
    """accuracy (auroc for multi-label sets and for OOD), else whatever metric the rows have."""
    metrics = set(rows.loc[rows["dataset"] == dataset, "metric"]) - {"majority_floor"}
    if not metrics:
        return None
    prefer = ["auroc"] if protocol == "ood" else ["accuracy", "auroc"]
    try:
        from datasets.base import ADAPTERS

        if dataset in ADAPTERS and ADAPTERS[dataset].task.multilabel and protocol != "ood":
            prefer = ["auroc", "accuracy"]
    except Exception:  # plotting must not depend on adapters being importable
        pass
    for m in prefer:
        if m in metrics:
            return m
    return sorted(metrics)[0]


def method_order(methods) -> list[str]:
    return reference_order(methods, REFERENCE_METHODS)


def _numeric(long: pd.DataFrame) -> pd.DataFrame:
    d = long.copy()
    for c in ("fraction", "mean", "std"):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d["severity"] = pd.to_numeric(d["severity"], errors="coerce").fillna(0).astype(int)
    for c in ("corruption", "ood_partner"):
        d[c] = d[c].fillna("").astype(str)
    return d


def _colors(methods: list[str]) -> dict[str, str]:
    return {m: method_style(m).color for m in methods}


def _line_kw(m: str) -> dict:
    """Line, marker and colour of a method: the same in every plot (benchmark.reporting.styles)."""
    st = method_style(m)
    return dict(ls="--" if m in REFERENCE_METHODS else "-", marker=st.marker, color=st.color, ms=5, label=m)


def _panels(n: int, width: float, height: float = 3.4):
    """A figure of `n` panels side by side; constrained layout keeps titles, labels and the legend
    (outside the panels, on the right) from overlapping."""
    fig, axes = plt.subplots(1, n, figsize=(width * n + 2.2, height), squeeze=False, layout="constrained")
    return fig, axes[0]


def _legend(fig, methods: list[str], extra: list | None = None, patches: bool = False) -> None:
    """One legend for the whole figure, outside the panels: every method with its own style."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if patches:
        handles = [Patch(color=method_style(m).color, label=m) for m in methods]
    else:
        handles = [Line2D([], [], **_line_kw(m)) for m in methods]
    handles += extra or []
    ncol = 1 if len(handles) <= 11 else 2
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, ncol=ncol, frameon=False)


def _save(fig, path: Path) -> Path:
    from benchmark.core.io import atomic_write

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))  # temp + rename
    plt.close(fig)
    return path


def _label_efficiency_panel(ax, d: pd.DataFrame, dd: pd.DataFrame, dataset, metric, probe, methods) -> bool:
    """One probe's curves; True when the majority-class floor was drawn."""
    for m in methods:
        r = dd[(dd["probe"] == probe) & (dd["method"] == m)].sort_values("fraction")
        if r.empty:
            continue
        x, y, s = r["fraction"].to_numpy(), r["mean"].to_numpy(), r["std"].fillna(0).to_numpy()
        kw = _line_kw(m)
        ax.plot(x, y, **kw)
        ax.fill_between(x, y - s, y + s, color=kw["color"], alpha=0.15, linewidth=0)
    fl = d[(d["dataset"] == dataset) & (d["metric"] == "majority_floor") & (d["probe"] == probe)]
    floor = metric == "accuracy" and not fl.empty
    if floor:
        fl = fl.groupby("fraction")["mean"].mean()
        ax.plot(fl.index, fl.values, ":", color="grey")
    fr = sorted(dd["fraction"].unique())
    if len(fr) > 1 and min(fr) > 0:
        ax.set_xscale("log")
    ax.set_xticks(fr)
    ax.set_xticklabels([f"{f * 100:g}%" for f in fr])
    ax.minorticks_off()
    ax.set_title(probe, fontsize=10)
    ax.set_xlabel("label fraction")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    return floor


def label_efficiency(long: pd.DataFrame, out_dir: Path, prefix: str) -> list[tuple[str, Path]]:
    from matplotlib.lines import Line2D

    d = _numeric(long[long["protocol"] == "label_fraction"])
    made = []
    for dataset in sorted(d["dataset"].unique()):
        metric = headline_metric(d, dataset, "label_fraction")
        dd = d[(d["dataset"] == dataset) & (d["metric"] == metric)]
        if dd["fraction"].nunique() < 2:  # one label fraction (the reference suite): no curve to draw
            continue
        probes = sorted(dd["probe"].unique())
        methods = method_order(dd["method"].unique())
        fig, axes = _panels(len(probes), 4.2)
        floors = [
            _label_efficiency_panel(ax, d, dd, dataset, metric, p, methods) for ax, p in zip(axes, probes)
        ]
        extra = [Line2D([], [], ls=":", color="grey", label="majority-class floor")] if any(floors) else []
        _legend(fig, methods, extra)
        fig.suptitle(f"Label efficiency — {dataset} (band: ± std over seeds)", fontsize=10)
        made.append(
            (
                f"Label efficiency — {dataset} ({metric})",
                _save(fig, Path(out_dir) / f"{prefix}_label_efficiency_{dataset}.png"),
            )
        )
    return made


def _severity_curve(corrupted: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Mean (and mean std) over corruptions per severity, with the clean value as severity 0."""
    g = corrupted.groupby("severity").agg(mean=("mean", "mean"), std=("std", "mean")).reset_index()
    if clean.empty:
        return g
    k = pd.DataFrame({"severity": [0], "mean": [clean["mean"].mean()], "std": [clean["std"].mean()]})
    return pd.concat([k, g]).sort_values("severity")


def robustness(long: pd.DataFrame, out_dir: Path, prefix: str) -> list[tuple[str, Path]]:
    d = _numeric(long[long["protocol"] == "robustness"])
    made = []
    for dataset in sorted(d["dataset"].unique()):
        dd = d[d["dataset"] == dataset]
        metric = headline_metric(dd, dataset, "robustness")
        dd = dd[dd["metric"] == metric]
        if dd["fraction"].notna().any():
            dd = dd[dd["fraction"] == dd["fraction"].max()]
        corrupted = dd[(dd["severity"] > 0) & (dd["corruption"] != "")]
        clean = dd[(dd["severity"] == 0) & (dd["corruption"] == "")]
        if corrupted.empty:
            continue
        probes = sorted(corrupted["probe"].unique())
        methods = method_order(corrupted["method"].unique())
        fig, axes = _panels(len(probes), 4.2)
        for ax, probe in zip(axes, probes):
            for m in methods:
                c = corrupted[(corrupted["probe"] == probe) & (corrupted["method"] == m)]
                if c.empty:
                    continue
                g = _severity_curve(c, clean[(clean["probe"] == probe) & (clean["method"] == m)])
                x, y, s = g["severity"].to_numpy(), g["mean"].to_numpy(), g["std"].fillna(0).to_numpy()
                kw = _line_kw(m)
                ax.plot(x, y, **kw)
                ax.fill_between(x, y - s, y + s, color=kw["color"], alpha=0.15, linewidth=0)
            ax.set_xticks(range(0, 6))
            ax.set_title(probe, fontsize=10)
            ax.set_xlabel("severity (0 = clean)")
            ax.set_ylabel(f"{metric}, mean over corruptions")
            ax.grid(alpha=0.3)
        _legend(fig, methods)
        fig.suptitle(f"Robustness vs severity — {dataset}", fontsize=10)
        made.append(
            (
                f"Robustness vs severity — {dataset} ({metric})",
                _save(fig, Path(out_dir) / f"{prefix}_robustness_{dataset}.png"),
            )
        )
    return made


def _ood_panel(ax, p: pd.DataFrame, scorers: list[str], methods: list[str]) -> None:
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        ys, es = [], []
        for s in scorers:
            r = p[(p["probe"] == s) & (p["method"] == m)]
            ys.append(r["mean"].mean() if not r.empty else np.nan)
            es.append(r["std"].mean() if not r.empty else 0.0)
        xs = np.arange(len(scorers)) + (i - (len(methods) - 1) / 2) * width
        kw = dict(color=method_style(m).color, label=m, capsize=1.5, ecolor="#444444")
        ax.bar(xs, ys, width, yerr=np.nan_to_num(es), **kw)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(scorers)))
    ax.set_xticklabels(scorers)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AUROC (ID positive)")
    ax.grid(alpha=0.3, axis="y")


def ood(long: pd.DataFrame, out_dir: Path, prefix: str, max_partners: int = 6) -> list[tuple[str, Path]]:
    d = _numeric(long[(long["protocol"] == "ood") & (long["metric"] == "auroc")])
    made = []
    for dataset in sorted(d["dataset"].unique()):
        dd = d[d["dataset"] == dataset]
        if dd["fraction"].notna().any():
            dd = dd[dd["fraction"] == dd["fraction"].max()]
        partners = sorted(dd["ood_partner"].unique())[:max_partners]
        scorers = sorted(dd["probe"].unique())
        methods = method_order(dd["method"].unique())
        fig, axes = _panels(len(partners), max(4.2, 0.09 * len(scorers) * len(methods) + 1.5))
        for ax, partner in zip(axes, partners):
            _ood_panel(ax, dd[dd["ood_partner"] == partner], scorers, methods)
            ax.set_title(f"vs {partner or 'OOD'}", fontsize=10)
        _legend(fig, methods, patches=True)
        fig.suptitle(f"OOD AUROC per scorer — {dataset} (dotted: chance)", fontsize=10)
        made.append(
            (f"OOD AUROC per scorer — {dataset}", _save(fig, Path(out_dir) / f"{prefix}_ood_{dataset}.png"))
        )
    return made


CELL_COLS = ["dataset", "probe", "fraction", "corruption", "severity", "ood_partner", "metric"]


def _cell_scores(d: pd.DataFrame, floor_rows: pd.DataFrame) -> pd.DataFrame:
    """(dataset, cell …) × method of the headline metric, higher = better in every row; clean
    accuracies at or below the majority-class floor count as the floor (they tie rather than rank by
    noise below chance)."""
    from benchmark.reporting.stats import clamp_to_floor

    wide = d.pivot_table(index=CELL_COLS, columns="method", values="mean", aggfunc="mean")
    floors = floor_rows.groupby(["dataset", "probe", "fraction"])["mean"].mean()
    if not floors.empty and not wide.empty:
        idx = wide.index.to_frame(index=False)
        f = [
            floors.get((ds, p, fr), np.nan) if m == "accuracy" and not c else np.nan
            for ds, p, fr, c, m in zip(
                idx["dataset"], idx["probe"], idx["fraction"], idx["corruption"], idx["metric"]
            )
        ]
        wide = clamp_to_floor(wide, pd.Series(f, index=wide.index, dtype=float))
    sign = np.array([-1.0 if m in LOWER_IS_BETTER else 1.0 for m in wide.index.get_level_values("metric")])
    return wide.mul(sign, axis=0)


def rank_stats(long: pd.DataFrame, protocol: str = "label_fraction") -> dict | None:
    """Average rank (1 = best) of each method with each dataset as one block: within a dataset, the
    method's mean rank over its (probe, fraction[, corruption, severity, OOD partner]) cells of the
    headline metric, ranked again across methods. The cells of one dataset share its data and are
    not independent blocks. Friedman test and Nemenyi CD (α = 0.05, `benchmark.reporting.stats`)
    only where ≥ 3 methods × ≥ 3 datasets have every method; otherwise `reason` says why not."""
    from benchmark.reporting.stats import (
        FLOOR_METRIC,
        MIN_DATASETS,
        MIN_METHODS,
        average_ranks,
        dataset_blocks,
        friedman_nemenyi,
        groups_not_different,
    )

    d = _numeric(long[long["protocol"] == protocol])
    floor_rows = d[d["metric"] == FLOOR_METRIC]
    d = d[d["metric"] != FLOOR_METRIC]
    if d.empty:
        return None
    parts = []
    for dataset in sorted(d["dataset"].unique()):
        metric = headline_metric(d, dataset, protocol)
        parts.append(d[(d["dataset"] == dataset) & (d["metric"] == metric)])
    d = pd.concat(parts)
    if protocol == "robustness":
        d = d[d["severity"] > 0]
    # cells where every method has a value
    scores = _cell_scores(d, floor_rows).dropna(axis=1, how="all").dropna(axis=0, how="any")
    if scores.shape[1] < 2 or scores.shape[0] < 1:
        return None
    blocks = dataset_blocks(scores, higher_is_better=True)  # datasets × methods, mean rank (lower = better)
    fr = friedman_nemenyi(blocks, higher_is_better=False)
    avg = fr.avg_ranks if fr is not None else average_ranks(blocks, higher_is_better=False)
    reason = None
    if fr is None:
        reason = (
            f"Friedman test and Nemenyi CD skipped: they need ≥ {MIN_DATASETS} datasets as blocks and "
            f"≥ {MIN_METHODS} methods; here {len(blocks)} dataset(s) × {blocks.shape[1]} method(s)"
        )
    return {
        "protocol": protocol,
        "methods": list(avg.index),
        "avg_rank": [float(v) for v in avg.values],
        "n_blocks": int(len(blocks)),
        "n_cells": int(len(scores)),
        "friedman_p": None if fr is None else fr.p_value,
        "cd": None if fr is None else fr.cd,
        "groups": [] if fr is None else groups_not_different(avg, fr.cd),
        "reason": reason,
        "floor": not floor_rows.empty,  # whether floor ties applied
    }


def _cd_rows(methods: list[str], avg: list[float], top: float, step: float = 0.45):
    """(method, rank, y, label on the left?) for a CD diagram with rank 1 on the right: the better
    half is labelled on the right, best on the top row, the worse half on the left, worst on the top
    row, so that no leader line crosses another leader or a label."""
    half = (len(methods) + 1) // 2
    right = [(m, a, top - i * step, False) for i, (m, a) in enumerate(zip(methods[:half], avg[:half]))]
    worse = list(zip(methods[half:], avg[half:]))[::-1]
    left = [(m, a, top - i * step, True) for i, (m, a) in enumerate(worse)]
    return right + left


def _cd_diagram(rs: dict):
    methods, avg, k, cd = rs["methods"], rs["avg_rank"], len(rs["methods"]), rs["cd"]
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.24 * k), layout="constrained")
    top = -0.35 - 0.12 * len(rs["groups"])  # leader rows start below the clique bars
    rows = _cd_rows(methods, avg, top)
    ax.set_xlim(k + 0.3, 0.7)  # best (rank 1) on the right, as in Demšar (2006)
    ax.set_ylim(min(y for *_, y, _ in rows) - 0.3, 1.25)
    ax.axhline(0, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.12], color="black", lw=1)
        ax.text(r, 0.2, str(r), ha="center", va="bottom", fontsize=8)
    for m, a, y, left in rows:
        xt = k + 0.3 if left else 0.7  # the labels sit outside the rank axis, beyond the line's end
        st = method_style(m)
        ax.plot([a, a, xt], [0, y, y], color=st.color, lw=1)
        ax.plot([a], [0], marker=st.marker, color=st.color, ms=5)
        label = f"{m} ({a:.2f})" if not left else f"({a:.2f}) {m}"
        ax.text(xt, y, label, va="center", ha="right" if left else "left", fontsize=8)
    # cliques: maximal runs of methods whose average ranks differ by less than the CD
    rank_of = dict(zip(methods, avg))
    for i, group in enumerate(rs["groups"]):
        y = -0.15 - 0.12 * i
        ax.plot([rank_of[group[0]] - 0.03, rank_of[group[-1]] + 0.03], [y, y], color="black", lw=3)
    ax.plot([1, 1 + cd], [0.8, 0.8], color="tab:red", lw=2)
    ax.text(1 + cd / 2, 0.88, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=8, color="tab:red")
    ax.set_title(
        f"Average rank, {rs['protocol']} ({rs['n_blocks']} datasets; Friedman p = {rs['friedman_p']:.3g}; "
        f"Nemenyi α = 0.05)",
        fontsize=9,
    )
    ax.axis("off")
    return fig


def _rank_bars(rs: dict):
    methods, avg, k = rs["methods"], rs["avg_rank"], len(rs["methods"])
    fig, ax = plt.subplots(figsize=(6, 0.3 * k + 1.4), layout="constrained")
    ax.barh(methods[::-1], avg[::-1], color=[method_style(m).color for m in methods[::-1]])
    ax.set_xlabel(f"average rank over {rs['n_blocks']} dataset(s) (1 = best)")
    ax.set_xlim(0, k + 0.5)
    ax.set_title("Average rank; no test: it needs ≥ 3 methods × ≥ 3 datasets", fontsize=9)
    return fig


def rank_plot(
    long: pd.DataFrame, out_dir: Path, prefix: str, protocol: str = "label_fraction"
) -> list[tuple[str, Path]]:
    rs = rank_stats(long, protocol)
    if rs is None:
        return []
    path = Path(out_dir) / f"{prefix}_ranks_{protocol}.png"
    if rs["cd"] is None:
        return [(f"Average rank — {protocol}", _save(_rank_bars(rs), path))]
    return [(f"Critical-difference diagram — {protocol}", _save(_cd_diagram(rs), path))]


def all_plots(long: pd.DataFrame, out_dir: Path, prefix: str) -> list[tuple[str, Path]]:
    """Every plot that the rows support; protocols without rows are skipped."""
    made = []
    made += label_efficiency(long, out_dir, prefix)
    made += robustness(long, out_dir, prefix)
    made += ood(long, out_dir, prefix)
    for protocol in ("label_fraction", "robustness"):
        made += rank_plot(long, out_dir, prefix, protocol)
    return made
