"""`compare NEW --against A,B,...`: run NEW on the suite's grid with the seeds the stored baselines
have, never re-running a baseline, and tabulate NEW − baseline per cell.

Pairing is by seed: for a cell (protocol, dataset, probe, fraction, corruption, severity, OOD partner,
metric) and a baseline, the differences d_s = NEW_s − baseline_s over the seeds both have give the
mean difference and a 95 % confidence interval from the t-distribution with n − 1 degrees of freedom
(docs/design.md §3.8). A cell is a win when the interval lies entirely on the better side of 0, a loss when
it lies on the worse side, a tie when it contains 0; with a single paired seed there is no interval
and the cell counts as a tie. Lower is better for error-like metrics (fpr95, mce, ce, error).
Wins/ties/losses are counted across datasets. Transfer cells pair only rows of the same pretraining
source. The references random_init and supervised are added as baselines whenever their jobs for
the same grid are in the store (never run for this), so every comparison also reads as a Δ against
the floor and the ceiling; `reference_deltas` gives the same paired table for every stored method
(published next to the leaderboard).

Against the published leaderboard (`--against-published`, and the default when the store lacks the
baselines but leaderboards/<suite>/ has them), nothing but NEW runs: each NEW cell is set against
the published baseline cell with the same key at the same pretraining budget. Published rows are
aggregates (mean, std, n over seeds), so the interval there is Welch's t-interval for the difference
of the two means instead of the paired one; NEW runs the suite's seeds, whose label subsets and
initialisations are the ones the published rows used.

NEW's jobs go to <out>/compare/store.sqlite, never into the store `leaderboard publish` reads,
unless `--into-store` says so.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy import stats

from benchmark.core.arguments import csv_list
from benchmark.core.io import atomic_write_text
from benchmark.orchestration.jobs import headline_metrics
from benchmark.orchestration.suites import Suite, UsageError
from benchmark.reporting.stats import FLOOR_METRIC
from benchmark.reporting.styles import LOWER_IS_BETTER
from benchmark.reporting.tables import DELTA_COLUMNS, budget_source, superseded_mask

REFERENCES = ("random_init", "supervised")
CELL = ["protocol", "dataset", "probe", "fraction", "corruption", "severity", "ood_partner", "metric"]
SUMMARY_COLUMNS = [
    "suite",
    "protocol",
    "probe",
    "fraction",
    "corruption",
    "severity",
    "ood_partner",
    "metric",
    "new_method",
    "baseline",
    "wins",
    "ties",
    "losses",
    "n_datasets",
]


@dataclass
class ComparePlan:
    new_jobs: list
    baseline_jobs: list
    missing: list  # baseline jobs not done in the store
    seeds: list[int]


def paired_diff(new: list[float], base: list[float]) -> tuple[float, float, int, float, float]:
    """Mean, std, n, and t-based 95 % CI of the paired differences new_i − base_i."""
    d = [a - b for a, b in zip(new, base) if not (math.isnan(a) or math.isnan(b))]
    n = len(d)
    if n == 0:
        return (math.nan, math.nan, 0, math.nan, math.nan)
    mean = sum(d) / n
    if n == 1:
        return (mean, math.nan, 1, math.nan, math.nan)
    std = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return (mean, std, n, mean - half, mean + half)


def welch_diff(new: list[float], base_mean: float, base_std: float, base_n: int):
    """Mean NEW − published mean, with Welch's 95 % t-interval from NEW's per-seed values and the
    published std and n; (mean, nan, n, nan, nan) when either side has fewer than 2 seeds."""
    v = [x for x in new if not math.isnan(x)]
    n = len(v)
    if n == 0 or not base_n or math.isnan(base_mean):
        return (math.nan, math.nan, 0, math.nan, math.nan)
    m = sum(v) / n
    d = m - base_mean
    if n < 2 or base_n < 2 or math.isnan(base_std):
        return (d, math.nan, n, math.nan, math.nan)
    v1 = sum((x - m) ** 2 for x in v) / (n - 1) / n
    v2 = base_std**2 / base_n
    se = math.sqrt(v1 + v2)
    if se == 0:  # both sides without spread: the difference is exact
        return (d, 0.0, n, d, d)
    df = (v1 + v2) ** 2 / ((v1**2 / (n - 1) if v1 else 0.0) + (v2**2 / (base_n - 1) if v2 else 0.0))
    half = stats.t.ppf(0.975, df) * se
    return (d, se, n, d - half, d + half)


def outcome(metric: str, lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi) or lo <= 0 <= hi:
        return "tie"
    better = hi < 0 if metric in LOWER_IS_BETTER else lo > 0
    return "win" if better else "loss"


def plan(
    suite: Suite,
    store,
    new: str,
    against: list[str],
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
) -> ComparePlan:
    """Which jobs compare needs: the baselines' seeds come from the store unless given."""
    from benchmark.orchestration.jobs import expand

    if new in against:
        raise UsageError(f"compare: {new!r} is both the new method and a baseline")
    if len(set(against)) != len(against):
        raise UsageError(f"--against: a baseline is named twice in {against}")
    from methods.base import METHODS

    known = ", ".join(sorted(METHODS))
    if new not in METHODS:
        raise UsageError(
            f"compare: unknown method {new!r}; define it in a file and pass --method-file FILE "
            f"(docs/adding_a_method.md), or compare a registered one: {known}"
        )
    unknown = [m for m in against if m not in METHODS]
    if unknown:
        raise UsageError(f"--against: unknown method(s) {', '.join(unknown)}; known: {known}")
    expand(suite, [new, *against], datasets, [0])  # validates datasets and hyper-parameters
    if seeds is None:
        stored = {
            j["seed"]
            for j in (store.jobs(status="done") if store is not None else [])
            if j["suite"] == suite.name and j["method"] in against
        }
        seeds = sorted(stored) if stored else list(suite.seeds)
    done = store.done_hashes() if store is not None else set()
    baseline_jobs = expand(suite, against, datasets, seeds)
    missing = [j for j in baseline_jobs if j.config_hash() not in done]
    return ComparePlan(
        new_jobs=expand(suite, [new], datasets, seeds),
        baseline_jobs=baseline_jobs,
        missing=missing,
        seeds=seeds,
    )


