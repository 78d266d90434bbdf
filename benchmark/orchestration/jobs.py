"""Jobs: one (method, dataset, seed) cell of a suite's grid, its config hash, and the grid itself."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.core.errors import UsageError
from benchmark.core.hashing import config_hash
from benchmark.models.encoders import NAMED_ENCODERS, encoder_available
from benchmark.models.pretrained import IMAGENET_KINDS, INITS, imagenet_available
from benchmark.orchestration.suites import Suite
from datasets.base import ADAPTERS
from methods.base import METHODS, get_method_class
from methods.recipe import legacy_recipe


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
    pretrain_on: list[dict[str, Any]] = field(
        default_factory=list
    )  # transfer sources (benchmark/orchestration/transfer.py)
    robustness_max_test: int | None = None  # None: robustness.MAX_CORRUPTED_TEST
    # Training recipes (methods/recipe.py): `paper` or `legacy`. Suites default to `paper`; a Job
    # defaults to `legacy`, what every job was before recipes, so its hash is the one it had.
    recipes: str = "legacy"
    # the cross-validation fold of a suite entry with `folds` (also in dataset_options["fold"])
    cv_fold: int | None = None
    # The encoder's initialization (benchmark/models/pretrained.py): `random`, `imagenet` or the path
    # of a saved state dict. The architecture is the adapter option `encoder` (dataset_options).
    init: str = "random"
    # The linear probe's L2 grid when the suite sets one (None: the probe's default grid); left out
    # for end-to-end recipes, which have no linear probe.
    linear_l2_grid: list[float] | None = None

    def config(self) -> dict[str, Any]:
        cfg = asdict(self)
        # jobs that do not use a later field keep the hashes (and stored results) they had before it
        for key in ("pretrain_on", "robustness_max_test", "cv_fold", "linear_l2_grid"):
            if cfg[key] is None or (key != "cv_fold" and not cfg[key]):
                cfg.pop(key)
        if cfg["recipes"] == "legacy":
            cfg.pop("recipes")
        if cfg["init"] == "random":
            cfg.pop("init")
        return cfg

    def config_hash(self) -> str:
        return config_hash(self.config())

    def group_hash(self) -> str:
        """The config without its seed, and without its fold under cross-validation: one table cell
        pools every seed and fold (the published CV protocols average over folds)."""
        cfg = self.config()
        cfg.pop("seed")
        if cfg.pop("cv_fold", None) is not None:
            cfg["dataset_options"] = {k: v for k, v in cfg["dataset_options"].items() if k != "fold"}
        return config_hash(cfg)

    def label(self) -> str:
        axes = "".join(
            f" × {v}"
            for v in (self.dataset_options.get("encoder"), self.init != "random" and f"init {self.init}")
            if v
        )
        fold = f" × fold {self.cv_fold}" if self.cv_fold is not None else ""
        return f"{self.method} × {self.dataset}{axes}{fold} × seed {self.seed}"


def _check_methods(suite: Suite, methods: list[str] | None) -> None:
    """--methods and the suite's methods must be registered methods (UsageError naming the known)."""
    if methods:
        bad = [m for m in methods if m not in suite.methods and m not in known_methods()]
        if bad:
            raise UsageError(f"--methods: unknown method(s) {bad}; known: {', '.join(known_methods())}")
    for m in methods or suite.methods:
        if m not in known_methods():
            raise UsageError(
                f"suite {suite.source}: unknown method {m!r}; known: {', '.join(known_methods())}"
            )


def _checked_entries(suite: Suite, datasets: list[str] | None) -> list:
    """The suite's dataset entries that --datasets selects, each checked: a known adapter, valid
    options (every fold's), an encoder that fits its spec."""
    entries = suite.datasets
    if datasets:
        names = [d.name for d in entries]
        # a transfer target counts too: `--datasets mutag` runs the suite's PROTEINS → MUTAG jobs only
        targets = sorted(
            {getattr(t, "name", t) for tr in suite.transfer for t in tr["evaluate_on"]} - set(names)
        )
        bad = [d for d in datasets if d not in names and d not in targets]
        if bad:
            also = f"; transfer targets {targets}" if targets else ""
            raise UsageError(f"--datasets: {bad} not in suite {suite.name!r} (it has {names}{also})")
        entries = [d for d in entries if d.name in datasets]
    for d in entries:
        if d.name not in ADAPTERS:
            raise UsageError(
                f"suite {suite.source}: unknown dataset {d.name!r}; known: {', '.join(sorted(ADAPTERS))}"
            )
        for fold in d.folds or [None]:
            opts = d.options if fold is None else {**d.options, "fold": fold}
            check_dataset_options(d.name, opts, f"suite {suite.source}: dataset {d.name}")
        name = d.options.get("encoder")
        if name is not None and not encoder_available(
            ADAPTERS[d.name].spec if hasattr(ADAPTERS[d.name], "spec") else None, name
        ):
            raise UsageError(
                f"suite {suite.source}: dataset {d.name}: options.encoder {name!r} is not an "
                f"encoder for its spec; known: small, {', '.join(sorted(NAMED_ENCODERS))}"
            )
    return entries


