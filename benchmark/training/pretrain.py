"""The one pretraining loop, for every method and every domain. The optimiser, its schedules,
freezes and clipping come from the method's recipe (benchmark/training/optim.py, methods/recipe.py).

Resumable: after each epoch the model, optimiser, RNG states and history are saved atomically; a
rerun with the same checkpoint path continues from the last complete epoch and ends bit-identical
to an uninterrupted run on CPU (on CUDA the generators and the device's RNG are restored too; the
kernels' own nondeterminism is not ours to remove).

On CUDA the view generator lives on the device for adapters whose views draw there
(`Adapter.views_on_device`), and the split is held on the device when it fits
(benchmark/training/resident.py): then a step copies nothing from the host (the epoch's indices go
over once per epoch).
"""

from __future__ import annotations

import inspect
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from benchmark.core.host_copy import pin_batch
from benchmark.core.io import atomic_torch_save, safe_torch_load
from benchmark.core.views import ViewPolicy
from benchmark.training.optim import Schedules, build_optimizer, lr_at
from benchmark.training.resident import step_batches
from benchmark.training.step_syncs import StepSyncs
from datasets.base import Adapter, Split
from datasets.splitting import name_seed
from methods.base import LabelledRows, Method
from methods.recipe import Recipe, legacy_recipe

__all__ = ["PretrainConfig", "TrainingFault", "Views", "adamw", "lr_at", "pin_batch", "pretrain"]


class TrainingFault(RuntimeError):
    """Non-finite loss or collapsed representation: the job is marked failed with this reason."""


class CollapseFault(TrainingFault):
    """The encoder's embeddings collapsed (`collapse_reason`): the job is recorded with status
    `collapsed`, its collapse stats in the history, and its table cells read `collapsed`."""

    def __init__(self, message: str, stats: dict[str, Any]):
        super().__init__(message)
        self.stats = stats


# Collapse rule (docs/design.md §3.10), on the last monitored epoch:
# - complete collapse: the per-dimension std of the L2-normalised embeddings is below COLLAPSE_STD
#   (every sample maps to one point);
# - dimensional collapse, for encoders trained without labels: RankMe below
#   max(COLLAPSE_RANKME_MIN, COLLAPSE_RANKME_FRAC · dim), i.e. the embeddings span fewer than two
#   effective directions, or under 1 % of the dimensions. Encoders trained with labels are exempt:
#   they legitimately concentrate on ~num_classes − 1 directions (neural collapse), e.g. RankMe ≈ 2
#   for a binary task at 1 % labels.
COLLAPSE_STD = 1e-4
COLLAPSE_RANKME_MIN = 2.0
COLLAPSE_RANKME_FRAC = 0.01


@dataclass
class PretrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    max_steps: int | None = None  # stop early (used to give supervised runs a step budget)
    amp: str = "off"  # off | bf16 | fp16 (fp16 on CUDA only)
    warmup_frac: float = 0.1  # linear warm-up over this share of steps, then cosine decay to 0
    # Semi-supervised methods: this share of every batch is drawn from the labelled samples (label
    # ≥ 0), the rest from the whole pool — separate labelled/unlabelled streams as in FixMatch and
    # MixMatch, instead of a labelled share equal to the label fraction. None: plain pool batches.
    labelled_share: float | None = None
    # The method's resolved recipe (`Method.training_recipe`); None: the legacy recipe from `lr`,
    # `weight_decay` and `warmup_frac` above.
    recipe: Recipe | None = None
    # The host reads the epoch's losses (and so checks them for NaN/inf) every `sync_every` steps
    # and at epoch end; None: at epoch end only. Each read waits for the device (see `_LossLog`).
    sync_every: int | None = None
    # Hold the split on the device when it fits (benchmark/training/resident.py); False: gather
    # every batch on the host, as before. CPU runs gather on the host either way.
    device_resident: bool = True
    # torch.compile the encoder for the training steps (`COMPILE_MODES`); "off": eager, as before.
    compile: str = "off"

    def training_recipe(self) -> Recipe:
        return (
            self.recipe
            if self.recipe is not None
            else legacy_recipe(self.lr, self.weight_decay, self.warmup_frac)
        )


