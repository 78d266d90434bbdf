"""Tables generated from the store, never by hand: the long format of docs/design.md §4 (one row per
cell, mean ± std over seeds with a t-based 95 % CI) as CSV, and Markdown pivots with methods as rows."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from benchmark.core.io import atomic_write_text
from benchmark.orchestration.store import ResultStore, now_iso
from benchmark.reporting.protocol_tables import derived_rows, write_protocol_markdowns
from benchmark.reporting.stats import mean_std_ci

# 1.1 added `dataset_version`; 1.0 files (without it) still read and validate, the column empty.
SCHEMA_VERSION = "1.1"
SCHEMA_VERSIONS = ("1.0", "1.1")
LONG_COLUMNS = [
    "schema_version",
    "suite",
    "domain",
    "dataset",
    "method",
    "encoder",
    "pretrain_budget",
    "protocol",
    "probe",
    "fraction",
    "corruption",
    "severity",
    "ood_partner",
    "metric",
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
ADDED_IN = {"dataset_version": "1.1"}
KEY = [
    "suite",
    "domain",
    "dataset",
    "method",
    "encoder",
    "pretrain_budget",
    "protocol",
    "probe",
    "fraction",
    "corruption",
    "severity",
    "ood_partner",
    "metric",
]
REFERENCE_METHODS = ("random_init", "supervised")


# What a table row names; runs of one of these under different configs (an edited suite YAML) are
# never pooled: the most recently recorded config's jobs stand for it.
ROW_IDENTITY = ["suite", "dataset", "method", "encoder", "pretrain_budget"]


def latest_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each row identity, only the results of the config group (`group_hash`) recorded
    last, so a store that also holds an older config's jobs (say before `robustness.max_test`
    changed) never mixes the two into one mean ± std or counts its seeds twice."""
    if frame.empty or "group_hash" not in frame or "created_at" not in frame:
        return frame
    last = frame.groupby(ROW_IDENTITY + ["group_hash"], dropna=False)["created_at"].max().reset_index()
    last = last.sort_values("created_at").groupby(ROW_IDENTITY, dropna=False).tail(1)
    return frame.merge(last[ROW_IDENTITY + ["group_hash"]], on=ROW_IDENTITY + ["group_hash"], how="inner")


def long_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-seed rows (of each row identity's latest config) into one row per cell."""
    frame = latest_configs(frame)
    if frame.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    rows = []
    for key, g in frame.groupby(KEY, sort=True, dropna=False):
        mean, std, n, lo, hi = mean_std_ci(g["value"])
        row = dict(zip(KEY, key))
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
            created_at=now_iso(),
        )
        rows.append(row)
    return pd.DataFrame(rows)[LONG_COLUMNS]


def _method_order(methods) -> list[str]:
    """SSL methods alphabetically, then the reference rows last."""
    ssl = sorted(m for m in methods if m not in REFERENCE_METHODS)
    return ssl + [m for m in REFERENCE_METHODS if m in set(methods)]


def label_fraction_markdown(
    long: pd.DataFrame, metric_for: dict[str, str] | None = None, failed: dict[str, set[str]] | None = None
) -> str:
    """One pivot per dataset: methods as rows, probe × fraction as columns, 'mean ± std' cells.
    `failed` ({dataset: {method, …}}): cells of a method with a failed job read 'failed', never a number."""
    lf = long[long["protocol"] == "label_fraction"]
    failed = failed or {}
    out = io.StringIO()
    for dataset in sorted(set(lf["dataset"]) | set(failed)):
        d = lf[lf["dataset"] == dataset]
        metric = (metric_for or {}).get(dataset, "accuracy")
        d = d[d["metric"] == metric]
        cols = sorted({(p, f) for p, f in zip(d["probe"], d["fraction"])}, key=lambda t: (t[0], t[1]))
        out.write(f"### {dataset} — {metric} (mean ± std over seeds)\n\n")
        out.write("| method | " + " | ".join(f"{p} @ {f * 100:g}%" for p, f in cols) + " |\n")
        out.write("|---|" + "---:|" * len(cols) + "\n")
        bad = failed.get(dataset, set())
        for m in _method_order(set(d["method"].unique()) | bad):
            if m in bad:
                out.write(f"| {m} | " + " | ".join(["failed"] * max(1, len(cols))) + " |\n")
                continue
            cells = []
            for p, f in cols:
                r = d[(d["method"] == m) & (d["probe"] == p) & (d["fraction"] == f)]
                cells.append(
                    "—" if r.empty else f"{100 * r['mean'].iloc[0]:.1f} ± {100 * r['std'].iloc[0]:.1f}"
                )
            out.write(f"| {m} | " + " | ".join(cells) + " |\n")
        n = int(d["n_seeds"].max()) if not d.empty else 0
        out.write(f"\n{n} seed(s); values in %. Reference rows: random_init, supervised.\n\n")
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
    written.update(write_protocol_markdowns(long, out_dir, metric_for, missing))
    failed: dict[str, set[str]] = {}
    for j in store.jobs("failed"):  # failed cells are shown as failed, never as numbers
        if suite is None or j["suite"] == suite:
            failed.setdefault(j["dataset"], set()).add(j["method"])
    md = label_fraction_markdown(long, metric_for, failed)
    if md:
        written["label_fraction.md"] = atomic_write_text(
            Path(out_dir) / "label_fraction.md", "# Label-fraction results\n\n" + md
        )
    return written
