"""Tuning under the protocol of docs/protocol.md: the trial grid of a suite's `tuning:` block, the
selection on val, the tuning log (`tuning.csv`) and the check that a suite carries no per-method
choice the log does not back.

A trial is one candidate setting of one method on one dataset, pretrained on every tuning seed. The
suite's own per-method overrides are dropped first, so a candidate is the whole per-method setting; the
dataset's shared budget (epochs, batch size, caps, options) stays. Jobs run the `val_selection`
protocol only: test is never read while tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from benchmark.core.errors import UsageError
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.suites import DatasetEntry, Suite
from methods.base import get_method_class

TUNING_COLUMNS = [
    "suite",
    "dataset",
    "method",
    "trial",
    "setting",
    "seeds",
    "val_scores",
    "val_mean",
    "n_seeds",
    "status",
    "selected",
]
TIE = 1e-9  # means that differ by float rounding only are a tie (the earlier trial is kept)


def setting_text(setting: dict[str, Any]) -> str:
    """A setting as one canonical cell (sorted JSON); `{}` is the method's defaults."""
    return json.dumps(setting, sort_keys=True)


@dataclass
class Trial:
    dataset: str
    method: str
    index: int
    setting: dict[str, Any]
    jobs: list[Job]


def suite_overrides(suite: Suite, entry: DatasetEntry, method: str) -> dict[str, Any]:
    """The per-method choices a suite makes for `method` on `entry`: its method_hparams (suite-wide,
    then the dataset's) and its own epochs, as one setting in the form a tuning candidate takes."""
    setting = {**suite.method_hparams.get(method, {}), **entry.method_hparams.get(method, {})}
    epochs = entry.method_epochs.get(method) or suite.method_epochs.get(method)
    if epochs:
        setting["epochs"] = epochs
    return setting


def _without_overrides(suite: Suite) -> Suite:
    entries = [replace(e, method_hparams={}, method_epochs={}) for e in suite.datasets]
    return replace(suite, datasets=entries, method_hparams={}, method_epochs={}, transfer=[])


def tuning_trials(
    suite: Suite, methods: list[str] | None = None, datasets: list[str] | None = None
) -> list[Trial]:
    """Every trial of the suite's tuning block (methods that train; random-init has nothing to tune).
    Raises UsageError for a suite without `tuning:` or a trained method with no candidates."""
    tuning = suite.tuning
    if tuning is None:
        raise UsageError(f"suite {suite.source}: no 'tuning:' block (docs/protocol.md)")
    base = replace(
        _without_overrides(suite),
        name=f"{suite.name}_tuning",
        seeds=list(tuning.seeds),
        fractions=[tuning.fraction],
        probes=["linear"],
        protocols=["val_selection"],
    )
    trained = [m for m in (methods or suite.methods) if get_method_class(m).trains]
    missing = [m for m in trained if not tuning.candidates(m)]
    if missing:
        raise UsageError(f"suite {suite.source}: tuning.space has no settings for {missing} and no 'default'")
    entries = [e for e in base.datasets if not datasets or e.name in datasets]
    if datasets and len(entries) != len(set(datasets)):
        have = [e.name for e in base.datasets]
        raise UsageError(f"--datasets: {sorted(set(datasets) - set(have))} not in suite {suite.name!r}")
    trials = []
    for entry in entries:
        for m in trained:
            for i, cand in enumerate(tuning.candidates(m)):
                hp = {k: v for k, v in cand.items() if k != "epochs"}
                one = replace(
                    entry,
                    method_hparams={m: hp},
                    method_epochs={m: cand["epochs"]} if "epochs" in cand else {},
                )
                jobs = expand(replace(base, datasets=[one]), [m])
                trials.append(Trial(entry.name, m, i, cand, jobs))
    return trials


