"""Pretraining throughput (pairs of views per second) of SimCLR on Fashion-MNIST on one device, with
each AMP mode: the CUDA path of `run --device cuda --amp off|bf16|fp16`.

    python benchmarks/device_throughput.py --device cuda --amp off,bf16,fp16 [--data-dir DIR] [--limit]

A pair = one sample's two augmented views through encoder + projector, forward and backward. The
first epoch is a warm-up (CUDA context, cuDNN autotuning) and is not counted.

`--limit` also measures the device's limit for the same model: the bare training step
(`_Trainer.step_on`: forward, backward, optimiser) on one batch already on the device, replaying
views made once on the device, so no gathering, copying or view generation; pipeline / limit is
the share of the device's speed the real loop reaches.

`--host-batches` also times the real loop with every batch gathered on the host and copied, as
before the split was held on the device (benchmark/training/resident.py), for the first AMP mode
listed: ours / host-gathered is what holding the split on the device buys.

`--compile MODE` also times the real loop and the limit with the encoder under torch.compile
(`run --compile MODE`), for the first AMP mode listed: compiled / eager says where compiling wins.
Compilation happens in the warm-up epoch (loop) or the warm-up steps (limit), which are not timed.

`--profile-steps N` also profiles N steps of the real loop (first AMP mode; torch.profiler, after
warm-up steps): the host's milliseconds per step in the views and in the whole step, the device's
kernel milliseconds per step, and the ops that cost the host most: where a loop below its limit
loses its time. Lines start with "profile:"; the profiler's own overhead inflates the host times.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import (  # noqa: E402
    PretrainConfig,
    Views,
    _Trainer,
    compiled_encoder,
    pretrain,
)
from datasets.base import get_adapter  # noqa: E402
from methods.base import get_method_class  # noqa: E402


def measure(
    adapter,
    split,
    pool,
    device,
    amp: str,
    batch_size: int,
    epochs: int,
    encoder: str | None,
    device_resident: bool = True,
    compile_mode: str = "off",
) -> dict:
    torch.manual_seed(0)
    a = adapter
    m = get_method_class("simclr")(encoder_for(a), a.spec, a.task)
    times = []
    cfg = PretrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        weight_decay=1e-6,
        seed=0,
        device=device,
        amp=amp,
        device_resident=device_resident,
        compile=compile_mode,
    )

    def on_epoch(epoch, rec):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter(), rec["loss"]))

    t0 = time.perf_counter()
    pretrain(m, a, split, pool, cfg, on_epoch=on_epoch)
    steps_per_epoch = len(pool) // batch_size
    timed = [times[i][0] - times[i - 1][0] for i in range(1, len(times))]  # epoch 1 is warm-up
    pairs = steps_per_epoch * batch_size * len(timed)
    return {
        "amp": amp,
        "pairs_per_s": pairs / sum(timed),
        "epoch_s": sum(timed) / len(timed),
        "final_loss": times[-1][1],
        "total_s": time.perf_counter() - t0,
    }


class _Replay:
    """A view function that records the first `n` views it makes (through the adapter, as in
    training) and then replays them in the same order: device-resident views at no cost."""

    def __init__(self, views: Views, n: int):
        self.views, self.n, self.made, self.calls = views, n, [], 0
        self.multi_crop = views.multi_crop

    def __call__(self, x, policy=None):
        self.calls += 1
        if len(self.made) < self.n:
            self.made.append(self.views(x, policy))
            return self.made[-1]
        return self.made[(self.calls - 1) % self.n]


def measure_limit(
    adapter,
    split,
    pool,
    device,
    amp: str,
    batch_size: int,
    steps: int,
    warmup: int = 3,
    compile_mode: str = "off",
) -> dict:
    """Pairs/s of the bare SimCLR training step on one device-resident batch and replayed views."""
    tr = simclr_trainer(adapter, split, pool, device, amp, batch_size, warmup + steps)
    with compiled_encoder(tr.method, compile_mode):
        return _time_steps(tr, adapter, split, pool, device, amp, tr.bs, steps, warmup)


def simclr_trainer(adapter, split, pool, device, amp: str, batch_size: int, steps: int) -> _Trainer:
    """A SimCLR trainer (seeded) whose schedule outlasts `steps` steps, driven step by step."""
    torch.manual_seed(0)
    m = get_method_class("simclr")(encoder_for(adapter), adapter.spec, adapter.task)
    bs = min(batch_size, len(pool))
    epochs = math.ceil(steps / max(1, len(pool) // bs)) + 1
    cfg = PretrainConfig(
        epochs=epochs, batch_size=bs, lr=1e-3, weight_decay=1e-6, seed=0, device=device, amp=amp
    )
    return _Trainer(m, adapter, split, pool, cfg)


def _time_steps(tr, adapter, split, pool, device, amp, bs, steps, warmup) -> dict:
    """The clocked part of `measure_limit`: untimed warm-up steps record the views (and compile,
    cuDNN's kernel choice), then `steps` steps replay them on the clock."""
    x = adapter.prepare(adapter.batch(split, pool[:bs]), device)
    views = Views(adapter, tr.g_view)
    counter = _Replay(views, n=10**9)  # never replays: counts the views one step asks for
    tr.step_on(x, None, 0, counter)
    replay = _Replay(views, n=counter.calls * warmup)
    for s in range(warmup):  # records the views; cuDNN picks its kernels
        tr.step_on(x, None, 1 + s, replay)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for s in range(steps):
        loss = tr.step_on(x, None, 1 + warmup + s, replay)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    return {
        "amp": amp,
        "pairs_per_s": steps * bs / dt,
        "step_ms": 1e3 * dt / steps,
        "final_loss": float(loss),
    }


def profile_steps(adapter, split, pool, device, amp: str, batch_size: int, steps: int, warmup: int = 5):
    """Lines saying where the real loop's time goes over `steps` profiled steps (module docstring)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    tr = simclr_trainer(adapter, split, pool, device, amp, batch_size, warmup + steps)
    bs, per_epoch = tr.bs, tr.steps_per_epoch
    views = Views(adapter, tr.g_view)

    def labelled_views(x, policy=None):
        with record_function("views"):
            return views(x, policy)

    order = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))]
    host = [order[(i % per_epoch) * bs : (i % per_epoch + 1) * bs] for i in range(warmup + steps)]
    on_device = tr.batches.epoch(host)
    for i in range(warmup):
        tr.step(on_device[i], i, 0, labelled_views, host[i])
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for i in range(warmup, warmup + steps):
            with record_function("step"):
                tr.step(on_device[i], i, 0, labelled_views, host[i])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    wall_ms = 1e3 * (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    host_ms = {e.key: e.cpu_time_total / 1e3 / steps for e in events if e.key in ("views", "step")}

    def device_us(e) -> float:
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0) or 0

    kernels_ms = sum(device_us(e) for e in events) / 1e3 / steps
    busy = f"{kernels_ms:.2f} ms/step ({kernels_ms / wall_ms:.0%} of the wall time)" if kernels_ms else "n/a"
    lines = [
        f"profile: amp={amp} {steps} steps, batch {bs}: {wall_ms:.2f} ms/step wall (profiled); host "
        f"{host_ms.get('step', 0):.2f} ms/step in the step, of it {host_ms.get('views', 0):.2f} in the "
        f"views; device kernels {busy}",
        f"profile: values wall_ms={wall_ms:.3f};step_ms={host_ms.get('step', 0):.3f};"
        f"views_ms={host_ms.get('views', 0):.3f};kernels_ms={kernels_ms:.3f}",
    ]
    table = events.table(sort_by="self_cpu_time_total", row_limit=15)
    lines += [f"profile: {line}" for line in table.splitlines()]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", default="off,bf16,fp16")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--n", type=int, default=20000, help="training samples")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--encoder", default=None, help="adapter encoder option (e.g. resnet18)")
    p.add_argument(
        "--limit", action="store_true", help="also time the bare step on device-resident views (the limit)"
    )
    p.add_argument("--limit-steps", type=int, default=50, help="timed steps of --limit")
    p.add_argument(
        "--host-batches",
        action="store_true",
        help="also time the loop with batches gathered on the host (first AMP mode only)",
    )
    p.add_argument(
        "--compile",
        default="off",
        choices=["off", "default", "reduce-overhead", "max-autotune"],
        help="also time the loop (and --limit) with the encoder compiled in this mode (first AMP mode only)",
    )
    p.add_argument(
        "--profile-steps",
        type=int,
        default=0,
        help="also profile this many steps of the real loop (first AMP mode): where its time goes",
    )
    args = p.parse_args(argv)
    device = torch.device(args.device)
    opts = {"encoder": args.encoder} if args.encoder else {}
    a = get_adapter("fashion_mnist", data_dir=args.data_dir, **opts)
    split = a.splits()["train"]
    pool = torch.arange(min(args.n, len(split)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {device} ({name}), torch {torch.__version__}, encoder {args.encoder or 'default'}, "
        f"n={len(pool)}, batch {args.batch_size}, {args.epochs} epochs (first = warm-up)"
    )
    for i, amp in enumerate(args.amp.split(",")):
        r = measure(a, split, pool, device, amp, args.batch_size, args.epochs, args.encoder)
        print(
            f"amp={r['amp']:<5} {r['pairs_per_s']:>10.0f} pairs/s   {r['epoch_s']:.2f} s/epoch   "
            f"final loss {r['final_loss']:.4f}",
            flush=True,
        )
        if args.host_batches and i == 0:
            h = measure(a, split, pool, device, amp, args.batch_size, args.epochs, args.encoder, False)
            print(
                f"amp={amp:<5} {h['pairs_per_s']:>10.0f} pairs/s   host-gathered batches   "
                f"{h['epoch_s']:.2f} s/epoch   ours/host {r['pairs_per_s'] / h['pairs_per_s']:.2f}",
                flush=True,
            )
        if args.limit:
            lim = measure_limit(a, split, pool, device, amp, args.batch_size, args.limit_steps)
            share = r["pairs_per_s"] / lim["pairs_per_s"]
            print(
                f"amp={amp:<5} {lim['pairs_per_s']:>10.0f} pairs/s   limit (bare step, device-resident "
                f"views)   {lim['step_ms']:.2f} ms/step   pipeline/limit {share:.0%}",
                flush=True,
            )
        if args.compile != "off" and i == 0:
            c = measure(
                a, split, pool, device, amp, args.batch_size, args.epochs, args.encoder, True, args.compile
            )
            print(
                f"amp={amp:<5} {c['pairs_per_s']:>10.0f} pairs/s   compiled loop ({args.compile})   "
                f"{c['epoch_s']:.2f} s/epoch   compiled/eager {c['pairs_per_s'] / r['pairs_per_s']:.2f}",
                flush=True,
            )
            if args.limit:
                cl = measure_limit(
                    a, split, pool, device, amp, args.batch_size, args.limit_steps, compile_mode=args.compile
                )
                gain = cl["pairs_per_s"] / lim["pairs_per_s"]
                print(
                    f"amp={amp:<5} {cl['pairs_per_s']:>10.0f} pairs/s   compiled limit ({args.compile})   "
                    f"{cl['step_ms']:.2f} ms/step   compiled/eager {gain:.2f}",
                    flush=True,
                )
        if args.profile_steps > 0 and i == 0:
            for line in profile_steps(a, split, pool, device, amp, args.batch_size, args.profile_steps):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
