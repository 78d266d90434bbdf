"""Suites: YAML files that expand into a grid of jobs (method × dataset × seed).

Shipped suites live in benchmark/suites/*.yaml; a user's own file works the same way. Every field is
validated with a message that names the file and field (a UsageError → exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.core.errors import UsageError  # noqa: F401  (raised here; importers take it from here too)
from benchmark.core.names import NAME_RE

SUITES_DIR = Path(__file__).resolve().parent.parent / "suites"
ALLOWED_TOP = {
    "name",
    "description",
    "datasets",
    "methods",
    "method_hparams",
    "method_epochs",
    "seeds",
    "fractions",
    "probes",
    "protocols",
    "pretrain",
    "resources",
    "transfer",
    "robustness",
    "ood_partners",
    "recipes",
    "tuning",
    "encoders",
    "init",
    "linear_l2_grid",
}
ALLOWED_TUNING = {"seeds", "fraction", "trials", "space"}
RECIPE_MODES = ("paper", "legacy")  # methods/recipe.py; kept here so parsing imports no method code
ALLOWED_ROBUSTNESS = {"max_test"}
ALLOWED_DATASET = {
    "name",
    "options",
    "max_train",
    "max_val",
    "max_test",
    "epochs",
    "batch_size",
    "method_hparams",
    "method_epochs",
    "folds",
    "encoders",
    "init",
}
ALLOWED_PRETRAIN = {"epochs", "batch_size"}
# per-job resources the Ray and SLURM executors read from a suite's `resources:`
RESOURCE_KEYS = {
    "cpus_per_job",
    "gpus_per_job",
    "mem_gb",
    "timeout_min",
    "partition",
    "array_parallelism",
    "account",
    "qos",
    "constraint",
}


@dataclass
class DatasetEntry:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_val: int | None = None
    max_test: int | None = None
    epochs: int | None = None  # overrides the suite's pretrain.epochs for this dataset
    method_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-dataset overrides
    batch_size: int | None = None  # every method's batch size on this dataset, unless its method_hparams say
    method_epochs: dict[str, int] = field(default_factory=dict)  # per-method epochs on this dataset
    # Cross-validation: one job per value of the adapter's `fold` option, pooled into one cell
    # (docs/design.md §3.1); None: the adapter's own split, once.
    folds: list[int] | None = None
    encoders: list[str] | None = None  # this dataset's encoder axis (over the suite's `encoders`)
    init: list[str] | None = None  # this dataset's init axis (over the suite's `init`)


@dataclass
class Tuning:
    """How a suite's per-method settings are selected (docs/protocol.md): `trials` candidate settings
    for every trained method on every dataset (its own list in `space`, else `space["default"]`),
    each pretrained on every tuning seed and judged by the linear probe's val score at `fraction`.
    Tuning seeds are never reported: they may not appear in the suite's `seeds`."""

    seeds: list[int]
    fraction: float
    trials: int
    space: dict[str, list[dict[str, Any]]]

    def candidates(self, method: str) -> list[dict[str, Any]]:
        return [dict(c) for c in self.space.get(method, self.space.get("default", []))]