def tuning_table(suite: Suite, trials: list[Trial], store) -> list[dict[str, Any]]:
    """One row per trial: its val score on each tuning seed, their mean and which trial is selected
    (the highest mean over the seeds that finished; ties go to the earlier trial, so list the defaults
    first). A trial missing a seed is not selectable: every trial is judged on the same seeds. A
    dataset with any trial still unfinished selects nothing yet."""
    from benchmark.evaluation.protocols.val_selection import VAL_METRIC

    frame = store.frame(f"{suite.name}_tuning")
    frame = frame[(frame.protocol == "val_selection") & (frame.metric == VAL_METRIC)]
    scores = dict(zip(frame.config_hash, frame.value))
    status = {j["config_hash"]: j["status"] for j in store.jobs()}
    rows = []
    for t in trials:
        vals = [(j.seed, scores.get(j.config_hash())) for j in t.jobs]
        done = [(s, v) for s, v in vals if v is not None]
        ran = [status[j.config_hash()] for j in t.jobs if j.config_hash() in status]
        rows.append(
            {
                "suite": suite.name,
                "dataset": t.dataset,
                "method": t.method,
                "trial": t.index,
                "setting": setting_text(t.setting),
                "seeds": ";".join(str(s) for s, _ in done),
                "val_scores": ";".join(f"{v:.6f}" for _, v in done),
                "val_mean": sum(v for _, v in done) / len(done) if done else None,
                "n_seeds": len(done),
                # per tuning seed that ran: done, failed or collapsed (a collapsed trial has no score)
                "status": ";".join(ran),
                "selected": False,
            }
        )
    need = len(suite.tuning.seeds)
    # a dataset's selections come together (docs/protocol.md): only once every trial of every method
    # there has a final status (done or collapsed) on every tuning seed
    finished = {"done", "collapsed"}
    complete = {t.dataset for t in trials}
    for t in trials:
        if any(status.get(j.config_hash()) not in finished for j in t.jobs):
            complete.discard(t.dataset)
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["dataset"], r["method"])
        if (
            r["dataset"] in complete
            and r["n_seeds"] == need
            and (key not in best or r["val_mean"] > best[key]["val_mean"] + TIE)
        ):
            best[key] = r
    for r in best.values():
        r["selected"] = True
    return rows


def selected_settings(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(dataset, method) → the selected setting, from tuning-table rows (or tuning.csv records)."""
    return {
        (r["dataset"], r["method"]): json.loads(r["setting"])
        for r in rows
        if str(r["selected"]).lower() == "true"
    }


def unbacked_choices(suite: Suite, rows: list[dict[str, Any]]) -> list[str]:
    """Per-method choices of `suite` that its tuning log does not back, one line each: an override
    where no trial was selected, or one that differs from the selected setting. The defaults (`{}`)
    need no backing, and neither do the reference recipes' schedules (their published epochs and
    batch size, docs/design.md §3.11): they are the recipe, not a choice."""
    chosen = selected_settings(rows)
    problems = []
    for entry in suite.datasets:
        for m in suite.methods:
            if getattr(get_method_class(m), "end_to_end", False):
                continue
            have = suite_overrides(suite, entry, m)
            want = chosen.get((entry.name, m))
            if want is None and have:
                problems.append(f"{entry.name} × {m}: {setting_text(have)} was not selected by a tuning run")
            elif want is not None and have != want:
                problems.append(
                    f"{entry.name} × {m}: the suite sets {setting_text(have)}, tuning selected "
                    f"{setting_text(want)}"
                )
    return problems


def selection_yaml(suite: Suite, rows: list[dict[str, Any]]) -> str:
    """The selected non-default settings as the suite's per-dataset `method_hparams` /
    `method_epochs` blocks, to paste into the suite file."""
    chosen = selected_settings(rows)
    lines = []
    for entry in suite.datasets:
        picks = {m: s for (d, m), s in chosen.items() if d == entry.name and s}
        if not picks:
            continue
        lines.append(f"  - name: {entry.name}  # selected on val (tuning.csv)")
        hps = {m: {k: v for k, v in s.items() if k != "epochs"} for m, s in picks.items()}
        eps = {m: s["epochs"] for m, s in picks.items() if "epochs" in s}
        if any(hps.values()):
            lines.append("    method_hparams:")
            lines += [f"      {m}: {json.dumps(h)}" for m, h in sorted(hps.items()) if h]
        if eps:
            lines.append(f"    method_epochs: {json.dumps(dict(sorted(eps.items())))}")
    return "\n".join(lines)
