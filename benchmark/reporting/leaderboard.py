"""Leaderboards: versioned long-format CSVs (DESIGN §4) under leaderboards/<suite>/<protocol>.csv,
their validator, and the generated Markdown summary + static HTML page under leaderboards/site/.

- `publish`: aggregate the store (tables.long_table), then merge into the published CSV of each
  protocol: for the same key the newer row (by created_at, the time its newest job finished) replaces
  the older one, and every addition / replacement is reported.
- `withdraw`: remove a method's rows (one dataset's, one pretraining budget's) from a suite's CSVs,
  logged row by row — for a budget the suite no longer runs (the budget is part of the key). The
  withdrawal is remembered in <suite>/withdrawn.json, so a later publish from a store that still holds
  those results skips them (results finished after the withdrawal, i.e. a re-run, are published).
- `validate`: parse a CSV as text (never evaluated) and report every problem with its line, row and
  column: schema version, required columns, types, allowed values, duplicate keys, metric ranges,
  spreadsheet formula injection.
- `render`: Markdown summary + one self-contained HTML page (inline CSS/JS, escaped cells, sortable
  tables per protocol and domain, PNG plots, the suite config and code versions); works offline.
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmark.core.arguments import csv_list
from benchmark.core.io import atomic_write_text
from benchmark.orchestration.jobs import headline_metrics
from benchmark.evaluation.plugins import PROBES, PROTOCOLS, SCORERS
from benchmark.orchestration.suites import NAME_RE, SUITES_DIR, UsageError
from benchmark.reporting.tables import KEY, LONG_COLUMNS, SCHEMA_VERSION, long_table

UNIT_METRICS = {"accuracy", "balanced_accuracy", "auroc", "fpr95", "aupr_in", "aupr_out", "mca",
                "clean_accuracy", "error", "macro_f1", "average_precision"}
NONNEG_METRICS = {"mce", "ce", "relative_robustness"}
KNOWN_METRICS = UNIT_METRICS | NONNEG_METRICS
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^[+-]?\d+$")
_HASHES = re.compile(r"^[0-9a-f]{16}(,[0-9a-f]{16})*$")
_CODE_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*(,[0-9A-Za-z][0-9A-Za-z.+_-]*)*$")
_ENCODER = re.compile(r"^[a-z0-9][A-Za-z0-9_.:/-]*$")
_PARTNER = re.compile(r"^((near|far):)?[a-z][a-z0-9_]*$")
# '8ep', or '8ep@cifar10+stl10' for transfer / multi-domain jobs (pretrained on those datasets)
_BUDGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*)?$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
INJECTION_START = ("=", "+", "-", "@", "\t", "\r")
FLOAT_COLUMNS = ("fraction", "mean", "std", "ci95_low", "ci95_high")
INT_COLUMNS = ("severity", "n_seeds")


def known_protocols() -> set[str]:
    return set(PROTOCOLS)


def known_probes() -> set[str]:
    """Probes and OOD scorers (the OOD protocol stores the scorer in the probe column)."""
    return set(PROBES) | set(SCORERS)


def check_suite_name(name: str, what: str = "--suite") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"{what} {name!r}: expected a lower_snake_case suite name (no paths)")
    return name


# -------------------------------------------------------------------------------------------------
# validation


@dataclass
class Problem:
    line: int | None    # physical CSV line (header = line 1); None for file-level problems
    column: str | None
    message: str

    def format(self, source: str) -> str:
        if self.line is None:
            return f"{source}: {self.message}"
        where = f"line {self.line} (row {self.line - 1})" if self.line > 1 else "line 1 (header)"
        col = f", column {self.column!r}" if self.column else ""
        return f"{source}: {where}{col}: {self.message}"


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text.strip()))


def validate_text(text: str, expect_suite: str | None = None,
                  expect_protocol: str | None = None) -> list[Problem]:
    """Every problem of a long-format leaderboard CSV given as text."""
    problems: list[Problem] = []
    add = problems.append
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return [Problem(None, None, "empty file (expected a header line and rows)")]
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        return [Problem(None, None, f"not a valid CSV file: {e}")]
    header, body = records[0], records[1:]
    seen: set[str] = set()
    for c in header:
        if c in seen:
            add(Problem(1, c, "column appears twice in the header"))
        seen.add(c)
    missing = [c for c in LONG_COLUMNS if c not in header]
    for c in missing:
        add(Problem(1, c, f"required column is missing (schema {SCHEMA_VERSION} needs: {', '.join(LONG_COLUMNS)})"))
    for c in header:
        if c not in LONG_COLUMNS:
            add(Problem(1, c, f"unknown column (allowed: {', '.join(LONG_COLUMNS)})"))
    idx = {c: header.index(c) for c in LONG_COLUMNS if c in header}
    protocols, probes = known_protocols(), known_probes()
    keys: dict[tuple, int] = {}
    for n, rec in enumerate(body):
        line = n + 2
        if not rec:
            add(Problem(line, None, "blank line"))
            continue
        if len(rec) != len(header):
            add(Problem(line, None, f"has {len(rec)} field(s), the header has {len(header)}"))
        for j, cell in enumerate(rec):
            col = header[j] if j < len(header) else f"#{j + 1}"
            s = cell.lstrip(" ")
            if s.startswith(INJECTION_START) and not _is_number(s):
                add(Problem(line, col, f"cell {cell[:40]!r} starts with {s[0]!r} and is not a number: "
                                       f"possible spreadsheet formula injection"))
            elif any(ch in cell for ch in "\r\n\x00"):
                add(Problem(line, col, "cell contains a line break or NUL character"))
        row = {c: (rec[i] if i < len(rec) else None) for c, i in idx.items()}
        vals = _check_row(row, line, add, protocols, probes, expect_suite, expect_protocol)
        if vals is not None and all(c in vals for c in KEY):  # a short row lacks some key cells
            key = tuple(vals[c] for c in KEY)
            if key in keys:
                add(Problem(line, None, f"duplicate key: same ({', '.join(KEY)}) as line {keys[key]}"))
            else:
                keys[key] = line
    if not body:
        add(Problem(None, None, "no data rows"))
    return problems


def _check_row(row: dict, line: int, add, protocols, probes, expect_suite, expect_protocol) -> dict | None:
    """Type- and value-check one row; returns normalised key values, or None when a key cell is bad."""
    ok = True
    out: dict = {}

    def bad(col, msg):
        nonlocal ok
        ok = False
        add(Problem(line, col, msg))

    def text(col, pattern, what, allow_empty=False):
        v = row.get(col)
        if v is None:
            return None
        if v == "" and allow_empty:
            out[col] = v
            return v
        if not pattern.match(v):
            bad(col, f"{v[:40]!r} is not {what}")
            return None
        out[col] = v
        return v

    v = row.get("schema_version")
    if v is not None and v != SCHEMA_VERSION:
        bad("schema_version", f"schema version {v[:20]!r} is not supported (expected {SCHEMA_VERSION!r})")
    suite = text("suite", NAME_RE, "a lower_snake_case suite name")
    if suite and expect_suite and suite != expect_suite:
        bad("suite", f"suite {suite!r} does not match the leaderboard's suite {expect_suite!r}")
    text("domain", NAME_RE, "a lower_snake_case domain")
    text("dataset", NAME_RE, "a lower_snake_case dataset name")
    text("method", NAME_RE, "a lower_snake_case method name")
    text("encoder", _ENCODER, "an encoder name (letters, digits, _ . : / -)")
    text("pretrain_budget", _BUDGET, "a pretraining budget such as '8ep' or '8ep@cifar10+stl10'")
    p = text("protocol", NAME_RE, "a lower_snake_case protocol name")
    if p and p not in protocols:
        bad("protocol", f"unknown protocol {p!r} (known: {', '.join(sorted(protocols))})")
    if p and expect_protocol and p != expect_protocol:
        bad("protocol", f"protocol {p!r} in the file for protocol {expect_protocol!r}")
    pr = text("probe", NAME_RE, "a lower_snake_case probe name")
    if pr and pr not in probes:
        bad("probe", f"unknown probe {pr!r} (known: {', '.join(sorted(probes))})")
    text("corruption", NAME_RE, "empty or a lower_snake_case corruption name", allow_empty=True)
    text("ood_partner", _PARTNER, "empty or an OOD partner such as 'near:mnist' / 'far:synthetic_noise'",
         allow_empty=True)
    m = text("metric", NAME_RE, "a lower_snake_case metric name")
    if m and m not in KNOWN_METRICS:
        bad("metric", f"unknown metric {m!r} (known: {', '.join(sorted(KNOWN_METRICS))})")

    num: dict[str, float] = {}
    for col in FLOAT_COLUMNS:
        v = row.get(col)
        if v is None:
            continue
        if not _is_number(v):
            bad(col, f"{v[:40]!r} is not a number")
            continue
        num[col] = float(v)
        if not math.isfinite(num[col]):
            bad(col, f"{v[:40]!r} is not a finite number")
            num.pop(col)
    for col in INT_COLUMNS:
        v = row.get(col)
        if v is None:
            continue
        if not _INT.match(v.strip()):
            bad(col, f"{v[:40]!r} is not an integer")
            continue
        num[col] = int(v)
    if "fraction" in num:
        if not 0 < num["fraction"] <= 1:
            bad("fraction", f"fraction {num['fraction']:g} is outside (0, 1]")
        out["fraction"] = repr(num["fraction"])
    if "severity" in num:
        if not 0 <= num["severity"] <= 5:
            bad("severity", f"severity {num['severity']} is outside 0–5")
        elif num["severity"] > 0 and row.get("corruption") == "":
            bad("corruption", f"severity {num['severity']} needs a corruption name")
        out["severity"] = str(num["severity"])
    if "n_seeds" in num and num["n_seeds"] < 1:
        bad("n_seeds", f"n_seeds {num['n_seeds']} must be ≥ 1")
    if "std" in num and num["std"] < 0:
        bad("std", f"std {num['std']:g} is negative")
    if m in UNIT_METRICS and "mean" in num and not 0 <= num["mean"] <= 1:
        bad("mean", f"{m} mean {num['mean']:g} is outside [0, 1]")
    if m in NONNEG_METRICS and "mean" in num and num["mean"] < 0:
        bad("mean", f"{m} mean {num['mean']:g} is negative")
    if all(c in num for c in ("ci95_low", "mean", "ci95_high")):
        tol = 1e-9 * max(1.0, abs(num["mean"]))
        if not num["ci95_low"] - tol <= num["mean"] <= num["ci95_high"] + tol:
            bad("ci95_low", f"95 % CI [{num['ci95_low']:g}, {num['ci95_high']:g}] does not contain the "
                            f"mean {num['mean']:g}")
    text("code_version", _CODE_VERSION, "a code version such as '0.1.0+5a04cd6'")
    text("config_hash", _HASHES, "comma-separated 16-hex-digit config hashes")
    v = row.get("created_at")
    if v is not None:
        try:
            if not _CREATED.match(v):
                raise ValueError
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            bad("created_at", f"{v[:40]!r} is not an ISO-8601 UTC time such as 2026-01-31T12:00:00Z")
    if not ok and any(c not in out for c in KEY if row.get(c) is not None):
        return None
    return out


def validate_file(path: str | Path, expect_suite: str | None = None,
                  expect_protocol: str | None = None) -> list[Problem]:
    p = Path(path)
    if not p.is_file():
        return [Problem(None, None, "no such file")]
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return [Problem(None, None, f"not UTF-8 text ({e.reason} at byte {e.start})")]
    return validate_text(text, expect_suite, expect_protocol)


# -------------------------------------------------------------------------------------------------
# reading, canonical form, merging


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """All columns as strings in one canonical spelling, so equal values compare and key equal."""
    d = df.copy()
    for c in LONG_COLUMNS:
        if c not in d.columns:
            d[c] = ""
    d = d[LONG_COLUMNS]
    for c in FLOAT_COLUMNS:
        d[c] = [repr(float(v)) for v in d[c]]
    for c in INT_COLUMNS:
        d[c] = [str(int(float(v))) for v in d[c]]
    for c in LONG_COLUMNS:
        if c not in FLOAT_COLUMNS and c not in INT_COLUMNS:
            d[c] = ["" if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in d[c]]
    return d.reset_index(drop=True)


def read_long(path: str | Path) -> pd.DataFrame:
    """Read a (validated) leaderboard CSV as canonical strings; never evaluates a cell."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    return canonical(df)