def _checked_hparams(suite: Suite, d, m: str) -> dict:
    """Method `m`'s hyper-parameters on entry `d` (suite-wide, then the dataset's, then the shared
    batch size), each a known hyper-parameter or recipe field with a valid value."""
    hp = {**suite.method_hparams.get(m, {}), **d.method_hparams.get(m, {})}
    if (d.batch_size or suite.batch_size) and "batch_size" not in hp:
        hp["batch_size"] = d.batch_size or suite.batch_size
    known = get_method_class(m).known_hparams()
    unknown = set(hp) - known
    if unknown:
        raise UsageError(
            f"suite {suite.source}: method_hparams.{m}: unknown hyper-parameter(s) "
            f"{sorted(unknown)}; known: {sorted(known)}"
        )
    try:  # recipe fields (optimizer, lr_scaling, …) are checked here, not when the job runs
        (get_method_class(m).recipe or legacy_recipe(1e-3, 1e-6)).with_overrides(hp)
    except (TypeError, ValueError) as e:
        raise UsageError(f"suite {suite.source}: method_hparams.{m}: {e}") from e
    return hp


def expand(
    suite: Suite,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
) -> list[Job]:
    """The job grid, in a stable order. CLI filters must name members of the suite's grid."""
    _check_methods(suite, methods)
    entries = _checked_entries(suite, datasets)
    axes = {d.name: (_encoder_axis(suite, d), _init_axis(suite, d)) for d in entries}
    jobs = []
    for d in entries:
        encoders, inits = axes[d.name]
        for m in methods or suite.methods:
            hp = _checked_hparams(suite, d, m)
            # a method that builds its own token transformer (MAE, JEPA) runs once per init, whatever
            # the encoder axis lists: its encoder is not the axis's
            own = get_method_class(m).builds_encoder
            l2_grid = None if get_method_class(m).end_to_end else suite.linear_l2_grid
            for enc in encoders[:1] if own else encoders:
                options = d.options if enc is None or own else {**d.options, "encoder": enc}
                for init in inits:
                    for fold in d.folds or [None]:
                        for s in seeds if seeds is not None else suite.seeds:
                            jobs.append(
                                Job(
                                    suite=suite.name,
                                    method=m,
                                    dataset=d.name,
                                    seed=s,
                                    epochs=suite.epochs_for(m, d),
                                    fractions=suite.fractions,
                                    probes=suite.probes,
                                    protocols=suite.protocols,
                                    method_hparams=hp,
                                    dataset_options=options if fold is None else {**options, "fold": fold},
                                    max_train=d.max_train,
                                    max_val=d.max_val,
                                    max_test=d.max_test,
                                    robustness_max_test=suite.robustness_max_test,
                                    recipes=suite.recipes,
                                    cv_fold=fold,
                                    init=init,
                                    linear_l2_grid=l2_grid,
                                )
                            )
    return jobs


def check_dataset_options(name: str, options: dict, where: str) -> None:
    """Unknown or invalid adapter options are a UsageError naming the allowed ones, before any job
    starts (making the adapter reads no files)."""
    cls = ADAPTERS[name]
    err = cls.option_error(options)
    if err:
        raise UsageError(f"{where}: options: {err}")
    try:
        cls(data_dir=None, **options)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: options: {e}") from None


def _encoder_axis(suite: Suite, d) -> list[str | None]:
    """The encoders `d` runs on: [None] (its options as they are) without an `encoders` axis, else
    the axis's names, `small`/`default` as None (the spec's small encoder: the hash it always had).
    An encoder the dataset's spec has no builder for rejects the suite (one line)."""
    names = suite.encoders_for(d)
    if names is None:
        return [None]
    where = f"suite {suite.source}: dataset {d.name}"
    if "encoder" in d.options:
        raise UsageError(f"{where}: options.encoder and an 'encoders' axis are both set; keep one")
    spec = _spec(d)
    out: list[str | None] = []
    for n in names:
        if n not in ("small", "default") and n not in NAMED_ENCODERS:
            raise UsageError(
                f"{where}: unknown encoder {n!r}; known: small, {', '.join(sorted(NAMED_ENCODERS))}"
            )
        if not encoder_available(spec, n):
            kinds = ", ".join(sorted(NAMED_ENCODERS[n]))
            raise UsageError(
                f"{where}: encoder {n!r} has no builder for its spec "
                f"{getattr(spec, 'kind', '?')!r} ({n} covers {kinds}); `list encoders` shows each spec's"
            )
        e = None if n in ("small", "default") else n
        if e in out:
            raise UsageError(f"{where}: 'encoders' names the small default encoder twice ({names})")
        out.append(e)
    return out