@dataclass
class Suite:
    name: str
    datasets: list[DatasetEntry]
    methods: list[str]
    seeds: list[int]
    fractions: list[float]
    probes: list[str]
    protocols: list[str]
    epochs: int
    batch_size: int | None = None
    method_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    resources: dict[str, Any] = field(default_factory=dict)  # per-job cpus/gpus/… for ray and slurm
    transfer: list[dict[str, list]] = field(
        default_factory=list
    )  # names or DatasetEntry; benchmark/orchestration/transfer.py
    robustness_max_test: int | None = (
        None  # cap on corrupted test samples (benchmark/evaluation/protocols/robustness.py)
    )
    # A method's own pretraining epochs (every dataset, unless the dataset's method_epochs says),
    # for budgets selected on val; the leaderboard's pretrain_budget column shows each row's.
    method_epochs: dict[str, int] = field(default_factory=dict)
    # `required`: `fetch` stages the OOD partners and `run --strict` insists on them; `optional`: the
    # OOD protocol scores the partners found in the data dir (those missing are still listed), and
    # `fetch` leaves them out unless asked (`--ood-partners`). Never part of a job's config: the
    # protocol itself is the same either way.
    ood_partners: str = "required"
    # How methods train (methods/recipe.py): `paper` (each method's published recipe, the default)
    # or `legacy` (AdamW 1e-3 for every method and the adapters' one view: the suites whose
    # published rows were computed that way, until they are re-run).
    recipes: str = "paper"
    tuning: Tuning | None = None
    # The architecture and initialization axes (docs/design.md §2.1): None = not swept (the dataset's
    # `options.encoder`, else the small default encoder; random init). Names are checked against the
    # specs when the jobs are made (benchmark/orchestration/jobs.py).
    encoders: list[str] | None = None
    init: list[str] | None = None
    # The linear probe's L2 grid (benchmark/evaluation/probes.py), the same for every method; None:
    # the probe's default grid. A wider grid is for suites whose val-selected strength sits on the
    # default grid's top edge (docs/protocol.md).
    linear_l2_grid: list[float] | None = None

    def encoders_for(self, entry: DatasetEntry) -> list[str] | None:
        """The encoder axis on `entry`: its own `encoders`, else the suite's, else None (no axis)."""
        return entry.encoders if entry.encoders is not None else self.encoders

    def init_for(self, entry: DatasetEntry) -> list[str]:
        """The init axis on `entry`: its own `init`, else the suite's, else [random]."""
        return entry.init if entry.init is not None else (self.init or ["random"])

    def epochs_for(self, method: str, entry: DatasetEntry) -> int:
        """Epochs of `method` on `entry`: its method_epochs there, else the suite's method_epochs,
        else the dataset's epochs, else pretrain.epochs."""
        return (
            entry.method_epochs.get(method) or self.method_epochs.get(method) or entry.epochs or self.epochs
        )


def available_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def _need(cond: bool, where: str, msg: str):
    if not cond:
        raise UsageError(f"{where}: {msg}")


def _no_duplicates(values: list, where: str, field_name: str) -> None:
    """A name listed twice would run (or probe) everything twice and pool the copies as seeds."""
    seen, twice = set(), []
    for v in values:
        if v in seen and v not in twice:
            twice.append(v)
        seen.add(v)
    _need(not twice, where, f"'{field_name}' lists {', '.join(map(repr, twice))} more than once")


