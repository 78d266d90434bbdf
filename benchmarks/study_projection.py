#!/usr/bin/env python
"""Projected cost of a suite with encoder / init axes on a GPU node, from per-job costs measured on CPU
(issue 34; the medmnist_study suite).

    SSLBENCH_DATA_DIR=... python benchmarks/study_projection.py               # measure on BreastMNIST
    python benchmarks/study_projection.py --gpu-tflops 50                     # another assumed GPU rate

How (every step printed):
1. Measure. For every method of the suite on its first encoder, and for SimCLR on the others (the
   other methods scaled by SimCLR's ratio between encoders), one real job (`run_job`, the suite's
   recipes, random init) on BreastMNIST with `--measure-train` training images, one epoch, batch 64:
   train_s / training images = CPU seconds per training sample (a pair of views, or the method's
   crops), and embed_s / embedded images = CPU seconds per embedded image. Pool caps keep it to
   minutes; torch threads as set by SSLBENCH_THREADS.
2. Count. Every job of the suite (in-domain and transfer) is expanded; from the official MedMNIST
   split sizes (MEDMNIST_2D below) its training samples are epochs × train (the supervised reference:
   its step budget per fraction, `benchmark/training/budgets.py`; random-init: none; a single-source
   transfer job reuses the source's in-domain checkpoint, a multi-source one pretrains on the union)
   and its embedded images are train + val + test per trained model, plus the robustness copies
   (corruptions × 5 severities × min(test, max_test)) and OOD partners (their test sets, ≈ 5 × test).
3. CPU core-seconds = Σ samples × s_train + images × s_embed (probes not counted: small next to these).
4. GPU time = CPU time × (CPU FLOP/s measured on the simclr job) / (`--gpu-tflops`, an assumed
   sustained bf16 rate of one GPU on 28×28 ResNets, default 25: a few % of an H100's dense bf16 peak,
   since 28×28 feature maps keep the GPU far from it; not measured: no GPU in this session). GPU time
   is linear in it: at 100 TFLOP/s it is a quarter.
   The CPU FLOP/s is the encoder's forward FLOPs (torch.utils.flop_counter) × 3 (forward + backward)
   × 2 views per sample, divided by the measured s_train.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

# Official MedMNIST v2 2-D split sizes (train, val, test), from the dataset's paper and INFO.
MEDMNIST_2D = {
    "pathmnist": (89996, 10004, 7180),
    "chestmnist": (78468, 11219, 22433),
    "dermamnist": (7007, 1003, 2005),
    "octmnist": (97477, 10832, 1000),
    "pneumoniamnist": (4708, 524, 624),
    "retinamnist": (1080, 120, 400),
    "breastmnist": (546, 78, 156),
    "bloodmnist": (11959, 1712, 3421),
    "tissuemnist": (165466, 23640, 47280),
    "organamnist": (34561, 6491, 17778),
    "organcmnist": (12975, 2392, 8216),
    "organsmnist": (13932, 2452, 8827),
}
OOD_PARTNERS = 5  # near + far partner test sets per MedMNIST 2-D set (datasets/medmnist.py _partners)


def measure(suite, data_dir: Path, n_train: int, log=print) -> dict:
    """{(method, encoder): (s per training sample, s per embedded image)} from real jobs."""
    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.runner import run_job

    out: dict = {}
    encoders = suite.encoders or ["small"]
    with tempfile.TemporaryDirectory() as tmp:
        for enc in encoders:
            # every method on the first encoder; on the others the SimCLR job, and the other methods
            # scaled by its ratio (an encoder's cost per view is the same whichever loss sits on top)
            # the first job also loads the splits and warms torch up: a SimCLR job not counted
            warm = ["simclr"] if enc == encoders[0] else []
            for n, m in enumerate(
                warm + (suite.methods if enc == encoders[0] else ["simclr", "random_init"])
            ):
                job = Job(
                    suite="projection",
                    method=m,
                    dataset="breastmnist",
                    seed=0,
                    epochs=1,
                    fractions=[1.0],
                    probes=["linear"],
                    protocols=["label_fraction"],
                    method_hparams={"batch_size": 64},
                    dataset_options={} if enc in ("small", "default") else {"encoder": enc},
                    max_train=n_train,
                    max_val=64,
                    max_test=64,
                    recipes=suite.recipes,
                )
                res = run_job(job, data_dir, Path(tmp) / f"{enc}-{m}-{n}", torch.device("cpu"))
                # a one-step run may trip the collapse check (a ResNet-50 at init has a low-rank
                # output): it stops before the probes, so its wall time is its training time
                t = res.history.get("timing") or {"train_s": res.wall_s, "embed_s": float("nan")}
                models = len(job.fractions) if m == "supervised" else 1
                trained = n_train if m not in ("random_init",) else 0
                s_train = t["train_s"] / trained if trained else 0.0
                s_embed = t["embed_s"] / ((n_train + 64 + 64) * models)
                if n < len(warm):
                    continue
                out[(m, enc)] = (s_train, s_embed)
                log(
                    f"  measured {m:<13} {enc:<9} train {t['train_s']:6.1f} s "
                    f"({s_train * 1e3:7.2f} ms/sample)  embed {t['embed_s']:5.1f} s "
                    f"({s_embed * 1e3:5.2f} ms/image)"
                )
        for enc in encoders[1:]:
            r_train = out[("simclr", enc)][0] / out[("simclr", encoders[0])][0]
            r_embed = out[("random_init", enc)][1] / out[("random_init", encoders[0])][1]
            log(
                f"  {enc}: {r_train:.2f}x the training and {r_embed:.2f}x the embedding cost of {encoders[0]}"
            )
            for m in suite.methods:  # exact for the measured ones: simclr's training, random_init's embedding
                t0, e0 = out[(m, encoders[0])]
                out[(m, enc)] = (t0 * r_train, e0 * r_embed)
    return out


def cpu_flops_rate(enc: str, s_train: float) -> float:
    """FLOP/s the CPU reached on a 2-view training sample of `enc` (1-channel 28×28)."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.core.specs import InputSpec
    from benchmark.models.encoders import build_encoder

    model = build_encoder(InputSpec("image2d", (1, 28, 28)), enc).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.zeros(8, 1, 28, 28))
    per_image = fc.get_total_flops() / 8
    return per_image * 3 * 2 / s_train


