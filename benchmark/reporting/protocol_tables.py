"""Markdown summaries of the robustness, OOD and transfer protocols and the cross-dataset statistics
(docs/design.md §3.5–3.8), generated from the long table (`benchmark.reporting.tables.long_table`).
Methods are rows;
the reference rows random_init and supervised are always present (— when they were not run).

`derived_rows` adds what needs several jobs at once before aggregation: the corruption errors
(CE, mCE) against the supervised row of the same run.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from benchmark.core.io import atomic_write_text
from benchmark.evaluation.protocols.robustness import add_corruption_errors
from benchmark.reporting.axes import reference_order
from benchmark.reporting.stats import (
    FLOOR_METRIC,
    FLOOR_NOTE,
    MIN_DATASETS,
    MIN_METHODS,
    at_or_below_floor,
    average_ranks,
    cell_text,
    clamp_to_floor,
    friedman_nemenyi,
    groups_not_different,
)

REFERENCES = ("random_init", "supervised")


def derived_rows(frame: pd.DataFrame, metric_for: dict[str, str] | None = None) -> pd.DataFrame:
    return add_corruption_errors(frame, metric_for)


def floor_values(long: pd.DataFrame) -> dict[tuple, float]:
    """{(protocol, dataset, probe, fraction): majority-class floor} from the `majority_floor` rows
    (method-independent; the mean over the methods that recorded it)."""
    f = long[long["metric"] == FLOOR_METRIC] if "metric" in long else long.iloc[:0]
    if f.empty:
        return {}
    g = f.groupby(["protocol", "dataset", "probe", "fraction"])["mean"].mean()
    return {(p, d, pr, float(fr)): float(v) for (p, d, pr, fr), v in g.items()}


def superseded_note(n: int) -> str:
    if not n:
        return ""
    return (
        f"{n} row(s) of a superseded pretraining budget (an older budget of the same method) are "
        "not shown; the CSVs keep them.\n\n"
    )


def _methods(methods) -> list[str]:
    return reference_order(methods, REFERENCES, always=True)


def _fmt(r: pd.DataFrame, scale: float = 100.0, digits: int = 1, floor: float | None = None) -> str:
    """'mean ± std (n=k)' of one cell; of several cells (e.g. severities 1–5) the mean of their means
    and the mean of their seed stds, n the fewest seeds among them ('mean (n=1)' without a spread).
    ▿ when the value is at or below the majority-class `floor`."""
    r = r.dropna(subset=["mean"])
    if r.empty:
        return "—"
    mean, n = float(r["mean"].mean()), int(r["n_seeds"].min())
    std = float(r["std"].mean()) if r["std"].notna().all() else float("nan")
    return cell_text(mean, std, n, scale, digits, at_or_below_floor(mean, floor))


def _table(out, header: list[str], rows: list[list[str]]):
    out.write("| " + " | ".join(header) + " |\n")
    out.write("|---|" + "---:|" * (len(header) - 1) + "\n")
    for r in rows:
        out.write("| " + " | ".join(r) + " |\n")
    out.write("\n")


def _seeds_note(d: pd.DataFrame) -> str:
    n = int(d["n_seeds"].max()) if not d.empty else 0
    return (
        f"Up to {n} seed(s); mean ± std over seeds, n = seeds behind a cell (no ± for one seed; the "
        "CSV's 95 % CIs are t-intervals clipped to the metric's range). Reference rows: random_init, "
        "supervised (— = not run).\n\n"
    )


def robustness_markdown(long: pd.DataFrame, metric_for: dict[str, str] | None = None) -> str:
    rob = long[long["protocol"] == "robustness"]
    out = io.StringIO()
    for (dataset, probe, frac), d in rob.groupby(["dataset", "probe", "fraction"], sort=True):
        metric = (metric_for or {}).get(dataset, "accuracy")
        corrs = sorted(set(d["corruption"]) - {""})
        out.write(f"### {dataset} — {probe} probe @ {frac * 100:g}% labels, {metric} under corruption\n\n")
        header = ["method", "clean", "mCA", "rel. robustness", "mCE"] + [f"{c} (mean s1–5)" for c in corrs]
        rows = []
        for m in _methods(d["method"]):
            dm = d[d["method"] == m]
            pick = lambda met, c="", s=0: dm[
                (dm["metric"] == met)
                & (dm["corruption"] == c)  # noqa: E731
                & (dm["severity"] == s)
            ]
            cells = [
                _fmt(pick(metric)),
                _fmt(pick("mca")),
                _fmt(pick("relative_robustness"), 1, 3),
                _fmt(pick("mce"), 1, 3),
            ]
            for c in corrs:
                cells.append(
                    _fmt(dm[(dm["metric"] == metric) & (dm["corruption"] == c) & (dm["severity"] > 0)])
                )
            rows.append([m] + cells)
        _table(out, header, rows)
        out.write(
            "clean / mCA / per-corruption in %; relative robustness = mCA / clean; "
            "mCE = mean_c Σ_s err / Σ_s err(supervised), so supervised = 1.000.\n"
        )
        out.write(_seeds_note(d))
    return out.getvalue()


def ood_markdown(long: pd.DataFrame, missing: dict[str, dict[str, str]] | None = None) -> str:
    """`missing` ({dataset: {partner: why}}): partners the jobs had to leave out (files not there);
    they are listed as rows marked missing under the dataset's table, never silently dropped."""
    ood = long[long["protocol"] == "ood"]
    missing = missing or {}
    out = io.StringIO()
    for dataset in sorted(set(missing) - set(ood["dataset"])):  # no partner at all could be scored
        out.write(f"### {dataset} — OOD detection\n\nNo partner could be scored.\n\n")
        _missing_rows(out, missing[dataset])
    for (dataset, frac), d in ood.groupby(["dataset", "fraction"], sort=True):
        scorers = sorted(set(d["probe"]))
        partners = sorted(set(d["ood_partner"]))
        out.write(
            f"### {dataset} — OOD detection (linear head / train features @ {frac * 100:g}% labels)\n\n"
        )
        out.write(
            "Partners: " + ", ".join(partners) + ". Cells: AUROC ↑ / FPR@95%TPR ↓ in %, "
            "averaged over the near and far partners.\n\n"
        )
        header = ["method"] + [f"{s} {g}" for s in scorers for g in ("near", "far")]
        rows = []
        for m in _methods(d["method"]):
            dm = d[d["method"] == m]
            cells = []
            for s in scorers:
                for g in ("near", "far"):
                    sel = dm[(dm["probe"] == s) & dm["ood_partner"].str.startswith(g + ":")]
                    a, f = sel[sel["metric"] == "auroc"], sel[sel["metric"] == "fpr95"]
                    cells.append(
                        "—"
                        if a.empty
                        else f"{100 * a['mean'].mean():.1f} / {100 * f['mean'].mean():.1f} "
                        f"(n={int(a['n_seeds'].min())})"
                    )
            rows.append([m] + cells)
        _table(out, header, rows)
        out.write(_seeds_note(d))
        if missing.get(dataset):
            out.write("\n")
            _missing_rows(out, missing[dataset])
    return out.getvalue()