def _is_int(v, minimum: int) -> bool:
    """An integer (not a bool) ≥ minimum."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _int_list(value, where, field_name, minimum=0) -> list[int]:
    _need(
        isinstance(value, list) and value and all(_is_int(v, minimum) for v in value),
        where,
        f"'{field_name}' must be a non-empty list of integers ≥ {minimum}, got {value!r}",
    )
    return list(value)


def _method_epochs(value: Any, where: str, label: str) -> dict[str, int]:
    value = value or {}
    _need(
        isinstance(value, dict) and all(isinstance(k, str) and _is_int(v, 1) for k, v in value.items()),
        where,
        f"{label} must map method names to integers ≥ 1 (epochs), got {value!r}",
    )
    return dict(value)


def _grid(data: dict, where: str) -> tuple[list[int], list, list[str], list[str], int, int | None]:
    """The suite's grid fields: seeds, fractions, probes, protocols, and the pretraining epochs and
    batch size, each checked (one line naming the field on a bad value)."""
    from benchmark.evaluation.plugins import PROBES, PROTOCOLS

    seeds = _int_list(data.get("seeds", [0, 1, 2]), where, "seeds")
    _no_duplicates(seeds, where, "seeds")
    fractions = data.get("fractions", [0.01, 0.1, 1.0])
    _need(
        isinstance(fractions, list)
        and fractions
        and all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in fractions),
        where,
        f"'fractions' must be a non-empty list of numbers in (0, 1], got {fractions!r}",
    )
    probes = data.get("probes", ["linear", "knn"])
    _need(
        isinstance(probes, list) and probes and all(p in PROBES for p in probes),
        where,
        f"'probes' must be a list from {sorted(PROBES)}, got {probes!r}",
    )
    protocols = data.get("protocols", ["label_fraction"])
    _need(
        isinstance(protocols, list) and protocols and all(p in PROTOCOLS for p in protocols),
        where,
        f"'protocols' must be a list from {sorted(PROTOCOLS)}, got {protocols!r}",
    )
    for label, values in (("fractions", fractions), ("probes", probes), ("protocols", protocols)):
        _no_duplicates([float(v) if label == "fractions" else v for v in values], where, label)
    pre = data.get("pretrain", {})
    _need(
        isinstance(pre, dict) and not (set(pre) - ALLOWED_PRETRAIN),
        where,
        f"'pretrain' must be a mapping with fields {sorted(ALLOWED_PRETRAIN)}, got {pre!r}",
    )
    epochs = pre.get("epochs", 10)
    _need(_is_int(epochs, 1), where, f"pretrain.epochs must be an integer ≥ 1, got {epochs!r}")
    bs = pre.get("batch_size")
    _need(bs is None or _is_int(bs, 2), where, f"pretrain.batch_size must be an integer ≥ 2, got {bs!r}")
    return seeds, fractions, probes, protocols, epochs, bs


def _robustness_cap(data: dict, where: str) -> int | None:
    """`robustness: {max_test: N}`: the cap on corrupted test samples (None: the default)."""
    rob = data.get("robustness", {}) or {}
    _need(
        isinstance(rob, dict) and not (set(rob) - ALLOWED_ROBUSTNESS),
        where,
        f"'robustness' must be a mapping with fields {sorted(ALLOWED_ROBUSTNESS)}, got {rob!r}",
    )
    rcap = rob.get("max_test")
    _need(
        rcap is None or _is_int(rcap, 10), where, f"robustness.max_test must be an integer ≥ 10, got {rcap!r}"
    )
    return rcap


def parse_suite(data: Any, where: str) -> Suite:
    _need(isinstance(data, dict), where, f"a suite must be a YAML mapping, got {type(data).__name__}")
    unknown = set(data) - ALLOWED_TOP
    _need(not unknown, where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_TOP)}")
    name = data.get("name")
    _need(
        isinstance(name, str) and bool(NAME_RE.match(name)),
        where,
        f"'name' must be lower_snake_case, got {name!r}",
    )
    ds_raw = data.get("datasets")
    _need(isinstance(ds_raw, list) and ds_raw, where, "'datasets' must be a non-empty list")
    datasets = [_dataset_entry(d, where, f"datasets[{i}]") for i, d in enumerate(ds_raw)]
    methods = data.get("methods")
    _need(
        isinstance(methods, list)
        and methods
        and all(isinstance(m, str) and NAME_RE.match(m) for m in methods),
        where,
        f"'methods' must be a non-empty list of method names, got {methods!r}",
    )
    _no_duplicates([d.name for d in datasets], where, "datasets")
    _no_duplicates(methods, where, "methods")
    seeds, fractions, probes, protocols, epochs, bs = _grid(data, where)
    hps = data.get("method_hparams", {}) or {}
    _need(
        isinstance(hps, dict) and all(isinstance(v, dict) for v in hps.values()),
        where,
        "'method_hparams' must map method names to mappings of hyper-parameters",
    )
    rcap = _robustness_cap(data, where)
    ood_partners = data.get("ood_partners", "required")
    _need(
        ood_partners in ("required", "optional"),
        where,
        f"ood_partners must be 'required' or 'optional', got {ood_partners!r}",
    )
    recipes = data.get("recipes", "paper")
    _need(recipes in RECIPE_MODES, where, f"'recipes' must be one of {list(RECIPE_MODES)}, got {recipes!r}")
    return Suite(
        name=name,
        datasets=datasets,
        methods=list(methods),
        seeds=seeds,
        fractions=[float(f) for f in fractions],
        probes=list(probes),
        protocols=list(protocols),
        epochs=epochs,
        batch_size=bs,
        method_hparams={k: dict(v) for k, v in hps.items()},
        description=str(data.get("description", "")),
        source=where,
        resources=_resources(data.get("resources", {}), where),
        transfer=_transfer(data.get("transfer", []), where),
        robustness_max_test=rcap,
        method_epochs=_method_epochs(data.get("method_epochs"), where, "'method_epochs'"),
        ood_partners=ood_partners,
        recipes=recipes,
        tuning=_tuning(data.get("tuning"), where, seeds),
        encoders=_axis(data.get("encoders"), where, "encoders"),
        init=_axis(data.get("init"), where, "init"),
        linear_l2_grid=_l2_grid(data.get("linear_l2_grid"), where),
    )


def _l2_grid(value: Any, where: str) -> list[float] | None:
    """`linear_l2_grid:`: at least two distinct positive numbers, ascending."""
    if value is None:
        return None
    ok = (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
        and all(a < b for a, b in zip(value, value[1:]))
    )
    _need(ok, where, f"'linear_l2_grid' must be ≥ 2 ascending positive numbers, got {value!r}")
    return [float(v) for v in value]


def _axis(value: Any, where: str, label: str) -> list[str] | None:
    """`encoders:` / `init:`: a non-empty list of distinct names (init entries may be file paths)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    _need(
        isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value),
        where,
        f"'{label}' must be a non-empty list of names, got {value!r}",
    )
    _no_duplicates(value, where, label)
    return list(value)


