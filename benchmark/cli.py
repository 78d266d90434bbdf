"""argparse front end. Usage errors exit 2 with one clear line; data errors and failed jobs exit 1."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmark.core.arguments import csv_list
from benchmark.core.errors import DataError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_benchmark.py", description="SSLBench: cross-domain self-supervised learning benchmark."
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a suite (skips jobs already in the store)")
    r.add_argument(
        "--suite", default=None, help="shipped suite name (smoke, quick, ...) or a .yaml file (required)"
    )
    r.add_argument(
        "--data-dir",
        default=None,
        help="dataset root (default: $SSLBENCH_DATA_DIR or ~/.cache/sslbench/data)",
    )
    r.add_argument("--out", default=None, help="output dir (default: results/<suite>)")
    r.add_argument("--methods", type=csv_list("--methods"), help="comma-separated method names")
    r.add_argument("--datasets", type=csv_list("--datasets"), help="comma-separated dataset names")
    r.add_argument("--seeds", type=csv_list("--seeds", int), help="comma-separated integer seeds")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument(
        "--amp",
        default="off",
        choices=["off", "bf16", "fp16"],
        help="mixed precision in pretraining (fp16 needs CUDA)",
    )
    r.add_argument(
        "--compile",
        default="off",
        choices=["off", "default", "reduce-overhead", "max-autotune"],
        help="torch.compile the encoder in pretraining (off: eager; docs/design.md §3.10)",
    )
    r.add_argument(
        "--rerun",
        action="store_true",
        help="run the selected jobs again although the store has them (after a recipe or code change); "
        "each stored result is replaced only when its new run finishes",
    )
    from benchmark.orchestration.executors import add_executor_arguments

    add_executor_arguments(r)
    r.add_argument(
        "--method-file",
        action="append",
        default=None,
        metavar="FILE",
        help="Python file defining a method (executed only because it is named here)",
    )
    r.add_argument(
        "--dataset-file",
        action="append",
        default=None,
        metavar="FILE",
        help="Python file defining a dataset adapter (executed only because it is named here)",
    )
    r.add_argument(
        "--strict",
        action="store_true",
        help="fail before any job when an OOD partner or transfer dataset is not in the data dir",
    )
    r.add_argument(
        "--pretrain-on",
        type=csv_list("--pretrain-on"),
        help="transfer: pretrain on these dataset(s) (several = their union, multi-domain)",
    )
    r.add_argument(
        "--evaluate-on",
        type=csv_list("--evaluate-on"),
        help="transfer: probe the --pretrain-on checkpoint on these same-spec dataset(s)",
    )

    ls = sub.add_parser("list", help="list methods, datasets, encoders or suites")
    ls.add_argument("what", choices=["methods", "datasets", "encoders", "suites"])
    ls.add_argument(
        "--recipes",
        action="store_true",
        help="with `methods`: each method's training recipe, sources and deviations (docs/recipes.md)",
    )
    ls.add_argument(
        "--data-dir",
        default=None,
        help="data directory checked for local copies (default: $SSLBENCH_DATA_DIR, else ~/.cache)",
    )

    rep = sub.add_parser("report", help="regenerate tables from the results store")
    rep.add_argument("--out", default=None, help="output dir holding store.sqlite (default: results/<suite>)")
    rep.add_argument(
        "--suite",
        default=None,
        help="suite name or .yaml file, as for run (default: the one in --out's store)",
    )

    from benchmark.orchestration import fetch, tune_command
    from benchmark.reporting import compare, leaderboard

    compare.add_parser(sub)
    leaderboard.add_parser(sub)
    fetch.add_parser(sub)
    tune_command.add_parser(sub)
    return p


def _out_dir(args, suite_name: str) -> Path:
    return Path(args.out) if args.out else Path("results") / suite_name


SUITE_NEEDED = (
    "run needs --suite: a shipped suite ({names}) or a .yaml file; new here? "
    "`python run_benchmark.py run --suite smoke` is the two-minute first run"
)


def _problems(lines: list[str]) -> None:
    for line in lines:
        print(_one_line(line), file=sys.stderr)


def _suite_jobs(args, suite) -> list:
    """The jobs `run` runs: the suite's grid filtered by --methods/--datasets/--seeds and its
    transfer pairs, or the transfer jobs of --pretrain-on/--evaluate-on."""
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.transfer import suite_transfer_jobs, transfer_jobs

    if args.pretrain_on or args.evaluate_on:
        if args.datasets:
            raise UsageError("--datasets cannot be combined with --pretrain-on/--evaluate-on")
        return transfer_jobs(suite, args.pretrain_on or [], args.evaluate_on or [], args.methods, args.seeds)
    jobs = expand(suite, args.methods, args.datasets, args.seeds)
    return jobs + suite_transfer_jobs(suite, args.methods, args.seeds, args.datasets)


def _check_run_args(args, suite) -> int:
    """Usage problems of `run`'s suite and filters, one line each, before any job: 2 if any."""
    from benchmark.orchestration.preflight import method_filter_problems, suite_problems

    if args.seeds is not None and any(s < 0 for s in args.seeds):
        raise UsageError("--seeds: seeds must be non-negative integers")
    tuned = sorted(set(args.seeds or []) & set(suite.tuning.seeds if suite.tuning else []))
    if tuned:
        raise UsageError(
            f"--seeds {tuned}: tuning seeds of suite {suite.name!r} are never reported (docs/protocol.md)"
        )
    # Names, keys and options of the suite and the filters: every problem, one line each, no job run.
    usage = suite_problems(suite) + method_filter_problems(
        suite, args.methods, getattr(args, "user_methods", ())
    )
    if usage:
        _problems([f"error: {u}" for u in usage])
        return 2
    return 0


