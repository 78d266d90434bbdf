"""Tables generated from the store, never by hand: the long format of docs/design.md §4 (one row per
cell, mean ± std over seeds with a t-based 95 % CI clipped to the metric's range; no std or CI for a
single seed) as CSV, and Markdown pivots with methods as rows, n in every cell, cells at or below the
majority-class floor marked, and rows of a superseded pretraining budget left out (counted)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from benchmark.core.io import atomic_write_text
from benchmark.orchestration.store import ResultStore, now_iso
from benchmark.reporting.axes import axis_label, axis_rows, reference_order, swept
from benchmark.reporting.protocol_tables import (
    derived_rows,
    floor_values,
    superseded_note,
    write_protocol_markdowns,
)
from benchmark.reporting.stats import (
    FLOOR_NOTE,
    at_or_below_floor,
    cell_text,
    mean_std_ci,
    metric_range,
)

# 1.1 added `dataset_version`; 1.2 the `init` key column (the encoder's initialization). Older files
# still read and validate: a missing dataset_version is empty, a missing init reads as random, what
# every result was before the init axis (docs/leaderboards.md).
SCHEMA_VERSION = "1.2"
SCHEMA_VERSIONS = ("1.0", "1.1", "1.2")
KEY = [
    "suite",
    "domain",
    "dataset",
    "method",
    "encoder",
    "init",
    "pretrain_budget",
    "protocol",
    "probe",
    "fraction",
    "corruption",
    "severity",
    "ood_partner",
    "metric",
]
LONG_COLUMNS = [
    "schema_version",
    *KEY,
    "mean",
    "std",
    "n_seeds",
    "ci95_low",
    "ci95_high",
    "code_version",
    "dataset_version",
    "config_hash",
    "created_at",
]
# Columns an older schema version lacks (a missing one reads as empty).
ADDED_IN = {"dataset_version": "1.1", "init": "1.2"}
# A paired difference of a method against a baseline over seeds (compare; leaderboard paired/*.csv).
DELTA_COLUMNS = [
    "suite",
    "protocol",
    "dataset",
    "probe",
    "fraction",
    "corruption",
    "severity",
    "ood_partner",
    "metric",
    "pretrain_source",
    "new_method",
    "baseline",
    "new_mean",
    "baseline_mean",
    "diff_mean",
    "diff_std",
    "n_pairs",
    "ci95_low",
    "ci95_high",
    "outcome",
]
REFERENCE_METHODS = ("random_init", "supervised")


# What a table row names; runs of one of these under different configs (an edited suite YAML) are
# never pooled: the most recently recorded config's jobs stand for it.
ROW_IDENTITY = ["suite", "dataset", "method", "encoder", "init", "pretrain_budget"]


def with_init(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame without an `init` column (a store or CSV from before the init axis) as init = random."""
    if "init" in frame.columns:
        return frame
    return frame.assign(init="random")


def latest_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each row identity, only the results of the config group (`group_hash`) recorded
    last, so a store that also holds an older config's jobs (say before `robustness.max_test`
    changed) never mixes the two into one mean ± std or counts its seeds twice."""
    frame = with_init(frame)
    if frame.empty or "group_hash" not in frame or "created_at" not in frame:
        return frame
    last = frame.groupby(ROW_IDENTITY + ["group_hash"], dropna=False)["created_at"].max().reset_index()
    last = last.sort_values("created_at").groupby(ROW_IDENTITY, dropna=False).tail(1)
    return frame.merge(last[ROW_IDENTITY + ["group_hash"]], on=ROW_IDENTITY + ["group_hash"], how="inner")


def long_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-seed rows (of each row identity's latest config) into one row per cell."""
    frame = with_init(latest_configs(frame))
    if frame.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    rows = []
    for key, g in frame.groupby(KEY, sort=True, dropna=False):
        row = dict(zip(KEY, key))
        mean, std, n, lo, hi = mean_std_ci(g["value"], metric_range(row["metric"]))
        row.update(
            schema_version=SCHEMA_VERSION,
            mean=mean,
            std=std,
            n_seeds=n,
            ci95_low=lo,
            ci95_high=hi,
            code_version=",".join(sorted(set(g["code_version"]))),
            dataset_version=",".join(sorted({v for v in g.get("dataset_version", []) if v})),
            config_hash=",".join(sorted(set(g["group_hash"]))),
            # when the cell's newest job finished: what tells a current budget from a superseded one
            created_at=str(g["created_at"].max()) if "created_at" in g else now_iso(),
        )
        rows.append(row)
    return pd.DataFrame(rows)[LONG_COLUMNS]


def budget_source(budget) -> str:
    """The pretraining source of a budget ('30ep@cifar10' → 'cifar10'; '' when in-domain)."""
    b = str(budget)
    return b.split("@", 1)[1] if "@" in b else ""


def superseded_mask(df: pd.DataFrame) -> pd.Series:
    """True for rows of a pretraining budget that a newer budget of the same method replaced: of a
    (suite, protocol, dataset, method, encoder, init, pretraining source), only the budget whose newest row
    is latest is current (equal times: all kept, nothing can be told apart)."""
    if df.empty or "created_at" not in df or "pretrain_budget" not in df:
        return pd.Series(False, index=df.index)
    ident = [c for c in ("suite", "protocol", "dataset", "method", "encoder", "init") if c in df]
    d = df[ident + ["pretrain_budget", "created_at"]].astype(str)
    d = d.assign(_src=[budget_source(b) for b in d["pretrain_budget"]])
    newest = d.groupby(ident + ["_src", "pretrain_budget"])["created_at"].transform("max")
    latest = newest.groupby([d[c] for c in ident + ["_src"]]).transform("max")
    return newest < latest