def _tuning(value: Any, where: str, reported: list[int]) -> Tuning | None:
    """The `tuning:` block, checked in full; method names and keys are checked when its jobs are made."""
    if value is None:
        return None
    _need(isinstance(value, dict), where, f"'tuning' must be a mapping, got {value!r}")
    unknown = set(value) - ALLOWED_TUNING
    _need(
        not unknown, where, f"tuning: unknown field(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_TUNING)}"
    )
    seeds = _int_list(value.get("seeds"), where, "tuning.seeds")
    _no_duplicates(seeds, where, "tuning.seeds")
    both = sorted(set(seeds) & set(reported))
    _need(not both, where, f"tuning.seeds {both} are also in 'seeds': tuning seeds are never reported")
    fraction = value.get("fraction", 0.1)
    _need(
        isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 < fraction <= 1,
        where,
        f"tuning.fraction must be a number in (0, 1], got {fraction!r}",
    )
    trials = value.get("trials")
    _need(_is_int(trials, 1), where, f"tuning.trials must be an integer ≥ 1, got {trials!r}")
    space = value.get("space") or {}
    _need(
        isinstance(space, dict)
        and all(isinstance(v, list) and all(isinstance(c, dict) for c in v) for v in space.values()),
        where,
        "tuning.space must map method names (or 'default') to lists of settings (mappings)",
    )
    for name, cands in space.items():
        _need(
            len(cands) == trials,
            where,
            f"tuning.space.{name} has {len(cands)} setting(s); every method gets exactly "
            f"tuning.trials = {trials}",
        )
        _need(
            all(c != d for i, c in enumerate(cands) for d in cands[:i]),
            where,
            f"tuning.space.{name} lists a setting twice",
        )
        for c in cands:
            ep = c.get("epochs")
            _need(ep is None or _is_int(ep, 1), where, f"tuning.space.{name}: epochs must be ≥ 1, got {ep!r}")
    return Tuning(seeds, float(fraction), trials, {k: [dict(c) for c in v] for k, v in space.items()})


