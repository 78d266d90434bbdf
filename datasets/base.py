"""The dataset-adapter interface and its registry.

An adapter turns a dataset's official files into `Split`s and knows its modality: the input spec,
batched views (augmentations), deterministic corruptions and OOD partners. The encoder is built
from the spec by the orchestration (`encoder_name` says which one the suite asked for).
Data flows one way: adapter → views → method → encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from benchmark.core.errors import DataError
from benchmark.core.registry import Registry
from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.core.views import ViewPolicy


@dataclass
class Split:
    """One split. `inputs` is a tensor (N, *spec.shape) for tensor specs (uint8 allowed for images,
    turned into floats by `Adapter.prepare`), or an adapter-defined indexable for graphs.
    `labels` is int64 (N,) or float (N, L) for multi-label sets."""

    inputs: Any
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# A corruption maps (prepared float batch, sample indices, severity 1..5) → corrupted batch.
# It must be deterministic given (sample index, corruption, severity) — docs/design.md §3.5.
Corruption = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


# Parsed splits, shared by every adapter instance of one process (a suite runs ~10 jobs per dataset,
# and OOD partners are loaded by every job): parsing Adult's CSV or decompressing Fashion-MNIST's idx
# files cost ~0.5-2 s per load. Keyed by adapter class, data dir, options and the data dir's file
# sizes and mtimes, so a changed file is read again; splits are never modified in place.
SPLITS_CACHE_SIZE = 8
_SPLITS_CACHE: dict[tuple, tuple[dict[str, "Split"], dict[str, Any]]] = {}


def _tree_signature(root: Path, max_files: int = 20000) -> str:
    """Sizes and mtimes of the files under `root` (the first `max_files` in sorted walk order: a
    data dir holding, say, ImageNet's million files is not stat-ed in full on every load)."""
    h = hashlib.sha256()
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if seen >= max_files:
            break
        seen += len(filenames)
        dirnames.sort()
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


# Options every adapter takes: `download` (False: never fetch, fail with the expected paths) and
# `encoder` (the encoder the orchestration builds, by name). An adapter adds its own in `extra_options`.
BASE_OPTIONS = frozenset({"download", "encoder"})


class Adapter:
    """Base class of every dataset adapter. Subclasses set the class attributes and implement
    `load_splits`; tensor domains get batching/prepare for free."""

    name: ClassVar[str]
    domain: ClassVar[str]  # natural_images, medical_2d, medical_3d, audio, ecg, graphs, tabular
    spec: InputSpec
    task: TaskSpec
    # Partner dataset names for OOD detection (docs/design.md §3.6).
    ood_partners: ClassVar[dict[str, list[str]]] = {"near": [], "far": []}
    # Options this class reads besides BASE_OPTIONS; subclasses add theirs (collected over the MRO),
    # so a misspelt option in a suite (`sizee: 64`) is refused when the adapter is built and when a
    # suite is read, before any job (docs/design.md §7).
    extra_options: ClassVar[frozenset[str]] = frozenset()
    # The release of the dataset the adapter reads (recorded with every result: `dataset_version`).
    dataset_version: ClassVar[str] = ""
    # Where the adapter departs from the dataset's published evaluation protocol ("" = it follows it).
    protocol_note: ClassVar[str] = ""
    # The official (train, val, test) sizes where the dataset publishes them and the adapter keeps
    # them whole, so a planner can size jobs without the files (benchmarks/gpu_projection.py).
    published_split_sizes: ClassVar[tuple[int, int, int] | None] = None
    # Whether `views` makes multi-crop local crops (policies with resolution < 1): spatial and
    # temporal domains do; tables and graphs have no smaller view of a sample.
    multi_crop: ClassVar[bool] = False
    # Whether `views` draws on the generator's own device (datasets/draws.py), so the pretraining
    # loop may hand it a generator on the job's CUDA device (no random number is then copied from
    # the host). False, for adapters written against the CPU-generator contract: a CPU generator.
    views_on_device: ClassVar[bool] = False

    def __init__(self, data_dir: str | os.PathLike | None = None, **options: Any):
        err = self.option_error(options)
        if err:
            raise ValueError(err)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.options = dict(options)
        # The encoder the suite asked for by name (option `encoder`); the orchestration builds it
        # from `spec` (benchmark.models.encoders.build_encoder), adapters never build models.
        self.encoder_name: str = str(self.options.get("encoder") or "small")
        self._splits: dict[str, Split] | None = None

    @classmethod
    def accepted_options(cls) -> frozenset[str]:
        """Every option name an adapter of this class reads."""
        out = set(BASE_OPTIONS)
        for k in cls.__mro__:
            out |= set(vars(k).get("extra_options", ()))
        return frozenset(out)

    # ---- data -----------------------------------------------------------------------------
    def load_splits(self) -> dict[str, Split]:
        """Return {"train", "val", "test"} splits from the official files."""
        raise NotImplementedError

    def splits(self) -> dict[str, Split]:
        if self._splits is None:
            key = self._splits_cache_key()
            cached = _SPLITS_CACHE.pop(key, None)
            if cached is not None:
                splits, state = cached
                self.__dict__.update(state)  # what load_splits set on the instance (stats, vocabularies)
            else:
                before = dict(vars(self))
                splits = self.load_splits()
                state = {k: v for k, v in vars(self).items() if k not in before or before[k] is not v}
            missing = {"train", "val", "test"} - set(splits)
            if missing:
                raise DataError(f"{self.name}: adapter returned no {sorted(missing)} split")
            _SPLITS_CACHE[key] = (splits, state)  # most recently used last
            while len(_SPLITS_CACHE) > SPLITS_CACHE_SIZE:
                _SPLITS_CACHE.pop(next(iter(_SPLITS_CACHE)))
            self._splits = splits
        return self._splits

    def _splits_cache_key(self) -> tuple:
        return (
            type(self).__module__,
            type(self).__qualname__,
            str(self.data_dir),
            json.dumps(self.options, sort_keys=True, default=str),
            _tree_signature(self.data_dir),
        )

    # ---- options, version, files ---------------------------------------------------------
    @classmethod
    def option_error(cls, options: dict) -> str | None:
        """One line naming the unknown options and the allowed ones, or None."""
        unknown = sorted(set(options) - cls.accepted_options())
        if not unknown:
            return None
        allowed = ", ".join(sorted(cls.accepted_options()))
        return f"{cls.name}: unknown option(s) {unknown}; allowed: {allowed}"

    @classmethod
    def version(cls, options: dict | None = None) -> str:
        """The dataset release these options read (`dataset_version` unless an adapter knows better)."""
        return cls.dataset_version

    def remote_files(self) -> list:
        """The files (`datasets.files.RemoteFile`) this adapter downloads when no local copy exists,
        without downloading anything. Bundled datasets need none."""
        return []

    def local_copy(self) -> Path | None:
        """Where an accepted local copy is (found without downloading or reading it), or None.
        By default: the data dir, once every remote file is in place there."""
        files = self.remote_files()
        return self.data_dir if all(rf.staged(self.data_dir) for rf in files) else None

    def fetch_files(self, progress: bool = True, log=None) -> None:
        """Download (resumably), verify and unpack every remote file not yet in place."""
        from datasets.files import stage_all

        stage_all(self.remote_files(), self.data_dir, progress, log)

    def fetch_or_fail(self, missing: str) -> None:
        """The official files are not here (`missing` says where they were looked for): download
        them, or raise DataError(missing) when the `download` option forbids it; offline, the
        download error names the files to stage by hand."""
        from datasets.files import offline_hint

        if not self.options.get("download", True):
            raise DataError(missing)
        with offline_hint(missing):
            self.fetch_files()

    def batch(self, split: Split, index: torch.Tensor) -> Any:
        """The raw inputs of samples `index` (a LongTensor) of `split`."""
        return split.inputs[index]

    def pretraining_split(self) -> "Split | None":
        """Unlabelled samples for label-free pretraining when they are more than the train split
        (labels all -1); None: pretraining draws from the train pool."""
        return None

    def prepare(self, inputs: Any, device: torch.device) -> Any:
        """Move a raw batch to `device` as model-ready floats (e.g. uint8 images → [0,1] normalised)."""
        return inputs.to(device, non_blocking=True).float()

    # ---- modality -------------------------------------------------------------------------
    def views(self, x: Any, generator: torch.Generator, policy: ViewPolicy | None = None) -> Any:
        """One random augmented view of a prepared batch, computed batched (no per-sample Python).
        Randomness must come from `generator` so runs are reproducible; with `views_on_device` the
        generator may be on the batch's device (draw with `device=generator.device`). `policy` None: the
        adapter's default view (the legacy recipes'); else the domain's analogue of the named view a
        method's recipe asks for (benchmark/core/views.py)."""
        raise NotImplementedError

    def corruptions(self) -> dict[str, Corruption]:
        """Corruptions natural to the modality, by name (docs/design.md §3.5)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "domain": self.domain,
            "spec": self.spec.kind,
            "shape": list(self.spec.shape),
            "classes": self.task.num_classes,
            "multilabel": self.task.multilabel,
        }


def default_data_dir() -> Path:
    """`SSLBENCH_DATA_DIR`, else ~/.cache/sslbench/data (where downloads go)."""
    env = os.environ.get("SSLBENCH_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sslbench" / "data"


ADAPTERS: Registry[type[Adapter]] = Registry("dataset")
register_adapter = ADAPTERS.register


def get_adapter(name: str, /, data_dir=None, **options) -> Adapter:
    # `name` is positional-only: the generic adapters take an option called `name` too
    return ADAPTERS.get(name)(data_dir=data_dir, **options)