def _missing_rows(out, partners: dict[str, str]) -> None:
    rows = [[p, "missing — not scored", why.replace("|", "/")] for p, why in sorted(partners.items())]
    _table(out, ["partner", "status", "why (run `run_benchmark.py fetch` to stage it)"], rows)


def transfer_markdown(long: pd.DataFrame, metric_for: dict[str, str] | None = None) -> str:
    tr = long[long["protocol"] == "transfer"]
    out = io.StringIO()
    for dataset, d in tr.groupby("dataset", sort=True):
        metric = (metric_for or {}).get(dataset, "accuracy")
        d = d[d["metric"] == metric]
        ind = long[
            (long["protocol"] == "label_fraction") & (long["dataset"] == dataset) & (long["metric"] == metric)
        ]
        cols = sorted({(p, f) for p, f in zip(d["probe"], d["fraction"])})
        sources = sorted(set(d["pretrain_budget"]))
        floors = floor_values(long) if metric == "accuracy" else {}
        fl = lambda proto, p, f: floors.get((proto, dataset, p, float(f)))  # noqa: E731
        out.write(f"### → {dataset} — {metric} (pretraining source → this dataset)\n\n")
        header = (
            ["method"]
            + [f"{p} @ {f * 100:g}% · in-domain" for p, f in cols]
            + [f"{p} @ {f * 100:g}% · {src.split('@', 1)[-1]}" for src in sources for p, f in cols]
        )
        rows = []
        for m in _methods(d["method"]):
            cells = [
                _fmt(
                    ind[(ind["method"] == m) & (ind["probe"] == p) & (ind["fraction"] == f)].head(1),
                    floor=fl("label_fraction", p, f),
                )
                for p, f in cols
            ]
            for src in sources:
                cells += [
                    _fmt(
                        d[
                            (d["method"] == m)
                            & (d["pretrain_budget"] == src)
                            & (d["probe"] == p)
                            & (d["fraction"] == f)
                        ],
                        floor=fl("transfer", p, f),
                    )
                    for p, f in cols
                ]
            rows.append([m] + cells)
        _table(out, header, rows)
        out.write(
            "Values in %. in-domain = the label-fraction result of pretraining on this dataset "
            "(— when not in the store); several sources joined by + = multi-domain union.\n"
        )
        out.write(_seeds_note(d) + (FLOOR_NOTE + "\n\n" if floors else ""))
    return out.getvalue()