def _dataset_entry(d: Any, where: str, label: str) -> DatasetEntry:
    """One dataset entry: a name, or a mapping with the fields of ALLOWED_DATASET."""
    if isinstance(d, str):
        d = {"name": d}
    _need(isinstance(d, dict), where, f"{label} must be a name or a mapping, got {d!r}")
    unknown = set(d) - ALLOWED_DATASET
    _need(
        not unknown, where, f"{label}: unknown field(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_DATASET)}"
    )
    _need(
        isinstance(d.get("name"), str) and bool(NAME_RE.match(d["name"])),
        where,
        f"{label}.name must be lower_snake_case, got {d.get('name')!r}",
    )
    for cap in ("max_train", "max_val", "max_test"):
        v = d.get(cap)
        _need(v is None or _is_int(v, 10), where, f"{label}.{cap} must be an integer ≥ 10, got {v!r}")
    _need(isinstance(d.get("options", {}), dict), where, f"{label}.options must be a mapping")
    ep = d.get("epochs")
    _need(ep is None or _is_int(ep, 1), where, f"{label}.epochs must be an integer ≥ 1, got {ep!r}")
    dbs = d.get("batch_size")
    _need(dbs is None or _is_int(dbs, 2), where, f"{label}.batch_size must be an integer ≥ 2, got {dbs!r}")
    dhp = d.get("method_hparams", {}) or {}
    _need(
        isinstance(dhp, dict) and all(isinstance(v, dict) for v in dhp.values()),
        where,
        f"{label}.method_hparams must map method names to mappings of hyper-parameters",
    )
    folds = d.get("folds")
    _need(
        folds is None
        or (
            isinstance(folds, list)
            and len(folds) >= 2
            and all(_is_int(f, 0) for f in folds)
            and len(set(folds)) == len(folds)
        ),
        where,
        f"{label}.folds must be a list of at least two distinct fold numbers (the adapter's `fold` "
        f"option), got {folds!r}",
    )
    _need(
        folds is None or "fold" not in (d.get("options") or {}),
        where,
        f"{label}: give either options.fold (one fold) or folds (cross-validation), not both",
    )
    return DatasetEntry(
        d["name"],
        dict(d.get("options", {})),
        d.get("max_train"),
        d.get("max_val"),
        d.get("max_test"),
        ep,
        {k: dict(v) for k, v in dhp.items()},
        dbs,
        _method_epochs(d.get("method_epochs"), where, f"{label}.method_epochs"),
        list(folds) if folds is not None else None,
        _axis(d.get("encoders"), where, f"{label}.encoders"),
        _axis(d.get("init"), where, f"{label}.init"),
    )


def _transfer(items: Any, where: str) -> list[dict[str, list]]:
    """`transfer: [{pretrain_on: [a, …], evaluate_on: [b, …]}, …]`: extra transfer / multi-domain
    jobs (docs/design.md §3.7). An item is a dataset name (its entry in `datasets:` supplies options, caps,
    epochs and hyper-parameters, else the defaults) or a dataset mapping like those of `datasets:`
    (e.g. a source with adapter options that give it the target's spec, which the suite does not
    otherwise run). Names and specs are checked when the jobs are made
    (benchmark/orchestration/transfer.py)."""
    _need(isinstance(items, list), where, f"'transfer' must be a list of mappings, got {items!r}")
    out = []
    for i, t in enumerate(items):
        _need(
            isinstance(t, dict) and set(t) == {"pretrain_on", "evaluate_on"},
            where,
            f"transfer[{i}] must be a mapping with exactly 'pretrain_on' and 'evaluate_on', got {t!r}",
        )
        entry = {}
        for k in ("pretrain_on", "evaluate_on"):
            v = [t[k]] if isinstance(t[k], (str, dict)) else t[k]
            _need(
                isinstance(v, list) and v and all(isinstance(n, (str, dict)) for n in v),
                where,
                f"transfer[{i}].{k} must be a dataset name or mapping, or a non-empty list of them, "
                f"got {t[k]!r}",
            )
            entry[k] = [
                n if isinstance(n, str) else _dataset_entry(n, where, f"transfer[{i}].{k}[{j}]")
                for j, n in enumerate(v)
            ]
        _need(
            entry not in out,
            where,
            f"transfer[{i}] repeats an earlier transfer item (same sources and targets)",
        )
        out.append(entry)
    return out


