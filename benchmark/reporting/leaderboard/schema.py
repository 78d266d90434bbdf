"""The long-format leaderboard schema and its validator: parse a CSV as text (never evaluated) and
report every problem with its line, row and column: schema version, required columns, types, allowed
values, duplicate keys, metric ranges (the mean and its 95 % CI inside the metric's range), the spread
of one seed (std and CI empty when n_seeds = 1: there is none), spreadsheet formula injection."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmark.evaluation.plugins import PROBES, PROTOCOLS, SCORERS
from benchmark.evaluation.protocols.tu_cv import CV_PROBE
from benchmark.evaluation.reference_recipes import END_TO_END_PROBE
from benchmark.orchestration.suites import NAME_RE, UsageError
from benchmark.reporting.stats import NONNEG_METRICS, UNIT_METRICS
from benchmark.reporting.tables import (
    ADDED_IN,
    DELTA_COLUMNS,
    KEY,
    LONG_COLUMNS,
    SCHEMA_VERSION,
    SCHEMA_VERSIONS,
)

KNOWN_METRICS = UNIT_METRICS | NONNEG_METRICS
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^[+-]?\d+$")
_HASHES = re.compile(r"^[0-9a-f]{16}(,[0-9a-f]{16})*$")
_CODE_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*(,[0-9A-Za-z][0-9A-Za-z.+_-]*)*$")
_ENCODER = re.compile(r"^[a-z0-9][A-Za-z0-9_.:/-]*$")
_INIT = re.compile(r"^(random|imagenet|file:[A-Za-z0-9_][A-Za-z0-9_.-]*)$")
_PARTNER = re.compile(r"^((near|far):)?[a-z][a-z0-9_]*$")
# '8ep', or '8ep@cifar10+stl10' for transfer / multi-domain jobs (pretrained on those datasets)
_BUDGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*)?$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
INJECTION_START = ("=", "+", "-", "@", "\t", "\r")
FLOAT_COLUMNS = ("fraction", "mean", "std", "ci95_low", "ci95_high")
# empty exactly when n_seeds = 1 (one seed has no spread and no interval)
SPREAD_COLUMNS = ("std", "ci95_low", "ci95_high")
INT_COLUMNS = ("severity", "n_seeds")


def known_protocols() -> set[str]:
    return set(PROTOCOLS)


def leaderboard_csvs(directory: Path) -> list[Path]:
    """The leaderboard CSVs of a suite directory: `<protocol>.csv` for a registered protocol, sorted.
    Other CSVs there (the reference suite's `published.csv` and `sources.csv`, a tuning log) are
    not long-format tables and are never validated, merged or rendered as one."""
    return sorted(p for p in Path(directory).glob("*.csv") if p.stem in known_protocols())


def known_probes() -> set[str]:
    """Probes and OOD scorers (the OOD protocol stores the scorer in the probe column)."""
    return set(PROBES) | set(SCORERS) | {END_TO_END_PROBE, CV_PROBE}  # recipe rows, tu_cv rows


def check_suite_name(name: str, what: str = "--suite") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"{what} {name!r}: expected a lower_snake_case suite name (no paths)")
    return name


@dataclass
class Problem:
    line: int | None  # physical CSV line (header = line 1); None for file-level problems
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


def validate_text(
    text: str, expect_suite: str | None = None, expect_protocol: str | None = None
) -> list[Problem]:
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
    versions = set()
    if "schema_version" in header:
        i = header.index("schema_version")
        versions = {rec[i] for rec in body if i < len(rec)}
    _check_header(header, add, versions)
    has_init = "init" in header
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
        _check_cells(rec, header, line, add)
        row = {c: (rec[i] if i < len(rec) else None) for c, i in idx.items()}
        vals = _RowCheck(row, line, add, has_init).run(protocols, probes, expect_suite, expect_protocol)
        if vals is not None and not has_init:
            vals["init"] = "random"  # schema 1.0: every row is a random-init row
        if vals is not None and all(c in vals for c in KEY):  # a short row lacks some key cells
            key = tuple(vals[c] for c in KEY)
            if key in keys:
                add(Problem(line, None, f"duplicate key: same ({', '.join(KEY)}) as line {keys[key]}"))
            else:
                keys[key] = line
    if not body:
        add(Problem(None, None, "no data rows"))
    return problems


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def _check_header(header: list[str], add, versions: set[str] = frozenset()) -> None:
    seen: set[str] = set()
    for c in header:
        if c in seen:
            add(Problem(1, c, "column appears twice in the header"))
        seen.add(c)
    # a column added by a later schema may be absent from a file whose rows are all older
    newest = max((v for v in versions if v in SCHEMA_VERSIONS), key=_version_key, default=SCHEMA_VERSION)
    missing = [
        c
        for c in LONG_COLUMNS
        if c not in header and _version_key(ADDED_IN.get(c, "0")) <= _version_key(newest)
    ]
    for c in missing:
        add(
            Problem(
                1, c, f"required column is missing (schema {SCHEMA_VERSION} needs: {', '.join(LONG_COLUMNS)})"
            )
        )
    for c in header:
        if c not in LONG_COLUMNS:
            add(Problem(1, c, f"unknown column (allowed: {', '.join(LONG_COLUMNS)})"))


def _check_cells(rec: list[str], header: list[str], line: int, add) -> None:
    """Cell-level safety: no formula injection, no line breaks or NULs."""
    for j, cell in enumerate(rec):
        col = header[j] if j < len(header) else f"#{j + 1}"
        s = cell.lstrip(" ")
        if s.startswith(INJECTION_START) and not _is_number(s):
            add(
                Problem(
                    line,
                    col,
                    f"cell {cell[:40]!r} starts with {s[0]!r} and is not a number: "
                    f"possible spreadsheet formula injection",
                )
            )
        elif any(ch in cell for ch in "\r\n\x00"):
            add(Problem(line, col, "cell contains a line break or NUL character"))


class _RowCheck:
    """Type- and value-checks one row (cells of absent columns are None); `run` returns the
    normalised key values, or None when a key cell is bad."""

    def __init__(self, row: dict, line: int, add, has_init: bool = True):
        self.row, self.line, self.add = row, line, add
        self.has_init = has_init
        self.ok = True
        self.out: dict = {}

    def run(self, protocols, probes, expect_suite, expect_protocol) -> dict | None:
        # the order of the checks is the order of the reported problems
        self.check_names(expect_suite)
        self.check_protocol_probe(protocols, probes, expect_protocol)
        metric = self.check_condition_metric()
        num = self.parse_numbers()
        self.check_ranges(num)
        self.check_spread(num)
        self.check_mean(num, metric)
        self.check_provenance()
        if not self.ok and any(c not in self.out for c in KEY if self.row.get(c) is not None):
            return None
        return self.out

    def bad(self, col, msg) -> None:
        self.ok = False
        self.add(Problem(self.line, col, msg))

    def text(self, col, pattern, what, allow_empty=False):
        v = self.row.get(col)
        if v is None:
            return None
        if v == "" and allow_empty:
            self.out[col] = v
            return v
        if not pattern.match(v):
            self.bad(col, f"{v[:40]!r} is not {what}")
            return None
        self.out[col] = v
        return v

    def check_names(self, expect_suite) -> None:
        v = self.row.get("schema_version")
        if v is not None and v not in SCHEMA_VERSIONS:
            self.bad(
                "schema_version",
                f"schema version {v[:20]!r} is not supported (expected one of {', '.join(SCHEMA_VERSIONS)})",
            )
        suite = self.text("suite", NAME_RE, "a lower_snake_case suite name")
        if suite and expect_suite and suite != expect_suite:
            self.bad("suite", f"suite {suite!r} does not match the leaderboard's suite {expect_suite!r}")
        self.text("domain", NAME_RE, "a lower_snake_case domain")
        self.text("dataset", NAME_RE, "a lower_snake_case dataset name")
        self.text("method", NAME_RE, "a lower_snake_case method name")
        self.text("encoder", _ENCODER, "an encoder name (letters, digits, _ . : / -)")
        self.text("init", _INIT, "an init: random, imagenet or file:<state-dict file name>")
        self.text("pretrain_budget", _BUDGET, "a pretraining budget such as '8ep' or '8ep@cifar10+stl10'")

    def check_protocol_probe(self, protocols, probes, expect_protocol) -> None:
        p = self.text("protocol", NAME_RE, "a lower_snake_case protocol name")
        if p and p not in protocols:
            self.bad("protocol", f"unknown protocol {p!r} (known: {', '.join(sorted(protocols))})")
        if p and expect_protocol and p != expect_protocol:
            self.bad("protocol", f"protocol {p!r} in the file for protocol {expect_protocol!r}")
        pr = self.text("probe", NAME_RE, "a lower_snake_case probe name")
        if pr and pr not in probes:
            self.bad("probe", f"unknown probe {pr!r} (known: {', '.join(sorted(probes))})")

    def check_condition_metric(self) -> str | None:
        self.text("corruption", NAME_RE, "empty or a lower_snake_case corruption name", allow_empty=True)
        self.text(
            "ood_partner",
            _PARTNER,
            "empty or an OOD partner such as 'near:mnist' / 'far:synthetic_noise'",
            allow_empty=True,
        )
        m = self.text("metric", NAME_RE, "a lower_snake_case metric name")
        if m and m not in KNOWN_METRICS:
            self.bad("metric", f"unknown metric {m!r} (known: {', '.join(sorted(KNOWN_METRICS))})")
        return m

    def parse_numbers(self) -> dict[str, float]:
        num: dict[str, float] = {}
        for col in FLOAT_COLUMNS:
            v = self.row.get(col)
            if v is None or (v == "" and col in SPREAD_COLUMNS):  # checked against n_seeds
                continue
            if not _is_number(v):
                self.bad(col, f"{v[:40]!r} is not a number")
                continue
            num[col] = float(v)
            if not math.isfinite(num[col]):
                self.bad(col, f"{v[:40]!r} is not a finite number")
                num.pop(col)
        for col in INT_COLUMNS:
            v = self.row.get(col)
            if v is None:
                continue
            if not _INT.match(v.strip()):
                self.bad(col, f"{v[:40]!r} is not an integer")
                continue
            num[col] = int(v)
        return num

    def check_ranges(self, num: dict) -> None:
        if "fraction" in num:
            if not 0 < num["fraction"] <= 1:
                self.bad("fraction", f"fraction {num['fraction']:g} is outside (0, 1]")
            self.out["fraction"] = repr(num["fraction"])
        if "severity" in num:
            if not 0 <= num["severity"] <= 5:
                self.bad("severity", f"severity {num['severity']} is outside 0–5")
            elif num["severity"] > 0 and self.row.get("corruption") == "":
                self.bad("corruption", f"severity {num['severity']} needs a corruption name")
            self.out["severity"] = str(num["severity"])
        if "n_seeds" in num and num["n_seeds"] < 1:
            self.bad("n_seeds", f"n_seeds {num['n_seeds']} must be ≥ 1")
        if "std" in num and num["std"] < 0:
            self.bad("std", f"std {num['std']:g} is negative")

    def check_spread(self, num: dict) -> None:
        """One seed: std and CI empty (a zero-width interval would claim a certainty one seed cannot
        give). Two or more: all three are numbers."""
        n = num.get("n_seeds")
        if n is None:
            return
        for col in SPREAD_COLUMNS:
            v = self.row.get(col)
            if v is None:
                continue
            if n == 1 and v != "":
                self.bad(col, f"n_seeds = 1 has no {col}: the cell must be empty, not {v[:40]!r}")
            elif n > 1 and v == "":
                self.bad(col, f"{col} is empty, but n_seeds = {n} needs a number")

    def check_mean(self, num: dict, m: str | None) -> None:
        if m in UNIT_METRICS and "mean" in num and not 0 <= num["mean"] <= 1:
            self.bad("mean", f"{m} mean {num['mean']:g} is outside [0, 1]")
        if m in NONNEG_METRICS and "mean" in num and num["mean"] < 0:
            self.bad("mean", f"{m} mean {num['mean']:g} is negative")
        for col in ("ci95_low", "ci95_high"):
            if col not in num:
                continue
            if m in UNIT_METRICS and not 0 <= num[col] <= 1:
                self.bad(col, f"{m} 95 % CI bound {num[col]:g} is outside [0, 1] (clip it to the range)")
            if m in NONNEG_METRICS and num[col] < 0:
                self.bad(col, f"{m} 95 % CI bound {num[col]:g} is negative (clip it at 0)")
        if all(c in num for c in ("ci95_low", "mean", "ci95_high")):
            tol = 1e-9 * max(1.0, abs(num["mean"]))
            if not num["ci95_low"] - tol <= num["mean"] <= num["ci95_high"] + tol:
                self.bad(
                    "ci95_low",
                    f"95 % CI [{num['ci95_low']:g}, {num['ci95_high']:g}] does not contain "
                    f"the mean {num['mean']:g}",
                )

    def check_provenance(self) -> None:
        self.text("code_version", _CODE_VERSION, "a code version such as '0.1.0+5a04cd6'")
        self.text(
            "dataset_version",
            _CODE_VERSION,
            "empty or dataset release(s) such as '1.0.0' or 'v3' (comma-separated)",
            allow_empty=True,
        )
        self.text("config_hash", _HASHES, "comma-separated 16-hex-digit config hashes")
        v = self.row.get("created_at")
        if v is None:
            return
        try:
            if not _CREATED.match(v):
                raise ValueError
            datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            self.bad("created_at", f"{v[:40]!r} is not an ISO-8601 UTC time such as 2026-01-31T12:00:00Z")


# <suite>/paired/<protocol>.csv: paired differences over seeds against the references (compare's
# delta table), written by `publish` from a store, read by `render`
PAIRED_COLUMNS = DELTA_COLUMNS
_PAIRED_NAMES = ("suite", "protocol", "dataset", "probe", "metric", "new_method", "baseline")


def validate_paired_text(text: str, expect_suite: str | None = None) -> list[Problem]:
    """Every problem of a paired-differences CSV: header, names, numbers, no spread for one pair,
    formula injection."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        return [Problem(None, None, f"not a valid CSV file: {e}")]
    if not records:
        return [Problem(None, None, "empty file (expected a header line)")]
    header, body = records[0], records[1:]
    problems: list[Problem] = []
    add = problems.append
    if header != PAIRED_COLUMNS:
        return [Problem(1, None, f"header must be exactly: {', '.join(PAIRED_COLUMNS)}")]
    for n, rec in enumerate(body):
        line = n + 2
        if len(rec) != len(header):
            add(Problem(line, None, f"has {len(rec)} field(s), the header has {len(header)}"))
            continue
        _check_cells(rec, header, line, add)
        r = dict(zip(header, rec))
        for c in _PAIRED_NAMES:
            if not NAME_RE.match(r[c]):
                add(Problem(line, c, f"{r[c][:40]!r} is not a lower_snake_case name"))
        if expect_suite and r["suite"] != expect_suite:
            add(Problem(line, "suite", f"suite {r['suite']!r} is not {expect_suite!r}"))
        for c in ("fraction", "new_mean", "baseline_mean", "diff_mean"):
            if not _is_number(r[c]):
                add(Problem(line, c, f"{r[c][:40]!r} is not a number"))
        if not _INT.match(r["severity"]):
            add(Problem(line, "severity", f"{r['severity'][:40]!r} is not an integer"))
        if not _INT.match(r["n_pairs"]) or int(r["n_pairs"]) < 1:
            add(Problem(line, "n_pairs", f"{r['n_pairs'][:40]!r} is not a count ≥ 1"))
            continue
        one = int(r["n_pairs"]) == 1
        for c in ("diff_std", "ci95_low", "ci95_high"):
            if one and r[c] != "":
                add(Problem(line, c, f"n_pairs = 1 has no {c}: the cell must be empty"))
            elif not one and not _is_number(r[c]):
                add(Problem(line, c, f"{r[c][:40]!r} is not a number (n_pairs = {r['n_pairs']})"))
        if r["outcome"] not in ("win", "tie", "loss"):
            add(Problem(line, "outcome", f"{r['outcome'][:40]!r} is not win, tie or loss"))
    return problems


def validate_file(
    path: str | Path, expect_suite: str | None = None, expect_protocol: str | None = None
) -> list[Problem]:
    p = Path(path)
    if not p.is_file():
        return [Problem(None, None, "no such file")]
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return [Problem(None, None, f"not UTF-8 text ({e.reason} at byte {e.start})")]
    return validate_text(text, expect_suite, expect_protocol)
