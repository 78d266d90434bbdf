"""Jobs: one (method, dataset, seed) cell of a suite's grid, its config hash, and the grid itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from benchmark.core.errors import UsageError
from benchmark.core.hashing import config_hash
from benchmark.models.encoders import NAMED_ENCODERS, encoder_available
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

    def config(self) -> dict[str, Any]:
        cfg = asdict(self)
        # jobs that do not use a later field keep the hashes (and stored results) they had before it
        for key in ("pretrain_on", "robustness_max_test", "cv_fold"):
            if cfg[key] is None or (key != "cv_fold" and not cfg[key]):
                cfg.pop(key)
        if cfg["recipes"] == "legacy":
            cfg.pop("recipes")
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
        fold = f" × fold {self.cv_fold}" if self.cv_fold is not None else ""
        return f"{self.method} × {self.dataset}{fold} × seed {self.seed}"


def expand(
    suite: Suite,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    seeds: list[int] | None = None,
) -> list[Job]:
    """The job grid, in a stable order. CLI filters must name members of the suite's grid."""
    if methods:
        bad = [m for m in methods if m not in suite.methods and m not in known_methods()]
        if bad:
            raise UsageError(f"--methods: unknown method(s) {bad}; known: {', '.join(known_methods())}")
    for m in methods or suite.methods:
        if m not in known_methods():
            raise UsageError(
                f"suite {suite.source}: unknown method {m!r}; known: {', '.join(known_methods())}"
            )
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
    jobs = []
    for d in entries:
        for m in methods or suite.methods:
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
            for s, fold in [
                (s, f) for f in (d.folds or [None]) for s in (seeds if seeds is not None else suite.seeds)
            ]:
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
                        dataset_options=d.options if fold is None else {**d.options, "fold": fold},
                        max_train=d.max_train,
                        max_val=d.max_val,
                        max_test=d.max_test,
                        robustness_max_test=suite.robustness_max_test,
                        recipes=suite.recipes,
                        cv_fold=fold,
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


def known_methods() -> list[str]:
    return sorted(METHODS)


def headline_metrics(suite: Suite) -> dict[str, str]:
    """dataset → the metric its tables lead with (the task's headline metric)."""
    return {d.name: ADAPTERS[d.name].task.headline_metric for d in suite.datasets if d.name in ADAPTERS}
