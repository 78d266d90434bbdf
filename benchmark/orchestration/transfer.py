"""Transfer and multi-domain pretraining (docs/design.md §3.7).

`run --pretrain-on A --evaluate-on B`: each method is pretrained on A's train split (no labels, except
the supervised reference, which trains on all of A's labels for the same number of epochs) and probed
on B exactly as in the label-fraction protocol (B's fractions, probes, val selection, test once).
A and B must share the input spec (kind and shape). `--pretrain-on A,B,C` pretrains on the union of
the train splits of several same-spec datasets (multi-domain), each sample prepared by its own
adapter; `--evaluate-on A,B,C` then probes that one checkpoint on each of them.

Rows carry protocol `transfer`; the pretraining source is recorded in the job's `pretrain_budget`
column as `<epochs>ep@<source>[+<source>…]` (the long format of docs/design.md §4 has no source column), so
transfer cells never merge with in-domain ones. One checkpoint per (method, hparams, seed, epochs,
sources) is shared by every target.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import torch

from benchmark.core.errors import UsageError
from benchmark.core.hashing import config_hash
from benchmark.core.specs import TaskSpec
from benchmark.evaluation.fractions import stratified_subset
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.suites import DatasetEntry, Suite
from benchmark.training.budgets import supervised_budget
from benchmark.training.checkpoints import checkpoint_path, pretrain_key
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import ADAPTERS, Adapter, Split, get_adapter
from methods.base import METHODS, get_method_class

SOURCE_KEYS = ("name", "options", "max_train", "max_val", "max_test")  # what a job records per source


def _entry(suite: Suite, item) -> dict:
    """A source/target as a plain dict: a DatasetEntry given in the transfer item itself, else the
    suite's `datasets:` entry of that name, else the defaults."""

    if isinstance(item, DatasetEntry):
        d = item
    else:
        d = next((d for d in suite.datasets if d.name == item), DatasetEntry(item))
    return {
        "name": d.name,
        "options": dict(d.options),
        "max_train": d.max_train,
        "max_val": d.max_val,
        "max_test": d.max_test,
        "epochs": d.epochs,
        "method_hparams": d.method_hparams,
        "batch_size": d.batch_size,
        "method_epochs": d.method_epochs,
        "encoders": d.encoders,
        "init": d.init,
    }


def _spec(entry: dict):
    """The input spec of a dataset with its options (an option such as ECG `length` changes it)."""
    try:
        return ADAPTERS[entry["name"]](data_dir=".", **entry["options"]).spec
    except (TypeError, ValueError) as e:
        raise UsageError(f"transfer: {entry['name']} options {entry['options']}: {e}") from e


def _spec_str(entry: dict) -> str:
    s = _spec(entry)
    opts = f" (options {entry['options']})" if entry["options"] else ""
    return f"{entry['name']}{opts} is {s.kind}{tuple(s.shape)}"


