"""Pre-flight: what a run needs, checked before its first job starts, one line per problem.

- Usage problems (exit 2): a per-method key of the suite (`method_hparams`, `method_epochs`, at suite
  or dataset level) naming no registered method; a hyper-parameter the method does not have; a
  dataset the registry does not know, or an adapter option it does not take (`sizee: 64`); a data
  directory (`--data-dir`, `SSLBENCH_DATA_DIR`) that does not exist; an output directory that cannot
  be written.
- Data problems (exit 1): a dataset or transfer source of the grid whose files are missing,
  truncated or corrupt, found by loading its splits once. Loaded splits are cached per process
  (`datasets.base`), so the local executor's jobs do not parse them again.
- Warnings (the run goes on): OOD partners that cannot be loaded. The OOD protocol skips them, so
  their rows are absent, and they are not retried by every job.

Usage problems are all collected before any data is read, so a suite with three typos gets three
lines in one go, and the output directory is not created when the suite is wrong.
"""

from __future__ import annotations

import difflib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core.errors import UsageError
from benchmark.core.io import writable_dir
from benchmark.evaluation.protocols.ood import mark_unavailable
from benchmark.orchestration.suites import DatasetEntry, Suite
from datasets.base import ADAPTERS, get_adapter
from methods.base import METHODS, get_method_class

# Words of the adapters' "files are not there" messages (as opposed to a corrupt file).
MISSING_WORDS = ("download", "not in any of", "not found", "missing")


@dataclass
class Preflight:
    usage: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: int = 0  # datasets whose splits were loaded
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 2 if self.usage else 1 if self.data else 0

    def lines(self) -> list[str]:
        """Every problem as one console line, warnings first."""
        return (
            [f"warning: {w}" for w in self.warnings]
            + [f"error: {u}" for u in self.usage]
            + [f"data error: {d}" for d in self.data]
        )


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dataset_entries(suite: Suite) -> list[tuple[str, DatasetEntry]]:
    """(field label, entry) of every dataset the suite names, transfer items included."""
    out = [(f"datasets[{i}] ({d.name})", d) for i, d in enumerate(suite.datasets)]
    for i, t in enumerate(suite.transfer):
        for k in ("pretrain_on", "evaluate_on"):
            for j, e in enumerate(t[k]):
                entry = e if isinstance(e, DatasetEntry) else DatasetEntry(e)
                out.append((f"transfer[{i}].{k}[{j}] ({entry.name})", entry))
    return out


def suite_problems(suite: Suite) -> list[str]:
    """Names and keys of the suite checked against the registries (methods, datasets, each
    method's hyper-parameters, each adapter's options); one line per problem."""
    where = f"suite {suite.source or suite.name}"
    problems: list[str] = []
    known = sorted(METHODS)

    def method_name(m: str, label: str) -> bool:
        if m in METHODS:
            return True
        problems.append(
            f"{where}: {label}: unknown method {m!r}{_did_you_mean(m, known)}; known: {', '.join(known)}"
        )
        return False

    for m in suite.methods:
        method_name(m, "methods")
    overrides: list[tuple[str, str, dict[str, Any]]] = []
    for m, hp in suite.method_hparams.items():
        if method_name(m, f"method_hparams.{m}"):
            overrides.append((f"method_hparams.{m}", m, hp))
    for m in suite.method_epochs:
        method_name(m, f"method_epochs.{m}")
    for label, d in _dataset_entries(suite):
        for m, hp in d.method_hparams.items():
            if method_name(m, f"{label}.method_hparams.{m}"):
                overrides.append((f"{label}.method_hparams.{m}", m, hp))
        for m in d.method_epochs:
            method_name(m, f"{label}.method_epochs.{m}")
        if d.name not in ADAPTERS:
            problems.append(
                f"{where}: {label}: unknown dataset {d.name!r}{_did_you_mean(d.name, ADAPTERS)}; "
                f"`python run_benchmark.py list datasets` lists them"
            )
            continue
        try:  # building an adapter reads no data; it checks the option names and values
            ADAPTERS[d.name](data_dir=".", **d.options)
            for fold in d.folds or []:  # cross-validation: every fold must be one the adapter takes
                ADAPTERS[d.name](data_dir=".", **{**d.options, "fold": fold})
        except Exception as e:  # an option name or value the adapter refuses
            problems.append(f"{where}: {label}.options: {one_line(e)}")
    for label, m, hp in overrides:
        cls = get_method_class(m)
        names = sorted(cls.known_hparams())  # its hyper-parameters and the recipe fields a suite may set
        unknown = sorted(set(hp) - set(names))
        if unknown:
            problems.append(
                f"{where}: {label}: unknown hyper-parameter(s) {unknown}"
                f"{_did_you_mean(unknown[0], names)}; known: {sorted(names)}"
            )
    return problems