def _rank_section(out, title: str, scores: pd.DataFrame, higher: bool = True):
    scores = scores.dropna(axis=1, how="all")
    if scores.shape[0] < 1 or scores.shape[1] < 2:
        return
    complete = scores.dropna(axis=0, how="any")
    out.write(f"### {title}\n\n")
    if complete.empty:
        out.write("no dataset has every method; no ranks.\n\n")
        return
    ranks = average_ranks(complete, higher)
    _table(out, ["method", "average rank"], [[m, f"{r:.2f}"] for m, r in ranks.items()])
    fr = friedman_nemenyi(complete, higher)
    if fr is None:
        out.write(
            f"Friedman test and Nemenyi CD skipped: they need ≥ {MIN_DATASETS} datasets as blocks and "
            f"≥ {MIN_METHODS} methods; here {complete.shape[0]} dataset(s) × {complete.shape[1]} "
            "method(s).\n\n"
        )
    else:
        groups = groups_not_different(fr.avg_ranks, fr.cd)
        out.write(
            f"Friedman χ²_F = {fr.statistic:.3f}, p = {fr.p_value:.4f} ({fr.n_methods} methods × "
            f"{fr.n_datasets} datasets); Nemenyi CD (α = 0.05) = {fr.cd:.3f}. "
            "Not significantly different: "
            + ("; ".join("{" + ", ".join(g) + "}" for g in groups) or "none")
            + ".\n\n"
        )


def stats_markdown(long: pd.DataFrame, metric_for: dict[str, str] | None = None) -> str:
    """Average ranks across datasets (+ Friedman/Nemenyi when ≥ 3 methods × ≥ 3 datasets) per
    protocol headline. A block is one dataset, never a probe or fraction of it. Accuracies at or
    below the majority-class floor count as the floor (they tie instead of being ordered by noise)."""
    out = io.StringIO()
    metric_of = lambda ds: (metric_for or {}).get(ds, "accuracy")  # noqa: E731
    lf = long[long["protocol"] == "label_fraction"]
    floors = floor_values(lf)
    lf = lf[lf.apply(lambda r: r["metric"] == metric_of(r["dataset"]), axis=1)] if not lf.empty else lf
    for (probe, frac), d in lf.groupby(["probe", "fraction"], sort=True):
        scores = d.pivot_table(index="dataset", columns="method", values="mean")
        floor = pd.Series(
            {
                ds: floors.get(("label_fraction", ds, probe, float(frac)), float("nan"))
                for ds in scores.index
                if metric_of(ds) == "accuracy"
            },
            dtype=float,
        )
        _rank_section(
            out,
            f"label_fraction — {probe} @ {frac * 100:g}% (headline metric)",
            clamp_to_floor(scores, floor),
        )
    rob = long[(long["protocol"] == "robustness") & (long["metric"] == "mca")]
    for probe, d in rob.groupby("probe", sort=True):
        _rank_section(
            out,
            f"robustness — mCA, {probe} probe",
            d.pivot_table(index="dataset", columns="method", values="mean"),
        )
    ood = long[(long["protocol"] == "ood") & (long["metric"] == "auroc")]
    for scorer, d in ood.groupby("probe", sort=True):
        _rank_section(
            out,
            f"ood — AUROC averaged over partners, {scorer}",
            d.pivot_table(index="dataset", columns="method", values="mean", aggfunc="mean"),
        )
    return out.getvalue()


def write_protocol_markdowns(
    long: pd.DataFrame,
    out_dir: Path,
    metric_for: dict[str, str] | None = None,
    ood_missing: dict[str, dict[str, str]] | None = None,
    superseded: int = 0,
) -> dict[str, Path]:
    """`superseded`: how many rows of older budgets the caller left out (stated in each file)."""
    written = {}
    for name, title, text in (
        ("robustness.md", "Robustness results", robustness_markdown(long, metric_for)),
        ("ood.md", "OOD-detection results", ood_markdown(long, ood_missing)),
        ("transfer.md", "Transfer and multi-domain results", transfer_markdown(long, metric_for)),
        ("stats.md", "Average ranks across datasets", stats_markdown(long, metric_for)),
    ):
        if text:
            written[name] = atomic_write_text(
                Path(out_dir) / name, f"# {title}\n\n{superseded_note(superseded)}{text}"
            )
    return written