def _resources(res: Any, where: str) -> dict[str, Any]:
    """`resources:` asks a cluster executor for this much per job (benchmark/orchestration/executors.py)."""

    _need(
        isinstance(res, dict) and not (set(res) - RESOURCE_KEYS),
        where,
        f"'resources' must be a mapping with fields from {sorted(RESOURCE_KEYS)}, got {res!r}",
    )
    for k in ("cpus_per_job", "gpus_per_job", "mem_gb", "timeout_min", "array_parallelism"):
        v = res.get(k)
        _need(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0),
            where,
            f"resources.{k} must be a number ≥ 0, got {v!r}",
        )
    return dict(res)


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not path.suffix:
        if not NAME_RE.match(name_or_path):
            raise UsageError(
                f"suite {name_or_path!r}: not a shipped suite name ({', '.join(available_suites())}) "
                f"nor a .yaml file"
            )
        path = SUITES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise UsageError(
                f"unknown suite {name_or_path!r}; shipped suites: {', '.join(available_suites())}, "
                f"or pass a path to a .yaml file"
            )
    elif path.suffix not in (".yaml", ".yml"):
        raise UsageError(f"suite file {path}: expected a .yaml/.yml file")
    if not path.exists():
        raise UsageError(f"suite file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as e:
        raise UsageError(f"suite file {path}: not valid YAML (not UTF-8 text: {e.reason})") from None
    except yaml.YAMLError as e:
        raise UsageError(f"suite file {path}: not valid YAML ({yaml_error_text(e)})") from None
    return parse_suite(data, str(path))


def yaml_error_text(e: Exception) -> str:
    """A YAML error in one line with the line and column of the problem (1-based, as editors count)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{what}" + (f" ({context})" if context and mark is not None else "")


def is_suite_file(arg: str) -> bool:
    """`--suite` names a file (as opposed to a shipped suite's name)."""
    return Path(arg).suffix in (".yaml", ".yml")


@dataclass
class ResultsSuite:
    """The suite a results directory is read as: `name` (as stored), its config when known
    (`suite`, `text`), and the directory (`out`)."""

    name: str
    out: Path
    suite: Suite | None = None
    text: str | None = None


def suite_for_results(suite_arg: str | None, out_arg: str | None, command: str) -> ResultsSuite:
    """What `report`, `leaderboard publish` and `compare` read: `--suite` as `run` takes it (a shipped
    name or a .yaml path; the results dir defaults to results/<name>), or, with only `--out`, the one
    suite its store holds. The config is the copy `run` left in the results dir (<out>/suite.yaml),
    else the named file, else the shipped suite of that name."""
    from benchmark.orchestration.store import ResultStore

    suite = text = None
    if suite_arg and is_suite_file(suite_arg):
        suite = load_suite(suite_arg)
        name, text = suite.name, Path(suite_arg).read_text()
    elif suite_arg:
        if not NAME_RE.match(suite_arg):
            raise UsageError(f"--suite {suite_arg!r}: expected a lower_snake_case suite name or a .yaml file")
        name = suite_arg
    elif out_arg:
        db = Path(out_arg) / "store.sqlite"
        if not db.is_file():
            raise UsageError(
                f"--out {out_arg}: no results store ({db}); run a suite with --out {out_arg} first"
            )
        names = ResultStore(db).suites()
        if len(names) != 1:
            raise UsageError(
                f"--out {out_arg}: the store holds "
                + (f"suites {', '.join(names)}; pass --suite to pick one" if names else "no results yet")
            )
        name = names[0]
    else:
        raise UsageError(
            f"{command} needs --suite (a shipped suite name or a .yaml file, as for run) or --out (a "
            f"results dir; its suite is read from the store)"
        )
    out = Path(out_arg) if out_arg else Path("results") / name
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, expected a results directory")
    copy = out / "suite.yaml"
    if suite is None and copy.is_file():
        try:
            ran = load_suite(str(copy))
            if ran.name == name:
                suite, text = ran, copy.read_text()
        except UsageError:
            pass
    if suite is None and (SUITES_DIR / f"{name}.yaml").exists():
        suite = load_suite(name)
        text = (SUITES_DIR / f"{name}.yaml").read_text()
    return ResultsSuite(name, out, suite, text)