def data_dir_problem(data_dir: str | None) -> str | None:
    """A data directory named on the command line or in SSLBENCH_DATA_DIR must exist: downloads
    would otherwise create it wherever a typo points."""
    if data_dir:
        return None if Path(data_dir).is_dir() else f"--data-dir {data_dir}: not a directory"
    env = os.environ.get("SSLBENCH_DATA_DIR")
    if env and not Path(env).is_dir():
        return (
            f"SSLBENCH_DATA_DIR={env}: not a directory; point it at your data copy, or unset it to "
            f"download into ~/.cache/sslbench/data"
        )
    return None


def _grid_datasets(jobs) -> list[tuple[str, dict[str, Any], str]]:
    """(name, options, role) of every dataset the jobs read, each once, in grid order."""
    seen: dict[tuple[str, str], tuple[str, dict[str, Any], str]] = {}
    for j in jobs:
        items = [(j.dataset, j.dataset_options, "ood" in j.protocols)]
        items += [(s["name"], s.get("options", {}), False) for s in j.pretrain_on]
        for name, options, ood in items:
            key = (name, json.dumps(options, sort_keys=True, default=str))
            old = seen.get(key)
            seen[key] = (name, dict(options), "ood" if ood or (old and old[2] == "ood") else "")
    return list(seen.values())


def data_problems(jobs, data_dir: str | None, report: Preflight) -> None:
    """Load every dataset of the grid once; partners of datasets the OOD protocol runs on too."""
    missing_partners: list[str] = []
    partners_done: set[str] = set()
    for name, options, role in _grid_datasets(jobs):
        try:
            adapter = get_adapter(name, data_dir=data_dir, **options)
            adapter.splits()
            report.checked += 1
        except Exception as e:  # whatever stops the dataset from loading stops the run, in one line
            text = one_line(e)
            report.data.append(text if text.lower().startswith(f"{name}:") else f"{name}: {text}")
            continue
        if role != "ood":
            continue
        for group in ("near", "far"):
            for p in adapter.ood_partners.get(group, []):
                if p == name or p in partners_done:
                    continue
                partners_done.add(p)
                if p not in ADAPTERS:
                    report.warnings.append(f"OOD partner {p!r} of {name} is not a registered dataset")
                    continue
                partner = get_adapter(p, data_dir=adapter.data_dir)
                if partner.spec != adapter.spec:  # skipped by design (docs/design.md §3.6)
                    continue
                try:
                    partner.splits()
                    report.checked += 1
                except Exception as e:  # a partner never stops a run: its OOD rows are left out
                    text = one_line(e)
                    first = text.split(". ")[0]
                    mark_unavailable(p, adapter.data_dir, f"{type(e).__name__}: {first[:200]}")
                    if any(w in text for w in MISSING_WORDS):
                        missing_partners.append(p)
                    else:
                        report.warnings.append(f"OOD partner {p} of {name} unusable, skipped: {text[:300]}")
    if missing_partners:
        report.warnings.append(
            f"OOD partner(s) without local files, left out of the OOD tables: {', '.join(missing_partners)}"
        )


def preflight(jobs, data_dir: str | None, out: Path, *, load_data: bool = True) -> Preflight:
    """The checks that need the job grid, in order: the data directory, the output directory
    (created), then the data itself. Run `suite_problems` before expanding the grid."""
    t0 = time.perf_counter()
    report = Preflight()
    problem = data_dir_problem(data_dir)
    if problem:
        report.usage.append(problem)
        return report
    try:
        writable_dir(out, "--out")
    except UsageError as e:
        report.usage.append(str(e))
        return report
    if load_data:
        data_problems(jobs, data_dir, report)
    report.seconds = time.perf_counter() - t0
    return report


def method_filter_problems(suite: Suite, methods: list[str] | None, extra=()) -> list[str]:
    """`--methods` picks from the suite's methods, as `--datasets` picks from its datasets. Methods
    loaded with --method-file (`extra`) are the exception: they are in no suite file."""
    bad = [m for m in methods or [] if m not in suite.methods and m not in extra]
    if not bad:
        return []
    return [
        f"--methods: {', '.join(bad)} not in suite {suite.name!r} (it has {', '.join(suite.methods)}); "
        f"add a method to a suite file's `methods`, or load your own with --method-file"
    ]
