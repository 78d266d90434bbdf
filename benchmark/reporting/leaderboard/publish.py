"""Publishing leaderboards under <root>/<suite>/<protocol>.csv.

- `publish_store` / `publish_csv`: aggregate the store (tables.long_table), or take a submitted CSV,
  then merge into the published CSV of each protocol, reporting every addition / replacement.
- `publish_store` also writes <suite>/paired/<protocol>.csv: each method's paired difference over
  seeds against random_init and supervised (`compare.reference_deltas`), which needs the per-seed
  values only a store has; rows for the same cell replace older ones.
- `withdraw`: remove a method's rows (one dataset's, one pretraining budget's) from a suite's CSVs,
  logged row by row. The withdrawal is remembered in <suite>/withdrawn.json, so a later publish from a
  store that still holds those results skips them (results finished after it, i.e. a re-run, are
  published).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from benchmark.core.io import atomic_write_text
from benchmark.orchestration.jobs import headline_metrics
from benchmark.orchestration.suites import SUITES_DIR, UsageError
from benchmark.orchestration.tune_command import read_tuning_csv, write_tuning_csv
from benchmark.reporting.leaderboard.frames import canonical, describe_row, merge, parse_time, read_long
from benchmark.reporting.leaderboard.schema import (
    PAIRED_COLUMNS,
    check_suite_name,
    leaderboard_csvs,
    validate_file,
    validate_paired_text,
    validate_text,
)
from benchmark.reporting.tables import KEY, LONG_COLUMNS, budget_source, long_table

WITHDRAWN_FILE = "withdrawn.json"
# Cells with seeds that collapsed or failed: those seeds have no rows, so the tables alone would show a
# smaller n (or no row at all) without saying why.
UNFINISHED_FILE = "unfinished.csv"
TUNING_FILE = "tuning.csv"  # the suite's tuning log (docs/protocol.md), written by `tune --publish`
UNFINISHED_KEY = ["dataset", "method", "encoder", "init", "pretrain_budget"]
UNFINISHED_COLUMNS = UNFINISHED_KEY + ["seeds_done", "seeds_collapsed", "seeds_failed", "first_reason"]
PAIRED_DIR = "paired"
PAIRED_KEY = PAIRED_COLUMNS[: PAIRED_COLUMNS.index("baseline") + 1]  # the cell, the method, the reference


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
        from benchmark.orchestration.suites import load_suite
        from benchmark.reporting.protocol_tables import derived_rows

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
        log(f"  skipped  {describe_row(r)}: no finite value in any seed")
    return canonical(long[~empty])


def write_checked(df: pd.DataFrame, path: Path, suite: str, protocol: str) -> Path:
    text = df.to_csv(index=False, lineterminator="\n")
    problems = validate_text(text, suite, protocol)
    if problems:
        raise UsageError(
            f"refusing to publish an invalid leaderboard {path}: "
            + problems[0].format(str(path))
            + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    return atomic_write_text(path, text)


def read_withdrawals(suite_dir: Path) -> list[dict]:
    """The suite's remembered withdrawals: [{method, dataset, pretrain_budget, withdrawn_at}], None
    for a filter that was not given."""
    path = Path(suite_dir) / WITHDRAWN_FILE
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
        for r in records:
            parse_time(r["withdrawn_at"])
            if not isinstance(r["method"], str):
                raise TypeError("method must be a string")
    except (ValueError, TypeError, KeyError) as e:
        raise UsageError(
            f"{path}: not a list of withdrawals {{method, dataset, pretrain_budget, withdrawn_at}}: {e}"
        ) from None
    return records


def _withdrawn_at(r, withdrawals: list[dict]) -> str | None:
    """When a row's results were withdrawn, if a withdrawal covers it and they finished before it."""
    for w in withdrawals:
        if (
            r["method"] == w["method"]
            and w.get("dataset") in (None, r["dataset"])
            and w.get("pretrain_budget") in (None, r["pretrain_budget"])
            and parse_time(r["created_at"]) <= parse_time(w["withdrawn_at"])
        ):
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
            log(
                f"  skipped  {describe_row(r)} [{r['pretrain_budget']}]: withdrawn at {when} "
                f"(finished {r['created_at']})"
            )
    return incoming[keep]


