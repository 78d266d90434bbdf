"""Pretraining throughput (pairs of views per second) of SimCLR on Fashion-MNIST on one device, with
each AMP mode: the CUDA path of `run --device cuda --amp off|bf16|fp16`.

    python benchmarks/device_throughput.py --device cuda --amp off,bf16,fp16 [--data-dir DIR]

A pair = one sample's two augmented views through encoder + projector, forward and backward. The
first epoch is a warm-up (CUDA context, cuDNN autotuning) and is not counted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import PretrainConfig, pretrain  # noqa: E402
from datasets.base import get_adapter  # noqa: E402
from methods.base import get_method_class  # noqa: E402


def measure(
    adapter, split, pool, device, amp: str, batch_size: int, epochs: int, encoder: str | None
) -> dict:
    torch.manual_seed(0)
    a = adapter
    m = get_method_class("simclr")(encoder_for(a), a.spec, a.task)
    times = []
    cfg = PretrainConfig(
        epochs=epochs, batch_size=batch_size, lr=1e-3, weight_decay=1e-6, seed=0, device=device, amp=amp
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", default="off,bf16,fp16")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--n", type=int, default=20000, help="training samples")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--encoder", default=None, help="adapter encoder option (e.g. resnet18)")
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
    for amp in args.amp.split(","):
        r = measure(a, split, pool, device, amp, args.batch_size, args.epochs, args.encoder)
        print(
            f"amp={r['amp']:<5} {r['pairs_per_s']:>10.0f} pairs/s   {r['epoch_s']:.2f} s/epoch   "
            f"final loss {r['final_loss']:.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
