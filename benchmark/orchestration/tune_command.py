"""`run_benchmark.py tune`: run a suite's tuning trials (docs/protocol.md) and write the tuning log.

tune --suite S [--methods …] [--datasets …] [--out DIR] [--publish]   run the trials, write tuning.csv
tune --suite S --check FILE                                           the suite's choices vs a log
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from benchmark.core.arguments import csv_list
from benchmark.core.errors import UsageError


def add_parser(sub) -> None:
    t = sub.add_parser(
        "tune",
        help="run a suite's tuning trials on its tuning seeds (val only) and write tuning.csv",
    )
    t.add_argument("--suite", required=True, help="shipped suite name or a .yaml file with a 'tuning:' block")
    t.add_argument("--data-dir", default=None, help="dataset root (default: $SSLBENCH_DATA_DIR)")
    t.add_argument("--out", default=None, help="output dir (default: results/<suite>_tuning)")
    t.add_argument("--methods", type=csv_list("--methods"), help="only these methods' trials")
    t.add_argument("--datasets", type=csv_list("--datasets"), help="only these datasets' trials")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument(
        "--publish",
        action="store_true",
        help="also write the log to <root>/<suite>/tuning.csv (the suite's published tuning log)",
    )
    t.add_argument("--root", default="leaderboards", help="leaderboards directory for --publish")
    t.add_argument(
        "--check",
        default=None,
        metavar="FILE",
        help="run nothing: list every per-method choice of the suite that the tuning log FILE does not back",
    )
    from benchmark.orchestration.executors import add_executor_arguments

    add_executor_arguments(t)


def read_tuning_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise UsageError(f"--check {path}: no such tuning log")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_tuning_csv(path: Path, rows: list[dict]) -> Path:
    import io

    from benchmark.core.io import atomic_write_text
    from benchmark.orchestration.tuning import TUNING_COLUMNS

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TUNING_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def cmd_tune(args) -> int:
    from benchmark.orchestration.suites import load_suite
    from benchmark.orchestration.tuning import unbacked_choices

    suite = load_suite(args.suite)
    if args.check:
        problems = unbacked_choices(suite, read_tuning_csv(Path(args.check)))
        for p in problems:
            print(f"{suite.name}: {p}", file=sys.stderr)
        print(f"{suite.name}: {len(problems)} choice(s) not backed by {args.check}", file=sys.stderr)
        return 1 if problems else 0
    return _run_trials(args, suite)


def _run_trials(args, suite) -> int:
    from benchmark.orchestration.executors import options_from_args, run_grid_from_args, worker_device
    from benchmark.orchestration.preflight import preflight, suite_problems
    from benchmark.orchestration.store import ResultStore
    from benchmark.orchestration.tuning import selection_yaml, tuning_table, tuning_trials

    usage = suite_problems(suite)
    if usage:
        for u in usage:
            print(f"error: {u}", file=sys.stderr)
        return 2
    trials = tuning_trials(suite, args.methods, args.datasets)
    jobs = [j for t in trials for j in t.jobs]
    out = Path(args.out) if args.out else Path("results") / f"{suite.name}_tuning"
    opts = options_from_args(args, suite)
    device = worker_device(args.executor, args.device, opts)
    report = preflight(jobs, args.data_dir, out, load_data=args.executor in ("local", "process"))
    for line in report.lines():
        print(line, file=sys.stderr)
    if report.exit_code:
        return report.exit_code
    print(
        f"tuning {suite.name}: {len(trials)} trial(s) × {len(suite.tuning.seeds)} tuning seed(s) = "
        f"{len(jobs)} job(s) on {device}, scored on val only; results in {out}",
        file=sys.stderr,
    )
    store = ResultStore(out / "store.sqlite")
    summary = run_grid_from_args(args, jobs, store, out, device, opts)
    # the log covers every trial of the suite that ran (collapsed and failed ones too), not only this call's
    rows = [r for r in tuning_table(suite, tuning_trials(suite), store) if r["status"]]
    written = [write_tuning_csv(out / "tuning.csv", rows)]
    if args.publish:
        written.append(write_tuning_csv(Path(args.root) / suite.name / "tuning.csv", rows))
    print(selection_yaml(suite, rows) or "# every selected setting is the method's default")
    print(f"tuning log: {', '.join(map(str, written))}", file=sys.stderr)
    return 1 if summary["failed"] else 0
