#!/usr/bin/env python
"""Projected time of a suite on one GPU, from per-job times measured on that GPU (issue #32).

    python benchmarks/gpu_projection.py --grid-store STORE --encoder-log LOG [--suite standard]

`benchmarks/gpu_check.sh` runs it on its own measurements. How (every input is printed):
1. Method cost. The measured grid (gpu_check's `methods_local` store: every method of the methods
   suite on Fashion-MNIST, one seed, the local executor) gives each method's job time in three
   parts (the job's stored timing): train_s, embed_s and eval_s. A method that cannot run on
   Fashion-MNIST (DGI: node tasks only) costs what the costliest measured one-model method costs,
   and is named.
2. Encoder cost. `throughput.py --device cuda` measured SimCLR's real training loop ("ours", pairs
   per second) on one dataset of every encoder; a dataset's factor is ours(fashion_mnist) /
   ours(dataset), the same for every method (an encoder's cost per view is the same whichever loss
   sits on top). A dataset without a measured line takes the factor of a measured dataset with the
   same input spec, else the largest measured factor; either way it is named.
3. Scale. Each job of the suite (in-domain and transfer, as `run` expands them) costs its method's
   measured job, with training scaled by training samples (epochs × train split; per-fraction
   methods, those that train one model per label fraction, also by their number of fractions),
   embedding and evaluation by the images embedded (train + val + test per trained model, plus the
   robustness protocol's corrupted test copies and the OOD protocol's partner test sets), all
   multiplied by the dataset's encoder factor. Split sizes come from the adapters (`--data-dir`);
   a dataset without files there is sized by its adapter's published split sizes where it declares
   them (Speech Commands), else named and left out.
4. Sum, for jobs run one after another; with `--speedup S` (gpu_check: the jobs-per-GPU grid's
   jobs/min over the local grid's) also divided by S.
Not modelled: the fine-tune probe's extra training (≤ 5 rounds of ≤ 2,000 labelled samples per
fraction, small next to pretraining), data loading, and the first job's CUDA start-up.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REFERENCE = "fashion_mnist"  # the dataset the grid measured every method on
OURS_LINE = re.compile(r"^(\S+):simclr\s.*?\bours\s+(\d+)")


def method_costs(store: Path) -> dict[str, dict]:
    """{method: {train_s, embed_s, eval_s, samples, images, models}} of the grid's finished jobs."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT method, config_json, history_json FROM jobs WHERE status = 'done' AND dataset = ?",
        (REFERENCE,),
    ).fetchall()
    con.close()
    out = {}
    for method, config_json, history_json in rows:
        cfg, hist = json.loads(config_json), json.loads(history_json or "{}")
        t = hist.get("timing")
        if not t:
            continue
        models = [k for k, v in hist.items() if isinstance(v, dict) and "steps" in v]
        out[method] = {
            "train_s": t["train_s"],
            "embed_s": t["embed_s"],
            "eval_s": sum(t.get("eval_s", {}).values()),
            "epochs": cfg["epochs"],
            "max_train": cfg.get("max_train"),
            "max_val": cfg.get("max_val"),
            "max_test": cfg.get("max_test"),
            "fractions": len(cfg["fractions"]),
            "models": max(1, len(models)),
        }
    return out


def encoder_factors(log_text: str) -> dict[str, float]:
    """{dataset: ours(fashion_mnist) / ours(dataset)} from throughput.py's output."""
    ours = {m.group(1): float(m.group(2)) for m in map(OURS_LINE.match, log_text.splitlines()) if m}
    if REFERENCE not in ours:
        raise SystemExit(f"the encoder log has no {REFERENCE}:simclr line with an 'ours' rate")
    return {d: ours[REFERENCE] / v for d, v in ours.items() if v > 0}


PUBLISHED: set[str] = set()  # datasets sized from their adapter's published split sizes (no files)


def split_sizes(dataset: str, data_dir, options: dict) -> tuple[int, int, int]:
    from datasets.base import DataError, get_adapter

    # never a download: a node without network would wait on it, and a size is all that is needed
    adapter = get_adapter(dataset, data_dir=data_dir, **{"download": False, **options})
    try:
        splits = adapter.splits()
    except DataError:
        if adapter.published_split_sizes is None:
            raise
        PUBLISHED.add(dataset)
        return adapter.published_split_sizes
    return len(splits["train"].labels), len(splits["val"].labels), len(splits["test"].labels)


