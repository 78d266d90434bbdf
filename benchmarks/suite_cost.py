#!/usr/bin/env python
"""Cost of a suite (issue 7): wall time and peak RSS, split into pretraining, embedding and probing,
and how pretraining cost grows with dataset size and epochs.

    python benchmarks/suite_cost.py                      # the quick suite, in a fresh temp dir
    python benchmarks/suite_cost.py --suite quick --growth  # plus size × epochs scaling on Fashion-MNIST
    python benchmarks/suite_cost.py --store results/quick/store.sqlite --skip-suite  # a finished run's split

Timings come from the per-job timing the runner stores with every job (train_s; embed_s = embedding
cache misses; eval_s per protocol), so they are the suite's own numbers, not a re-implementation.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmark.orchestration.jobs import Job, expand  # noqa: E402
from benchmark.orchestration.runner import run_job, run_jobs  # noqa: E402
from benchmark.orchestration.store import ResultStore  # noqa: E402
from benchmark.orchestration.suites import load_suite  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def suite_cost(suite_name: str, data_dir, out: Path) -> None:
    from benchmark.orchestration.transfer import suite_transfer_jobs

    suite = load_suite(suite_name)
    jobs = expand(suite) + suite_transfer_jobs(suite)
    store = ResultStore(out / "store.sqlite")
    t0 = time.perf_counter()
    summary = run_jobs(
        jobs, store, data_dir, out, torch.device("cpu"), log=lambda m: None, show_progress=False
    )
    wall = time.perf_counter() - t0
    print(
        f"suite {suite.name}: {len(jobs)} jobs, ran {summary['ran']}, failed {len(summary['failed'])}, "
        f"wall {wall:.0f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
    breakdown(out / "store.sqlite")


def breakdown(store_path: Path) -> None:
    """Pretraining / embedding / probing seconds per dataset from the timings stored with each job."""
    per_ds: dict[str, list[float]] = {}
    for ds, hist in sqlite3.connect(store_path).execute("SELECT dataset, history_json FROM jobs"):
        timing = (json.loads(hist) or {}).get("timing", {})
        ev = sum(timing.get("eval_s", {}).values())
        emb = timing.get("embed_s", 0.0)
        acc = per_ds.setdefault(ds, [0.0, 0.0, 0.0])
        acc[0] += timing.get("train_s", 0.0)
        acc[1] += emb
        acc[2] += ev - emb
    print(f"{'dataset':<18}{'pretrain s':>12}{'embed s':>10}{'probe s':>10}{'eval/pretrain':>15}")
    tot = [0.0, 0.0, 0.0]
    for ds, (tr, emb, pr) in sorted(per_ds.items()):
        tot = [tot[0] + tr, tot[1] + emb, tot[2] + pr]
        print(f"{ds:<18}{tr:>12.1f}{emb:>10.1f}{pr:>10.1f}{(emb + pr) / max(tr, 1e-9):>14.0%}")
    share = (tot[1] + tot[2]) / max(tot[0], 1e-9)
    print(f"{'total':<18}{tot[0]:>12.1f}{tot[1]:>10.1f}{tot[2]:>10.1f}{share:>14.0%}")


def growth(data_dir, out: Path) -> None:
    """Pretraining + evaluation time of SimCLR on Fashion-MNIST at 3 pool sizes × 3 epoch counts."""
    print("\nscaling (simclr, fashion_mnist, linear probe at 10 %): seconds train / eval")
    print(f"{'max_train':>10}" + "".join(f"{f'{e} ep':>16}" for e in (1, 2, 4)))
    for n in (1000, 2000, 4000):
        cells = []
        for e in (1, 2, 4):
            job = Job(
                "cost",
                "simclr",
                "fashion_mnist",
                0,
                e,
                [0.1],
                ["linear"],
                ["label_fraction"],
                {},
                {},
                n,
                1000,
                1000,
            )
            res = run_job(job, data_dir, out / f"g{n}_{e}", torch.device("cpu"))
            t = res.history["timing"]
            cells.append(f"{t['train_s']:.1f} / {sum(t['eval_s'].values()):.1f}")
        print(f"{n:>10}" + "".join(f"{c:>16}" for c in cells))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="quick")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--growth", action="store_true", help="also measure size × epochs scaling")
    p.add_argument("--skip-suite", action="store_true")
    p.add_argument(
        "--store",
        default=None,
        help="only break down the stored timings of a finished run (e.g. results/quick/store.sqlite)",
    )
    args = p.parse_args(argv)
    if args.store:
        breakdown(Path(args.store))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_suite:
            suite_cost(args.suite, args.data_dir, Path(tmp) / "suite")
        if args.growth:
            growth(args.data_dir, Path(tmp) / "growth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
