"""The `leaderboard` subcommand: publish / withdraw / validate / render."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark.core.io import writable_dir
from benchmark.orchestration.suites import UsageError, is_suite_file, load_suite, suite_for_results
from benchmark.reporting.leaderboard.pages import render
from benchmark.reporting.leaderboard.publish import publish_csv, publish_store, withdraw
from benchmark.reporting.leaderboard.schema import check_suite_name, leaderboard_csvs, validate_file
from benchmark.reporting.tables import SCHEMA_VERSION

_ROOT_HELP = "leaderboards dir (default: leaderboards)"


def add_parser(sub) -> None:
    lb = sub.add_parser("leaderboard", help="publish / validate / render leaderboards")
    lsub = lb.add_subparsers(dest="lb_command", required=True, parser_class=type(lb))
    p = lsub.add_parser(
        "publish", help="merge a suite's stored results into leaderboards/<suite>/<protocol>.csv"
    )
    p.add_argument(
        "--suite",
        default=None,
        help="suite name or .yaml file, as for run (default: the one in --out's store)",
    )
    p.add_argument("--out", default=None, help="dir holding store.sqlite (default: results/<suite>)")
    p.add_argument(
        "--from-csv",
        default=None,
        metavar="FILE",
        help="merge a submitted long-format CSV (validated first) instead of the store",
    )
    p.add_argument("--root", default="leaderboards", help=_ROOT_HELP)
    w = lsub.add_parser(
        "withdraw", help="remove a method's published rows (a dataset's, a budget's) from a suite's CSVs"
    )
    w.add_argument("--suite", required=True, help="suite name (lower_snake_case)")
    w.add_argument("--method", required=True)
    w.add_argument("--dataset", default=None, help="only this dataset's rows")
    w.add_argument("--pretrain-budget", default=None, help="only rows of this budget, e.g. 20ep")
    w.add_argument("--root", default="leaderboards", help=_ROOT_HELP)
    v = lsub.add_parser(
        "validate", help="check leaderboard CSV file(s), or every CSV of a dir; exit 1 listing every problem"
    )
    v.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    r = lsub.add_parser("render", help="Markdown summary + static HTML page with plots under <root>/site")
    r.add_argument("--root", default="leaderboards", help=_ROOT_HELP)
    r.add_argument("--site", default=None, help="output dir (default: <root>/site)")
    r.add_argument("--suite", action="append", default=None, help="only this suite (repeatable)")
    r.add_argument(
        "--readme",
        default=None,
        metavar="FILE",
        help="also replace the generated block between the leaderboard markers of this README",
    )


def _log(m) -> None:
    print(m, file=sys.stderr)


def _csv_files(args_files: list[str]) -> list[str]:
    """The files to validate: each FILE, and every leaderboard CSV (`<protocol>.csv`) of each directory."""
    files = []
    for f in args_files:
        if Path(f).is_dir():
            found = [str(p) for p in leaderboard_csvs(Path(f))]
            if not found:
                raise UsageError(f"{f}: a directory without leaderboard CSVs (*.csv)")
            files += found
        else:
            files.append(f)
    return files


def _validate(args) -> int:
    bad = 0
    for f in _csv_files(args.files):
        problems = validate_file(f)
        if problems:
            bad += 1
            for pr in problems:
                print(pr.format(f))
            print(f"{f}: INVALID ({len(problems)} problem(s))", file=sys.stderr)
        else:
            print(f"{f}: valid (schema {SCHEMA_VERSION})", file=sys.stderr)
    return 1 if bad else 0


def _publish(args) -> dict[str, Path]:
    root = Path(args.root)
    if args.from_csv:
        if not args.suite:
            raise UsageError("publish --from-csv needs --suite (the suite the CSV's rows belong to)")
        name = load_suite(args.suite).name if is_suite_file(args.suite) else check_suite_name(args.suite)
        writable_dir(root / name, "--root", create=False)
        return publish_csv(Path(args.from_csv), name, root, _log)
    from benchmark.orchestration.store import ResultStore

    rs = suite_for_results(args.suite, args.out, "leaderboard publish")
    if not (rs.out / "store.sqlite").exists():
        raise UsageError(f"no results store at {rs.out / 'store.sqlite'}; run the suite first or pass --out")
    writable_dir(root / rs.name, "--root", create=False)
    return publish_store(ResultStore(rs.out / "store.sqlite"), rs.name, root, _log, suite_text=rs.text)


def _render(args) -> dict[str, Path]:
    root = Path(args.root)
    for s in args.suite or []:
        check_suite_name(s)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--root {root}: is a file, expected the leaderboards directory")
    writable_dir(Path(args.site) if args.site else root / "site", "--site", create=False)
    written = render(
        Path(args.root),
        Path(args.site) if args.site else None,
        args.suite,
        Path(args.readme) if args.readme else None,
    )
    md = written.get("leaderboard.md")
    if md:
        print(md.read_text())
    return written


def cmd_leaderboard(args) -> int:
    if args.lb_command == "validate":
        return _validate(args)
    if args.lb_command == "withdraw":
        writable_dir(Path(args.root) / check_suite_name(args.suite), "--root", create=False)
        written = withdraw(args.suite, Path(args.root), args.method, args.dataset, args.pretrain_budget, _log)
    elif args.lb_command == "publish":
        written = _publish(args)
    else:
        written = _render(args)
    _log("wrote " + ", ".join(str(p) for p in written.values()))
    return 0
