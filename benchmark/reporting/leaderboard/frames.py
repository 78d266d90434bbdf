"""Leaderboard frames: reading a CSV, the canonical string form, and merging (for the same key the
newer row, by created_at, replaces the older one)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from benchmark.reporting.leaderboard.schema import FLOAT_COLUMNS, INT_COLUMNS, SPREAD_COLUMNS
from benchmark.reporting.tables import KEY, LONG_COLUMNS


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """All columns as strings in one canonical spelling, so equal values compare and key equal."""
    d = df.copy()
    if "init" not in d.columns:  # written before the init axis (schema < 1.2): every row is random-init
        d["init"] = "random"  # the rows keep their schema version (docs/leaderboards.md)
    for c in LONG_COLUMNS:
        if c not in d.columns:
            d[c] = ""
    d = d[LONG_COLUMNS]
    for c in FLOAT_COLUMNS:
        d[c] = [_float_text(v, c in SPREAD_COLUMNS) for v in d[c]]
    for c in INT_COLUMNS:
        d[c] = [str(int(float(v))) for v in d[c]]
    for c in LONG_COLUMNS:
        if c not in FLOAT_COLUMNS and c not in INT_COLUMNS:
            d[c] = ["" if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in d[c]]
    return d.reset_index(drop=True)


def _float_text(v, may_be_empty: bool) -> str:
    """repr of a float; the spread of a single seed (NaN or empty) is the empty string."""
    if may_be_empty and (v is None or v == "" or (isinstance(v, float) and math.isnan(v))):
        return ""
    return repr(float(v))


def read_long(path: str | Path) -> pd.DataFrame:
    """Read a (validated) leaderboard CSV as canonical strings; never evaluates a cell."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    return canonical(df)


def numeric(df: pd.DataFrame) -> pd.DataFrame:
    d = df.copy()
    for c in FLOAT_COLUMNS:
        d[c] = pd.to_numeric(d[c].where(d[c].astype(str) != ""))  # an empty spread (one seed) is NaN
    for c in INT_COLUMNS:
        d[c] = pd.to_numeric(d[c]).astype(int)
    return d


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _key(r) -> tuple:
    return tuple(r[c] for c in KEY)


def describe_row(r) -> str:
    """A row's cell in words, for change logs."""
    parts = [r["dataset"], r["method"]]
    enc = str(r.get("encoder", "")).split(":")[0]
    if r.get("init", "random") != "random" or enc not in ("", "default", "tokens"):
        parts.append(f"{enc}/{r.get('init', 'random')}")
    parts += [r["probe"], f"{float(r['fraction']) * 100:g}%"]
    if r["corruption"]:
        parts.append(f"{r['corruption']}@{r['severity']}")
    if r["ood_partner"]:
        parts.append(f"vs {r['ood_partner']}")
    parts.append(r["metric"])
    return " · ".join(parts)


def merge(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Merge canonical frames: the newer row (created_at) wins for a key; returns (merged, changes)."""
    rows = {_key(r): r for r in old.to_dict("records")}
    changes: list[str] = []
    same_cols = ["mean", "std", "n_seeds", "ci95_low", "ci95_high", "config_hash", "code_version"]
    for r in new.to_dict("records"):
        k = _key(r)
        o = rows.get(k)
        if o is None:
            rows[k] = r
            changes.append(f"added    {describe_row(r)}: {float(r['mean']):.4f} (n={r['n_seeds']})")
        elif all(o[c] == r[c] for c in same_cols):
            continue  # unchanged: keep the published row as it is
        elif parse_time(r["created_at"]) >= parse_time(o["created_at"]):
            rows[k] = r
            changes.append(
                f"replaced {describe_row(r)}: {float(o['mean']):.4f} (n={o['n_seeds']}, "
                f"{o['created_at']}) → {float(r['mean']):.4f} "
                f"(n={r['n_seeds']}, {r['created_at']})"
            )
        else:
            changes.append(
                f"kept     {describe_row(o)}: published row ({o['created_at']}) is newer than the "
                f"incoming one ({r['created_at']})"
            )
    return _sorted(pd.DataFrame(list(rows.values()), columns=LONG_COLUMNS)), changes


def _sorted(merged: pd.DataFrame) -> pd.DataFrame:
    """Rows in key order, fraction and severity compared as numbers."""
    if merged.empty:
        return merged
    sort = merged.assign(_f=merged["fraction"].astype(float), _s=merged["severity"].astype(int))
    numeric_col = {"fraction": "_f", "severity": "_s"}
    sort = sort.sort_values([numeric_col.get(c, c) for c in KEY], kind="stable")
    return sort[LONG_COLUMNS].reset_index(drop=True)