def numeric(df: pd.DataFrame) -> pd.DataFrame:
    d = df.copy()
    for c in FLOAT_COLUMNS:
        d[c] = pd.to_numeric(d[c])
    for c in INT_COLUMNS:
        d[c] = pd.to_numeric(d[c]).astype(int)
    return d


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _key(r) -> tuple:
    return tuple(r[c] for c in KEY)


def _describe(r) -> str:
    parts = [r["dataset"], r["method"], r["probe"], f"{float(r['fraction']) * 100:g}%"]
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
            changes.append(f"added    {_describe(r)}: {float(r['mean']):.4f} (n={r['n_seeds']})")
        elif all(o[c] == r[c] for c in same_cols):
            continue  # unchanged: keep the published row as it is
        elif _ts(r["created_at"]) >= _ts(o["created_at"]):
            rows[k] = r
            changes.append(f"replaced {_describe(r)}: {float(o['mean']):.4f} (n={o['n_seeds']}, "
                           f"{o['created_at']}) → {float(r['mean']):.4f} (n={r['n_seeds']}, {r['created_at']})")
        else:
            changes.append(f"kept     {_describe(o)}: published row ({o['created_at']}) is newer than the "
                           f"incoming one ({r['created_at']})")
    merged = pd.DataFrame(list(rows.values()), columns=LONG_COLUMNS)
    if not merged.empty:
        sort = merged.assign(_f=merged["fraction"].astype(float), _s=merged["severity"].astype(int))
        sort = sort.sort_values([c if c not in ("fraction", "severity") else {"fraction": "_f", "severity": "_s"}[c]
                                 for c in KEY], kind="stable")
        merged = sort[LONG_COLUMNS].reset_index(drop=True)
    return merged, changes


