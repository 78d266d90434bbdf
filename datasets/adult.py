"""UCI Adult / Census Income from the official adult.data / adult.test, checked against their MD5s."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets.base import DataError, register_adapter
from datasets.files import Extract, remote
from datasets.splitting import stratified_holdout
from datasets.tabular_base import TabularAdapter, shuffled_tabular_partner, tabular_spec

# UCI moved the dataset: the old machine-learning-databases/adult/ path answers 404; it now ships as
# one zip (adult.data, adult.test, adult.names, ...), whose members we check by their MD5s below.
ADULT_ZIP_PATH = "static/public/2/adult.zip"
ADULT_URL = "https://archive.ics.uci.edu/" + ADULT_ZIP_PATH
ADULT_FILES = {  # name: (MD5 of the UCI original, data rows)
    "adult.data": ("5d7c39d7b8804f071cdd1f2a7c460872", 32561),
    "adult.test": ("35238206dfdf7f1fe215bbb874adecdc", 16281),
}
ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
ADULT_CATEGORICAL = {  # the published schema, in adult.names order
    "workclass": [
        "Private",
        "Self-emp-not-inc",
        "Self-emp-inc",
        "Federal-gov",
        "Local-gov",
        "State-gov",
        "Without-pay",
        "Never-worked",
    ],
    "education": [
        "Bachelors",
        "Some-college",
        "11th",
        "HS-grad",
        "Prof-school",
        "Assoc-acdm",
        "Assoc-voc",
        "9th",
        "7th-8th",
        "12th",
        "Masters",
        "1st-4th",
        "10th",
        "Doctorate",
        "5th-6th",
        "Preschool",
    ],
    "marital-status": [
        "Married-civ-spouse",
        "Divorced",
        "Never-married",
        "Separated",
        "Widowed",
        "Married-spouse-absent",
        "Married-AF-spouse",
    ],
    "occupation": [
        "Tech-support",
        "Craft-repair",
        "Other-service",
        "Sales",
        "Exec-managerial",
        "Prof-specialty",
        "Handlers-cleaners",
        "Machine-op-inspct",
        "Adm-clerical",
        "Farming-fishing",
        "Transport-moving",
        "Priv-house-serv",
        "Protective-serv",
        "Armed-Forces",
    ],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native-country": [
        "United-States",
        "Cambodia",
        "England",
        "Puerto-Rico",
        "Canada",
        "Germany",
        "Outlying-US(Guam-USVI-etc)",
        "India",
        "Japan",
        "Greece",
        "South",
        "China",
        "Cuba",
        "Iran",
        "Honduras",
        "Philippines",
        "Italy",
        "Poland",
        "Jamaica",
        "Vietnam",
        "Mexico",
        "Portugal",
        "Ireland",
        "France",
        "Dominican-Republic",
        "Laos",
        "Ecuador",
        "Taiwan",
        "Haiti",
        "Columbia",
        "Hungary",
        "Guatemala",
        "Nicaragua",
        "Scotland",
        "Thailand",
        "Yugoslavia",
        "El-Salvador",
        "Trinadad&Tobago",
        "Peru",
        "Hong",
        "Holand-Netherlands",
    ],
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
    fix = f"re-download it (in {ADULT_URL})"
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("|"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != len(ADULT_COLUMNS):
            raise DataError(
                f"{path}: line {lineno} has {len(parts)} comma-separated columns; expected "
                f"{len(ADULT_COLUMNS)} ({', '.join(ADULT_COLUMNS)}). The file is corrupt "
                f"or not UCI Adult — {fix}"
            )
        try:
            nums.append([np.nan if parts[p] == "?" else float(parts[p]) for p in num_pos])
        except ValueError as e:
            raise DataError(
                f"{path}: line {lineno}: non-numeric value in a numeric column ({e}); {fix}"
            ) from e
        row = []
        for p, voc in zip(cat_pos, vocab):
            v = parts[p]
            if v == "?":
                row.append(0)
            elif v in voc:
                row.append(voc[v])
            else:
                raise DataError(
                    f"{path}: line {lineno}: {ADULT_COLUMNS[p]}={v!r} is not in the adult.names schema; {fix}"
                )
        cats.append(row)
        lab = parts[-1].rstrip(".")
        if lab not in ADULT_LABELS:
            raise DataError(
                f"{path}: line {lineno}: label {parts[-1]!r}; expected one of "
                f"{sorted(ADULT_LABELS)} (test labels may end with '.'); {fix}"
            )
        ys.append(ADULT_LABELS[lab])
    if expected_rows is not None and len(ys) != expected_rows:
        raise DataError(
            f"{path}: {len(ys)} data rows; expected {expected_rows} — the file is truncated or altered; {fix}"
        )
    return (
        np.asarray(nums, dtype=np.float64).reshape(-1, len(num_pos)),
        np.asarray(cats, dtype=np.int64).reshape(-1, len(cat_pos)),
        np.asarray(ys, dtype=np.int64),
    )


def _md5_matches(path: Path, md5: str) -> bool:
    raw = path.read_bytes()
    return hashlib.md5(raw).hexdigest() == md5 or hashlib.md5(raw.replace(b"\r\n", b"\n")).hexdigest() == md5


@register_adapter
class Adult(TabularAdapter):
    """UCI Adult / Census Income (Kohavi 1996). Official split: adult.data (32561) for train+val,
    adult.test (16281) for test; val is a stratified 10 % of adult.data fixed by the name seed.
    Looked up in `<data_dir>/tabular/adult`, then `<data_dir>/adult`; else UCI's adult.zip is
    downloaded and unpacked, its files checked against the MD5s above (`download=False` to forbid)."""

    name = "adult"
    numeric = ADULT_NUMERIC
    categorical = ADULT_CATEGORICAL
    spec = tabular_spec(ADULT_NUMERIC, ADULT_CATEGORICAL)
    task = TaskSpec(2, class_names=("<=50K", ">50K"))
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)

    extra_options = frozenset({"verify_checksum"})
    dataset_version = "uci-2"  # UCI Machine Learning Repository dataset 2 (the 1996 files)

    def remote_files(self):
        # UCI publishes no checksum for the zip; its adult.data / adult.test are checked against
        # the originals' MD5s when read.
        members = ("adult.data", "adult.test", "adult.names")
        return [
            remote(
                "tabular/adult/adult.zip",
                "uci",
                ADULT_ZIP_PATH,
                extract=Extract(
                    into="tabular/adult", members=members, flatten=True, provides=tuple(ADULT_FILES)
                ),
            )
        ]

    def local_copy(self):
        cands = [self.data_dir / "tabular" / "adult", self.data_dir / "adult"]
        return next((d for d in cands if all((d / f).exists() for f in ADULT_FILES)), None)

    def locate(self) -> Path:
        cands = [self.data_dir / "tabular" / "adult", self.data_dir / "adult"]
        found = self.local_copy()
        if found is not None:
            return found
        msg = (
            f"UCI Adult files {sorted(ADULT_FILES)} not found in any of "
            f"{[str(c) for c in cands]}; put the official files there (from {ADULT_URL}) "
            f"or allow downloading"
        )
        self.fetch_or_fail(msg)
        return cands[0]

    def read_raw(self):
        root = self.locate()
        parts = {}
        for f, (md5, rows) in ADULT_FILES.items():
            parts[f] = read_adult_file(root / f, rows)
            if self.options.get("verify_checksum", True) and not _md5_matches(root / f, md5):
                raise DataError(
                    f"{root / f}: parses, but its content differs from the official UCI "
                    f"file (MD5 {md5}); re-download it (in {ADULT_URL})"
                )
        (n1, c1, y1), (n2, c2, y2) = parts["adult.data"], parts["adult.test"]
        train, val = stratified_holdout(torch.from_numpy(y1), 0.1, self.split_seed_name)
        n_tr = len(y1)
        return (
            np.concatenate([n1, n2]),
            np.concatenate([c1, c2]),
            np.concatenate([y1, y2]),
            {"train": train.numpy(), "val": val.numpy(), "test": np.arange(n_tr, n_tr + len(y2))},
        )


shuffled_tabular_partner(Adult)