def _init_axis(suite: Suite, d) -> list[str]:
    """The inits `d` runs with: `random`, `imagenet` or an existing state-dict file (one line if not)."""
    inits = suite.init_for(d)
    for i in inits:
        if i not in INITS and not _is_path(i):
            raise UsageError(
                f"suite {suite.source}: dataset {d.name}: unknown init {i!r}; expected random, "
                f"imagenet or the path of a saved state dict (.pt/.pth)"
            )
        if i not in INITS and not Path(i).is_file():
            raise UsageError(f"suite {suite.source}: dataset {d.name}: init {i!r}: no such file")
    return list(inits)


def _is_path(init: str) -> bool:
    return "/" in init or Path(init).suffix in (".pt", ".pth", ".ckpt")


def _spec(d):
    """The spec of a dataset entry with its options (an option such as `size` changes it)."""
    cls = ADAPTERS[d.name]
    try:
        return cls(data_dir=".", **{k: v for k, v in d.options.items() if k != "encoder"}).spec
    except Exception:  # bad options are reported by the pre-flight, with the adapter's own words
        return getattr(cls, "spec", None)


def init_label(init: str) -> str:
    """The `init` column: `random`, `imagenet`, or `file:<file name>` for a saved state dict."""
    if init in INITS:
        return init
    return "file:" + re.sub(r"[^A-Za-z0-9_.-]", "_", Path(init).name)


def encoder_of(job: Job) -> str:
    """The name of the job's encoder: `tokens` (MAE/JEPA's own transformer), a named one, or `small`."""
    if job.method in METHODS and get_method_class(job.method).builds_encoder:
        return "tokens"
    return str(job.dataset_options.get("encoder") or "small")


def axis_skip_reason(job: Job) -> str | None:
    """Why a job of the grid cannot run with its init (None: it can): ImageNet weights exist only for
    the ResNets; a saved state dict must be one of this encoder (same names and shapes)."""
    if job.init == "random":
        return None
    enc = encoder_of(job)
    if job.init == "imagenet":
        kind = getattr(getattr(ADAPTERS.get(job.dataset), "spec", None), "kind", None)
        if imagenet_available(kind, enc):
            return None
        return (
            f"init imagenet: encoder {enc!r} on spec {kind!r} has no ImageNet weights (resnet18 and "
            f"resnet50 on {', '.join(IMAGENET_KINDS)} only)"
        )
    opts = json.dumps(job.dataset_options, sort_keys=True, default=str)
    hp = json.dumps(job.method_hparams, sort_keys=True, default=str) if enc == "tokens" else ""
    try:
        mtime = Path(job.init).stat().st_mtime_ns
    except OSError:
        return f"init {job.init}: no such file"
    return _state_mismatch(job.dataset, opts, job.method if enc == "tokens" else "", hp, job.init, mtime)


@lru_cache(maxsize=256)
def _state_mismatch(dataset: str, options: str, method: str, hp: str, path: str, _mtime: int) -> str | None:
    import torch

    from benchmark.core.io import safe_torch_load
    from benchmark.models.encoders import build_encoder

    opts = json.loads(options)
    spec = ADAPTERS[dataset](data_dir=".", **opts).spec
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        if method:
            own = get_method_class(method).build_encoder(spec, **json.loads(hp)).state_dict()
        else:
            own = build_encoder(spec, opts.get("encoder")).state_dict()
    try:
        state = safe_torch_load(Path(path))
    except Exception as e:  # noqa: BLE001 - any unreadable file is a reason, in one line
        return f"init {path}: not a readable state dict ({str(e).splitlines()[0][:80]})"
    state = state.get("encoder", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        return f"init {path}: not a state dict"
    theirs = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
    if theirs != {k: tuple(v.shape) for k, v in own.items()}:
        return f"init {path}: not a state dict of encoder {opts.get('encoder') or 'small'}"
    return None


def known_methods() -> list[str]:
    return sorted(METHODS)


def training_fingerprint(job: Job) -> str | None:
    """How the job's method trains beyond its config hash (`Method.training_fingerprint`), from the
    adapter class's spec; None for a method or dataset this process does not know."""
    if job.method not in METHODS or job.dataset not in ADAPTERS:
        return None
    spec = getattr(ADAPTERS[job.dataset], "spec", None)
    return get_method_class(job.method).training_fingerprint(spec, job.recipes, dict(job.method_hparams))


def headline_metrics(suite: Suite) -> dict[str, str]:
    """dataset → the metric its tables lead with (the task's headline metric)."""
    return {d.name: ADAPTERS[d.name].task.headline_metric for d in suite.datasets if d.name in ADAPTERS}