def store_long(store, suite: str, log=print) -> pd.DataFrame:
    """The store's results for the suite in the long format, with the rows the tables derive at table
    time (CE / mCE against the supervised reference); created_at = when the cell's newest job
    finished. Cells without a single finite value (e.g. relative robustness of a 0-accuracy clean
    row) are left out, with a note."""
    from benchmark.reporting.tables import latest_configs
    frame = latest_configs(store.frame(suite))
    if frame.empty:
        return canonical(pd.DataFrame(columns=LONG_COLUMNS))
    try:
        from benchmark.reporting.protocol_tables import derived_rows
        from benchmark.orchestration.suites import load_suite
        try:
            metric_for = headline_metrics(load_suite(suite))
        except UsageError:
            metric_for = None
        frame = derived_rows(frame, metric_for)
    except ImportError:
        pass
    long = long_table(frame)
    newest = frame.groupby(KEY, dropna=False)["created_at"].max().reset_index()
    long = long.drop(columns=["created_at"]).merge(newest, on=KEY, how="left")[LONG_COLUMNS]
    empty = long["n_seeds"] == 0
    for _, r in long[empty].iterrows():
        log(f"  skipped  {_describe(r)}: no finite value in any seed")
    return canonical(long[~empty])


def _problems_text(problems: list[Problem], source: str, limit: int = 20) -> str:
    lines = [p.format(source) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"… and {len(problems) - limit} more")
    return "\n".join(lines)