def _absent_data(args, jobs, suite) -> list:
    """Datasets the jobs need that are not in the data dir (an error under --strict)."""
    from benchmark.orchestration.fetch import missing_locally
    from benchmark.orchestration.preflight import data_dir_problem

    problem = data_dir_problem(args.data_dir)
    if problem:  # before anything looks into the data dir
        raise UsageError(problem)
    absent = missing_locally(jobs, args.data_dir, ood_partners=suite.ood_partners == "required")
    if absent and args.strict:
        raise DataError(
            "--strict: not in the data dir: "
            + "; ".join(f"{n} ({r})" for n, r in absent)
            + f" — stage them with `run_benchmark.py fetch --suite {args.suite}` first"
        )
    return absent


def l2_edge_line(edges: dict | None, shown: int = 4) -> str | None:
    """One summary line when val chose an L2 strength on the linear probe grid's edge, else None."""
    if not edges or not (edges["top"] or edges["bottom"]):
        return None
    parts = []
    for side in ("top", "bottom"):
        hits = sorted(edges[side].items(), key=lambda kv: (-kv[1], kv[0]))
        if hits:
            named = ", ".join(f"{d} {m} ×{n}" for (d, m), n in hits[:shown])
            more = f", {len(hits) - shown} more" if len(hits) > shown else ""
            parts.append(f"its {side} edge in {sum(edges[side].values())} ({named}{more})")
    return (
        f"linear probe: of {edges['heads']} val-selected heads, the L2 strength sat on "
        f"{' and '.join(parts)}: the grid may be too narrow for them (docs/protocol.md; a suite's "
        "`linear_l2_grid` widens it)"
    )