def _read_published(path: Path, suite: str, protocol: str) -> pd.DataFrame:
    """A published CSV as canonical rows, refusing an invalid one."""
    problems = validate_file(path, suite, protocol)
    if problems:
        raise UsageError(
            "the published leaderboard is invalid, fix it first: " + problems[0].format(str(path))
        )
    return read_long(path)


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
            old = _read_published(path, suite, protocol)
        merged, changes = merge(old, part)
        written[protocol] = write_checked(merged, path, suite, protocol)
        n = {w: sum(c.startswith(w) for c in changes) for w in ("added", "replaced", "kept")}
        log(
            f"{path}: {len(merged)} row(s); {n['added']} added, {n['replaced']} replaced, "
            f"{len(part) - sum(n.values())} unchanged, {n['kept']} kept (published row newer)"
        )
        for c in changes:
            log("  " + c)
    return written


def _paired_text(df: pd.DataFrame) -> str:
    d = df[PAIRED_COLUMNS].copy()
    for c in ("diff_std", "ci95_low", "ci95_high"):
        d[c] = ["" if pd.isna(v) or v == "" else repr(float(v)) for v in d[c]]
    return d.to_csv(index=False, lineterminator="\n")


def read_paired(suite_dir: Path, protocol: str) -> pd.DataFrame | None:
    """The published paired differences of a protocol (validated), or None when there are none."""
    path = Path(suite_dir) / PAIRED_DIR / f"{protocol}.csv"
    if not path.exists():
        return None
    problems = validate_paired_text(path.read_text(encoding="utf-8"), Path(suite_dir).name)
    if problems:
        raise UsageError(f"invalid paired differences, not rendered: {problems[0].format(str(path))}")
    d = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    for c in ("fraction", "new_mean", "baseline_mean", "diff_mean", "diff_std", "ci95_low", "ci95_high"):
        d[c] = pd.to_numeric(d[c].where(d[c] != ""))
    for c in ("severity", "n_pairs"):
        d[c] = d[c].astype(int)
    return d


def publish_paired(store, suite: str, root: Path, log=print) -> dict[str, Path]:
    """Write <suite>/paired/<protocol>.csv from the store's per-seed rows (label_fraction and
    transfer), merged over the published file: a cell's new row replaces its old one."""
    from benchmark.reporting.compare import reference_deltas
    from benchmark.reporting.tables import latest_configs

    frame = latest_configs(store.frame(suite))
    if frame.empty:
        return {}
    frame = frame[frame["protocol"].isin(["label_fraction", "transfer"])]
    delta = reference_deltas(frame, suite)
    written = {}
    for protocol, part in delta.groupby("protocol", sort=True):
        check_suite_name(protocol, "protocol")
        path = Path(root) / suite / PAIRED_DIR / f"{protocol}.csv"
        old = read_paired(Path(root) / suite, protocol)
        part = part.assign(fraction=part["fraction"].astype(float), severity=part["severity"].astype(int))
        if old is not None:
            keys = set(map(tuple, part[PAIRED_KEY].astype(str).to_numpy()))
            keep = [tuple(r) not in keys for r in old[PAIRED_KEY].astype(str).to_numpy()]
            part = pd.concat([old[keep], part], ignore_index=True)
        part = part.sort_values(PAIRED_KEY, kind="stable")
        text = _paired_text(part)
        problems = validate_paired_text(text, suite)
        if problems:
            raise UsageError(f"refusing to write invalid paired differences: {problems[0].format(str(path))}")
        written[f"{PAIRED_DIR}/{protocol}"] = atomic_write_text(path, text)
        log(f"{path}: {len(part)} paired difference(s) against the references")
    return written


def read_unfinished(suite_dir: Path) -> list[dict]:
    """The published cells with collapsed or failed seeds (`unfinished.csv`), or []."""
    path = Path(suite_dir) / UNFINISHED_FILE
    if not path.exists():
        return []
    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(d.columns) != UNFINISHED_COLUMNS:
        raise UsageError(f"{path}: columns {list(d.columns)}; expected {UNFINISHED_COLUMNS}")
    return d.to_dict("records")