def published_rows(root: Path, suite: Suite, against: list[str]) -> pd.DataFrame:
    """The baselines' published rows of the suite's in-domain protocols (empty when none are)."""
    from benchmark.reporting.leaderboard.frames import numeric, read_long
    from benchmark.reporting.leaderboard.schema import validate_file

    frames = []
    for protocol in suite.protocols:
        path = Path(root) / suite.name / f"{protocol}.csv"
        if protocol == "transfer" or not path.is_file():
            continue
        problems = validate_file(path, suite.name, protocol)
        if problems:
            raise UsageError(f"the published leaderboard is invalid: {problems[0].format(str(path))}")
        frames.append(read_long(path))
    if not frames:
        return pd.DataFrame()
    d = numeric(pd.concat(frames, ignore_index=True))
    return d[d["method"].isin(against)].reset_index(drop=True)


def published_delta(
    frame: pd.DataFrame,
    published: pd.DataFrame,
    suite: str,
    new: str,
    against: list[str],
    budgets: dict[str, str],
    hashes: set[str] | None = None,
) -> pd.DataFrame:
    """One row per (cell, baseline): NEW's per-seed store rows against the published cell with the
    same key at the same budget (`budgets`: dataset → NEW's pretrain_budget there)."""
    if hashes is not None:
        frame = frame[frame["config_hash"].isin(hashes)]
    frame = frame[frame["metric"] != FLOOR_METRIC]  # method-independent: nothing to compare
    new_f = frame[frame["method"] == new]
    rows = []
    for base in against:
        b = published[published["method"] == base]
        b = b[[budgets.get(ds) == pb for ds, pb in zip(b["dataset"], b["pretrain_budget"])]]
        lookup = {tuple(r[c] for c in CELL): r for r in b.to_dict("records")}
        for key, g in new_f.groupby(CELL, sort=True, dropna=False):
            r = lookup.get(tuple(key))
            if r is None:
                continue
            nv = [float(v) for v in g.sort_values("seed")["value"]]
            mean, se, n, lo, hi = welch_diff(nv, float(r["mean"]), float(r["std"]), int(r["n_seeds"]))
            if n == 0:
                continue
            cell = dict(zip(CELL, key))
            rows.append(
                {
                    "suite": suite,
                    **cell,
                    "new_method": new,
                    "baseline": base,
                    "new_mean": sum(nv) / len(nv),
                    "baseline_mean": float(r["mean"]),
                    "diff_mean": mean,
                    "diff_std": se,
                    "n_pairs": n,
                    "ci95_low": lo,
                    "ci95_high": hi,
                    "outcome": outcome(cell["metric"], lo, hi),
                }
            )
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def missing_message(suite: Suite, p: ComparePlan, suite_arg: str, out_arg: str | None) -> str:
    by_method: dict[str, set[int]] = {}
    for j in p.missing:
        by_method.setdefault(j.method, set()).add(j.seed)
    what = "; ".join(f"{m} (seeds {','.join(map(str, sorted(s)))})" for m, s in sorted(by_method.items()))
    cmd = (
        f"python run_benchmark.py run --suite {suite_arg} --methods {','.join(sorted(by_method))} "
        f"--seeds {','.join(map(str, p.seeds))}" + (f" --out {out_arg}" if out_arg else "")
    )
    return (
        f"baseline results missing from the store for suite {suite.name!r}: {what} "
        f"(or stored with a different suite config); run them first with `{cmd}`, "
        f"or pass --run-baselines to run them now"
    )