def _report_run(summary: dict, out: Path, written: dict, t_start: float) -> int:
    """The end-of-run lines (counts, tables, wall time, evaluation share, partners left out): 1 when a
    job failed or collapsed, else 0."""
    import resource

    md = out / "label_fraction.md"
    if md.exists():
        print(md.read_text())
    print(
        f"ran {summary['ran']}, skipped {summary['skipped']}, failed {len(summary['failed'])}; "
        f"tables: {', '.join(str(p) for p in written.values())}",
        file=sys.stderr,
    )
    print(
        f"wall {time.perf_counter() - t_start:.0f} s, peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
        file=sys.stderr,
    )
    if summary.get("train_s"):
        print(
            f"evaluation (all protocols) {summary['eval_s']:.1f} s = "
            f"{100 * summary['eval_s'] / summary['train_s']:.0f} % of training {summary['train_s']:.1f} s",
            file=sys.stderr,
        )
    edge_line = l2_edge_line(summary.get("l2_edges"))
    if edge_line:
        print(edge_line, file=sys.stderr)
    if summary.get("missing_partners"):
        print(
            "OOD partners left out (files missing; `fetch` stages them; ood.md lists them):", file=sys.stderr
        )
        for (dataset, partner), why in sorted(summary["missing_partners"].items()):
            print(f"  {dataset}: {partner}: {why}", file=sys.stderr)
    if summary["failed"]:  # each was named on one line as it happened; tracebacks are in the logs
        print(
            f"{len(summary['failed'])} job(s) failed or collapsed (lines above); "
            f"tracebacks in {out / 'logs'}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_run(args) -> int:
    from benchmark.orchestration.package_guard import check_datasets_package

    check_datasets_package()
    from benchmark.core.io import atomic_write_text
    from benchmark.orchestration.executors import options_from_args, run_grid_from_args, worker_device
    from benchmark.orchestration.jobs import headline_metrics
    from benchmark.orchestration.preflight import preflight
    from benchmark.orchestration.store import RerunStore, ResultStore
    from benchmark.orchestration.suites import available_suites, load_suite
    from benchmark.reporting.tables import write_tables

    if not args.suite:
        raise UsageError(SUITE_NEEDED.format(names=", ".join(available_suites())))
    suite = load_suite(args.suite)
    if _check_run_args(args, suite):
        return 2
    opts = options_from_args(args, suite)
    device = worker_device(args.executor, args.device, opts, args.amp)
    jobs = _suite_jobs(args, suite)
    absent = _absent_data(args, jobs, suite)
    out = _out_dir(args, suite.name)
    # On Ray/SLURM the data lives where the jobs run, not necessarily here: only names are checked.
    report = preflight(jobs, args.data_dir, out, load_data=args.executor in ("local", "process"))
    _problems(report.lines())
    if report.exit_code:
        return report.exit_code
    if report.checked:
        print(
            f"pre-flight: {report.checked} dataset(s) loaded and checked in {report.seconds:.1f} s",
            file=sys.stderr,
        )
    store = ResultStore(out / "store.sqlite")
    # the config that ran, next to its results: `report` and `publish` read it (docs/design.md §7)
    atomic_write_text(out / "suite.yaml", Path(suite.source).read_text())
    print(f"suite {suite.name}: {len(jobs)} job(s) on {device}; results in {out}", file=sys.stderr)
    if absent and not report.checked:  # a pre-flight that loaded the data has named what is missing
        print(
            "not in the data dir (downloaded on first use; OOD partners that cannot be fetched are left "
            "out and listed at the end): " + "; ".join(f"{n} ({r})" for n, r in absent),
            file=sys.stderr,
        )
    t_start = time.perf_counter()
    if getattr(args, "rerun", False):
        store = RerunStore(store, {j.config_hash() for j in jobs})
    summary = run_grid_from_args(args, jobs, store, out, device, opts)
    written = write_tables(store, out, suite.name, headline_metrics(suite))
    return _report_run(summary, out, written, t_start)


def cmd_list(args) -> int:
    from benchmark.orchestration.package_guard import check_datasets_package

    check_datasets_package()
    if args.what == "methods" and args.recipes:
        from benchmark.reporting.recipes import render_recipes

        print(render_recipes(), end="")
    elif args.what == "methods":
        from benchmark.core.specs import SPEC_KINDS
        from methods.base import METHODS

        rows = []
        for name in sorted(METHODS):
            d = METHODS[name].describe()
            specs = sorted(
                d["specs"], key=lambda k: SPEC_KINDS.index(k) if k in SPEC_KINDS else len(SPEC_KINDS)
            )
            rows.append((name, d["family"], ",".join(specs), d["paper"]))
        w = [max(len(r[i]) for r in rows + [("name", "family", "specs", "")]) for i in range(3)]
        for r in [("name", "family", "specs", "paper")] + rows:
            print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    elif args.what == "datasets":
        from datasets.base import ADAPTERS

        print(
            f"{'name':<22} {'domain':<15} {'spec':<12} {'shape':<12} {'classes':<17} {'local':<6} "
            f"{'train/val/test':<18} protocol"
        )
        notes = {}
        for name in sorted(ADAPTERS):
            a = ADAPTERS[name]
            generic = "name" in a.accepted_options()  # configured by option `name` (tu, planetoid)
            local, size = ("-", "set by option name") if generic else _local_copy(name, args.data_dir)
            protocol = "official"
            if a.protocol_note:
                notes.setdefault(a.protocol_note, []).append(name)
                protocol = f"deviates [{list(notes).index(a.protocol_note) + 1}]"
            shape = "from files" if generic else "x".join(map(str, a.spec.shape))
            classes = "from files" if generic else str(a.task.num_classes)
            print(
                f"{name:<22} {a.domain:<15} {a.spec.kind:<12} {shape:<12} "
                f"{classes + (' (multi-label)' if a.task.multilabel else ''):<17} "
                f"{local:<6} {size:<18} {protocol}",
                flush=True,
            )
        for i, (note, names) in enumerate(notes.items(), 1):
            print(f"[{i}] {', '.join(names)}: {note}")
    elif args.what == "encoders":
        print(encoders_listing(), end="")
    else:
        from benchmark.orchestration.suites import available_suites, load_suite

        for name in available_suites():
            print(f"{name:<12} {load_suite(name).description}")
    return 0


def encoders_listing() -> str:
    """What a suite's `encoders:` and `init:` axes may name on each dataset (docs/design.md §2.1)."""
    from benchmark.models.encoders import NAMED_ENCODERS, encoder_available
    from benchmark.models.pretrained import imagenet_available
    from datasets.base import ADAPTERS
    from methods.base import METHODS

    tokens = ", ".join(sorted(m for m, c in METHODS.items() if c.builds_encoder))
    rows = [("dataset", "spec", "encoders", "init")]
    for name in sorted(ADAPTERS):
        spec = getattr(ADAPTERS[name], "spec", None)
        encs = ["small"] + [n for n in sorted(NAMED_ENCODERS) if encoder_available(spec, n)]
        imagenet = [e for e in encs if imagenet_available(getattr(spec, "kind", None), e)]
        init = "random, PATH" + (f", imagenet ({'/'.join(imagenet)})" if imagenet else "")
        rows.append((name, getattr(spec, "kind", "?"), ", ".join(encs), init))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}" for r in rows]
    return (
        "\n".join(lines)
        + f"\n\nsmall: the spec's default encoder. {tokens} build their own token transformer (encoder "
        "'tokens') and run once per init whatever `encoders` lists; only random or a PATH fits them.\n"
        "PATH: a state dict saved for that encoder (same names and shapes; others are skipped with the "
        "reason). imagenet: torchvision's weights, 1-channel / 3-D adapted (docs/design.md §2.1); "
        "other encoders skip it, with the reason.\n"
    )


