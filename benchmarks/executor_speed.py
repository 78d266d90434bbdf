"""Wall time of a suite with `--executor local` vs `--executor process --workers N`, side by side in
one run, and a check that both stored exactly the same metrics.

    python benchmarks/executor_speed.py [--suite quick] [--workers 2] [--data-dir DIR] [--seeds 0,1]

Both runs pin the same threads per job (cores // workers, 1 on a 2-core box) so their results are
bit-identical: on CPU the intra-op thread count changes floating-point reduction order. The local run
therefore uses the same per-job threads as the pool, one job at a time — the honest baseline for what
the pool adds (concurrency across jobs); `--local-threads` changes it (results then may differ).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark.orchestration.package_guard import check_datasets_package  # noqa: E402


def _metrics(store, suite: str):
    df = store.frame(suite)
    cols = [
        "config_hash",
        "protocol",
        "probe",
        "fraction",
        "corruption",
        "severity",
        "ood_partner",
        "metric",
        "value",
    ]
    return sorted(tuple(r) for r in df[cols].itertuples(index=False))


def main(argv=None) -> int:
    check_datasets_package()
    from benchmark.orchestration.executors import ExecutorOptions, _cores, run_grid
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.store import ResultStore
    from benchmark.orchestration.suites import load_suite

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="quick", help="shipped suite name or a .yaml file")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seeds", default=None, help="comma-separated subset of the suite's seeds")
    p.add_argument("--methods", default=None, help="comma-separated subset of the suite's methods")
    p.add_argument(
        "--local-threads",
        type=int,
        default=None,
        help="threads of the local run "
        "(default: the same per-job threads as the pool, so results are identical)",
    )
    p.add_argument("--out", default=None, help="keep the two stores here (default: a temp dir)")
    args = p.parse_args(argv)

    suite = load_suite(args.suite)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    jobs = expand(suite, args.methods.split(",") if args.methods else None, None, seeds)
    cores = _cores()
    threads = max(1, cores // args.workers)
    out = Path(args.out or tempfile.mkdtemp(prefix="executor_speed_"))
    print(
        f"suite {suite.name}: {len(jobs)} jobs; {cores} cores; process pool {args.workers} workers × "
        f"{threads} thread(s); local {args.local_threads or threads} thread(s); load average "
        f"{os.getloadavg()[0]:.2f} (other processes share this machine)",
        flush=True,
    )
    walls, metrics = {}, {}
    for name, executor, opts in (
        ("local", "local", ExecutorOptions(threads_per_job=args.local_threads or threads)),
        (
            f"process×{args.workers}",
            "process",
            ExecutorOptions(workers=args.workers, threads_per_job=threads),
        ),
    ):
        d = out / name.replace("×", "x")
        store = ResultStore(d / "store.sqlite")
        t0 = time.perf_counter()
        summary = run_grid(
            executor,
            jobs,
            store,
            args.data_dir,
            d,
            "cpu",
            log=lambda m: None,
            show_progress=False,
            options=opts,
        )
        walls[name] = time.perf_counter() - t0
        metrics[name] = _metrics(store, suite.name)
        assert not summary["failed"], summary["failed"]
        assert summary["ran"] == len(jobs), (
            f"{name}: ran {summary['ran']} of {len(jobs)} (stale store in {d}?)"
        )
        print(
            f"{name:<12} {walls[name]:8.1f} s   ({summary['ran']} jobs, {len(metrics[name])} metric rows)",
            flush=True,
        )
    a, b = walls.values()
    print(
        f"ratio local / process×{args.workers} = {a / b:.2f}×   (load average now {os.getloadavg()[0]:.2f})"
    )
    local_m, proc_m = metrics.values()
    if (args.local_threads or threads) != threads:  # other reduction order: equal up to float noise only
        diff = (
            max(abs(x[-1] - y[-1]) for x, y in zip(local_m, proc_m)) if len(local_m) == len(proc_m) else None
        )
        print(
            f"metrics not compared bit for bit (local used {args.local_threads} threads per job, the pool "
            f"{threads}); largest metric difference: {diff}"
        )
        return 0
    assert local_m == proc_m, "the two executors stored different metrics"
    print(f"identical metrics: {len(local_m)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
