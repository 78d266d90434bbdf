#!/usr/bin/env python
"""Pretraining throughput, measured side by side in one process (issue 7).

For each case it times, repeated --repeats times (median / min / max, pairs per second):
  limit — the bare training step of the same model and loss on precomputed views;
  ours  — the suite's own pretraining path: adapter.batch → prepare → batched views → method →
          optimiser, through benchmark.training.pretrain.pretrain (what `run` executes);
  peer  — (Fashion-MNIST/SimCLR only) lightly's documented SimCLR pipeline: SimCLRTransform on PIL
          images + DataLoader + SimCLRProjectionHead + NTXentLoss, on the same backbone and data,
          with 0 and 2 DataLoader workers. Needs the `bench` extra (pip install -e '.[bench]').

    python benchmarks/throughput.py                       # Fashion-MNIST SimCLR + one method per domain
    python benchmarks/throughput.py --cases fashion_mnist:simclr --repeats 5
    python benchmarks/throughput.py --device cuda --no-peer    # the GPU limit per encoder (gpu_check.sh)

On a GPU (`--device cuda`) the limit's model, batches and views are on the device (views drawn
there as in training), each contender does one untimed step first (CUDA context, cuDNN autotuning)
and the clock stops only after the device has finished.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmark.models.encoders import encoder_for  # noqa: E402
from benchmark.orchestration.job_context import method_encoder  # noqa: E402
from benchmark.training.pretrain import PretrainConfig, adamw, pretrain, view_generator  # noqa: E402
from datasets.base import ADAPTERS, get_adapter  # noqa: E402
from methods.base import get_method_class  # noqa: E402

DEFAULT_CASES = [
    "fashion_mnist:simclr",
    "breastmnist:simclr",
    "adrenalmnist3d:simclr",
    "fsdd:simclr",
    "mitdb:simclr",
    "mutag:simclr",
    "adult:simclr",
]


CPU = torch.device("cpu")


def build(adapter, method_name, hp):
    torch.manual_seed(0)
    cls = get_method_class(method_name)
    return cls(method_encoder(cls, adapter, hp), adapter.spec, adapter.task, **hp)  # as the runner builds it


def finish(device: torch.device) -> None:
    """Wait for the device's queued work, so the clock measures it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_limit(adapter, method_name, hp, split, pool, bs, steps, device=CPU):
    """Bare step: views computed before the clock starts; only forward/backward/step is timed."""
    m = build(adapter, method_name, hp).to(device)
    m.train()
    opt = adamw(m.parameters(), 1e-3, 1e-6, device)  # the optimiser `pretrain` uses
    g = view_generator(adapter, device, 0)  # on CPU the generator this always used
    batches = []
    per_epoch = len(pool) // bs
    for s in range(steps):
        idx = pool[(s % per_epoch) * bs : (s % per_epoch + 1) * bs]
        x = adapter.prepare(adapter.batch(split, idx), device)
        y = split.labels[idx].to(device)
        batches.append((x, [adapter.views(x, g) for _ in range(4)], y))

    def step(x, views, y):
        it = iter(views * 4)
        loss = m.training_step(x, y if m.uses_labels else None, lambda _x, _policy=None: next(it))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        m.on_step_end(1, steps)

    if device.type == "cuda":
        step(*batches[0])
    finish(device)
    t0 = time.perf_counter()
    for x, views, y in batches:
        step(x, views, y)
    finish(device)
    return steps * bs / (time.perf_counter() - t0)


