"""The tables of the leaderboard pages, built from the numeric long frame: the per-protocol summary
(methods × cells of each dataset's headline metric, n in every cell, the best of each column
flagged), every cell in long form, and the paired differences against the references."""

from __future__ import annotations

import math

import pandas as pd

from benchmark.reporting.leaderboard.markup import Cell, mark_best
from benchmark.reporting.stats import at_or_below_floor, cell_text
from benchmark.reporting.styles import lower_is_better
from benchmark.reporting.tables import floor_values


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v: float) -> str:
    return "—" if _nan(v) else f"{v:.4f}"


def _sort_key(v) -> str:
    return "" if _nan(v) else repr(float(v))


def _condition(r) -> str:
    parts = []
    if r["corruption"]:
        parts.append(f"{r['corruption']}@{r['severity']}")
    elif int(r["severity"]):
        parts.append(f"severity {r['severity']}")
    if r["ood_partner"]:
        parts.append(f"vs {r['ood_partner']}")
    return " ".join(parts)


def _headline_rows(d: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Each dataset's headline metric only; transfer sources named; robustness averaged over corruptions."""
    from benchmark.reporting.plots import headline_metric

    floors = floor_values(d)
    parts = []
    for ds in sorted(d["dataset"].unique()):
        metric = headline_metric(d, ds, protocol)
        parts.append(d[(d["dataset"] == ds) & (d["metric"] == metric)])
    d = pd.concat(parts) if parts else d
    # the floor of an accuracy cell (clean, same probe and fraction); NaN elsewhere
    d = d.assign(
        floor=[
            floors.get((p, ds, pr, float(f)), math.nan) if m == "accuracy" and not c else math.nan
            for p, ds, pr, f, m, c in zip(
                d["protocol"], d["dataset"], d["probe"], d["fraction"], d["metric"], d["corruption"]
            )
        ]
    )
    if protocol == "transfer" and "pretrain_budget" in d:
        # the source is recorded in the budget (`<epochs>ep@<source>`): name it in the column, so a
        # transfer cell never reads as in-domain and two sources of one target stay apart
        d = d.assign(
            dataset=[
                f"{str(b).split('@', 1)[1]} → {ds}" if "@" in str(b) else ds
                for b, ds in zip(d["pretrain_budget"], d["dataset"])
            ]
        )
    if protocol == "robustness":
        d = d.groupby(["dataset", "method", "probe", "fraction", "severity", "metric"], as_index=False).agg(
            mean=("mean", "mean"),
            std=("std", lambda v: v.mean() if v.notna().all() else math.nan),
            n_seeds=("n_seeds", "min"),
            floor=("floor", "first"),
        )
        d["corruption"], d["ood_partner"] = "", ""
        d["corruption"] = ["mean over corruptions" if s else "" for s in d["severity"]]
    return d


def _column_title(c: tuple) -> str:
    """(dataset, probe, fraction, corruption, severity, ood_partner, metric) as a header."""
    condition = (f"{c[3]}" + (f" s{c[4]}" if c[4] else "")) if c[3] or c[4] else ""
    return " · ".join(
        x for x in (c[0], c[1], f"{c[2] * 100:g}%", condition, f"vs {c[5]}" if c[5] else "", c[6]) if x
    )


def _columns(d: pd.DataFrame) -> list[tuple]:
    return sorted(
        {
            (r["dataset"], r["probe"], float(r["fraction"]), r["corruption"], int(r["severity"]))
            + (r["ood_partner"], r["metric"])
            for _, r in d.iterrows()
        },
        key=lambda t: (t[0], t[1], t[2], t[4], t[3], t[5]),
    )


def _lookup(d: pd.DataFrame) -> dict[tuple, tuple]:
    """(column…, method) → (mean, std, n_seeds, floor)."""
    return {
        (r["dataset"], r["probe"], float(r["fraction"]), r["corruption"], int(r["severity"]))
        + (r["ood_partner"], r["metric"], r["method"]): (r["mean"], r["std"], r["n_seeds"], r["floor"])
        for _, r in d.iterrows()
    }


def summary_pivot(d: pd.DataFrame, protocol: str) -> tuple[list[str], list[list[Cell]]]:
    """Methods × (dataset, probe, fraction, condition) of each dataset's headline metric, the best
    method of each column flagged (lower wins for LOWER_IS_BETTER metrics), then the majority-class
    floor row. Robustness cells are averaged over corruptions per severity. Returns (headers, rows)."""
    from benchmark.reporting.plots import method_order

    d = _headline_rows(d, protocol)
    cols = _columns(d)
    lookup = _lookup(d)
    col_floor = {tuple(c): v[3] for (*c, _m), v in lookup.items() if not _nan(v[3])}
    rows = []
    for m in method_order(d["method"].unique()):
        row = [Cell(m)]
        for c in cols:
            v = lookup.get((*c, m))
            if v is None:
                row.append(Cell("—", ""))
                continue
            text = cell_text(v[0], v[1], v[2], below_floor=at_or_below_floor(v[0], v[3]))
            row.append(Cell(text, repr(float(v[0]))))
        rows.append(row)
    rows = mark_best(rows, [None] + [lower_is_better(c[6]) for c in cols])
    if col_floor:  # the constant predictor's accuracy, for reading the cells above it
        rows.append(
            [Cell("majority-class floor")]
            + [Cell(_fmt(col_floor.get(c)), _sort_key(col_floor.get(c))) for c in cols]
        )
    return [_HEAD] + [_column_title(c) for c in cols], rows


_HEAD = "method"


def long_rows(d: pd.DataFrame) -> tuple[list[str], list[list[Cell]]]:
    headers = [
        "dataset",
        "method",
        "probe",
        "fraction",
        "condition",
        "metric",
        "mean",
        "std",
        "n_seeds",
        "95 % CI",
    ]
    rows = []
    for _, r in d.iterrows():
        ci = "—" if _nan(r["ci95_low"]) else f"[{_fmt(r['ci95_low'])}, {_fmt(r['ci95_high'])}]"
        rows.append(
            [Cell(r["dataset"]), Cell(r["method"]), Cell(r["probe"])]
            + [Cell(f"{r['fraction'] * 100:g}%", repr(float(r["fraction"]))), Cell(_condition(r))]
            + [Cell(r["metric"]), Cell(_fmt(r["mean"]), repr(float(r["mean"])))]
            + [Cell(_fmt(r["std"]), _sort_key(r["std"])), Cell(str(r["n_seeds"]), str(r["n_seeds"]))]
            + [Cell(ci, _sort_key(r["ci95_low"]))]
        )
    return headers, rows


def _delta_text(r) -> str:
    text = f"{r['diff_mean']:+.4f}"
    if r["n_pairs"] > 1 and not _nan(r["ci95_low"]):
        text += f" [{r['ci95_low']:+.4f}, {r['ci95_high']:+.4f}]"
    return text + f" (n={int(r['n_pairs'])})"


def paired_tables(paired: pd.DataFrame, shown: pd.DataFrame, protocol: str) -> list[tuple[str, list, list]]:
    """Per (dataset, reference): methods × (probe, fraction) of the headline metric, each cell the
    mean paired difference over seeds with its 95 % t-interval. Only methods shown (current budgets)."""
    from benchmark.reporting.plots import headline_metric, method_order

    out = []
    p = paired[paired["protocol"] == protocol]
    for dataset in sorted(p["dataset"].unique()):
        metric = headline_metric(shown, dataset, protocol) or "accuracy"
        current = set(shown.loc[shown["dataset"] == dataset, "method"])
        d = p[(p["dataset"] == dataset) & (p["metric"] == metric) & p["new_method"].isin(current)]
        for base in ("random_init", "supervised"):
            b = d[d["baseline"] == base]
            if b.empty:
                continue
            cols = sorted(
                {(src, pr, float(f)) for src, pr, f in zip(b["pretrain_source"], b["probe"], b["fraction"])}
            )
            headers = ["method"] + [
                " · ".join(x for x in (f"from {src}" if src else "", pr, f"{f * 100:g}%") if x)
                for src, pr, f in cols
            ]
            rows = []
            for m in method_order(b["new_method"].unique()):
                row = [Cell(m)]
                for src, pr, f in cols:
                    r = b[(b["new_method"] == m) & (b["pretrain_source"] == src) & (b["probe"] == pr)]
                    r = r[r["fraction"] == f]
                    row.append(
                        Cell("—", "")
                        if r.empty
                        else Cell(_delta_text(r.iloc[0]), repr(float(r["diff_mean"].iloc[0])))
                    )
                rows.append(row)
            rows = mark_best(rows, [None] + [lower_is_better(metric)] * len(cols))
            out.append((f"{dataset} · {metric} · Δ vs {base} (paired over seeds)", headers, rows))
    return out
