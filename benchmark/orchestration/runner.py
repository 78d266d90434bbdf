"""Expand a suite into jobs and run them: pretrain → embed once → protocols → store → tables.

A job is a serialisable config (method × dataset × seed + everything that changes its result);
`run_job` is a pure function of it returning result rows, and only the caller writes to the store.
A job whose config hash is already `done` in the store is skipped.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

import benchmark
from benchmark.evaluation.embeddings import EmbeddingCache, embed_split, inference_copy, weights_digest
from benchmark.evaluation.fractions import label_fraction_subset, stratified_subset
from benchmark.training.pretrain import PretrainConfig, TrainingFault, epochs_for_steps, pretrain
from benchmark.evaluation.protocols import PROTOCOLS
from benchmark.orchestration.suites import Suite, UsageError
from datasets.base import ADAPTERS, Adapter, Split, get_adapter
from datasets.splitting import name_seed
from methods.base import Method, get_method_class


@dataclass
class Job:
    suite: str
    method: str
    dataset: str
    seed: int
    epochs: int
    fractions: list[float]
    probes: list[str]
    protocols: list[str]
    method_hparams: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None
    pretrain_on: list[dict[str, Any]] = field(default_factory=list)  # transfer sources (benchmark/orchestration/transfer.py)
    robustness_max_test: int | None = None  # None: robustness.MAX_CORRUPTED_TEST

    def config(self) -> dict[str, Any]:
        cfg = asdict(self)
        # jobs that do not use a later field keep the hashes (and stored results) they had before it
        for key in ("pretrain_on", "robustness_max_test"):
            if not cfg[key]:
                cfg.pop(key)
        return cfg

    def config_hash(self) -> str:
        return _hash(self.config())

    def group_hash(self) -> str:
        cfg = self.config()
        cfg.pop("seed")
        return _hash(cfg)

    def label(self) -> str:
        return f"{self.method} × {self.dataset} × seed {self.seed}"


def _hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]


def expand(suite: Suite, methods: list[str] | None = None, datasets: list[str] | None = None,
           seeds: list[int] | None = None) -> list[Job]:
    """The job grid, in a stable order. CLI filters must name members of the suite's grid."""
    if methods:
        bad = [m for m in methods if m not in suite.methods and m not in _known_methods()]
        if bad:
            raise UsageError(f"--methods: unknown method(s) {bad}; known: {', '.join(_known_methods())}")
    for m in methods or suite.methods:
        if m not in _known_methods():
            raise UsageError(f"suite {suite.source}: unknown method {m!r}; known: {', '.join(_known_methods())}")
    entries = suite.datasets
    if datasets:
        names = [d.name for d in entries]
        # a transfer target counts too: `--datasets mutag` runs the suite's PROTEINS → MUTAG jobs only
        targets = sorted({getattr(t, "name", t) for tr in suite.transfer for t in tr["evaluate_on"]} - set(names))
        bad = [d for d in datasets if d not in names and d not in targets]
        if bad:
            also = f"; transfer targets {targets}" if targets else ""
            raise UsageError(f"--datasets: {bad} not in suite {suite.name!r} (it has {names}{also})")
        entries = [d for d in entries if d.name in datasets]
    for d in entries:
        if d.name not in ADAPTERS:
            raise UsageError(f"suite {suite.source}: unknown dataset {d.name!r}; known: {', '.join(sorted(ADAPTERS))}")
    jobs = []
    for d in entries:
        for m in methods or suite.methods:
            hp = {**suite.method_hparams.get(m, {}), **d.method_hparams.get(m, {})}
            if (d.batch_size or suite.batch_size) and "batch_size" not in hp:
                hp["batch_size"] = d.batch_size or suite.batch_size
            known = {**get_method_class(m).base_defaults, **get_method_class(m).defaults}
            unknown = set(hp) - set(known)
            if unknown:
                raise UsageError(f"suite {suite.source}: method_hparams.{m}: unknown hyper-parameter(s) "
                                 f"{sorted(unknown)}; known: {sorted(known)}")
            for s in seeds if seeds is not None else suite.seeds:
                jobs.append(Job(suite=suite.name, method=m, dataset=d.name, seed=s,
                                epochs=suite.epochs_for(m, d),
                                fractions=suite.fractions, probes=suite.probes, protocols=suite.protocols,
                                method_hparams=hp, dataset_options=d.options, max_train=d.max_train,
                                max_val=d.max_val, max_test=d.max_test,
                                robustness_max_test=suite.robustness_max_test))
    return jobs