def project(suite, costs: dict, log=print) -> dict:
    """CPU core-seconds of every job of the suite (step 2-3 of the module docstring)."""
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.runner import skip_reason
    from benchmark.orchestration.transfer import suite_transfer_jobs
    from benchmark.training.budgets import supervised_budget
    from datasets.base import ADAPTERS
    from methods.base import get_method_class

    jobs = expand(suite) + suite_transfer_jobs(suite)
    total = {"jobs": 0, "skipped": 0, "train_samples": 0.0, "embed_images": 0.0, "cpu_s": 0.0}
    for j in jobs:
        if skip_reason(j):
            total["skipped"] += 1
            continue
        enc = j.dataset_options.get("encoder") or "small"
        s_train, s_embed = costs[(j.method, enc)]
        n_tr, n_va, n_te = MEDMNIST_2D[j.dataset]
        cls = get_method_class(j.method)
        samples = 0.0
        if j.pretrain_on and len(j.pretrain_on) > 1 and cls.trains:  # multi-domain: the union
            samples = j.epochs * sum(MEDMNIST_2D[s["name"]][0] for s in j.pretrain_on)
        elif not j.pretrain_on and cls.uses_labels:
            bs = j.method_hparams.get("batch_size", 256)
            hp = {"batch_size": bs, **{**cls.base_defaults, **cls.defaults}}
            for f in j.fractions:
                steps, _ = supervised_budget(j.epochs, n_tr, max(1, int(f * n_tr)), hp)
                samples += steps * min(bs, max(1, int(f * n_tr)))
        elif not j.pretrain_on and cls.trains:
            samples = j.epochs * n_tr
        models = len(j.fractions) if cls.uses_labels and not j.pretrain_on else 1
        images = models * (n_tr + n_va + n_te)
        if "robustness" in j.protocols:
            n_corr = len(ADAPTERS[j.dataset](data_dir=".").corruptions())
            images += n_corr * 5 * min(n_te, j.robustness_max_test or 1000)
        if "ood" in j.protocols:
            images += OOD_PARTNERS * n_te
        total["jobs"] += 1
        total["train_samples"] += samples
        total["embed_images"] += images
        total["cpu_s"] += samples * s_train + images * s_embed
    return total


def main() -> None:
    from benchmark.orchestration.suites import load_suite

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default="medmnist_study")
    p.add_argument("--data-dir", default=os.environ.get("SSLBENCH_DATA_DIR"))
    p.add_argument("--measure-train", type=int, default=192, help="training images per measured job")
    p.add_argument("--costs", help="JSON file: measured costs are written here, or read when it exists")
    p.add_argument("--gpu-tflops", type=float, default=25.0, help="assumed sustained GPU TFLOP/s")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("SSLBENCH_THREADS", "1")))
    suite = load_suite(args.suite)
    print(
        f"measuring {len(suite.methods)} methods × {suite.encoders} on BreastMNIST "
        f"(CPU, {torch.get_num_threads()} thread(s))"
    )
    if args.costs and Path(args.costs).is_file():  # a previous measurement, to project again
        costs = {tuple(k.split("|")): tuple(v) for k, v in json.loads(Path(args.costs).read_text()).items()}
        print(f"  costs from {args.costs}")
    else:
        costs = measure(suite, Path(args.data_dir), args.measure_train)
        if args.costs:
            Path(args.costs).write_text(json.dumps({"|".join(k): v for k, v in costs.items()}, indent=1))
    rates = {e: cpu_flops_rate(e, costs[("simclr", e)][0]) for e in (suite.encoders or ["small"])}
    for e, r in rates.items():
        print(f"  CPU reached {r / 1e9:.1f} GFLOP/s on {e} (simclr)")
    tot = project(suite, costs)
    cpu_h = tot["cpu_s"] / 3600
    # one CPU→GPU factor: the slower (smaller) of the measured CPU rates, so the projection is an upper bound
    gpu_h = tot["cpu_s"] * min(rates.values()) / (args.gpu_tflops * 1e12) / 3600
    print(
        f"{args.suite}: {tot['jobs']} jobs ({tot['skipped']} skipped), "
        f"{tot['train_samples'] / 1e6:.0f} M training samples, {tot['embed_images'] / 1e6:.0f} M embedded "
        f"images; {cpu_h:,.0f} CPU core-hours measured-scaled; "
        f"projected {gpu_h:,.0f} GPU-hours at {args.gpu_tflops:g} sustained TFLOP/s "
        f"({gpu_h / 8:,.0f} h on an 8-GPU node)"
    )


if __name__ == "__main__":
    main()