def _local_copy(name: str, data_dir) -> tuple[str, str]:
    """("yes", "n_train/n_val/n_test") when the dataset's official files are found locally (they are
    loaded, downloads forbidden), else ("no", why in a few words)."""
    import logging

    from datasets.base import get_adapter

    logging.disable(logging.WARNING)  # PyG / adapter chatter while probing
    try:
        splits = get_adapter(name, data_dir=data_dir, download=False).splits()
        return "yes", "/".join(str(len(splits[k])) for k in ("train", "val", "test"))
    except Exception as e:  # missing, partial or corrupt files: listed as not usable, never fatal
        why = str(e).split(". ")[0]
        return "no", (
            "files missing"
            if any(w in why for w in ("download", "not in any of", "not found", "missing"))
            else why[:60]
        )
    finally:
        logging.disable(logging.NOTSET)


def cmd_report(args) -> int:
    from benchmark.orchestration.store import ResultStore
    from benchmark.orchestration.suites import suite_for_results
    from benchmark.reporting.tables import write_tables

    rs = suite_for_results(args.suite, args.out, "report")
    out = rs.out
    if not (out / "store.sqlite").exists():
        raise UsageError(f"no results store at {out / 'store.sqlite'}; run the suite first or pass --out")
    from benchmark.core.io import writable_dir

    writable_dir(out, "--out")
    store = ResultStore(out / "store.sqlite")
    from benchmark.orchestration.package_guard import check_datasets_package

    check_datasets_package()
    from benchmark.orchestration.jobs import headline_metrics
    from datasets.base import ADAPTERS

    if rs.suite is not None:
        metric_for = headline_metrics(rs.suite)
    else:  # a suite whose file is not at hand: each stored dataset's own headline metric
        metric_for = {
            d: ADAPTERS[d].task.headline_metric for d in {j["dataset"] for j in store.jobs()} if d in ADAPTERS
        }
    written = write_tables(store, out, rs.name, metric_for)
    if not written:
        print(f"no finished results for suite {rs.name!r} in {out}", file=sys.stderr)
        return 1
    md = out / "label_fraction.md"
    if md.exists():
        print(md.read_text())
    print(f"suite {rs.name}: wrote " + ", ".join(str(p) for p in written.values()), file=sys.stderr)
    return 0


def _one_line(text: str) -> str:
    """Escape line breaks and other control characters (from the user's own input, echoed back) so
    every error is exactly one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "dataset_file", None):
            if getattr(args, "executor", "local") != "local":
                raise UsageError(
                    "--dataset-file needs --executor local (worker processes do not load the "
                    "file); move the adapter into datasets/ to run it elsewhere"
                )
            from benchmark.orchestration.dataset_files import load_dataset_files

            load_dataset_files(args.dataset_file)
        if getattr(args, "method_file", None):
            if getattr(args, "executor", "local") != "local":
                raise UsageError(
                    "--method-file needs --executor local (worker processes do not load the "
                    "file); move the method into methods/ to run it elsewhere"
                )
            from benchmark.orchestration.method_files import load_method_files

            args.user_methods = load_method_files(args.method_file)
        from benchmark.orchestration.fetch import cmd_fetch
        from benchmark.orchestration.tune_command import cmd_tune
        from benchmark.reporting.compare import cmd_compare
        from benchmark.reporting.leaderboard import cmd_leaderboard

        return {
            "run": cmd_run,
            "list": cmd_list,
            "report": cmd_report,
            "compare": cmd_compare,
            "leaderboard": cmd_leaderboard,
            "fetch": cmd_fetch,
            "tune": cmd_tune,
        }[args.command](args)
    except UsageError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"data error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished jobs are in the store, rerun to resume", file=sys.stderr)
        return 130