def publish_unfinished(store, suite: str, root: Path, log=print) -> dict[str, Path]:
    """Merge the store's cells of `suite` into <root>/<suite>/unfinished.csv: a cell of this store
    replaces its entry, and leaves the file once every seed of it is done. A cell counts the seeds of
    its current config only (the config recorded last, as the tables do): seeds of a setting the suite
    no longer uses are not the cell's."""
    configs: dict[tuple, dict[str, dict]] = {}
    for j in store.jobs():
        if j["suite"] != suite or j["status"] not in ("done", "collapsed", "failed"):
            continue
        key = tuple(str(j[k]) for k in UNFINISHED_KEY)
        c = configs.setdefault(key, {}).setdefault(
            j.get("group_hash", ""), {"done": 0, "collapsed": 0, "failed": 0, "reason": "", "last": ""}
        )
        c[j["status"]] += 1
        c["last"] = max(c["last"], str(j.get("created_at") or ""))
        if j["status"] != "done" and not c["reason"]:
            c["reason"] = (str(j["error"] or j["status"]).splitlines() or [j["status"]])[0][:200]
    cells = {key: max(groups.values(), key=lambda c: c["last"]) for key, groups in configs.items()}
    if not cells:
        return {}

    # A newer budget of the same method supersedes the older one's entry, as it does the older rows
    # in the tables (`tables.superseded_mask`): of a (dataset, method, encoder, init, pretraining
    # source), only the budget(s) whose latest job is newest keep an entry; the file's entries of
    # other budgets (older publishes) go too.
    def ident(key: tuple) -> tuple:
        return (*key[:-1], budget_source(key[-1]))

    newest: dict[tuple, str] = {}
    for key, c in cells.items():
        newest[ident(key)] = max(newest.get(ident(key), ""), c["last"])
    cells = {key: c for key, c in cells.items() if c["last"] == newest[ident(key)]}
    path = Path(root) / suite / UNFINISHED_FILE
    rows = [
        r for r in read_unfinished(path.parent) if ident(tuple(r[k] for k in UNFINISHED_KEY)) not in newest
    ]
    for key, c in cells.items():
        if c["collapsed"] or c["failed"]:
            rows.append(
                dict(zip(UNFINISHED_KEY, key))
                | {
                    "seeds_done": c["done"],
                    "seeds_collapsed": c["collapsed"],
                    "seeds_failed": c["failed"],
                    "first_reason": c["reason"],
                }
            )
    if not rows:
        path.unlink(missing_ok=True)
        return {}
    frame = pd.DataFrame(rows, columns=UNFINISHED_COLUMNS).sort_values(UNFINISHED_KEY)
    log(f"{path}: {len(frame)} cell(s) with collapsed or failed seeds")
    return {"unfinished": atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))}


def publish_store(store, suite: str, root: Path, log=print, suite_text: str | None = None) -> dict[str, Path]:
    """Publish the store's results of `suite`, with its config as <root>/<suite>/suite.yaml: the
    given `suite_text` (the file the results came from), else the shipped suite of that name."""
    check_suite_name(suite)
    long = store_long(store, suite, log)
    if long.empty:
        raise UsageError(f"no finished results for suite {suite!r} in {store.path}; run it first")
    written = publish_frame(long, suite, root, log)
    written.update(publish_paired(store, suite, root, log))
    written.update(publish_unfinished(store, suite, root, log))
    cfg = SUITES_DIR / f"{suite}.yaml"
    if suite_text is None and cfg.exists():
        suite_text = cfg.read_text()
    if suite_text is not None:  # the exact config the page shows next to the tables
        written["suite.yaml"] = atomic_write_text(Path(root) / suite / "suite.yaml", suite_text)
        written.update(publish_empty_tuning_log(suite_text, Path(root) / suite))
    if (Path(root) / suite / "published.csv").exists():  # the side-by-side page (reporting/published.py)
        from benchmark.reporting.published import write_reference_readme

        written["README.md"] = write_reference_readme(Path(root) / suite)
    return written


def declares_tuning(suite_text: str) -> bool:
    """Whether a suite file's text has a `tuning:` block."""
    return "tuning" in (yaml.safe_load(suite_text) or {})


def tuning_summary(suite_dir: Path) -> str | None:
    """One sentence on what stands behind a published suite's per-method settings, from its tuning
    log: how many trials, on which datasets they selected, where they are part-way (defaults kept,
    docs/protocol.md). None when the suite has no published log."""
    path = suite_dir / TUNING_FILE
    if not path.is_file():
        return None
    rows = read_tuning_csv(path)
    published = suite_dir / "suite.yaml"
    if rows and published.is_file() and not declares_tuning(published.read_text()):
        # the log was written for a newer suite file than the one these rows were published from
        return (
            f"Tuning (`{TUNING_FILE}`): {len(rows)} trial(s) logged for the suite's current file; the rows "
            "here were published from an earlier config without a tuning block (below) and use none of "
            "its selections."
        )
    if not rows:
        return (
            f"Tuning (`{TUNING_FILE}`): none; the suite makes no per-method choice, every method runs "
            "its recipe's defaults."
        )
    tried = sorted({r["dataset"] for r in rows})
    selected = sorted({r["dataset"] for r in rows if r["selected"] == "True"})
    partway = [d for d in tried if d not in selected]
    text = (
        f"Tuning (`{TUNING_FILE}`, val only, tuning seeds never reported): {len(rows)} trial(s); "
        f"settings selected on {', '.join(selected) or 'no dataset'}"
    )
    if partway:
        text += f"; part-way, so every method at its defaults, on {', '.join(partway)}"
    return text + ". Datasets without trials run every method at its defaults."


