"""The job context: what protocols see of a job (adapter, index pools, trained models, cached
features), and how its models are trained."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmark.evaluation.embeddings import EmbeddingCache, embed_split, inference_copy, weights_digest
from benchmark.evaluation.fractions import label_fraction_subset, stratified_subset
from benchmark.evaluation.probes import L2_GRID, LinearHead
from benchmark.models.encoders import encoder_for
from benchmark.models.pretrained import initialize
from benchmark.orchestration.jobs import Job
from benchmark.orchestration.transfer import train_transfer_models
from benchmark.training.budgets import supervised_budget
from benchmark.training.checkpoints import checkpoint_path, pretrain_key
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import Adapter, Split
from datasets.splitting import name_seed
from methods.base import Method, get_method_class


class JobContext:
    """What protocols see: the adapter, the index pools, the trained model(s) and cached features."""

    def __init__(
        self,
        job: Job,
        adapter: Adapter,
        device,
        work_dir: Path,
        progress=None,
        amp: str = "off",
        on_resume: Callable[[int], None] | None = None,
        compile_mode: str = "off",
    ):
        self.job = job
        self.on_resume = on_resume  # called with the epochs done when pretraining resumes a checkpoint
        self.amp = amp  # off | bf16 | fp16: autocast in pretraining (benchmark/training/pretrain.py)
        self.compile_mode = compile_mode  # PretrainConfig.compile: torch.compile of the encoder
        self.adapter = adapter
        self.device = device
        self.work_dir = Path(work_dir)
        self.cache = EmbeddingCache(self.work_dir / "cache" / "embeddings")
        self._weight_digests: dict[
            int, tuple
        ] = {}  # id → (model, digest); holding the model keeps its id unique
        self.progress = progress
        self.splits = adapter.splits()
        self.task = adapter.task  # after loading: an adapter configured by name learns it from its files
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
    def build_method(self, task=None) -> Method:
        """The job's method around a fresh encoder (init seeded by the job's seed); `task` replaces
        the dataset's label space (a transfer source's) for the method's heads."""
        cls = get_method_class(self.job.method)
        torch.manual_seed(name_seed("init", self.job.seed))
        encoder = method_encoder(cls, self.adapter, self.job.method_hparams)
        # every method, SSL or reference, starts from the job's init (docs/design.md §2.1)
        encoder = initialize(encoder, self.job.init)
        return cls(
            encoder, self.adapter.spec, task or self.task, recipes=self.job.recipes, **self.job.method_hparams
        )

    def train_models(self) -> None:
        if self.job.pretrain_on:
            return train_transfer_models(self)
        cls = get_method_class(self.job.method)
        pool = self.index["train"]
        if cls.end_to_end:
            return  # reference recipes train inside their evaluation (evaluation/reference_recipes.py)
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
                    m,
                    pool,
                    self.job.epochs,
                    None,
                    checkpoint_path(self.work_dir, self.job.config_hash(), fraction=f),
                    split=masked,
                )
        elif cls.uses_labels:
            # The supervised reference trains per fraction on exactly the probes' labelled subset,
            # with a step budget no larger than the SSL methods get.
            key = self.pretrain_key()
            for f in self.job.fractions:
                sub = pool[self.fraction_subset(f)]
                m = self.build_method()
                steps, epochs = supervised_budget(self.job.epochs, len(pool), len(sub), m.hp)
                self.models[f] = m
                # named by what it depends on: a transfer job from this dataset loads the 100 % model
                self.histories[f"fraction={f:g}"] = self._pretrain(
                    m, sub, epochs, steps, checkpoint_path(self.work_dir, key, self.job.method, f)
                )
        else:
            m = self.build_method()
            if cls.trains:
                key = self.pretrain_key()
                split, pool = self.pretraining_pool(pool)
                self.histories["pretrain"] = self._pretrain(
                    m,
                    pool,
                    self.job.epochs,
                    None,
                    checkpoint_path(self.work_dir, key, "pretrain"),
                    split=split,
                )
            self.models[None] = m

    def pretraining_pool(self, pool: torch.Tensor) -> tuple[Split, torch.Tensor]:
        """What label-free pretraining sees: the capped train pool, or every sample of the dataset
        when the adapter offers it (graph option `pretrain_pool: all`, docs/design.md §3.1)."""
        whole = self.adapter.pretraining_split()
        if whole is None:
            return self.splits["train"], pool
        return whole, torch.arange(len(whole))

    def pretrain_key(self) -> str:
        j = self.job
        return pretrain_key(
            j.method,
            j.method_hparams,
            j.seed,
            j.epochs,
            j.dataset,
            j.dataset_options,
            j.max_train,
            j.recipes,
            j.init,
        )

    def _pretrain(self, m: Method, pool, epochs, max_steps, ckpt: Path, split=None):
        cfg = PretrainConfig(
            epochs=epochs,
            batch_size=m.hp["batch_size"],
            lr=m.hp["lr"],
            weight_decay=m.hp["weight_decay"],
            seed=self.job.seed,
            device=self.device,
            max_steps=max_steps,
            amp=self.amp,
            compile=self.compile_mode,
            labelled_share=m.hp.get("labelled_share") if m.semi_supervised else None,
            recipe=m.training_recipe,
        )
        split = self.splits["train"] if split is None else split
        hist = pretrain(
            m,
            self.adapter,
            split,
            pool,
            cfg,
            checkpoint=ckpt,
            on_epoch=self.progress,
            on_resume=self.on_resume,
        )
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
    def features(
        self,
        split: str,
        fraction: float | None,
        corruption: str = "",
        severity: int = 0,
        transform: Callable | None = None,
    ) -> torch.Tensor:
        """Features of the job's pool of `split` (cached)."""
        return self.cached_features(
            fraction,
            self.splits[split],
            self.index[split],
            split_name=split,
            corruption=corruption,
            severity=severity,
            transform=transform,
        )

    def cached_features(
        self,
        fraction: float | None,
        split: Split,
        index: torch.Tensor,
        *,
        split_name: str = "test",
        dataset: str | None = None,
        subset: str | None = None,
        corruption: str = "",
        severity: int = 0,
        transform: Callable | None = None,
        adapter: Adapter | None = None,
    ) -> torch.Tensor:
        """Features of `split[index]` under the fraction's model, embedded once: the cache key is the
        model's weights digest plus what the inputs are (dataset, split, size, subset, corruption).
        On the job's device, where the probes and OOD scorers then run; the cache keeps a CPU copy."""
        key = {
            "model": self.model_key(fraction),
            "dataset": dataset or self.job.dataset,
            "split": split_name,
            "n": len(index),
            "corruption": corruption,
            "severity": severity,
        }
        if subset:
            key["subset"] = subset
        feats = self.cache.get_or_compute(
            key, lambda: self.embed(self.model(fraction), split, index, transform, adapter)
        )
        return feats.to(self.device)

    def embed(self, model, split, index, transform=None, adapter=None):
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
            sub = self.fraction_subset(fraction)
            grid = tuple(self.job.linear_l2_grid or L2_GRID)
            head = self.linear_heads[fraction] = LinearHead(
                self.features("train", fraction)[sub],
                self.labels("train")[sub],
                self.features("val", fraction),
                self.labels("val"),
                self.task,
                l2_grid=grid,
            )
            # what val chose, kept with the job: a choice on the grid's edge says the grid is too
            # narrow (docs/protocol.md), and the run summary counts those
            noted = self.histories.setdefault("linear_l2", {"grid": list(grid), "selected": {}, "val": {}})
            noted["selected"][f"{fraction:g}"] = float(head.l2)
            noted["val"][f"{fraction:g}"] = head.val_scores
        return self.linear_heads[fraction]

    def keep_probe(self, probe: str, fraction: float, result) -> None:
        self.probe_results[(probe, fraction)] = result


def method_encoder(cls, adapter, hparams: dict) -> torch.nn.Module:
    """A fresh encoder for method class `cls` on `adapter`: the masked methods' own token transformer
    built from the spec, else the adapter's default encoder."""
    if cls.builds_encoder:
        return cls.build_encoder(adapter.spec, **hparams)
    return encoder_for(adapter)


def _cap(labels, cap, dataset, split):
    return stratified_subset(labels, cap, dataset, split) if cap else torch.arange(len(labels))