def _known_methods() -> list[str]:
    from methods.base import METHODS
    return sorted(METHODS)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"--device: {name!r} is not a device (auto, cpu, cuda, cuda:N)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: {name!r} is not supported (auto, cpu, cuda, cuda:N)")
    return dev


def code_version() -> str:
    sha = ""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{benchmark.__version__}+{sha}" if sha else benchmark.__version__


class JobContext:
    """What protocols see: the adapter, the index pools, the trained model(s) and cached features."""

    def __init__(self, job: Job, adapter: Adapter, device, work_dir: Path, progress=None, amp: str = "off"):
        self.job = job
        self.amp = amp  # off | bf16 | fp16: autocast in pretraining (benchmark/training/pretrain.py)
        self.adapter = adapter
        self.task = adapter.task
        self.device = device
        self.work_dir = Path(work_dir)
        self.cache = EmbeddingCache(self.work_dir / "cache" / "embeddings")
        self._weight_digests: dict[int, tuple] = {}  # id → (model, digest); holding the model keeps its id unique
        self.progress = progress
        self.splits = adapter.splits()
        tr, va, te = self.splits["train"], self.splits["val"], self.splits["test"]
        self.index = {
            "train": _cap(tr.labels, job.max_train, job.dataset, "train"),
            "val": _cap(va.labels, job.max_val, job.dataset, "val"),
            "test": _cap(te.labels, job.max_test, job.dataset, "test"),
        }
        self.models: dict[float | None, Method] = {}
        self.histories: dict[str, Any] = {}
        self.probe_results: dict[tuple[str, float], Any] = {}
        self.linear_heads: dict[float, Any] = {}
        self._inference_models: dict[int, tuple[Method, Method]] = {}  # id → (model kept alive, copy)
        self.embed_s = 0.0

    # -- labels and subsets -----------------------------------------------------------------
    def labels(self, split: str) -> torch.Tensor:
        return self.splits[split].labels[self.index[split]]

    def fraction_subset(self, fraction: float) -> torch.Tensor:
        """Positions within the train pool; depends on (dataset, fraction, seed) only."""
        return label_fraction_subset(self.labels("train"), fraction, self.job.dataset, self.job.seed)

    # -- models -----------------------------------------------------------------------------
    def build_method(self) -> Method:
        cls = get_method_class(self.job.method)
        torch.manual_seed(name_seed("init", self.job.seed))
        if cls.builds_encoder:  # masked methods: a token transformer built from the spec
            encoder = cls.build_encoder(self.adapter.spec, **self.job.method_hparams)
        else:
            encoder = self.adapter.default_encoder()
        return cls(encoder, self.adapter.spec, self.task, **self.job.method_hparams)

    def train_models(self) -> None:
        if self.job.pretrain_on:
            from benchmark.orchestration.transfer import train_transfer_models
            return train_transfer_models(self)
        cls = get_method_class(self.job.method)
        ckpt_dir = self.work_dir / "checkpoints"
        pool = self.index["train"]
        if cls.semi_supervised:
            # Per fraction, on the whole pool (same step budget as SSL methods); labels outside the
            # fraction's subset are masked to -1.
            train = self.splits["train"]
            for f in self.job.fractions:
                sub = pool[self.fraction_subset(f)]
                masked = Split(train.inputs, torch.full_like(train.labels, -1))
                masked.labels[sub] = train.labels[sub]
                m = self.build_method()
                self.models[f] = m
                self.histories[f"fraction={f:g}"] = self._pretrain(
                    m, pool, self.job.epochs, None, ckpt_dir / f"{self.job.config_hash()}-f{f:g}.pt",
                    split=masked)
        elif cls.uses_labels:
            # The supervised reference trains per fraction on exactly the probes' labelled subset,
            # with a step budget no larger than the SSL methods get.
            key = self._pretrain_key()
            for f in self.job.fractions:
                sub = pool[self.fraction_subset(f)]
                m = self.build_method()
                steps, epochs = supervised_budget(self.job.epochs, len(pool), len(sub), m.hp)
                self.models[f] = m
                # named by what it depends on: a transfer job from this dataset loads the 100 % model
                self.histories[f"fraction={f:g}"] = self._pretrain(
                    m, sub, epochs, steps, ckpt_dir / f"{self.job.method}-{key}-f{f:g}.pt")
        else:
            m = self.build_method()
            if cls.trains:
                key = self._pretrain_key()
                self.histories["pretrain"] = self._pretrain(m, pool, self.job.epochs, None,
                                                            ckpt_dir / f"pretrain-{key}.pt")
            self.models[None] = m

    def _pretrain_key(self) -> str:
        j = self.job
        return pretrain_key(j.method, j.method_hparams, j.seed, j.epochs, j.dataset, j.dataset_options, j.max_train)

    def _pretrain(self, m: Method, pool, epochs, max_steps, ckpt: Path, split=None):
        cfg = PretrainConfig(epochs=epochs, batch_size=m.hp["batch_size"], lr=m.hp["lr"],
                             weight_decay=m.hp["weight_decay"], seed=self.job.seed, device=self.device,
                             max_steps=max_steps, amp=self.amp,
                             labelled_share=m.hp.get("labelled_share") if m.semi_supervised else None)
        split = self.splits["train"] if split is None else split
        hist = pretrain(m, self.adapter, split, pool, cfg, checkpoint=ckpt,
                        on_epoch=self.progress)
        return hist

    def model(self, fraction: float | None) -> Method:
        return self.models[fraction] if fraction in self.models else self.models[None]

    def model_key(self, fraction: float | None) -> str:
        """Names the cached features of a trained model: the job's config plus a digest of the model's
        weights, so features embedded by other weights (changed method defaults or training code
        since a cache was written in this out dir) are never reused."""
        base = self.job.config_hash() + ("" if None in self.models else f"-f{fraction:g}")
        model = self.model(fraction)
        if id(model) not in self._weight_digests:
            self._weight_digests[id(model)] = (model, weights_digest(model))
        return f"{base}-w{self._weight_digests[id(model)][1]}"

    # -- features ---------------------------------------------------------------------------
    def features(self, split: str, fraction: float | None, corruption: str = "", severity: int = 0,
                 transform: Callable | None = None) -> torch.Tensor:
        key = {"model": self.model_key(fraction), "dataset": self.job.dataset, "split": split,
               "n": len(self.index[split]), "corruption": corruption, "severity": severity}
        return self.cache.get_or_compute(key, lambda: self._timed_embed(
            self.model(fraction), self.splits[split], self.index[split], transform))

    def _timed_embed(self, model, split, index, transform=None, adapter=None):
        t0 = time.perf_counter()
        # One BatchNorm-folded inference copy per trained model and job (models are final by now).
        if id(model) not in self._inference_models:
            self._inference_models[id(model)] = (model, inference_copy(model.to(self.device)))
        model = self._inference_models[id(model)][1]
        feats = embed_split(model, adapter or self.adapter, split, index, self.device, transform=transform)
        self.embed_s += time.perf_counter() - t0  # cache misses only: what embedding really costs
        return feats

    def linear_head(self, fraction: float):
        """The val-selected linear head on the fraction's labelled subset, fitted once per job and
        shared by the label-fraction, robustness and OOD protocols (same features, same result)."""
        if fraction not in self.linear_heads:
            from benchmark.evaluation.probes import LinearHead
            sub = self.fraction_subset(fraction)
            self.linear_heads[fraction] = LinearHead(
                self.features("train", fraction)[sub], self.labels("train")[sub],
                self.features("val", fraction), self.labels("val"), self.task)
        return self.linear_heads[fraction]

    def keep_probe(self, probe: str, fraction: float, result) -> None:
        self.probe_results[(probe, fraction)] = result