def _method_order(methods) -> list[str]:
    """SSL methods alphabetically, then the reference rows last (with axes: each one's rows)."""
    return reference_order(methods, REFERENCE_METHODS)


def label_fraction_markdown(
    long: pd.DataFrame,
    metric_for: dict[str, str] | None = None,
    failed: dict[str, set[str] | dict[str, str]] | None = None,
) -> str:
    """One pivot per dataset: methods as rows, probe × fraction as columns, 'mean ± std (n=k)' cells
    ('mean (n=1)' for one seed), a majority-class floor row, accuracies at or below it marked ▿.
    `failed` ({dataset: {method, …}} or {dataset: {method: status}}): cells of a method with a failed
    or collapsed job read that status ('failed', 'collapsed'), never a number."""
    lf = long[long["protocol"] == "label_fraction"]
    floors = floor_values(lf)
    failed = failed or {}
    out = io.StringIO()
    for dataset in sorted(set(lf["dataset"]) | set(failed)):
        d = lf[lf["dataset"] == dataset]
        metric = (metric_for or {}).get(dataset, "accuracy")
        d = d[d["metric"] == metric]
        cols = sorted({(p, f) for p, f in zip(d["probe"], d["fraction"])}, key=lambda t: (t[0], t[1]))
        floor = {c: floors.get(("label_fraction", dataset, c[0], float(c[1]))) for c in cols}
        marks = metric == "accuracy"  # the floor is an accuracy
        out.write(f"### {dataset} — {metric} (mean ± std over seeds, n = seeds)\n\n")
        heads = [f"{p} @ {f * 100:g}%" for p, f in cols] or ["result"]  # a dataset whose jobs all failed
        out.write("| method | " + " | ".join(heads) + " |\n")
        out.write("|---|" + "---:|" * len(heads) + "\n")
        bad = failed.get(dataset, set())
        bad = bad if isinstance(bad, dict) else dict.fromkeys(bad, "failed")
        for m in _method_order(set(d["method"].unique()) | set(bad)):
            if m in bad:
                out.write(f"| {m} | " + " | ".join([bad[m]] * len(heads)) + " |\n")
                continue
            cells = []
            for p, f in cols:
                r = d[(d["method"] == m) & (d["probe"] == p) & (d["fraction"] == f)]
                if r.empty:
                    cells.append("—")
                    continue
                mean = r["mean"].iloc[0]
                low = marks and at_or_below_floor(mean, floor[(p, f)])
                cells.append(cell_text(mean, r["std"].iloc[0], r["n_seeds"].iloc[0], 100, 1, low))
            out.write(f"| {m} | " + " | ".join(cells) + " |\n")
        if marks and any(v is not None for v in floor.values()):
            out.write(
                "| *majority-class floor* | "
                + " | ".join("—" if floor[c] is None else f"{100 * floor[c]:.1f}" for c in cols)
                + " |\n"
            )
        n = int(d["n_seeds"].max()) if not d.empty else 0
        out.write(
            f"\nUp to {n} seed(s); values in %; n = seeds behind a cell (no ± for one seed; the CSV's "
            "95 % CIs are t-intervals clipped to [0, 1]). Reference rows: random_init, supervised.\n"
        )
        out.write(f"{FLOOR_NOTE}\n\n" if marks else "\n")
    return out.getvalue()


def write_tables(
    store: ResultStore, out_dir: Path, suite: str | None = None, metric_for: dict[str, str] | None = None
) -> dict[str, Path]:
    """Regenerate every table of `out_dir` from the store. Returns {name: path}."""
    long = long_table(derived_rows(latest_configs(store.frame(suite)), metric_for))
    written: dict[str, Path] = {}
    for protocol, part in long.groupby("protocol"):
        written[f"{protocol}.csv"] = atomic_write_text(
            Path(out_dir) / f"{protocol}.csv", part.to_csv(index=False)
        )
    missing: dict[str, dict[str, str]] = {}
    for dataset, history in store.histories(suite):  # OOD partners a job had to leave out
        for partner, why in (history.get("ood_missing") or {}).items():
            missing.setdefault(dataset, {})[partner] = why
    # the CSVs keep every stored budget; the Markdown shows each method's current budget only
    old = superseded_mask(long)
    long = long[~old]
    # one row per (method, encoder, init) when the suite sweeps those axes
    sweep = swept(long)
    long = axis_rows(long)
    written.update(write_protocol_markdowns(long, out_dir, metric_for, missing, superseded=int(old.sum())))
    failed: dict[str, dict[str, str]] = {}
    for j in store.jobs("failed") + store.jobs("collapsed"):  # shown as such, never as numbers
        if suite is None or j["suite"] == suite:
            row = axis_label(j["method"], j["encoder"], j["init"]) if sweep else j["method"]
            failed.setdefault(j["dataset"], {})[row] = j["status"]
    md = label_fraction_markdown(long, metric_for, failed)
    if md:
        written["label_fraction.md"] = atomic_write_text(
            Path(out_dir) / "label_fraction.md",
            "# Label-fraction results\n\n" + superseded_note(int(old.sum())) + md,
        )
    return written