def publish_empty_tuning_log(suite_text: str, suite_dir: Path) -> dict[str, Path]:
    """A suite without a `tuning:` block runs every method at its defaults and may make no per-method
    choice (docs/protocol.md): its published tuning log is the header alone, so every published suite
    has one and says how many trials stand behind its settings. A log already there is kept."""
    path = suite_dir / TUNING_FILE
    if path.exists() or declares_tuning(suite_text):
        return {}
    return {"tuning": write_tuning_csv(path, [])}


def publish_csv(csv_path: Path, suite: str, root: Path, log=print) -> dict[str, Path]:
    """Validate a submitted CSV, then merge it like store results."""
    check_suite_name(suite)
    problems = validate_file(csv_path, suite)
    if problems:
        more = f" (+{len(problems) - 1} more; run `leaderboard validate`)" if len(problems) > 1 else ""
        raise UsageError("submission rejected: " + problems[0].format(str(csv_path)) + more)
    return publish_frame(read_long(csv_path), suite, root, log)


def withdraw(
    suite: str,
    root: Path,
    method: str,
    dataset: str | None = None,
    pretrain_budget: str | None = None,
    log=print,
) -> dict[str, Path]:
    """Remove a method's published rows (optionally one dataset's, or one pretraining budget's) from
    every protocol CSV of a suite — e.g. the rows of a budget the suite no longer runs, which a
    re-run at the new budget adds next to (pretrain_budget is part of the key) instead of replacing.
    Logged row by row; a filter that matches nothing is a usage error. The filter and the time are
    appended to <suite>/withdrawn.json, which publish reads so as not to re-add these results."""
    check_suite_name(suite)
    withdrawals = read_withdrawals(Path(root) / suite)
    written, removed = {}, 0
    for path in leaderboard_csvs(Path(root) / suite):
        protocol = path.stem
        old = _read_published(path, suite, protocol)
        hit = old["method"] == method
        if dataset is not None:
            hit &= old["dataset"] == dataset
        if pretrain_budget is not None:
            hit &= old["pretrain_budget"] == pretrain_budget
        if not hit.any():
            continue
        for r in old[hit].to_dict("records"):
            log(
                f"  withdrawn {describe_row(r)} [{r['pretrain_budget']}]: "
                f"{float(r['mean']):.4f} (n={r['n_seeds']})"
            )
        removed += int(hit.sum())
        written[protocol] = write_checked(old[~hit].reset_index(drop=True), path, suite, protocol)
        log(f"{path}: {int(hit.sum())} row(s) withdrawn, {int((~hit).sum())} left")
    if pretrain_budget is None:  # paired rows carry no budget: only a whole method's withdrawal drops them
        for path in sorted((Path(root) / suite / PAIRED_DIR).glob("*.csv")):
            old = read_paired(Path(root) / suite, path.stem)
            hit = old["new_method"] == method
            if dataset is not None:
                hit &= old["dataset"] == dataset
            if hit.any():
                written[f"{PAIRED_DIR}/{path.stem}"] = atomic_write_text(path, _paired_text(old[~hit]))
                log(f"{path}: {int(hit.sum())} paired difference(s) withdrawn")
    if not removed:
        what = ", ".join(
            f"{k} {v!r}"
            for k, v in (("method", method), ("dataset", dataset), ("pretrain_budget", pretrain_budget))
            if v is not None
        )
        raise UsageError(f"no published rows of suite {suite!r} match {what} under {Path(root) / suite}")
    withdrawals.append(
        {
            "method": method,
            "dataset": dataset,
            "pretrain_budget": pretrain_budget,
            "withdrawn_at": datetime.now(timezone.utc).isoformat(),
        }
    )
    written[WITHDRAWN_FILE] = atomic_write_text(
        Path(root) / suite / WITHDRAWN_FILE, json.dumps(withdrawals, indent=1) + "\n"
    )
    return written