def time_ours(adapter, method_name, hp, split, pool, bs, steps, device=CPU):
    m = build(adapter, method_name, hp)
    sub = pool[: steps * bs] if steps * bs <= len(pool) else pool  # one epoch, or several on a small set
    cfg = PretrainConfig(
        epochs=-(-steps // (len(sub) // bs)),
        batch_size=bs,
        lr=1e-3,
        weight_decay=1e-6,
        seed=0,
        max_steps=steps,
        device=device,
    )
    t0 = time.perf_counter()
    pretrain(m, adapter, split, sub, cfg)
    finish(device)
    return steps * bs / (time.perf_counter() - t0)


def time_peer(adapter, split, pool, bs, steps, workers):
    """lightly's pipeline as its docs show it, on the same backbone and images."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    images = split.inputs[pool[: steps * bs]].squeeze(1).numpy()

    class PILDataset(torch.utils.data.Dataset):
        def __init__(self, arr, transform):
            self.arr, self.transform = arr, transform

        def __len__(self):
            return len(self.arr)

        def __getitem__(self, i):
            return self.transform(Image.fromarray(self.arr[i], mode="L")), 0

    transform = SimCLRTransform(
        input_size=28, normalize={"mean": [0.5], "std": [0.5]}, vf_prob=0.0, rr_prob=0.0
    )
    loader = torch.utils.data.DataLoader(
        PILDataset(images, transform),
        batch_size=bs,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=False,
    )
    torch.manual_seed(0)
    backbone = encoder_for(adapter)
    head = SimCLRProjectionHead(backbone.out_dim, 512, 128)
    criterion = NTXentLoss(temperature=0.2)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3)
    t0 = time.perf_counter()
    n = 0
    for (v1, v2), _ in loader:
        loss = criterion(head(backbone(v1)), head(backbone(v2)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += v1.shape[0]
    return n / (time.perf_counter() - t0)


def summary(vals):
    return statistics.median(vals), min(vals), max(vals)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help="dataset:method,...")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (the peer runs on CPU only)")
    p.add_argument("--data-dir", default=os.environ.get("SSLBENCH_DATA_DIR"))
    p.add_argument(
        "--readme",
        default=None,
        help="write the table into this file's performance block (docs/performance.md)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.readme and device.type != "cpu":
        p.error("--readme writes the CPU table; a GPU run goes into README's GPU table by hand")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} threads"
    print(
        f"torch {torch.__version__}, {where}, batch {args.batch_size}, "
        f"{args.steps} steps × {args.repeats} repeats; pairs/s as median (min–max)"
    )
    rows, skipped = [], []
    for case in args.cases.split(","):
        ds, method = case.split(":")
        if ds not in ADAPTERS:
            print(f"{case}: dataset not registered, skipped")
            skipped.append(case)
            continue
        adapter = get_adapter(ds, data_dir=args.data_dir)
        try:
            split = adapter.splits()["train"]
        except Exception as e:  # noqa: BLE001 - a missing dataset only skips its row
            print(f"{case}: cannot load ({e}), skipped")
            skipped.append(case)
            continue
        bs = min(args.batch_size, len(split) // 2)
        steps = args.steps  # small sets (BreastMNIST, MUTAG) run several epochs: per-epoch costs count
        pool = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))
        hp = {}
        # Warm-up once so allocator/first-call costs do not land on one contender. On a GPU "ours"
        # warms up too: its first-call costs (cuSOLVER's first SVD in the collapse monitor, the
        # allocator's first blocks for a resident split) would land on a repeat of millisecond steps.
        time_limit(adapter, method, hp, split, pool, bs, 2, device)
        if device.type == "cuda":
            time_ours(adapter, method, hp, split, pool, bs, 2, device)
        res = {"limit": [], "ours": []}
        peer_workers = [] if (args.no_peer or ds != "fashion_mnist" or device.type != "cpu") else [0, 2]
        for w in peer_workers:
            res[f"peer(w={w})"] = []
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits all alike
            res["limit"].append(time_limit(adapter, method, hp, split, pool, bs, steps, device))
            res["ours"].append(time_ours(adapter, method, hp, split, pool, bs, steps, device))
            for w in peer_workers:
                try:
                    res[f"peer(w={w})"].append(time_peer(adapter, split, pool, bs, steps, w))
                except ImportError:
                    print("lightly not installed (pip install -e '.[bench]'); peer skipped")
                    peer_workers = []
                    res = {k: v for k, v in res.items() if not k.startswith("peer")}
                    break
        med = {k: summary(v)[0] for k, v in res.items() if v}
        line = f"{case:<26}" + "  ".join(
            f"{k} {summary(v)[0]:7.0f} ({summary(v)[1]:.0f}–{summary(v)[2]:.0f})" for k, v in res.items() if v
        )
        line += f"  | ours/limit {med['ours'] / med['limit']:.2f}"
        for k in med:
            if k.startswith("peer"):
                line += f"  ours/{k} {med['ours'] / med[k]:.2f}  limit/{k} {med['limit'] / med[k]:.2f}"
        print(line, flush=True)
        rows.append((case, med))
    if args.readme and skipped:  # a partial table would silently replace the measured one
        print(
            f"not writing {args.readme}: {len(skipped)} case(s) skipped ({', '.join(skipped)}); "
            f"pass --data-dir or set SSLBENCH_DATA_DIR",
            file=sys.stderr,
        )
        return 1
    if args.readme and rows:
        write_readme(Path(args.readme), markdown_table(rows, args))
    return 0


START, END = "<!-- performance:start", "<!-- performance:end -->"


def markdown_table(rows, args) -> str:
    peers = sorted({k for _, med in rows for k in med if k.startswith("peer")})
    head = (
        ["case", "limit pairs/s", "ours pairs/s", "ours / limit"]
        + [f"{k} pairs/s" for k in peers]
        + [f"ours / {k}" for k in peers]
    )
    lines = [
        f"Measured by `python benchmarks/throughput.py --repeats {args.repeats} --steps {args.steps} "
        f"--readme {args.readme or 'FILE'}` "
        f"(torch {torch.__version__}, "
        f"{args.threads} threads, batch {args.batch_size}, medians of {args.repeats} interleaved repeats "
        f"of {args.steps} steps).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for case, med in rows:
        cells = [case, f"{med['limit']:.0f}", f"{med['ours']:.0f}", f"{med['ours'] / med['limit']:.2f}"]
        cells += [f"{med[k]:.0f}" if k in med else "" for k in peers]
        cells += [f"{med['ours'] / med[k]:.2f}" if k in med else "" for k in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_readme(path: Path, table: str, start: str = START, end: str = END) -> None:
    """Replace the block between the markers `start ... -->` and `end` (atomically: temp file +
    rename); benchmarks/gpu_table.py writes the GPU block with its own markers."""
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path}: no '{start} ... -->' / '{end}' markers to replace")
    a = text.index(start)
    a = text.index("-->", a) + 3
    b = text.index(end)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text[:a] + "\n" + table + text[b:])
    os.replace(tmp, path)
    print(f"wrote the table into {path}")


if __name__ == "__main__":
    sys.exit(main())