def delta_table(
    frame: pd.DataFrame, suite: str, new: str, against: list[str], hashes: set[str] | None = None
) -> pd.DataFrame:
    """One row per (cell, baseline) from per-seed store rows (`ResultStore.frame`). The
    method-independent majority floor is not compared; transfer rows pair by pretraining source."""
    if hashes is not None:
        frame = frame[frame["config_hash"].isin(hashes)]
    frame = frame[frame["metric"] != FLOOR_METRIC]
    frame = frame.assign(
        pretrain_source=[budget_source(b) for b in frame["pretrain_budget"]]
        if "pretrain_budget" in frame
        else ""
    )
    cell_cols = CELL + ["pretrain_source"]
    rows = []
    new_f = frame[frame["method"] == new]
    for base in against:
        base_f = frame[frame["method"] == base]
        # a pair is one seed (and, under cross-validation, one fold: `fold` is NaN otherwise)
        pair = ["seed", "fold"] if "fold" in frame else ["seed"]
        merged = new_f.merge(base_f, on=cell_cols + pair, suffixes=("_new", "_base"))
        for key, g in merged.groupby(cell_cols, sort=True, dropna=False):
            g = g.sort_values(pair)
            nv = [float(v) for v in g["value_new"]]
            bv = [float(v) for v in g["value_base"]]
            mean, std, n, lo, hi = paired_diff(nv, bv)
            if n == 0:
                continue
            cell = dict(zip(cell_cols, key))
            rows.append(
                {
                    "suite": suite,
                    **cell,
                    "new_method": new,
                    "baseline": base,
                    "new_mean": sum(nv) / len(nv),
                    "baseline_mean": sum(bv) / len(bv),
                    "diff_mean": mean,
                    "diff_std": std,
                    "n_pairs": n,
                    "ci95_low": lo,
                    "ci95_high": hi,
                    "outcome": outcome(cell["metric"], lo, hi),
                }
            )
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def reference_deltas(frame: pd.DataFrame, suite: str, references=REFERENCES) -> pd.DataFrame:
    """Paired Δ (over seeds) of every stored method against each reference present, from per-seed
    store rows; superseded budgets (an older budget of the same method) are left out first."""
    if frame.empty:
        return pd.DataFrame(columns=DELTA_COLUMNS)
    frame = frame[~superseded_mask(frame)]
    refs = [r for r in references if r in set(frame["method"])]
    parts = [
        delta_table(frame, suite, m, [r for r in refs if r != m])
        for m in sorted(set(frame["method"]))
        if m not in REFERENCES or (m == "supervised" and "random_init" in refs)
    ]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DELTA_COLUMNS)


