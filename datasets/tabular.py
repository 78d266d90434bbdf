"""Tabular adapters: UCI Adult (official adult.data / adult.test), covertype (scikit-learn's
downloader and cache format), breast_cancer and wine (bundled with scikit-learn).

Encoding (one layout for every tabular set, recorded in `spec.extras`):
- numeric features first, standardised with mean/std fitted on the train split only; a missing
  numeric value becomes 0, i.e. the train mean;
- then each categorical feature as a one-hot group of `1 + #categories` columns, where column 0 of
  the group is a dedicated "missing" category (Adult's `?`, or a category never seen in the
  published schema). The vocabularies are the published schemas (adult.names, covtype.info), so
  the spec — and the encoder built from it — is known before any file is read.
One-hot keeps `benchmark.models.encoders.MLPEncoder` usable as is; SCARF's "replace a feature by a draw
from its empirical marginal" acts on whole groups, so a categorical value is replaced by another
row's category, never by a half one-hot.

Views (batched, generator-driven): SCARF corruption (Bahri et al. 2022) — each feature of each row
is, with probability `scarf_rate` (0.6, the paper's default), replaced by the same feature of a
uniformly drawn train row — then gaussian noise (σ = 0.1 in standardised units) on numeric columns.

Corruptions (DESIGN §3.5; keyed randomness, see datasets/_keyed.py, so severities are nested):
- gaussian_noise: σ ∈ {0.1, 0.25, 0.5, 0.75, 1.0} standardised units on numeric features;
- missing_values: {10, 20, 30, 40, 50} % of a row's features set missing and filled exactly as the
  loader fills a missing value (numeric → train mean, categorical → the missing category);
- category_swap: {10, 20, 30, 40, 50} % of a row's categorical features replaced by a different
  category of the schema (only registered for sets with categorical features).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets._keyed import keyed_normal, keyed_uniform, stratified_70_10_20
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.files import download
from datasets.splitting import stratified_holdout

NOISE_SIGMAS = (0.1, 0.25, 0.5, 0.75, 1.0)
MISSING_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)
SWAP_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)


def tabular_spec(numeric: list[str], categorical: dict[str, list[str]]) -> InputSpec:
    cards = [len(v) + 1 for v in categorical.values()]  # +1: the missing category (column 0)
    return InputSpec("tabular", (len(numeric) + sum(cards),), extras={
        "encoding": "one_hot",
        "num_numeric": len(numeric),
        "numeric_features": list(numeric),
        "categorical_features": list(categorical),
        "categorical_cardinalities": cards,
        "layout": "numeric columns first, then one one-hot group per categorical feature; "
                  "group column 0 = missing",
    })


class TabularAdapter(Adapter):
    """Shared encoding, views and corruptions. Subclasses implement `read_raw`, returning
    numeric (N, n) float64 with NaN for missing, categorical codes (N, m) int64 with 0 = missing and
    1..K the schema categories, int labels (N,), and {"train","val","test"} index arrays."""

    domain = "tabular"
    numeric: ClassVar[list[str]] = []
    categorical: ClassVar[dict[str, list[str]]] = {}
    scarf_rate: ClassVar[float] = 0.6
    view_noise: ClassVar[float] = 0.1

    @property
    def split_seed_name(self) -> str:
        """The name that seeds splits (a derived OOD partner keeps its base set's splits)."""
        return getattr(self, "split_base", None) or self.name

    def read_raw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    # ---- encoding -------------------------------------------------------------------------
    def load_splits(self) -> dict[str, Split]:
        num, cat, y, idx = self.read_raw()
        n_num, n_cat = len(self.numeric), len(self.categorical)
        if num.shape[1] != n_num or cat.shape[1] != n_cat:
            raise DataError(f"{self.name}: reader produced {num.shape[1]} numeric / {cat.shape[1]} "
                            f"categorical columns; expected {n_num} / {n_cat}")
        tr = idx["train"]
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(num[tr], axis=0) if n_num else np.zeros(0)
            std = np.nanstd(num[tr], axis=0) if n_num else np.ones(0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        self.numeric_mean, self.numeric_std = mean, std
        x = self.encode(num, cat)
        labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
        splits = {k: Split(x[torch.from_numpy(v)], labels[torch.from_numpy(v)]) for k, v in idx.items()}
        self._pool = {"cpu": self._feature_table(splits["train"].inputs)}  # SCARF's marginals: train rows only
        return splits

    def encode(self, num: np.ndarray, cat: np.ndarray) -> torch.Tensor:
        z = (num - self.numeric_mean) / self.numeric_std
        z = np.where(np.isnan(z), 0.0, z)  # missing numeric → train mean
        blocks = [torch.from_numpy(z.astype(np.float32))]
        for j, card in enumerate(self.spec.extras["categorical_cardinalities"]):
            blocks.append(torch.nn.functional.one_hot(torch.from_numpy(cat[:, j].astype(np.int64)),
                                                      card).float())
        return torch.cat(blocks, 1) if blocks else torch.empty(len(num), 0)

    # ---- layout helpers -------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def _groups(self) -> list[tuple[int, int]]:
        out, start = [], len(self.numeric)
        for card in self.spec.extras["categorical_cardinalities"]:
            out.append((start, start + card))
            start += card
        return out

    def _col2feat(self) -> torch.Tensor:
        """Column → feature index (a one-hot block maps to its categorical feature). Cached: views
        call it every step, and the layout is fixed once the cardinalities are known."""
        key = (len(self.numeric), tuple(self.spec.extras["categorical_cardinalities"]))
        cached = getattr(self, "_col2feat_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        cols = list(range(len(self.numeric)))
        for j, (a, b) in enumerate(self._groups()):
            cols += [len(self.numeric) + j] * (b - a)
        out = torch.tensor(cols, dtype=torch.long)
        self._col2feat_cache = (key, out)
        return out

    def _feature_table(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded rows as (numeric columns (N, n), categorical codes (N, m)); a code is the column of
        the group's one inside the categorical block, so a draw touches m values, not every column."""
        n_num = len(self.numeric)
        codes = [x[:, a:b].argmax(1) + (a - n_num) for a, b in self._groups()]
        return x[:, :n_num].contiguous(), (torch.stack(codes, 1) if codes else torch.zeros(len(x), 0, dtype=torch.long))

    def _group_membership(self, device, dtype) -> torch.Tensor:
        """(m, categorical columns) 0/1 matrix: feature j's one-hot group. A (rows, m) feature mask
        times it is the same mask per column — one small GEMM instead of an index_select."""
        n_num = len(self.numeric)
        key = (str(device), dtype)
        cache = self.__dict__.setdefault("_membership_cache", {})
        if key not in cache:
            groups = self._groups()
            width = (groups[-1][1] - n_num) if groups else 0
            m = torch.zeros(len(groups), width, dtype=dtype)
            for j, (a, b) in enumerate(groups):
                m[j, a - n_num:b - n_num] = 1
            cache[key] = m.to(device)
        return cache[key]

    def _marginal_pool(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        self.splits()
        key = str(device)
        if key not in self._pool:
            self._pool[key] = tuple(t.to(device) for t in self._pool["cpu"])
        return self._pool[key]

    # ---- views ----------------------------------------------------------------------------
    def views(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        pool_num, pool_codes = self._marginal_pool(x.device)
        b, n_num = x.shape[0], len(self.numeric)
        mask = (torch.rand(b, self.n_features, generator=generator) < self.scarf_rate).to(x.device)
        donors = torch.randint(0, len(pool_num), (b, self.n_features), generator=generator).to(x.device)
        # A masked feature takes its donor row's value; a categorical one its donor's whole one-hot
        # group (scattered from the donor's code), so a row never holds a half one-hot.
        out_num = torch.where(mask[:, :n_num], pool_num.gather(0, donors[:, :n_num]), x[:, :n_num])
        x_cat = x[:, n_num:]
        if pool_codes.shape[1]:
            donor_hot = torch.zeros_like(x_cat).scatter_(1, pool_codes.gather(0, donors[:, n_num:]), 1.0)
            masked_cols = mask[:, n_num:].to(x.dtype) @ self._group_membership(x.device, x.dtype)
            x_cat = torch.where(masked_cols > 0, donor_hot, x_cat)
        if n_num and self.view_noise > 0:
            noise = torch.randn(b, n_num, generator=generator).to(x.device, x.dtype)
            out_num = out_num + self.view_noise * noise
        return torch.cat([out_num, x_cat], 1)

    # ---- corruptions ----------------------------------------------------------------------
    def corruptions(self) -> dict[str, Any]:
        out = {}
        if self.numeric:
            out["gaussian_noise"] = self._gaussian_noise
        out["missing_values"] = self._missing_values
        if self.categorical:
            out["category_swap"] = self._category_swap
        return out

    @staticmethod
    def _check(severity: int) -> int:
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"severity must be 1..5, got {severity}")
        return severity - 1

    def _gaussian_noise(self, x, sample_indices, severity):
        s = self._check(severity)
        n = len(self.numeric)
        z = keyed_normal("tabular/gaussian_noise", sample_indices.cpu()[:, None], torch.arange(n)[None, :])
        out = x.clone()
        out[:, :n] += (NOISE_SIGMAS[s] * z).to(x.device, x.dtype)
        return out

    def _missing_values(self, x, sample_indices, severity):
        s = self._check(severity)
        u = keyed_uniform("tabular/missing_values", sample_indices.cpu()[:, None],
                          torch.arange(self.n_features)[None, :])
        miss = (u < MISSING_RATES[s]).to(x.device)
        out = x.clone()
        n = len(self.numeric)
        out[:, :n] = torch.where(miss[:, :n], torch.zeros((), device=x.device, dtype=x.dtype), out[:, :n])
        for j, (a, b) in enumerate(self._groups()):
            m = miss[:, n + j]
            out[m, a:b] = 0
            out[m, a] = 1  # the missing category, as the loader encodes `?`
        return out

    def _category_swap(self, x, sample_indices, severity):
        s = self._check(severity)
        m = len(self.categorical)
        keys = (sample_indices.cpu()[:, None], torch.arange(m)[None, :])
        u = keyed_uniform("tabular/category_swap", *keys)
        v = keyed_uniform("tabular/category_swap/value", *keys)
        swap = u < SWAP_RATES[s]
        out = x.clone()
        for j, (a, b) in enumerate(self._groups()):
            k = b - a - 1  # real categories 1..k
            if k < 2:
                continue
            cur = x[:, a:b].argmax(1).cpu()
            shift = 1 + (v[:, j] * (k - 1)).floor().long()
            new = torch.where(cur >= 1, 1 + (cur - 1 + shift) % k, 1 + (v[:, j] * k).floor().long())
            new = torch.where(swap[:, j], new, cur)
            out[:, a:b] = torch.nn.functional.one_hot(new, b - a).to(x.device, x.dtype)
        return out


# ==== UCI Adult ===============================================================================
ADULT_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
ADULT_FILES = {  # name: (MD5 of the UCI original, data rows)
    "adult.data": ("5d7c39d7b8804f071cdd1f2a7c460872", 32561),
    "adult.test": ("35238206dfdf7f1fe215bbb874adecdc", 16281),
}
ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                 "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                 "hours-per-week", "native-country", "income")
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = {  # the published schema, in adult.names order
    "workclass": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                  "State-gov", "Without-pay", "Never-worked"],
    "education": ["Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm",
                  "Assoc-voc", "9th", "7th-8th", "12th", "Masters", "1st-4th", "10th", "Doctorate",
                  "5th-6th", "Preschool"],
    "marital-status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                       "Married-spouse-absent", "Married-AF-spouse"],
    "occupation": ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                   "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
                   "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
                   "Armed-Forces"],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native-country": ["United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
                       "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China",
                       "Cuba", "Iran", "Honduras", "Philippines", "Italy", "Poland", "Jamaica",
                       "Vietnam", "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic",
                       "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala",
                       "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador",
                       "Trinadad&Tobago", "Peru", "Hong", "Holand-Netherlands"],
}
ADULT_LABELS = {"<=50K": 0, ">50K": 1}


def read_adult_file(path: Path, expected_rows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse one UCI Adult file (comma+space separated, 15 columns, `?` missing, test labels with a
    trailing '.', test's first line `|1x3 Cross validator`). Every malformed line is a DataError
    naming the file and line."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    num_pos = [ADULT_COLUMNS.index(c) for c in ADULT_NUMERIC]
    cat_pos = [ADULT_COLUMNS.index(c) for c in ADULT_CATEGORICAL]
    vocab = [{v: i + 1 for i, v in enumerate(vals)} for vals in ADULT_CATEGORICAL.values()]
    nums, cats, ys = [], [], []
    fix = f"re-download it from {ADULT_URL}{path.name}"
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("|"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(ADULT_COLUMNS):
            raise DataError(f"{path}: line {lineno} has {len(parts)} comma-separated columns; expected "
                            f"{len(ADULT_COLUMNS)} ({', '.join(ADULT_COLUMNS)}). The file is corrupt "
                            f"or not UCI Adult — {fix}")
        try:
            nums.append([np.nan if parts[p] == "?" else float(parts[p]) for p in num_pos])
        except ValueError as e:
            raise DataError(f"{path}: line {lineno}: non-numeric value in a numeric column ({e}); {fix}") from e
        row = []
        for p, voc in zip(cat_pos, vocab):
            v = parts[p]
            if v == "?":
                row.append(0)
            elif v in voc:
                row.append(voc[v])
            else:
                raise DataError(f"{path}: line {lineno}: {ADULT_COLUMNS[p]}={v!r} is not in the "
                                f"adult.names schema; {fix}")
        cats.append(row)
        lab = parts[-1].rstrip(".")
        if lab not in ADULT_LABELS:
            raise DataError(f"{path}: line {lineno}: label {parts[-1]!r}; expected one of "
                            f"{sorted(ADULT_LABELS)} (test labels may end with '.'); {fix}")
        ys.append(ADULT_LABELS[lab])
    if expected_rows is not None and len(ys) != expected_rows:
        raise DataError(f"{path}: {len(ys)} data rows; expected {expected_rows} — the file is "
                        f"truncated or altered; {fix}")
    return (np.asarray(nums, dtype=np.float64).reshape(-1, len(num_pos)),
            np.asarray(cats, dtype=np.int64).reshape(-1, len(cat_pos)), np.asarray(ys, dtype=np.int64))


def _md5_matches(path: Path, md5: str) -> bool:
    raw = path.read_bytes()
    return hashlib.md5(raw).hexdigest() == md5 or hashlib.md5(raw.replace(b"\r\n", b"\n")).hexdigest() == md5


@register_adapter
class Adult(TabularAdapter):
    """UCI Adult / Census Income (Kohavi 1996). Official split: adult.data (32561) for train+val,
    adult.test (16281) for test; val is a stratified 10 % of adult.data fixed by the name seed.
    Looked up in `<data_dir>/tabular/adult`, then `<data_dir>/adult`; else downloaded from UCI with
    the MD5s above (`download=False` to forbid)."""

    name = "adult"
    numeric = ADULT_NUMERIC
    categorical = ADULT_CATEGORICAL
    spec = tabular_spec(ADULT_NUMERIC, ADULT_CATEGORICAL)
    task = TaskSpec(2, class_names=("<=50K", ">50K"))
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)

    def locate(self) -> Path:
        cands = [self.data_dir / "tabular" / "adult", self.data_dir / "adult"]
        for d in cands:
            if all((d / f).exists() for f in ADULT_FILES):
                return d
        if not self.options.get("download", True):
            raise DataError(f"UCI Adult files {sorted(ADULT_FILES)} not found in any of "
                            f"{[str(c) for c in cands]}; put the official files there (from {ADULT_URL}) "
                            f"or allow downloading")
        for f, (md5, _) in ADULT_FILES.items():
            if not (cands[0] / f).exists():
                download(ADULT_URL + f, cands[0] / f, md5)
        return cands[0]

    def read_raw(self):
        root = self.locate()
        parts = {}
        for f, (md5, rows) in ADULT_FILES.items():
            parts[f] = read_adult_file(root / f, rows)
            if self.options.get("verify_checksum", True) and not _md5_matches(root / f, md5):
                raise DataError(f"{root / f}: parses, but its content differs from the official UCI "
                                f"file (MD5 {md5}); re-download it from {ADULT_URL}{f}")
        (n1, c1, y1), (n2, c2, y2) = parts["adult.data"], parts["adult.test"]
        train, val = stratified_holdout(torch.from_numpy(y1), 0.1, self.split_seed_name)
        n_tr = len(y1)
        return (np.concatenate([n1, n2]), np.concatenate([c1, c2]), np.concatenate([y1, y2]),
                {"train": train.numpy(), "val": val.numpy(), "test": np.arange(n_tr, n_tr + len(y2))})


# ==== covertype ===============================================================================
COVTYPE_NUMERIC = ["Elevation", "Aspect", "Slope", "Horizontal_Distance_To_Hydrology",
                   "Vertical_Distance_To_Hydrology", "Horizontal_Distance_To_Roadways",
                   "Hillshade_9am", "Hillshade_Noon", "Hillshade_3pm",
                   "Horizontal_Distance_To_Fire_Points"]
COVTYPE_CATEGORICAL = {"Wilderness_Area": [f"area_{i}" for i in range(1, 5)],
                       "Soil_Type": [f"soil_{i}" for i in range(1, 41)]}
COVTYPE_ROWS = 581012
COVTYPE_OFFICIAL = (11340, 3780)  # covtype.info: first 11,340 train, next 3,780 validation, rest test


@register_adapter
class Covertype(TabularAdapter):
    """Forest covertype (Blackard & Dean 1999) through `sklearn.datasets.fetch_covtype`, which
    downloads the UCI archive once and caches it as `<data_home>/covertype/{samples,targets}_py3`.
    data_home is looked up as option `data_home`, `<data_dir>/tabular`, `<data_dir>/scikit_learn_data`,
    then scikit-learn's default; downloads go to `<data_dir>/tabular`. Split: the official one from
    covtype.info (rows in archive order: 11,340 train / 3,780 val / 565,892 test); option
    `split="stratified"` gives a name-seeded stratified 70/10/20 instead. The 4 wilderness and 40
    soil binary columns are read back as two categorical features."""

    name = "covertype"
    numeric = COVTYPE_NUMERIC
    categorical = COVTYPE_CATEGORICAL
    spec = tabular_spec(COVTYPE_NUMERIC, COVTYPE_CATEGORICAL)
    task = TaskSpec(7, class_names=("spruce_fir", "lodgepole_pine", "ponderosa_pine", "cottonwood_willow",
                                    "aspen", "douglas_fir", "krummholz"))
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)

    def _data_homes(self) -> list[Path]:
        from sklearn.datasets import get_data_home

        homes = [Path(self.options["data_home"])] if self.options.get("data_home") else []
        return homes + [self.data_dir / "tabular", self.data_dir / "scikit_learn_data", Path(get_data_home())]

    def read_raw(self):
        from sklearn.datasets import fetch_covtype

        homes = self._data_homes()
        cached = [h for h in homes if (h / "covertype" / "samples_py3").exists()
                  and (h / "covertype" / "targets_py3").exists()]
        home = cached[0] if cached else self.data_dir / "tabular"
        allow = self.options.get("download", True) and not cached
        where = home / "covertype"
        try:
            X, y = fetch_covtype(data_home=str(home), download_if_missing=allow, return_X_y=True)
        except OSError as e:
            raise DataError(f"covertype: scikit-learn's cache files samples_py3/targets_py3 not found under "
                            f"any of {[str(h / 'covertype') for h in homes]} and they could not be downloaded "
                            f"({e}). Run sklearn.datasets.fetch_covtype(data_home='{self.data_dir / 'tabular'}') "
                            f"on a machine with internet and copy {self.data_dir / 'tabular' / 'covertype'}") from e
        except Exception as e:  # a truncated or foreign joblib file
            raise DataError(f"{where}: cannot load scikit-learn's covertype cache ({type(e).__name__}: {e}); "
                            f"delete samples_py3/targets_py3 there and fetch again") from e
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != 54 or len(y) != len(X):
            raise DataError(f"{where}/samples_py3: shape {X.shape} with {len(y)} targets; expected (N, 54) "
                            f"samples and N targets — delete the cache and fetch again")
        if not np.isin(y, np.arange(1, 8)).all():
            raise DataError(f"{where}/targets_py3: labels outside 1..7; delete the cache and fetch again")
        binary = X[:, 10:]
        if not np.isin(binary, (0, 1)).all():
            raise DataError(f"{where}/samples_py3: columns 11–54 must be 0/1 wilderness/soil indicators")
        cats = []
        for a, b in ((10, 14), (14, 54)):
            block = binary[:, a - 10:b - 10]
            code = block.argmax(1) + 1
            cats.append(np.where(block.sum(1) == 1, code, 0))  # none or several set → missing
        split = self.options.get("split", "official")
        if split == "official":
            if len(X) != COVTYPE_ROWS:
                raise DataError(f"{where}/samples_py3: {len(X)} rows; the official split needs all "
                                f"{COVTYPE_ROWS} rows in archive order — delete the cache and fetch again "
                                f"(or pass split='stratified')")
            a, b = COVTYPE_OFFICIAL
            idx = {"train": np.arange(a), "val": np.arange(a, a + b), "test": np.arange(a + b, len(X))}
        elif split == "stratified":
            tr, va, te = stratified_70_10_20(torch.from_numpy(y.astype(np.int64)), self.split_seed_name)
            idx = {"train": tr.numpy(), "val": va.numpy(), "test": te.numpy()}
        else:
            raise ValueError(f"covertype: split must be 'official' or 'stratified', got {split!r}")
        return X[:, :10].astype(np.float64), np.stack(cats, 1), y.astype(np.int64) - 1, idx


# ==== scikit-learn bundled sets =================================================================
class _SklearnBundled(TabularAdapter):
    """A numeric set shipped inside scikit-learn; stratified 70/10/20 split seeded by the name."""

    loader: ClassVar[str]
    expected: ClassVar[tuple[int, ...]]  # per-class counts

    def read_raw(self):
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, self.loader)(return_X_y=True)
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
        counts = tuple(np.bincount(y).tolist())
        if X.shape != (sum(self.expected), len(self.numeric)) or counts != self.expected:
            raise DataError(f"sklearn.datasets.{self.loader}: shape {X.shape}, class counts {counts}; "
                            f"expected ({sum(self.expected)}, {len(self.numeric)}) and {self.expected} — "
                            f"reinstall scikit-learn")
        tr, va, te = stratified_70_10_20(torch.from_numpy(y), self.split_seed_name)
        return X, np.zeros((len(X), 0), dtype=np.int64), y, {"train": tr.numpy(), "val": va.numpy(),
                                                               "test": te.numpy()}


BREAST_CANCER_FEATURES = [f"{stat} {f}" for stat in ("mean", "error", "worst") for f in (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension")]
WINE_FEATURES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                 "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                 "od280/od315_of_diluted_wines", "proline"]


@register_adapter
class BreastCancer(_SklearnBundled):
    """Breast Cancer Wisconsin (Diagnostic), 569 × 30 (212 malignant / 357 benign)."""

    name = "breast_cancer"
    loader = "load_breast_cancer"
    expected = (212, 357)
    numeric = BREAST_CANCER_FEATURES
    categorical = {}
    spec = tabular_spec(BREAST_CANCER_FEATURES, {})
    task = TaskSpec(2, class_names=("malignant", "benign"))
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)


@register_adapter
class Wine(_SklearnBundled):
    """UCI Wine recognition, 178 × 13, 3 cultivars (59 / 71 / 48)."""

    name = "wine"
    loader = "load_wine"
    expected = (59, 71, 48)
    numeric = WINE_FEATURES
    categorical = {}
    spec = tabular_spec(WINE_FEATURES, {})
    task = TaskSpec(3, class_names=("class_0", "class_1", "class_2"))
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)


# ==== OOD partners ============================================================================
# No two tabular sets share a feature layout, so each gets a "near" partner built from its own
# files: `<name>_shuffled`, every feature (a numeric column or a whole one-hot group) permuted
# independently across the rows of each split — realistic marginals, joint structure destroyed
# (the product of marginals SCARF samples from). The OOD protocol adds its own synthetic far noise.
def _shuffled_tabular_partner(base: type[TabularAdapter]) -> type[TabularAdapter]:
    def load_splits(self):
        from datasets.splitting import name_seed

        splits = base.load_splits(self)
        cols = self._col2feat()
        out = {}
        for k, v in splits.items():
            g = torch.Generator().manual_seed(name_seed("ood-shuffled", self.name, k))
            perms = torch.stack([torch.randperm(len(v), generator=g) for _ in range(self.n_features)], 1)
            rows = perms[:, cols]
            out[k] = Split(v.inputs[rows, torch.arange(v.inputs.shape[1]).expand_as(rows)], v.labels)
        return out

    cls = type(base.__name__ + "Shuffled", (base,), {
        "__doc__": f"OOD partner of {base.name}: each feature permuted independently across rows.",
        "name": base.name + "_shuffled", "ood_partners": {"near": [], "far": []},
        "split_base": base.name, "load_splits": load_splits, "__module__": __name__,
    })
    register_adapter(cls)
    base.ood_partners = {"near": [cls.name], "far": []}
    return cls


for _base in (Adult, Covertype, BreastCancer, Wine):
    _shuffled_tabular_partner(_base)