def capped(n: int, cap) -> int:
    return n if cap is None else min(n, cap)


def job_images(job, sizes, models: int, data_dir) -> float:
    """Images a job embeds: each trained model's train + val + test, plus robustness and OOD copies."""
    from benchmark.evaluation.protocols.robustness import MAX_CORRUPTED_TEST, SEVERITIES
    from datasets.base import get_adapter

    n_tr, n_va, n_te = sizes
    n_te = capped(n_te, job.max_test)
    images = models * (capped(n_tr, job.max_train) + capped(n_va, job.max_val) + n_te)
    if not {"robustness", "ood"} & set(job.protocols):
        return images
    adapter = get_adapter(job.dataset, data_dir=data_dir, **job.dataset_options)
    if "robustness" in job.protocols:
        cap = job.robustness_max_test or MAX_CORRUPTED_TEST
        images += len(adapter.corruptions()) * len(SEVERITIES) * min(n_te, cap)
    if "ood" in job.protocols:
        partners = adapter.ood_partners
        images += (len(partners.get("near", [])) + len(partners.get("far", [])) + 1) * n_te
    return images


def project(suite, costs: dict, factors: dict, data_dir, log=print) -> dict:
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.runner import skip_reason
    from benchmark.orchestration.transfer import suite_transfer_jobs
    from methods.base import get_method_class

    worst = max(factors.values())
    sizes: dict = {}
    total = {
        "jobs": 0,
        "skipped": 0,
        "seconds": 0.0,
        "unmeasured": set(),
        "shared": {},
        "proxied": {},
        "no_data": {},
        "by_dataset": {},
    }

    def size(name: str, options: dict):
        key = (name, json.dumps(options, sort_keys=True))
        if key not in sizes:
            try:
                sizes[key] = split_sizes(name, data_dir, options)
            except Exception as e:  # noqa: BLE001 - a dataset without files is named, not projected
                sizes[key] = f"{type(e).__name__}: {str(e)[:120]}"
        return sizes[key]

    @functools.cache
    def spec(name: str):
        from datasets.base import get_adapter

        try:  # a class attribute: no files read
            return get_adapter(name, data_dir=data_dir, download=False).spec
        except Exception:  # noqa: BLE001 - an unknown spec shares no factor
            return None

    @functools.cache
    def stand_in() -> str:
        """The costliest measured method that trains one model per job: an upper bound for a method
        the grid could not measure."""
        one_model = [m for m, c in costs.items() if c["models"] == 1 and get_method_class(m).trains]
        return max(
            one_model or costs, key=lambda m: costs[m]["train_s"] + costs[m]["embed_s"] + costs[m]["eval_s"]
        )

    @functools.cache
    def factor(name: str) -> float:
        if name in factors:
            return factors[name]
        # an unmeasured dataset with a measured dataset's input spec runs the same encoder on the
        # same shapes: it takes that factor (Speech Commands' log-mel input is FSDD's)
        same = [d for d in sorted(factors) if spec(name) is not None and spec(d) == spec(name)]
        if same:
            total["shared"][name] = same[0]
            return factors[same[0]]
        total["unmeasured"].add(name)
        return worst

    for job in expand(suite) + suite_transfer_jobs(suite):
        if skip_reason(job):
            total["skipped"] += 1
            continue
        cls = get_method_class(job.method)
        if job.method not in costs and cls.supports(spec(REFERENCE)):
            raise SystemExit(f"the grid store has no finished {REFERENCE} job of {job.method}")
        if job.method not in costs:  # it cannot run on the grid's dataset (DGI: node tasks only)
            total["proxied"][job.method] = stand_in()
        c = costs[total["proxied"].get(job.method, job.method)]
        target = size(job.dataset, job.dataset_options)
        if isinstance(target, str):
            total["no_data"][job.dataset] = target
            continue
        models = len(job.fractions) if c["models"] > 1 else 1
        measured_samples = c["epochs"] * c["max_train"] * c["models"]
        train = 0.0
        if cls.trains and not job.pretrain_on:
            samples = job.epochs * capped(target[0], job.max_train) * models
            train = factor(job.dataset) * c["train_s"] * samples / measured_samples
        elif cls.trains and len(job.pretrain_on) > 1:  # multi-source: pretrains on the union
            src = [size(s["name"], s.get("options", {})) for s in job.pretrain_on]
            if any(isinstance(x, str) for x in src):
                total["no_data"][job.dataset] = "a pretraining source has no data"
                continue
            samples = job.epochs * sum(x[0] for x in src)
            train = worst * c["train_s"] * samples / measured_samples
        # (a single-source transfer job reuses the source's in-domain checkpoint: no training)
        measured_images = c["models"] * (c["max_train"] + c["max_val"] + c["max_test"])
        ratio = job_images(job, target, models, data_dir) / measured_images
        seconds = train + factor(job.dataset) * (c["embed_s"] + c["eval_s"]) * ratio
        total["jobs"] += 1
        total["seconds"] += seconds
        total["by_dataset"][job.dataset] = total["by_dataset"].get(job.dataset, 0.0) + seconds
    return total


