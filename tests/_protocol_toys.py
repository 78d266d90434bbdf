"""Tiny synthetic adapters and methods for the protocol tests (registered only inside a fixture).

toy_blobs_a / toy_blobs_b: image2d (1, 8, 8) uint8; class k has a bright 3×3 blob at a class-specific
place plus pixel noise, so even a random conv encoder separates the classes. One corruption,
`gaussian_noise`, deterministic per (sample index, corruption, severity). toy_wide has another shape
(a partner that must be skipped, and a transfer spec mismatch).
"""

from __future__ import annotations

import contextlib

import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import ADAPTERS, Adapter, Split
from datasets.splitting import name_seed
from methods.base import METHODS, Method

CORNERS = [(0, 0), (0, 5), (5, 0), (5, 5)]
SIGMAS = (0.05, 0.1, 0.2, 0.4, 0.8)


def make_split(n, seed, classes=4, shape=(1, 8, 8), shift=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand((n, *shape), generator=g) * 60
    for k, (r, c) in enumerate(CORNERS[:classes]):
        r, c = (r + shift) % (shape[1] - 2), (c + shift) % (shape[2] - 2)
        x[y == k, :, r : r + 3, c : c + 3] += 180
    return Split(x.clamp(0, 255).to(torch.uint8), y)


def gaussian_noise(x, idx, severity):
    noise = torch.stack(
        [
            torch.randn(
                x.shape[1:],
                generator=torch.Generator().manual_seed(name_seed(int(i), "gaussian_noise", severity)),
            )
            for i in idx
        ]
    )
    return (x + SIGMAS[severity - 1] * noise.to(x.device)).clamp(0, 1)


class ToyA(Adapter):
    name = "toy_blobs_a"
    domain = "natural_images"
    spec = InputSpec("image2d", (1, 8, 8))
    task = TaskSpec(4)
    ood_partners = {"near": ["toy_blobs_b"], "far": ["toy_wide"]}
    shift = 0
    sizes = (400, 120, 200)

    def load_splits(self):
        n_tr, n_va, n_te = self.sizes
        base = name_seed(self.name) % 1000
        return {
            "train": make_split(n_tr, base + 1, shift=self.shift),
            "val": make_split(n_va, base + 2, shift=self.shift),
            "test": make_split(n_te, base + 3, shift=self.shift),
        }

    def prepare(self, inputs, device):
        return inputs.to(device).float().div(255.0)

    def views(self, x, generator):
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
        return (x + 0.05 * noise).clamp(0, 1)

    def corruptions(self):
        return {"gaussian_noise": gaussian_noise}


class ToyB(ToyA):
    name = "toy_blobs_b"
    ood_partners = {"near": ["toy_blobs_a"], "far": []}
    shift = 2


class ToyWide(ToyA):
    name = "toy_wide"
    spec = InputSpec("image2d", (1, 8, 12))
    ood_partners = {"near": [], "far": []}

    def load_splits(self):
        return {
            k: make_split(n, i, shape=(1, 8, 12))
            for i, (k, n) in enumerate(zip(("train", "val", "test"), self.sizes))
        }


class ConstantEmbed(Method):
    """An encoder that outputs the same vector for every input."""

    name = "toy_constant"
    family = "reference"
    trains = False

    @torch.no_grad()
    def embed(self, x):
        return torch.ones(x.shape[0], 8)


TOY_ADAPTERS = (ToyA, ToyB, ToyWide)
TOY_METHODS = (ConstantEmbed,)


@contextlib.contextmanager
def registered():
    # One thread: these problems are tiny, and on a shared 2-core machine OpenMP spinning of 2
    # threads under load makes a 400×128 logistic regression ~35× slower (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for cls in TOY_ADAPTERS:
        ADAPTERS.register(cls)
    for cls in TOY_METHODS:
        METHODS.register(cls)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for cls in TOY_ADAPTERS:
            ADAPTERS.unregister(cls.name)
        for cls in TOY_METHODS:
            METHODS.unregister(cls.name)


def toy_job(
    method="random_init",
    dataset="toy_blobs_a",
    seed=0,
    probes=("linear", "knn"),
    protocols=("label_fraction",),
    fractions=(0.1, 1.0),
    epochs=1,
    **kw,
):
    from benchmark.orchestration.jobs import Job

    return Job(
        suite="toy",
        method=method,
        dataset=dataset,
        seed=seed,
        epochs=epochs,
        fractions=list(fractions),
        probes=list(probes),
        protocols=list(protocols),
        method_hparams={"batch_size": 64} if method in ("supervised", "simclr") else {},
        **kw,
    )


def toy_ctx(job, work_dir, train=True):
    from benchmark.orchestration.job_context import JobContext
    from datasets.base import get_adapter

    ctx = JobContext(job, get_adapter(job.dataset, data_dir=work_dir), torch.device("cpu"), work_dir)
    if train:
        ctx.train_models()
    return ctx