def transfer_jobs(
    suite: Suite,
    pretrain_on: list[str],
    evaluate_on: list[str],
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
):
    """Jobs for pretraining on `pretrain_on` (one dataset, or the union of several) and probing on
    each of `evaluate_on`. Validates names and specs with a UsageError naming the mismatch."""

    if not pretrain_on or not evaluate_on:
        raise UsageError(
            "--pretrain-on and --evaluate-on go together: name the source dataset(s) "
            "and the target dataset(s), e.g. --pretrain-on mnist --evaluate-on fashion_mnist"
        )
    sources = [_entry(suite, n) for n in pretrain_on]
    targets = [_entry(suite, n) for n in evaluate_on]
    for flag, entries in (("--pretrain-on", sources), ("--evaluate-on", targets)):
        names = [e["name"] for e in entries]
        bad = [n for n in names if n not in ADAPTERS]
        if bad:
            raise UsageError(f"{flag}: unknown dataset(s) {bad}; known: {', '.join(sorted(ADAPTERS))}")
        if len(set(names)) != len(names):
            raise UsageError(f"{flag}: a dataset is named twice in {names}")
    ref = _spec(sources[0])
    for e in sources + targets:
        s = _spec(e)
        if s.kind != ref.kind or tuple(s.shape) != tuple(ref.shape):
            raise UsageError(f"transfer needs one input spec: {_spec_str(sources[0])} but {_spec_str(e)}")
    if (
        len(sources) == 1
        and len(targets) == 1
        and sources[0]["name"] == targets[0]["name"]
        and sources[0]["options"] == targets[0]["options"]
    ):
        raise UsageError(
            f"--pretrain-on {sources[0]['name']} --evaluate-on {targets[0]['name']} is the "
            f"in-domain setting; run the suite without these flags"
        )
    pretrain_on = [e["name"] for e in sources]
    names = methods or suite.methods
    if len(pretrain_on) > 1 and any(get_method_class(m).uses_labels for m in names if _known(m)):
        multi = [n for n in pretrain_on if ADAPTERS[n].task.multilabel]
        if multi:
            raise UsageError(
                f"multi-domain supervised pretraining needs single-label sets; {multi} are multi-label"
            )
    # reuse expand() for method/hparam validation, on a suite whose datasets are the targets
    jobs = []
    for e in targets:
        for j in expand(_target_suite(suite, e, sources[0]), methods, None, seeds):
            srcs = [{k: src[k] for k in SOURCE_KEYS} for src in sources]
            axis = j.dataset_options.get("encoder")
            if axis != e["options"].get("encoder"):  # set by the `encoders` axis: the sources train it
                srcs = [{**s, "options": {**s["options"], "encoder": axis}} for s in srcs]
            jobs.append(Job(**{**j.config(), "protocols": ["transfer"], "pretrain_on": srcs}))
    return jobs


def _known(m):
    return m in METHODS


def _target_suite(suite: Suite, entry: dict, source: dict) -> Suite:
    """A one-dataset suite for the target; the pretraining budget and per-dataset hyper-parameters
    are the (first) source's, since that is where the encoder is trained."""

    return replace(
        suite,
        datasets=[
            DatasetEntry(
                entry["name"],
                entry["options"],
                entry["max_train"],
                entry["max_val"],
                entry["max_test"],
                source["epochs"],
                source["method_hparams"],
                source["batch_size"],
                source["method_epochs"],
                entry["encoders"],
                entry["init"],
            )
        ],
    )


class UnionAdapter(Adapter):
    """The train splits of several same-spec datasets as one, each sample already prepared (as CPU
    floats) by its own adapter; views and encoder come from the first source."""

    def __init__(self, sources: list[Adapter], pools: list[torch.Tensor]):
        self.sources = sources
        self.name = "+".join(a.name for a in sources)
        self.domain = sources[0].domain
        self.spec = sources[0].spec
        self.data_dir = sources[0].data_dir
        self.options = {}
        self.encoder_name = sources[0].encoder_name
        xs, ys, offset = [], [], 0
        for a, pool in zip(sources, pools):
            split = a.splits()["train"]
            if not isinstance(split.inputs, torch.Tensor):
                raise ValueError(f"multi-domain pretraining needs tensor inputs; {a.name} has none")
            xs.append(
                torch.cat(
                    [a.prepare(a.batch(split, idx), torch.device("cpu")) for idx in torch.split(pool, 4096)]
                )
            )
            y = split.labels[pool]
            ys.append(y + offset if y.dim() == 1 else y)
            offset += a.task.num_classes
        self.task = (
            TaskSpec(offset)
            if all(a.task.num_classes and not a.task.multilabel for a in sources)
            else sources[0].task
        )
        self._splits = {
            "train": Split(
                torch.cat(xs),
                torch.cat(ys)
                if all(y.dim() == 1 for y in ys)
                else torch.zeros(sum(len(y) for y in ys), dtype=torch.long),
            )
        }

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True).float()

    @property
    def _source_takes_policy(self) -> bool:
        return "policy" in inspect.signature(self.sources[0].views).parameters

    @property
    def multi_crop(self) -> bool:
        return self._source_takes_policy and bool(getattr(self.sources[0], "multi_crop", False))

    @property
    def views_on_device(self) -> bool:
        return bool(getattr(self.sources[0], "views_on_device", False))

    def views(self, x, generator, policy=None):
        # a source written before view policies has one view for every policy (as the loop's Views)
        if policy is None or not self._source_takes_policy:
            return self.sources[0].views(x, generator)
        return self.sources[0].views(x, generator, policy=policy)