def main(argv=None) -> int:
    from benchmark.orchestration.suites import load_suite

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid-store", required=True, help="store.sqlite of the measured methods grid")
    p.add_argument("--encoder-log", required=True, help="output of throughput.py --device cuda")
    p.add_argument("--suite", default="standard")
    p.add_argument("--data-dir", default=os.environ.get("SSLBENCH_DATA_DIR"))
    p.add_argument("--speedup", type=float, default=1.0, help="jobs-per-GPU grid's jobs/min over local's")
    args = p.parse_args(argv)
    costs = method_costs(Path(args.grid_store))
    if not costs:
        raise SystemExit(f"{args.grid_store}: no finished {REFERENCE} job with its timing")
    ref = None
    for c in costs.values():  # an uncapped grid trained on the whole split
        if None in (c["max_train"], c["max_val"], c["max_test"]):
            ref = ref or split_sizes(REFERENCE, args.data_dir, {})
            c["max_train"], c["max_val"], c["max_test"] = (
                capped(n, cap) for n, cap in zip(ref, (c["max_train"], c["max_val"], c["max_test"]))
            )
    factors = encoder_factors(Path(args.encoder_log).read_text())
    print(f"measured {REFERENCE} jobs: {len(costs)} methods")
    for m, c in sorted(costs.items()):
        print(
            f"  {m:<14} train {c['train_s']:7.2f} s  embed {c['embed_s']:6.2f} s  eval {c['eval_s']:6.2f} s  "
            f"({c['epochs']} epochs × {c['max_train']} train, {c['models']} model(s))"
        )
    print("encoder factors (SimCLR loop, ours(fashion_mnist) / ours(dataset)): ", end="")
    print(", ".join(f"{d} {f:.2f}" for d, f in sorted(factors.items())))
    tot = project(load_suite(args.suite), costs, factors, args.data_dir)
    hours = tot["seconds"] / args.speedup / 3600
    for d, why in sorted(tot["no_data"].items()):
        print(f"not projected: {d}'s jobs ({why})")
    if PUBLISHED:
        print(f"sized by their published split sizes (no files here): {', '.join(sorted(PUBLISHED))}")
    for m, other in sorted(tot["proxied"].items()):
        print(f"{m} cannot run on {REFERENCE}: {other}'s measured job stands in (the costliest)")
    for d, other in sorted(tot["shared"].items()):
        print(f"no encoder line for {d}: {other}'s factor (the same input spec)")
    if tot["unmeasured"]:
        print(f"no encoder line for {', '.join(sorted(tot['unmeasured']))}: the largest factor used")
    print("per dataset (h, one job at a time): ", end="")
    print(", ".join(f"{d} {s / 3600:.2f}" for d, s in sorted(tot["by_dataset"].items())))
    one = tot["seconds"] / 3600
    shared = f", {hours:.2f} h at the jobs-per-GPU speed-up {args.speedup:.2f}" if args.speedup != 1 else ""
    print(
        f"{args.suite}: {tot['jobs']} jobs projected ({tot['skipped']} skipped"
        f"{', ' + str(len(tot['no_data'])) + ' dataset(s) without data' if tot['no_data'] else ''}): "
        f"{one:.2f} h one job at a time{shared}"
    )
    return 0 if math.isfinite(hours) else 1


if __name__ == "__main__":
    raise SystemExit(main())