class Views:
    """The `view` a method's training_step receives: `view(x)` is the adapter's default view,
    `view(x, policy)` a named one (benchmark/core/views.py). `multi_crop` says whether the adapter
    makes local crops smaller than the input. An adapter whose `views` takes no policy (written
    before policies) gives its one view for every policy and no local crops."""

    def __init__(self, adapter: Adapter, generator: torch.Generator):
        self.adapter, self.generator = adapter, generator
        self.takes_policy = "policy" in inspect.signature(adapter.views).parameters
        self.multi_crop = self.takes_policy and bool(getattr(adapter, "multi_crop", False))

    def __call__(self, x: Any, policy: ViewPolicy | None = None) -> Any:
        if policy is None or not self.takes_policy:
            return self.adapter.views(x, self.generator)
        return self.adapter.views(x, self.generator, policy=policy)


def rankme(z: torch.Tensor, eps: float = 1e-7) -> float:
    """Effective rank of embeddings (Garrido et al. 2023): exp of the entropy of normalised singular
    values. 1 for a collapsed representation, up to min(N, D)."""
    s = torch.linalg.svdvals(z.float())
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def collapse_stats(
    method: Method, adapter: Adapter, split: Split, index: torch.Tensor, device
) -> dict[str, float]:
    was_training = method.training
    method.eval()
    x = adapter.prepare(adapter.batch(split, index), device)
    z = method.embed(x).float()
    method.train(was_training)
    zn = torch.nn.functional.normalize(z, dim=1)
    # RankMe on centred embeddings: an offset shared by every sample (a mean-pooled token encoder has
    # a large one) is one singular direction that separates nothing, and alone pins RankMe near 1
    return {"embedding_std": float(zn.std(0).mean()), "rankme": rankme(z - z.mean(0)), "dim": int(z.shape[1])}