def _source_pool(adapter: Adapter, entry: dict) -> torch.Tensor:
    labels = adapter.splits()["train"].labels
    cap = entry.get("max_train")
    return stratified_subset(labels, cap, entry["name"], "train") if cap else torch.arange(len(labels))


def checkpoint_key(job) -> str:
    cfg = {
        "method": job.method,
        "hp": job.method_hparams,
        "seed": job.seed,
        "epochs": job.epochs,
        "sources": job.pretrain_on,
    }
    if job.init != "random":  # random-init keys are the ones they were before the init axis
        cfg["init"] = job.init
    if job.recipes != "legacy":  # legacy keys are the ones they were before recipes
        cfg["recipes"] = job.recipes
    return config_hash(cfg)


def train_transfer_models(ctx) -> None:
    """Pretrain the job's method on its source(s) and store it as the model for every fraction."""
    job = ctx.job
    cls = get_method_class(job.method)
    data_dir = ctx.adapter.data_dir
    srcs = [get_adapter(e["name"], data_dir=data_dir, **e.get("options", {})) for e in job.pretrain_on]
    pools = [_source_pool(a, e) for a, e in zip(srcs, job.pretrain_on)]
    if len(srcs) == 1:
        adapter, split, pool, task = srcs[0], srcs[0].splits()["train"], pools[0], srcs[0].task
    else:
        adapter = UnionAdapter(srcs, pools)
        split, task = adapter.splits()["train"], adapter.task
        pool = torch.arange(len(split))
    # the runner's own builder (encoder choice, init seed), with the source's label space for the head
    m = ctx.build_method(task)
    if cls.trains:
        cfg = PretrainConfig(
            epochs=job.epochs,
            batch_size=m.hp["batch_size"],
            lr=m.hp["lr"],
            weight_decay=m.hp["weight_decay"],
            seed=job.seed,
            device=ctx.device,
            amp=getattr(ctx, "amp", "off"),
            compile=getattr(ctx, "compile_mode", "off"),
            recipe=m.training_recipe,
        )
        ckpt = checkpoint_path(ctx.work_dir, checkpoint_key(job), "transfer")
        if len(srcs) == 1 and not cls.semi_supervised:
            # Pretraining on one source is the source's in-domain run — label-free, or for the
            # supervised reference its model at 100 % labels — so it shares that run's checkpoint.
            src = job.pretrain_on[0]
            key = pretrain_key(
                job.method,
                job.method_hparams,
                job.seed,
                job.epochs,
                src["name"],
                src.get("options", {}),
                src.get("max_train"),
                job.recipes,
                job.init,
            )
            if cls.uses_labels:
                steps, epochs = supervised_budget(job.epochs, len(pool), len(pool), m.hp)
                cfg = replace(cfg, epochs=epochs, max_steps=steps)
                ckpt = checkpoint_path(ctx.work_dir, key, cls.name, 1.0)
            else:
                ckpt = checkpoint_path(ctx.work_dir, key, "pretrain")
        ctx.histories["pretrain"] = pretrain(
            m, adapter, split, pool, cfg, checkpoint=ckpt, on_epoch=ctx.progress, on_resume=ctx.on_resume
        )
    ctx.models[None] = m


def suite_transfer_jobs(
    suite: Suite,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    datasets: list[str] | None = None,
):
    """The transfer / multi-domain jobs a suite's `transfer:` entries ask for (targets filtered by
    --datasets when given)."""
    jobs = []
    for t in suite.transfer:
        targets = [d for d in t["evaluate_on"] if not datasets or getattr(d, "name", d) in datasets]
        if targets:
            jobs += transfer_jobs(suite, t["pretrain_on"], targets, methods, seeds)
    return jobs