def supervised_budget(ssl_epochs: int, pool_size: int, labelled: int, hp: dict) -> tuple[int, int]:
    """(steps, epochs) of a label-using reference on `labelled` samples: `epochs_over_labels`
    passes over them (≥ 50 steps), never more steps than an SSL method gets on the whole pool."""
    bs = min(hp["batch_size"], pool_size)
    ssl_steps = ssl_epochs * max(1, pool_size // bs)
    bs_sub = min(hp["batch_size"], labelled)
    steps = min(ssl_steps, max(50, (labelled // bs_sub) * hp["epochs_over_labels"]))
    return steps, epochs_for_steps(steps, labelled, bs_sub)


def pretrain_key(method: str, hp: dict, seed: int, epochs: int, dataset: str, options: dict,
                 max_train: int | None) -> str:
    """What an in-domain training run depends on (plus the label fraction, for label-using
    references). Checkpoints are named by this key so that jobs training the identical model share
    it: a transfer job whose source is a suite dataset loads the in-domain job's finished checkpoint
    instead of training it again (benchmark/training/pretrain.py resumes a complete checkpoint bit-identically).
    The hyper-parameters are hashed with the method's defaults filled in, so a checkpoint trained
    under other defaults (an older version of the method) is never picked up as finished."""
    cls = get_method_class(method)
    hp = {**cls.base_defaults, **cls.defaults, **hp}
    return _hash({"method": method, "hp": hp, "seed": seed, "epochs": epochs, "dataset": dataset,
                  "options": options, "max_train": max_train})


def _cap(labels, cap, dataset, split):
    return stratified_subset(labels, cap, dataset, split) if cap else torch.arange(len(labels))


@dataclass
class JobResult:
    rows: list[dict]
    history: dict
    wall_s: float
    status: str = "done"
    error: str | None = None


def run_job(job: Job, data_dir, work_dir, device, progress=None, amp: str = "off") -> JobResult:
    """Pure function of the job config: train, embed, run its protocols; return result rows."""
    t0 = time.perf_counter()
    adapter = get_adapter(job.dataset, data_dir=data_dir, **job.dataset_options)
    ctx = JobContext(job, adapter, device, Path(work_dir), progress, amp=amp)
    try:
        ctx.train_models()
    except TrainingFault as e:
        return JobResult([], ctx.histories, time.perf_counter() - t0, "failed", str(e))
    rows: list[dict] = []
    timing = ctx.histories["timing"] = {"train_s": time.perf_counter() - t0, "eval_s": {}}
    for name in job.protocols:
        t1 = time.perf_counter()
        rows += PROTOCOLS[name](ctx)
        timing["eval_s"][name] = time.perf_counter() - t1  # embedding + probes + scoring
    timing["embed_s"] = ctx.embed_s
    return JobResult(rows, ctx.histories, time.perf_counter() - t0)


def job_record(job: Job, adapter_cls) -> dict:
    return {"config_hash": job.config_hash(), "group_hash": job.group_hash(), "suite": job.suite,
            "method": job.method, "dataset": job.dataset, "domain": adapter_cls.domain,
            "encoder": encoder_label(job, adapter_cls), "pretrain_budget": f"{job.epochs}ep" + (
                "@" + "+".join(p["name"] for p in job.pretrain_on) if job.pretrain_on else ""),
            "seed": job.seed, "config": job.config()}


def encoder_label(job: Job, adapter_cls) -> str:
    """`<encoder>:<spec kind>` for the leaderboard's encoder column: `tokens` for methods that build
    their own token transformer (MAE, JEPA), the dataset option `encoder` (e.g. `resnet18`) when one
    is set, else `default` (benchmark.models.encoders.encoder_for_spec)."""
    if job.method in _known_methods() and get_method_class(job.method).builds_encoder:
        name = "tokens"
    else:
        name = job.dataset_options.get("encoder") or "default"
        name = "default" if name == "small" else name
    return f"{name}:{adapter_cls.spec.kind}"


def set_threads() -> None:
    n = int(os.environ.get("SSLBENCH_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(max(1, n))


def _method_supports(job: Job) -> bool:
    spec = getattr(ADAPTERS[job.dataset], "spec", None)
    return spec is None or spec.kind in get_method_class(job.method).supported_specs


def pending_jobs(jobs: list[Job], store, log=print) -> tuple[list[Job], dict]:
    """The jobs still to run (not `done` in the store, supported by their method) and a fresh
    summary. Shared by every executor (benchmark/orchestration/executors.py)."""
    done = store.done_hashes()
    pending = [j for j in jobs if j.config_hash() not in done]
    summary = {"total": len(jobs), "skipped": len(jobs) - len(pending), "ran": 0, "failed": []}
    if summary["skipped"]:
        log(f"{summary['skipped']} of {len(jobs)} job(s) already in the store; skipping them")
    summary["unsupported"] = []
    for j in [j for j in pending if not _method_supports(j)]:  # declared by the method, logged
        reason = (f"method {j.method!r} does not support spec {ADAPTERS[j.dataset].spec.kind!r} "
                  f"(supports {', '.join(get_method_class(j.method).supported_specs)})")
        log(f"SKIP {j.label()}: {reason}")
        summary["unsupported"].append((j.label(), reason))
    return [j for j in pending if _method_supports(j)], summary


def record_result(store, job: Job, res: JobResult, summary: dict, log=print, cv: str | None = None) -> None:
    """Write one finished job to the store (one transaction) and count it. Only the parent calls this."""
    store.record(job_record(job, ADAPTERS[job.dataset]), res.rows, status=res.status, error=res.error,
                 history=res.history, wall_s=res.wall_s, code_version=cv if cv is not None else code_version())
    summary["ran"] += 1
    timing = (res.history or {}).get("timing")
    if timing:  # evaluation cost vs training, printed in the run summary
        summary["train_s"] = summary.get("train_s", 0.0) + timing["train_s"]
        summary["eval_s"] = summary.get("eval_s", 0.0) + sum(timing["eval_s"].values())
    if res.status != "done":
        summary["failed"].append((job.label(), res.error))
        log(f"FAILED {job.label()}: {res.error}")


def run_jobs(jobs: list[Job], store, data_dir, work_dir, device, log=print, show_progress=True,
             amp: str = "off") -> dict:
    """Run pending jobs in order, recording each in the store as it finishes. Returns a summary."""
    from tqdm.auto import tqdm

    set_threads()
    pending, summary = pending_jobs(jobs, store, log)
    cv = code_version()
    bar = tqdm(pending, desc="jobs", unit="job", disable=not show_progress, leave=True)
    for job in bar:
        bar.set_postfix_str(job.label())
        epoch_bar = tqdm(total=job.epochs, desc=f"  {job.method} epochs", leave=False,
                         disable=not show_progress)
        progress = lambda epoch, rec: (epoch_bar.update(1), epoch_bar.set_postfix(loss=f"{rec['loss']:.3f}"))  # noqa: E731
        try:
            res = run_job(job, data_dir, work_dir, device, progress, amp=amp)
        except Exception as e:  # recorded, the suite goes on
            res = JobResult([], {}, 0.0, "failed", f"{type(e).__name__}: {e}")
            log(traceback.format_exc())
        finally:
            epoch_bar.close()
        record_result(store, job, res, summary, log, cv)
    return summary