def write_checked(df: pd.DataFrame, path: Path, suite: str, protocol: str) -> Path:
    text = df.to_csv(index=False, lineterminator="\n")
    problems = validate_text(text, suite, protocol)
    if problems:
        raise UsageError(f"refusing to publish an invalid leaderboard {path}: "
                         + problems[0].format(str(path)) + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return atomic_write_text(path, text)


WITHDRAWN_FILE = "withdrawn.json"


def read_withdrawals(suite_dir: Path) -> list[dict]:
    """The suite's remembered withdrawals: [{method, dataset, pretrain_budget, withdrawn_at}], None
    for a filter that was not given."""
    path = Path(suite_dir) / WITHDRAWN_FILE
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
        for r in records:
            _ts(r["withdrawn_at"])
            if not isinstance(r["method"], str):
                raise TypeError("method must be a string")
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(f"{path}: not a list of withdrawals {{method, dataset, pretrain_budget, withdrawn_at}}: {e}")
    return records


def _withdrawn_at(r, withdrawals: list[dict]) -> str | None:
    """When a row's results were withdrawn, if a withdrawal covers it and they finished before it."""
    for w in withdrawals:
        if (r["method"] == w["method"] and w.get("dataset") in (None, r["dataset"])
                and w.get("pretrain_budget") in (None, r["pretrain_budget"])
                and _ts(r["created_at"]) <= _ts(w["withdrawn_at"])):
            return w["withdrawn_at"]
    return None


def drop_withdrawn(incoming: pd.DataFrame, suite_dir: Path, log=print) -> pd.DataFrame:
    withdrawals = read_withdrawals(suite_dir)
    if not withdrawals or incoming.empty:
        return incoming
    keep = []
    for r in incoming.to_dict("records"):
        when = _withdrawn_at(r, withdrawals)
        keep.append(when is None)
        if when is not None:
            log(f"  skipped  {_describe(r)} [{r['pretrain_budget']}]: withdrawn at {when} (finished {r['created_at']})")
    return incoming[keep]


def publish_frame(incoming: pd.DataFrame, suite: str, root: Path, log=print) -> dict[str, Path]:
    """Merge canonical rows into root/<suite>/<protocol>.csv for each protocol present; rows of
    withdrawn results (see `withdraw`) are skipped."""
    check_suite_name(suite)
    written = {}
    incoming = drop_withdrawn(incoming, Path(root) / suite, log)
    for protocol, part in incoming.groupby("protocol", sort=True):
        check_suite_name(protocol, "protocol")
        path = Path(root) / suite / f"{protocol}.csv"
        old = canonical(pd.DataFrame(columns=LONG_COLUMNS))
        if path.exists():
            problems = validate_file(path, suite, protocol)
            if problems:
                raise UsageError(f"the published leaderboard is invalid, fix it first: "
                                 + problems[0].format(str(path)))
            old = read_long(path)
        merged, changes = merge(old, part)
        written[protocol] = write_checked(merged, path, suite, protocol)
        n = {w: sum(c.startswith(w) for c in changes) for w in ("added", "replaced", "kept")}
        log(f"{path}: {len(merged)} row(s); {n['added']} added, {n['replaced']} replaced, "
            f"{len(part) - sum(n.values())} unchanged, {n['kept']} kept (published row newer)")
        for c in changes:
            log("  " + c)
    return written


def publish_store(store, suite: str, root: Path, log=print) -> dict[str, Path]:
    check_suite_name(suite)
    long = store_long(store, suite, log)
    if long.empty:
        raise UsageError(f"no finished results for suite {suite!r} in {store.path}; run it first")
    written = publish_frame(long, suite, root, log)
    cfg = SUITES_DIR / f"{suite}.yaml"
    if cfg.exists():  # the exact config the page shows next to the tables
        written["suite.yaml"] = atomic_write_text(Path(root) / suite / "suite.yaml", cfg.read_text())
    return written


def publish_csv(csv_path: Path, suite: str, root: Path, log=print) -> dict[str, Path]:
    """Validate a submitted CSV, then merge it like store results."""
    check_suite_name(suite)
    problems = validate_file(csv_path, suite)
    if problems:
        raise UsageError("submission rejected: " + problems[0].format(str(csv_path))
                         + (f" (+{len(problems) - 1} more; run `leaderboard validate`)" if len(problems) > 1 else ""))
    return publish_frame(read_long(csv_path), suite, root, log)


# -------------------------------------------------------------------------------------------------
# rendering

SCRIPT = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-sort');
    if (v === null) v = td.textContent.trim();
    if (v === '') return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function cmp(a, b) {
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === 'number' ? -1 : 1;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.forEach(function (r, j) { r._i = j; });
        rows.sort(function (ra, rb) {
          var a = key(ra.cells[i]), b = key(rb.cells[i]);
          if (a === null || b === null) return (a === null) - (b === null) || ra._i - rb._i;
          return (asc ? cmp(a, b) : cmp(b, a)) || ra._i - rb._i;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
    });
  });
})();
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.2rem;font-size:0.85rem}
th,td{border:1px solid #ccc;padding:0.2rem 0.5rem}td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
pre{background:#f7f7f7;padding:0.6rem;overflow:auto}img{max-width:100%;border:1px solid #eee}
"""


def _esc(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _condition(r) -> str:
    parts = []
    if r["corruption"]:
        parts.append(f"{r['corruption']}@{r['severity']}")
    elif int(r["severity"]):
        parts.append(f"severity {r['severity']}")
    if r["ood_partner"]:
        parts.append(f"vs {r['ood_partner']}")
    return " ".join(parts)


def summary_pivot(d: pd.DataFrame, protocol: str) -> tuple[list[str], list[list[tuple[str, str | None]]]]:
    """Methods × (dataset, probe, fraction, condition) of each dataset's headline metric.
    Robustness cells are averaged over corruptions per severity. Returns (headers, rows of (text, sort))."""
    from benchmark.reporting.plots import headline_metric, method_order

    parts = []
    for ds in sorted(d["dataset"].unique()):
        metric = headline_metric(d, ds, protocol)
        parts.append(d[(d["dataset"] == ds) & (d["metric"] == metric)])
    d = pd.concat(parts) if parts else d
    if protocol == "transfer" and "pretrain_budget" in d:
        # the source is recorded in the budget (`<epochs>ep@<source>`): name it in the column, so a
        # transfer cell never reads as in-domain and two sources of one target stay apart
        d = d.assign(dataset=[f"{str(b).split('@', 1)[1]} → {ds}" if "@" in str(b) else ds
                              for b, ds in zip(d["pretrain_budget"], d["dataset"])])
    if protocol == "robustness":
        d = (d.groupby(["dataset", "method", "probe", "fraction", "severity", "metric"], as_index=False)
               .agg(mean=("mean", "mean"), std=("std", "mean")))
        d["corruption"], d["ood_partner"] = "", ""
        d["corruption"] = ["mean over corruptions" if s else "" for s in d["severity"]]
    cols = sorted({(r["dataset"], r["probe"], float(r["fraction"]), r["corruption"], int(r["severity"]),
                    r["ood_partner"], r["metric"]) for _, r in d.iterrows()},
                  key=lambda t: (t[0], t[1], t[2], t[4], t[3], t[5]))
    headers = ["method"] + [" · ".join(x for x in (c[0], c[1], f"{c[2] * 100:g}%",
                                                   (f"{c[3]}" + (f" s{c[4]}" if c[4] else "")) if c[3] or c[4] else "",
                                                   f"vs {c[5]}" if c[5] else "", c[6]) if x) for c in cols]
    lookup = {(r["dataset"], r["probe"], float(r["fraction"]), r["corruption"], int(r["severity"]),
               r["ood_partner"], r["metric"], r["method"]): (r["mean"], r["std"]) for _, r in d.iterrows()}
    rows = []
    for m in method_order(d["method"].unique()):
        row = [(m, None)]
        for c in cols:
            v = lookup.get((*c, m))
            row.append(("—", "") if v is None else (f"{v[0]:.4f} ± {v[1]:.4f}", repr(float(v[0]))))
        rows.append(row)
    return headers, rows


def _html_table(headers: list[str], rows: list[list[tuple[str, str | None]]], cls: str = "sortable") -> str:
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for text, sort in row:
            attr = "" if sort is None else f' class="n" data-sort="{_esc(sort)}"'
            cells.append(f"<td{attr}>{_esc(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _md_table(headers: list[str], rows: list[list[tuple[str, str | None]]]) -> str:
    def cell(t):
        return str(t).replace("|", "\\|").replace("\n", " ")
    out = ["| " + " | ".join(cell(h) for h in headers) + " |",
           "|---|" + "---:|" * (len(headers) - 1)]
    out += ["| " + " | ".join(cell(t) for t, _ in r) + " |" for r in rows]
    return "\n".join(out)


def long_rows(d: pd.DataFrame) -> tuple[list[str], list[list[tuple[str, str | None]]]]:
    headers = ["dataset", "method", "probe", "fraction", "condition", "metric", "mean", "std", "n_seeds",
               "95 % CI"]
    rows = []
    for _, r in d.iterrows():
        rows.append([(r["dataset"], None), (r["method"], None), (r["probe"], None),
                     (f"{r['fraction'] * 100:g}%", repr(float(r["fraction"]))), (_condition(r), None),
                     (r["metric"], None), (_fmt(r["mean"]), repr(float(r["mean"]))),
                     (_fmt(r["std"]), repr(float(r["std"]))), (str(r["n_seeds"]), str(r["n_seeds"])),
                     (f"[{_fmt(r['ci95_low'])}, {_fmt(r['ci95_high'])}]", repr(float(r["ci95_low"])))])
    return headers, rows


def load_leaderboards(root: Path, suites: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """{suite: numeric long frame} of every published suite, validating each file first."""
    root = Path(root)
    if suites:
        for s in suites:
            check_suite_name(s)
    if suites:
        names = list(suites)
    elif root.is_dir():
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_RE.match(p.name) and p.name != "site")
    else:
        names = []
    out = {}
    for s in names:
        files = sorted((root / s).glob("*.csv"))
        if not files:
            if suites:
                raise UsageError(f"no leaderboard CSVs under {root / s}; publish the suite first")
            continue
        frames = []
        for f in files:
            problems = validate_file(f, s, f.stem)
            if problems:
                raise UsageError(f"invalid leaderboard, not rendered: {problems[0].format(str(f))}"
                                 + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
            frames.append(read_long(f))
        out[s] = numeric(pd.concat(frames, ignore_index=True))
    return out


def render(root: Path, site: Path | None = None, suites: list[str] | None = None,
           readme: Path | None = None) -> dict[str, Path]:
    from benchmark.reporting import plots

    root = Path(root)
    site = Path(site) if site else root / "site"
    boards = load_leaderboards(root, suites)
    if not boards:
        raise UsageError(f"no published leaderboards under {root}; run `leaderboard publish --suite S` first")
    written: dict[str, Path] = {}
    md = ["# SSLBench leaderboards", "",
          "Generated by `python run_benchmark.py leaderboard render` from the CSVs under "
          f"`{root.as_posix()}/` (long format, schema {SCHEMA_VERSION}); never edited by hand.", ""]
    body = []
    nav = []
    for suite, df in boards.items():
        nav.append(f'<li><a href="#suite-{_esc(suite)}">{_esc(suite)}</a></li>')
        body.append(f'<h2 id="suite-{_esc(suite)}">Suite <code>{_esc(suite)}</code></h2>')
        md += [f"## Suite `{suite}`", ""]
        versions = sorted({v for cv in df["code_version"] for v in str(cv).split(",") if v})
        body.append(f"<p>Code version(s): {_esc(', '.join(versions))}. Rows: {len(df)}. "
                    f"Created between {_esc(df['created_at'].min())} and {_esc(df['created_at'].max())}.</p>")
        md += [f"Code version(s): {', '.join(versions)}.", ""]
        withdrawn = [" · ".join(str(w[k]) for k in ("method", "dataset", "pretrain_budget") if w.get(k))
                     + f" (withdrawn {w['withdrawn_at'][:10]})" for w in read_withdrawals(root / suite)]
        if withdrawn:  # readers see what was taken down, not only what is up
            body.append(f"<p>Withdrawn (not shown; <code>{WITHDRAWN_FILE}</code>): {_esc('; '.join(withdrawn))}.</p>")
            md += [f"Withdrawn (not shown; `{WITHDRAWN_FILE}`): {'; '.join(withdrawn)}.", ""]
        for protocol in sorted(df["protocol"].unique()):
            pdf = df[df["protocol"] == protocol]
            body.append(f"<h3>{_esc(protocol)}</h3>")
            md += [f"### {protocol}", ""]
            for domain in sorted(pdf["domain"].unique()):
                d = pdf[pdf["domain"] == domain]
                headers, rows = summary_pivot(d, protocol)
                body.append(f"<h4>{_esc(protocol)} · {_esc(domain)}</h4>")
                body.append("<p>Headline metric per dataset, mean ± std over seeds; click a header to sort.</p>")
                body.append(_html_table(headers, rows))
                lh, lr = long_rows(d)
                body.append(f"<details><summary>All {len(lr)} cells ({_esc(protocol)} · {_esc(domain)})"
                            f"</summary>{_html_table(lh, lr)}</details>")
                md += [f"#### {domain}", "", _md_table(headers, rows), ""]
            rs = plots.rank_stats(df, protocol)
            if rs:
                rh = ["method", "average rank"]
                rr = [[(m, None), (f"{a:.2f}", repr(a))] for m, a in zip(rs["methods"], rs["avg_rank"])]
                blocks = {"robustness": "dataset × probe × fraction × corruption × severity",
                          "ood": "dataset × scorer × fraction × OOD partner"}.get(protocol, "dataset × probe × fraction")
                note = (f"{rs['n_blocks']} blocks ({blocks}) of the headline metric, 1 = best"
                        + (f"; Friedman p = {rs['friedman_p']:.3g}, Nemenyi CD (α = 0.05) = {rs['cd']:.2f}"
                           if rs["cd"] is not None else "; CD needs ≥ 3 methods × ≥ 3 blocks"))
                body.append(f"<p>Average rank: {_esc(note)}</p>" + _html_table(rh, rr))
                md += [f"Average rank ({note}):", "", _md_table(rh, rr), ""]
        made = plots.all_plots(df, site, suite)
        if made:
            body.append("<h3>Plots</h3>")
            md += ["### Plots", ""]
        for title, path in made:
            written[path.name] = path
            body.append(f'<figure><img src="{_esc(path.name)}" alt="{_esc(title)}">'
                        f"<figcaption>{_esc(title)}</figcaption></figure>")
            md += [f"![{title}]({path.name})", ""]
        cfg = root / suite / "suite.yaml"
        cfg_text = cfg.read_text() if cfg.exists() else "(suite config not published with this leaderboard)"
        body.append(f"<h3>Suite config</h3><pre>{_esc(cfg_text)}</pre>")
        md += ["### Suite config", "", "```yaml", cfg_text.rstrip(), "```", ""]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file: data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            "<title>SSLBench leaderboards</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>SSLBench leaderboards</h1>\n"
            f"<p>Generated from the published CSVs (schema {SCHEMA_VERSION}); no network needed.</p>"
            f"<ul>{''.join(nav)}</ul>\n" + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    written["index.html"] = atomic_write_text(site / "index.html", page)
    md_text = "\n".join(md).rstrip() + "\n"
    written["leaderboard.md"] = atomic_write_text(site / "leaderboard.md", md_text)
    if readme is not None:
        written["readme"] = update_readme(Path(readme), md_text, site)
    return written


README_START = "<!-- leaderboard:start (generated by `leaderboard render --readme`; do not edit) -->"
README_END = "<!-- leaderboard:end -->"


def update_readme(readme: Path, md_text: str, site: Path) -> Path:
    """Replace the block between the leaderboard markers of README.md with the generated summary
    (headings demoted one level, image paths made relative to the README)."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise UsageError(f"--readme {readme}: add the markers {README_START!r} and {README_END!r} where the "
                         f"generated tables should go")
    import os
    rel = Path(os.path.relpath(site.resolve(), readme.resolve().parent)).as_posix()
    lines, fenced = [], False
    for line in md_text.splitlines()[1:]:  # drop the page title
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:  # a YAML comment in a code block is not a heading
            line = "#" + line
        line = re.sub(r"!\[([^\]]*)\]\(([^)/]+\.png)\)", lambda m: f"![{m.group(1)}]({rel}/{m.group(2)})", line)
        lines.append(line)
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return atomic_write_text(readme, head + README_START + "\n" + "\n".join(lines).strip() + "\n" + README_END + tail)


def withdraw(suite: str, root: Path, method: str, dataset: str | None = None,
             pretrain_budget: str | None = None, log=print) -> dict[str, Path]:
    """Remove a method's published rows (optionally one dataset's, or one pretraining budget's) from
    every protocol CSV of a suite — e.g. the rows of a budget the suite no longer runs, which a
    re-run at the new budget adds next to (pretrain_budget is part of the key) instead of replacing.
    Logged row by row; a filter that matches nothing is a usage error. The filter and the time are
    appended to <suite>/withdrawn.json, which publish reads so as not to re-add these results."""
    check_suite_name(suite)
    withdrawals = read_withdrawals(Path(root) / suite)
    written, removed = {}, 0
    for path in sorted((Path(root) / suite).glob("*.csv")):
        protocol = path.stem
        problems = validate_file(path, suite, protocol)
        if problems:
            raise UsageError("the published leaderboard is invalid, fix it first: " + problems[0].format(str(path)))
        old = read_long(path)
        hit = old["method"] == method
        if dataset is not None:
            hit &= old["dataset"] == dataset
        if pretrain_budget is not None:
            hit &= old["pretrain_budget"] == pretrain_budget
        if not hit.any():
            continue
        for r in old[hit].to_dict("records"):
            log(f"  withdrawn {_describe(r)} [{r['pretrain_budget']}]: {float(r['mean']):.4f} (n={r['n_seeds']})")
        removed += int(hit.sum())
        written[protocol] = write_checked(old[~hit].reset_index(drop=True), path, suite, protocol)
        log(f"{path}: {int(hit.sum())} row(s) withdrawn, {int((~hit).sum())} left")
    if not removed:
        what = ", ".join(f"{k} {v!r}" for k, v in (("method", method), ("dataset", dataset),
                                                   ("pretrain_budget", pretrain_budget)) if v is not None)
        raise UsageError(f"no published rows of suite {suite!r} match {what} under {Path(root) / suite}")
    withdrawals.append({"method": method, "dataset": dataset, "pretrain_budget": pretrain_budget,
                        "withdrawn_at": datetime.now(timezone.utc).isoformat()})
    written[WITHDRAWN_FILE] = atomic_write_text(Path(root) / suite / WITHDRAWN_FILE,
                                                json.dumps(withdrawals, indent=1) + "\n")
    return written

# -------------------------------------------------------------------------------------------------
# command line


def add_parser(sub) -> None:
    lb = sub.add_parser("leaderboard", help="publish / validate / render leaderboards")
    lsub = lb.add_subparsers(dest="lb_command", required=True, parser_class=type(lb))
    p = lsub.add_parser("publish", help="merge a suite's stored results into leaderboards/<suite>/<protocol>.csv")
    p.add_argument("--suite", required=True, help="suite name (lower_snake_case)")
    p.add_argument("--out", default=None, help="dir holding store.sqlite (default: results/<suite>)")
    p.add_argument("--from-csv", default=None, metavar="FILE",
                   help="merge a submitted long-format CSV (validated first) instead of the store")
    p.add_argument("--root", default="leaderboards", help="leaderboards dir (default: leaderboards)")
    w = lsub.add_parser("withdraw", help="remove a method's published rows (a dataset's, a budget's) from a suite's CSVs")
    w.add_argument("--suite", required=True, help="suite name (lower_snake_case)")
    w.add_argument("--method", required=True)
    w.add_argument("--dataset", default=None, help="only this dataset's rows")
    w.add_argument("--pretrain-budget", default=None, help="only rows of this budget, e.g. 20ep")
    w.add_argument("--root", default="leaderboards", help="leaderboards dir (default: leaderboards)")
    v = lsub.add_parser("validate", help="check leaderboard CSV file(s); exit 1 listing every problem")
    v.add_argument("files", nargs="+", metavar="FILE")
    r = lsub.add_parser("render", help="Markdown summary + static HTML page with plots under <root>/site")
    r.add_argument("--root", default="leaderboards", help="leaderboards dir (default: leaderboards)")
    r.add_argument("--site", default=None, help="output dir (default: <root>/site)")
    r.add_argument("--suite", action="append", default=None, help="only this suite (repeatable)")
    r.add_argument("--readme", default=None, metavar="FILE",
                   help="also replace the generated block between the leaderboard markers of this README")


def cmd_leaderboard(args) -> int:
    import sys

    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.lb_command == "validate":
        bad = 0
        for f in args.files:
            problems = validate_file(f)
            if problems:
                bad += 1
                for pr in problems:
                    print(pr.format(f))
                print(f"{f}: INVALID ({len(problems)} problem(s))", file=sys.stderr)
            else:
                print(f"{f}: valid (schema {SCHEMA_VERSION})", file=sys.stderr)
        return 1 if bad else 0
    if args.lb_command == "withdraw":
        written = withdraw(args.suite, Path(args.root), args.method, args.dataset, args.pretrain_budget, log)
        log("wrote " + ", ".join(str(p) for p in written.values()))
        return 0
    if args.lb_command == "publish":
        check_suite_name(args.suite)
        root = Path(args.root)
        if args.from_csv:
            written = publish_csv(Path(args.from_csv), args.suite, root, log)
        else:
            from benchmark.orchestration.store import ResultStore
            out = Path(args.out) if args.out else Path("results") / args.suite
            if not (out / "store.sqlite").exists():
                raise UsageError(f"no results store at {out / 'store.sqlite'}; run the suite first or pass --out")
            written = publish_store(ResultStore(out / "store.sqlite"), args.suite, root, log)
        log("wrote " + ", ".join(str(p) for p in written.values()))
        return 0
    written = render(Path(args.root), Path(args.site) if args.site else None, args.suite,
                     Path(args.readme) if args.readme else None)
    md = written.get("leaderboard.md")
    if md:
        print(md.read_text())
    log("wrote " + ", ".join(str(p) for p in written.values()))
    return 0