def reference_jobs_done(suite: Suite, store, new: str, against: list[str], datasets, seeds) -> list:
    """The reference jobs (random_init, supervised) of this grid that are already in the store and
    not named as baselines: added to the comparison, never run for it."""
    from benchmark.orchestration.jobs import expand

    refs = [r for r in REFERENCES if r != new and r not in against and r in suite.methods]
    if not refs:
        return []
    done = store.done_hashes()
    return [j for j in expand(suite, refs, datasets, seeds) if j.config_hash() in done]


def win_tie_loss(delta: pd.DataFrame) -> pd.DataFrame:
    """Counts of win / tie / loss across datasets for each (protocol, probe, fraction, …, baseline)."""
    keys = [c for c in SUMMARY_COLUMNS if c not in ("wins", "ties", "losses", "n_datasets")]
    rows = []
    for key, g in delta.groupby(keys, sort=True, dropna=False):
        counts = g["outcome"].value_counts()
        rows.append(
            {
                **dict(zip(keys, key)),
                "wins": int(counts.get("win", 0)),
                "ties": int(counts.get("tie", 0)),
                "losses": int(counts.get("loss", 0)),
                "n_datasets": int(g["dataset"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _num(v: float, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def _cell_label(r) -> str:
    parts = [str(r["dataset"]), str(r["probe"]), f"{float(r['fraction']) * 100:g}%"]
    if r["corruption"]:
        parts.append(f"{r['corruption']} s{int(r['severity'])}")
    elif int(r["severity"]):
        parts.append(f"s{int(r['severity'])}")
    if r["ood_partner"]:
        parts.append(f"vs {r['ood_partner']}")
    if r.get("pretrain_source"):
        parts.append(f"pretrained on {r['pretrain_source']}")
    return " · ".join(parts)


def markdown(
    delta: pd.DataFrame, summary: pd.DataFrame, new: str, suite: str, published: bool = False
) -> str:
    out = io.StringIO()
    out.write(f"# {new} vs baselines — suite {suite}\n\n")
    how = (
        "Δ = NEW's mean over seeds − the published baseline mean (same cell, same budget); "
        "[95 % Welch t-interval from NEW's seeds and the published std and n]"
        if published
        else "Δ = mean over seeds of (NEW − baseline), paired by seed; [95 % CI, t-distribution]"
    )
    out.write(
        f"{how}; win/loss when the CI excludes 0 (lower is better for "
        f"{', '.join(sorted(LOWER_IS_BETTER))}), tie otherwise or with a single seed (no CI: —). "
        "The references random_init and supervised are included whenever they are stored.\n\n"
    )
    for protocol, d in delta.groupby("protocol", sort=True):
        out.write(f"## {protocol}\n\n")
        out.write("| cell | metric | baseline | NEW | baseline mean | Δ | 95 % CI | n | outcome |\n")
        out.write("|---|---|---|---:|---:|---:|---|---:|---|\n")
        for _, r in d.iterrows():
            ci = (
                f"[{_num(r['ci95_low'], True)}, {_num(r['ci95_high'], True)}]"
                if not math.isnan(r["ci95_low"])
                else "—"
            )
            out.write(
                f"| {_cell_label(r)} | {r['metric']} | {r['baseline']} | {_num(r['new_mean'])} | "
                f"{_num(r['baseline_mean'])} | {_num(r['diff_mean'], True)} | {ci} | "
                f"{int(r['n_pairs'])} | {r['outcome']} |\n"
            )
        s = summary[summary["protocol"] == protocol]
        out.write(f"\n### {protocol}: win / tie / loss across datasets\n\n")
        out.write("| probe | fraction | condition | metric | baseline | W / T / L | datasets |\n")
        out.write("|---|---:|---|---|---|---|---:|\n")
        for _, r in s.iterrows():
            cond = (
                " ".join(
                    x
                    for x in (
                        r["corruption"],
                        f"s{int(r['severity'])}" if int(r["severity"]) else "",
                        f"vs {r['ood_partner']}" if r["ood_partner"] else "",
                    )
                    if x
                )
                or "clean"
            )
            out.write(
                f"| {r['probe']} | {float(r['fraction']) * 100:g}% | {cond} | {r['metric']} | "
                f"{r['baseline']} | {r['wins']} / {r['ties']} / {r['losses']} | {r['n_datasets']} |\n"
            )
        out.write("\n")
    return out.getvalue()


def write_compare(
    delta: pd.DataFrame, summary: pd.DataFrame, out_dir: Path, new: str, suite: str, published: bool = False
) -> dict[str, Path]:
    out_dir = Path(out_dir)
    return {
        "csv": atomic_write_text(out_dir / f"compare_{new}.csv", delta.to_csv(index=False)),
        "summary_csv": atomic_write_text(out_dir / f"compare_{new}_summary.csv", summary.to_csv(index=False)),
        "md": atomic_write_text(
            out_dir / f"compare_{new}.md", markdown(delta, summary, new, suite, published)
        ),
    }


def forget_jobs(store, jobs) -> int:
    """Delete these jobs and their rows from the store (compare --rerun-new after editing a method)."""
    hashes = [j.config_hash() for j in jobs]

    def tx(c):
        c.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for h in hashes:
                c.execute("DELETE FROM results WHERE config_hash=?", (h,))
                n += c.execute("DELETE FROM jobs WHERE config_hash=?", (h,)).rowcount
            c.execute("COMMIT")
            return n
        except BaseException:
            c.execute("ROLLBACK")
            raise

    return store._retry(tx)


# -------------------------------------------------------------------------------------------------
# command line


def add_parser(sub) -> None:

    c = sub.add_parser("compare", help="run a new method on the stored grid and tabulate NEW − baselines")
    c.add_argument("new", help="name of the new method (built-in or registered by --method-file)")
    c.add_argument(
        "--against",
        required=True,
        type=csv_list("--against"),
        help="comma-separated baseline methods whose results are already in the store",
    )
    c.add_argument(
        "--suite",
        default=None,
        help="shipped suite name or a .yaml file, as for run (default: the one in --out's store)",
    )
    c.add_argument(
        "--method-file",
        action="append",
        default=None,
        metavar="FILE",
        help="Python file defining the new method (executed only because it is named here)",
    )
    c.add_argument("--out", default=None, help="dir holding store.sqlite (default: results/<suite>)")
    c.add_argument(
        "--data-dir",
        default=None,
        help="dataset root (default: $SSLBENCH_DATA_DIR or ~/.cache/sslbench/data)",
    )
    c.add_argument("--datasets", type=csv_list("--datasets"), help="restrict to these datasets of the suite")
    c.add_argument(
        "--seeds",
        type=csv_list("--seeds", int),
        help="seeds (default: those the baselines have in the store)",
    )
    c.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    c.add_argument(
        "--run-baselines",
        action="store_true",
        help="run baselines missing from the store instead of stopping with an error",
    )
    c.add_argument(
        "--rerun-new",
        action="store_true",
        help="forget NEW's stored results first (after editing the method's code)",
    )
    c.add_argument(
        "--against-published",
        action="store_true",
        help="compare with the published rows of leaderboards/<suite>/ at the same budget (no baseline "
        "run needed; the default when the store lacks the baselines and the leaderboard has them)",
    )
    c.add_argument("--root", default="leaderboards", help="leaderboards dir (default: leaderboards)")
    c.add_argument(
        "--into-store",
        action="store_true",
        help="record NEW's jobs in <out>/store.sqlite (which publish reads) instead of <out>/compare/",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress bars")


def _published_baselines(args, suite, p, main_db: Path):
    """Whether the baselines come from the published rows, those rows, and the plan to use: asked for
    with --against-published, or taken when the store lacks them and --run-baselines is not given."""
    import sys

    use_published = args.against_published
    published = pd.DataFrame()
    if not (use_published or (p.missing and not args.run_baselines)):
        return use_published, published, p
    published = published_rows(Path(args.root), suite, args.against)
    have = set(published["method"]) if not published.empty else set()
    lacking = [b for b in args.against if b not in have]
    if use_published and lacking:
        raise UsageError(
            f"--against-published: no published rows of {', '.join(lacking)} under "
            f"{Path(args.root) / suite.name}; publish them or compare against a store"
        )
    if not use_published and not lacking:
        use_published = True
        print(
            f"baselines not in {main_db}: comparing with the published rows under "
            f"{Path(args.root) / suite.name} (--against-published)",
            file=sys.stderr,
        )
    if not use_published:
        raise UsageError(
            missing_message(suite, p, args.suite or suite.name, args.out)
            + f"; or publish them to {Path(args.root) / suite.name} for --against-published"
        )
    if args.seeds is None:  # the suite's seeds: the ones the published rows were run with
        p = plan(suite, None, args.new, args.against, args.datasets, list(suite.seeds))
    return use_published, published, p


def _run_compare_jobs(args, p, new_store, main_store, main_db: Path, out: Path, device, use_published):
    """Run NEW's jobs into `new_store` (and, with --run-baselines, the missing baselines into the
    main store); the merged run summary and the main store (created if baselines ran)."""
    import sys

    from benchmark.orchestration.runner import run_jobs
    from benchmark.orchestration.store import ResultStore

    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    summary = run_jobs(
        p.new_jobs, new_store, args.data_dir, out, device, log=log, show_progress=not args.no_progress
    )
    if p.missing and args.run_baselines and not use_published:
        main_store = main_store or ResultStore(main_db)
        more = run_jobs(
            p.missing, main_store, args.data_dir, out, device, log=log, show_progress=not args.no_progress
        )
        for k in ("ran", "skipped"):
            summary[k] += more[k]
        summary["failed"] += more["failed"]
    return summary, main_store


def _compare_delta(args, suite, p, new_store, main_store, published, use_published) -> pd.DataFrame:
    """NEW against each baseline (and the reference rows the store has), paired by seed, from the
    stores or against the published aggregates."""
    from benchmark.reporting.protocol_tables import derived_rows

    frames = [new_store.frame(suite.name)]
    if main_store is not None and main_store is not new_store:
        frames.append(main_store.frame(suite.name))
    frame = pd.concat(frames, ignore_index=True).drop_duplicates(["config_hash", *CELL])
    # CE / mCE are derived at table time (against the supervised rows of the same run)
    frame = derived_rows(frame, headline_metrics(suite))
    refs = (
        reference_jobs_done(suite, main_store, args.new, args.against, args.datasets, p.seeds)
        if main_store is not None and not use_published
        else []
    )
    against = list(args.against) + sorted({j.method for j in refs})
    hashes = {j.config_hash() for j in p.new_jobs + p.baseline_jobs + refs}
    if use_published:
        budgets = {j.dataset: f"{j.epochs}ep" for j in p.new_jobs}
        return published_delta(frame, published, suite.name, args.new, args.against, budgets, hashes)
    return delta_table(frame, suite.name, args.new, against, hashes)


def cmd_compare(args) -> int:
    import sys

    from benchmark.orchestration.package_guard import check_datasets_package

    check_datasets_package()
    from benchmark.orchestration.preflight import preflight, suite_problems
    from benchmark.orchestration.runner import resolve_device
    from benchmark.orchestration.store import ResultStore
    from benchmark.orchestration.suites import NAME_RE, suite_for_results

    if not NAME_RE.match(args.new):
        raise UsageError(f"compare: method name {args.new!r} must be lower_snake_case")
    if args.seeds is not None and any(s < 0 for s in args.seeds):
        raise UsageError("--seeds: seeds must be non-negative integers")
    rs = suite_for_results(args.suite, args.out, "compare")
    if rs.suite is None:
        raise UsageError(
            f"compare: the config of suite {rs.name!r} is not at hand (not shipped, no "
            f"{rs.out / 'suite.yaml'}); pass --suite with its .yaml file"
        )
    suite, out = rs.suite, rs.out
    device = resolve_device(args.device)
    if args.data_dir and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: not a directory")
    main_db = out / "store.sqlite"
    main_store = ResultStore(main_db) if main_db.is_file() else None
    p = plan(suite, main_store, args.new, args.against, args.datasets, args.seeds)
    use_published, published, p = _published_baselines(args, suite, p, main_db)
    # the run's pre-flight, for NEW's jobs: suite keys and adapter options, data dir, the data itself
    usage = suite_problems(suite)
    if usage:
        more = f" (+{len(usage) - 1} more problem(s) in the suite)" if len(usage) > 1 else ""
        raise UsageError(usage[0] + more)
    report = preflight(p.new_jobs, args.data_dir, out / "compare")
    for line in report.lines():
        print(line, file=sys.stderr)
    if report.exit_code:
        return report.exit_code
    new_store = (
        main_store
        if args.into_store and main_store
        else ResultStore((out if args.into_store else out / "compare") / "store.sqlite")
    )
    if args.rerun_new:
        n = forget_jobs(new_store, p.new_jobs)
        print(f"--rerun-new: forgot {n} stored job(s) of {args.new}", file=sys.stderr)
    reused = 0 if use_published else len(p.baseline_jobs) - len(p.missing)
    print(
        f"compare {args.new} vs {', '.join(args.against)} on suite {suite.name}, seeds "
        f"{','.join(map(str, p.seeds))}: "
        + (
            f"{len(published)} published baseline row(s) used"
            if use_published
            else f"{reused} stored baseline job(s) reused"
        )
        + f"; {len(p.new_jobs)} job(s) of {args.new} to check on {device}",
        file=sys.stderr,
    )
    summary, main_store = _run_compare_jobs(
        args, p, new_store, main_store, main_db, out, device, use_published
    )
    delta = _compare_delta(args, suite, p, new_store, main_store, published, use_published)
    if args.into_store:
        from benchmark.reporting.tables import write_tables

        write_tables(new_store, out, suite.name, headline_metrics(suite))
    for label, err in summary["failed"]:
        print(f"FAILED {label}: {err}", file=sys.stderr)
    if delta.empty:
        print(f"no paired results of {args.new} and the baselines to compare", file=sys.stderr)
        return 1
    wtl = win_tie_loss(delta)
    paths = write_compare(delta, wtl, out, args.new, suite.name, use_published)
    print(paths["md"].read_text())
    print(
        f"ran {summary['ran']}, skipped {summary['skipped']}, failed {len(summary['failed'])}; wrote "
        + ", ".join(str(v) for v in paths.values()),
        file=sys.stderr,
    )
    return 1 if summary["failed"] else 0