def adamw(params, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with the fused kernel on CPU and CUDA: one kernel for all parameters instead of a
    Python loop of small ops per tensor (0.5 vs 1.7 ms per step for the 4-block CNN on 2 cores;
    a larger share of the step for the small tabular and signal encoders)."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


# torch.compile modes for `PretrainConfig.compile`; "reduce-overhead" adds CUDA graphs
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


@contextmanager
def compiled_encoder(method: Method, mode: str):
    """The method's encoder compiled in place (`nn.Module.compile`: same parameters, same state_dict
    keys, so checkpoints and resume are unchanged) while the block runs, eager again after it, so
    embedding and the probes' copies of the model never carry a compiled forward bound to it."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "off":
        yield
        return
    encoder = method.encoder
    encoder.compile(mode=None if mode == "default" else mode)
    try:
        yield
    finally:
        encoder.__dict__.pop("_compiled_call_impl", None)


@contextmanager
def eager_encoder(method: Method):
    """The encoder's eager forward for a block inside `compiled_encoder`: the collapse monitor's
    eval-mode pass on another batch size would otherwise make torch.compile trace the encoder again."""
    encoder = method.encoder
    compiled = encoder.__dict__.pop("_compiled_call_impl", None)
    try:
        yield
    finally:
        if compiled is not None:
            encoder._compiled_call_impl = compiled


def _autocast(cfg: PretrainConfig):
    if cfg.amp == "off":
        return torch.autocast(device_type=cfg.device.type, enabled=False)
    dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    return torch.autocast(device_type=cfg.device.type, dtype=dtype)


class _LossLog:
    """One epoch's per-step losses, kept on the device so that no step waits for it: each step copies
    its loss into a float64 buffer (exact for float32/bf16/fp16) and the host reads the unread part
    only at a sync point (`sync`), where a non-finite loss raises `TrainingFault` naming its step.
    The host list then holds exactly the `float(loss)` values the loop used to collect, so the
    epoch's mean loss is the same Python sum as before, bit for bit."""

    def __init__(self, steps: int, device: torch.device, epoch: int, first_step: int):
        self.buf = torch.empty(max(1, steps), dtype=torch.float64, device=device)
        self.written, self.epoch, self.first_step = 0, epoch, first_step
        self.read: list[float] = []

    def add(self, loss: torch.Tensor) -> None:
        i = self.written
        self.buf[i : i + 1].copy_(loss.detach().reshape(1))  # a device-side copy, no host wait
        self.written += 1

    def sync(self) -> None:
        new = self.buf[len(self.read) : self.written].tolist()
        for i, v in enumerate(new):
            if not math.isfinite(v):
                step = self.first_step + len(self.read) + i
                raise TrainingFault(f"non-finite loss {v} at epoch {self.epoch} step {step}")
        self.read.extend(new)


CHECKPOINT_FIELDS = {"model", "optimizer", "g_data", "g_view", "torch_rng", "history", "epoch"}


def read_checkpoint(checkpoint: Path | None) -> dict | None:
    """The saved training state, or None; a damaged checkpoint (truncated, foreign) is deleted and
    the run retrains, it is never trusted."""
    if checkpoint is None or not checkpoint.exists():
        return None
    try:
        state = safe_torch_load(checkpoint)
        if not (isinstance(state, dict) and CHECKPOINT_FIELDS <= set(state)):
            raise ValueError("missing fields")
        return state
    except Exception:
        checkpoint.unlink(missing_ok=True)
        return None


def labelled_stream(
    cfg: PretrainConfig, labels: torch.Tensor, pool: torch.Tensor, bs: int
) -> tuple[int, torch.Tensor]:
    """(labelled samples per batch, the labelled part of the pool) for semi-supervised methods
    (labels < 0 mark unlabelled samples); (0, empty) otherwise."""
    if cfg.labelled_share is None:
        return 0, pool[:0]
    if not 0 < cfg.labelled_share < 1:
        raise ValueError(f"labelled_share must be in (0, 1), got {cfg.labelled_share}")
    lab_rows = labels[pool]
    labelled = pool[(lab_rows >= 0).all(1) if lab_rows.dim() > 1 else lab_rows >= 0]
    n_lab = min(bs - 1, max(1, round(bs * cfg.labelled_share))) if len(labelled) else 0
    return n_lab, labelled


def epoch_batches(
    pool: torch.Tensor, labelled: torch.Tensor, n_lab: int, bs: int, steps: int, g_data: torch.Generator
) -> list[torch.Tensor]:
    """One epoch's batches of sample indices: a fresh permutation of the pool; with a labelled
    stream, each batch is `n_lab` labelled samples (fresh permutations, as many as needed) first."""
    order = pool[torch.randperm(len(pool), generator=g_data)]
    if not n_lab:
        return [order[b * bs : (b + 1) * bs] for b in range(steps)]
    reps = -(-steps * n_lab // len(labelled))
    lab_order = torch.cat([labelled[torch.randperm(len(labelled), generator=g_data)] for _ in range(reps)])
    return [
        torch.cat([lab_order[b * n_lab : (b + 1) * n_lab], order[b * (bs - n_lab) : (b + 1) * (bs - n_lab)]])
        for b in range(steps)
    ]


def collapse_reason(stats: dict[str, Any], uses_labels: bool = False) -> str | None:
    """Why the monitored `stats` (collapse_stats) count as collapsed under the rule above, or None."""
    std, rank, dim = stats.get("embedding_std"), stats.get("rankme"), stats.get("dim")
    if std is None:
        return None
    if std < COLLAPSE_STD:
        return f"per-dimension std {std:.2e} < {COLLAPSE_STD:g}"
    if not uses_labels and rank is not None and dim:
        floor = max(COLLAPSE_RANKME_MIN, COLLAPSE_RANKME_FRAC * dim)
        if rank < floor:
            return f"rankme {rank:.2f} < {floor:g} (of {dim} dimensions)"
    return None


def raise_if_collapsed(history: dict[str, Any], uses_labels: bool = False) -> None:
    """CollapseFault when the last monitored epoch is collapsed (`collapse_reason`)."""
    last = history["epochs"][-1] if history["epochs"] else {}
    why = collapse_reason(last, uses_labels)
    if why:
        stats = {k: last[k] for k in ("epoch", "embedding_std", "rankme", "dim") if k in last}
        raise CollapseFault(
            f"representation collapsed: {why} (per-dimension std {last['embedding_std']:.2e}, "
            f"rankme {last['rankme']:.2f})",
            {**stats, "reason": why},
        )


def view_generator(adapter: Adapter, device: torch.device, seed: int) -> torch.Generator:
    """The views' generator, seeded by the run's seed: on the job's CUDA device when the adapter's
    views draw there (`Adapter.views_on_device`), else on the CPU (other accelerators too: their
    generators are untested here). On CPU it is the same generator either way, so CPU runs draw the
    same views as before."""
    on_device = getattr(adapter, "views_on_device", False) and torch.device(device).type == "cuda"
    return torch.Generator(device=device if on_device else "cpu").manual_seed(name_seed("view", seed))


class _Trainer:
    """The state of one pretraining run: model, optimiser, generators, step counter, history."""

    def __init__(
        self, method: Method, adapter: Adapter, split: Split, pool: torch.Tensor, cfg: PretrainConfig
    ):
        self.method, self.adapter, self.split, self.pool, self.cfg = method, adapter, split, pool, cfg
        method.to(cfg.device).train()
        self.bs = min(cfg.batch_size, len(pool))
        self.recipe = cfg.training_recipe()
        self.opt, metas = build_optimizer(method, self.recipe, self.bs, cfg.device)
        self.schedules = Schedules(method, self.recipe, self.opt, metas, self.bs)
        self.g_data = torch.Generator().manual_seed(name_seed("data", cfg.seed))
        self.g_view = view_generator(adapter, cfg.device, cfg.seed)
        self.batches = step_batches(adapter, split, cfg.device, cfg.device_resident)
        self.steps_per_epoch = max(1, len(pool) // self.bs)  # drop the ragged last batch: BatchNorm needs >1
        self.total = self.steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total = min(self.total, cfg.max_steps)
        self.scaler = torch.amp.GradScaler(
            cfg.device.type, enabled=cfg.amp == "fp16" and cfg.device.type == "cuda"
        )
        self.history: dict[str, Any] = {"epochs": [], "steps": 0, "wall_s": 0.0}
        self.start_epoch = 0

    def restore(self, state: dict) -> None:
        self.method.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.g_data.set_state(state["g_data"])
        if state.get("g_view_device", "cpu") == self.g_view.device.type:
            self.g_view.set_state(state["g_view"])
        else:
            # saved by a run whose views drew on another kind of device: that stream cannot go on
            # here, so the rest of the run draws from a generator seeded by (seed, epoch) instead
            self.g_view.manual_seed(name_seed("view", self.cfg.seed, int(state["epoch"])))
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.cfg.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.cfg.device)
        self.history = state["history"]
        self.start_epoch = int(state["epoch"])

    def save(self, checkpoint: Path, epoch: int) -> None:
        state = {
            "model": self.method.state_dict(),
            "optimizer": self.opt.state_dict(),
            "g_data": self.g_data.get_state(),
            "g_view": self.g_view.get_state(),
            "g_view_device": self.g_view.device.type,
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
            "epoch": epoch,
        }
        if self.cfg.device.type == "cuda":  # what methods draw on the device without a generator
            state["cuda_rng"] = torch.cuda.get_rng_state(self.cfg.device)
        atomic_torch_save(checkpoint, state)

    def step(
        self, idx: torch.Tensor, step: int, epoch: int, view: Callable, host_idx: torch.Tensor
    ) -> torch.Tensor:
        """One optimiser step; returns the detached loss, still on the device. It is not checked
        here: reading it would make the host wait for the GPU every step. `pretrain` checks the
        epoch's losses at its sync points, before the epoch is checkpointed, so the optimiser may
        step on a non-finite loss but no checkpoint ever holds the result (the job fails instead).
        (fp16's GradScaler still reads its inf flag every step; bf16 and off do not sync.)
        `host_idx`: the batch's indices on the host (`idx` may be a copy on the device); a
        semi-supervised method gets its labelled rows from the host's labels through them."""
        x = self.batches.inputs(idx)
        y = self.batches.labels(idx) if self.method.uses_labels else None
        rows = None
        if self.method.semi_supervised:
            rows = LabelledRows.of(self.split.labels[host_idx], self.cfg.device)
        return self.step_on(x, y, step, view, rows)

    def step_on(
        self, x: Any, y: torch.Tensor | None, step: int, view: Callable, rows: LabelledRows | None = None
    ) -> torch.Tensor:
        """The device part of `step` on a prepared batch (benchmarks/device_throughput.py --limit
        times it alone, on device-resident views)."""
        cfg, method = self.cfg, self.method
        self.schedules.before_step(step, self.total)
        self.method.on_step_start(step, self.total)
        method.batch_rows = rows
        try:
            with _autocast(cfg):
                loss = method.training_step(x, y, view)
        finally:
            method.batch_rows = None
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.schedules.touches_grads:
            self.scaler.unscale_(self.opt)
            self.schedules.adjust_grads(step, self.total)
        self.scaler.step(self.opt)
        self.scaler.update()
        method.on_step_end(step + 1, self.total)
        return loss.detach()


def pretrain(
    method: Method,
    adapter: Adapter,
    split: Split,
    pool: torch.Tensor,
    cfg: PretrainConfig,
    checkpoint: Path | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    on_resume: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train `method` on samples `pool` of `split` (labels passed only when the method uses them).
    Returns the history: per-epoch mean loss, collapse monitor, wall time. Resumes exactly from the
    last finished epoch of `checkpoint` (then calls `on_resume(epochs done)`)."""
    tr = _Trainer(method, adapter, split, pool, cfg)
    state = read_checkpoint(checkpoint)
    if state is not None:
        tr.restore(state)
        if on_resume and 0 < tr.start_epoch < cfg.epochs and tr.history["steps"] < tr.total:
            on_resume(tr.start_epoch)
    bs, spe = tr.bs, tr.steps_per_epoch
    # Collapse monitor on a fixed subset: ≤ 256 samples and ≤ 1/4 of an epoch's samples; on tiny
    # epochs only every `monitor_every`-th epoch (≥ ~1,000 samples apart) and on the last one.
    monitor_idx = pool[: min(len(pool), 256, max(64, spe * bs // 4))]
    monitor_every = max(1, round(1024 / max(1, spe * bs)))
    view = Views(adapter, tr.g_view)
    n_lab, labelled = labelled_stream(cfg, split.labels, pool, bs)
    step = tr.history["steps"]
    sync_every = cfg.sync_every
    syncs = StepSyncs.for_device(cfg.device)  # SSLBENCH_SYNC_DEBUG=1: count the steps' waits on CUDA
    if sync_every is not None and sync_every < 1:
        raise ValueError(f"sync_every must be ≥ 1 or None, got {sync_every}")
    with compiled_encoder(method, cfg.compile):
        for epoch in range(tr.start_epoch, cfg.epochs):
            if step >= tr.total:
                break
            t0 = time.perf_counter()
            log = _LossLog(spe, cfg.device, epoch, step)
            try:
                host_batches = epoch_batches(pool, labelled, n_lab, bs, spe, tr.g_data)
                batches = tr.batches.epoch(host_batches)
                for i, (idx, host_idx) in enumerate(zip(batches, host_batches)):
                    if step >= tr.total:
                        break
                    with syncs.step():
                        log.add(tr.step(idx, step, epoch, view, host_idx))
                    step += 1
                    if sync_every is not None and (i + 1) % sync_every == 0:
                        log.sync()
            except TrainingFault:
                raise
            except Exception as e:
                # weights gone NaN after an unchecked bad loss can break a later step (an SVD that does
                # not converge): report the loss that started it, as the per-step check used to
                try:
                    log.sync()
                except TrainingFault as fault:
                    raise fault from e
                except Exception:
                    pass
                raise
            log.sync()  # before the collapse monitor and the checkpoint: a bad epoch is never saved
            losses = log.read
            last = epoch + 1 == cfg.epochs or step >= tr.total
            stats = {}
            if last or (epoch + 1) % monitor_every == 0:
                with eager_encoder(method):
                    stats = collapse_stats(method, adapter, split, monitor_idx, cfg.device)
            record = {
                "epoch": epoch + 1,
                "loss": sum(losses) / max(1, len(losses)),
                "seconds": time.perf_counter() - t0,
                **stats,
                **syncs.epoch_record(),
            }
            tr.history["epochs"].append(record)
            tr.history["steps"] = step
            tr.history["wall_s"] = tr.history["wall_s"] + record["seconds"]
            if checkpoint is not None:
                tr.save(checkpoint, epoch + 1)
            if on_epoch:
                on_epoch(epoch + 1, record)
    raise_if_collapsed(tr.history, method.uses_labels)
    method.eval()
    return tr.history


def epochs_for_steps(steps: int, pool_size: int, batch_size: int) -> int:
    return max(1, math.ceil(steps / max(1, pool_size // min(batch_size, pool_size))))
