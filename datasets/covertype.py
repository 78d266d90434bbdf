"""Forest covertype (UCI dataset 31) from covtype.data.gz or scikit-learn's cache, with the official
split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets._keyed import stratified_70_10_20
from datasets.base import DataError, register_adapter
from datasets.files import offline_hint
from datasets.tabular_base import TabularAdapter, shuffled_tabular_partner, tabular_spec

COVTYPE_NUMERIC = [
    "Elevation",
    "Aspect",
    "Slope",
    "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways",
    "Hillshade_9am",
    "Hillshade_Noon",
    "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points",
]
COVTYPE_CATEGORICAL = {
    "Wilderness_Area": [f"area_{i}" for i in range(1, 5)],
    "Soil_Type": [f"soil_{i}" for i in range(1, 41)],
}
COVTYPE_ROWS = 581012
COVTYPE_OFFICIAL = (11340, 3780)  # covtype.info: first 11,340 train, next 3,780 validation, rest test
COVTYPE_GZ = "tabular/covertype/covtype.data.gz"
COVTYPE_SHA256 = "614360d0257557dd1792834a85a1cdebfadc3c4f30b011d56afee7ffb5b15771"  # sklearn's record


@register_adapter
class Covertype(TabularAdapter):
    """Forest covertype (Blackard & Dean 1999). Read from scikit-learn's cache
    (`<data_home>/covertype/{samples,targets}_py3`, data_home looked up as option `data_home`,
    `<data_dir>/tabular`, `<data_dir>/scikit_learn_data`, then scikit-learn's default), else from
    `<data_dir>/tabular/covertype/covtype.data.gz`, downloaded when missing (scikit-learn's figshare
    copy, SHA-256-checked, with UCI's zip as the fallback). Split: the official one from
    covtype.info (rows in archive order: 11,340 train / 3,780 val / 565,892 test); option
    `split="stratified"` gives a name-seeded stratified 70/10/20 instead. The 4 wilderness and 40
    soil binary columns are read back as two categorical features."""

    name = "covertype"
    numeric = COVTYPE_NUMERIC
    categorical = COVTYPE_CATEGORICAL
    spec = tabular_spec(COVTYPE_NUMERIC, COVTYPE_CATEGORICAL)
    task = TaskSpec(
        7,
        class_names=(
            "spruce_fir",
            "lodgepole_pine",
            "ponderosa_pine",
            "cottonwood_willow",
            "aspen",
            "douglas_fir",
            "krummholz",
        ),
    )
    ood_partners = {"near": [], "far": []}  # no registered set shares this spec (feature layout)

    extra_options = frozenset({"data_home", "split"})
    dataset_version = "uci-31"  # UCI Machine Learning Repository dataset 31 (the 1998 covtype.data)

    def remote_files(self):
        # scikit-learn's figshare copy (its SHA-256 as scikit-learn records it) first; figshare often
        # answers 403, so UCI's own zip (covtype.data.gz inside; no checksum published, the reader
        # checks its 581,012 × 55 values) is the fallback.
        from datasets.files import Location, remote

        return [
            remote(
                COVTYPE_GZ,
                "figshare",
                "files/5976039",
                f"sha256:{COVTYPE_SHA256}",
                fallbacks=(Location("uci", "static/public/31/covertype.zip", member="covtype.data.gz"),),
            )
        ]

    def local_copy(self):
        for h in self._data_homes():
            if (h / "covertype" / "samples_py3").exists() and (h / "covertype" / "targets_py3").exists():
                return h / "covertype"
        gz = self.data_dir / COVTYPE_GZ
        return gz.parent if gz.is_file() else None

    def _data_homes(self) -> list[Path]:
        from sklearn.datasets import get_data_home

        homes = [Path(self.options["data_home"])] if self.options.get("data_home") else []
        return homes + [self.data_dir / "tabular", self.data_dir / "scikit_learn_data", Path(get_data_home())]

    def _read_sklearn_cache(self, home: Path):
        from sklearn.datasets import fetch_covtype

        try:
            return fetch_covtype(data_home=str(home), download_if_missing=False, return_X_y=True)
        except Exception as e:  # a truncated or foreign joblib file
            raise DataError(
                f"{home / 'covertype'}: cannot load scikit-learn's covertype cache ({type(e).__name__}: "
                f"{e}); delete samples_py3/targets_py3 there and fetch again"
            ) from e

    def _read_gz(self, gz: Path):
        import pandas as pd

        try:
            arr = pd.read_csv(gz, header=None, compression="gzip", dtype=np.int64).to_numpy()
        except Exception as e:
            raise DataError(
                f"{gz}: not readable as covtype.data ({type(e).__name__}: {e}); expected 55 comma-separated "
                f"integers per line — the file is truncated or corrupt, delete it and fetch again"
            ) from e
        if arr.ndim != 2 or arr.shape[1] != 55:
            raise DataError(
                f"{gz}: {arr.shape[1]} columns; expected 55 (54 features + cover type) — delete it"
            )
        return arr[:, :54].astype(np.float64), arr[:, 54]

    def read_raw(self):
        local = self.local_copy()
        if local is not None and local.name == "covertype" and (local / "samples_py3").exists():
            where = local
            X, y = self._read_sklearn_cache(local.parent)
        else:
            gz = self.data_dir / COVTYPE_GZ
            if not gz.is_file():
                msg = (
                    f"covertype: neither scikit-learn's cache (samples_py3/targets_py3 under any of "
                    f"{[str(h / 'covertype') for h in self._data_homes()]}) nor {gz} found"
                )
                if not self.options.get("download", True):
                    raise DataError(msg + "; put covtype.data.gz there (from UCI) or allow downloading")
                with offline_hint(msg):
                    self.fetch_files()
            where = gz
            X, y = self._read_gz(gz)
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != 54 or len(y) != len(X):
            raise DataError(
                f"{where}/samples_py3: shape {X.shape} with {len(y)} targets; expected (N, 54) "
                f"samples and N targets — delete the cache and fetch again"
            )
        if not np.isin(y, np.arange(1, 8)).all():
            raise DataError(f"{where}/targets_py3: labels outside 1..7; delete the cache and fetch again")
        binary = X[:, 10:]
        if not np.isin(binary, (0, 1)).all():
            raise DataError(f"{where}/samples_py3: columns 11–54 must be 0/1 wilderness/soil indicators")
        cats = []
        for a, b in ((10, 14), (14, 54)):
            block = binary[:, a - 10 : b - 10]
            code = block.argmax(1) + 1
            cats.append(np.where(block.sum(1) == 1, code, 0))  # none or several set → missing
        split = self.options.get("split", "official")
        if split == "official":
            if len(X) != COVTYPE_ROWS:
                raise DataError(
                    f"{where}/samples_py3: {len(X)} rows; the official split needs all "
                    f"{COVTYPE_ROWS} rows in archive order — delete the cache and fetch again "
                    f"(or pass split='stratified')"
                )
            a, b = COVTYPE_OFFICIAL
            idx = {"train": np.arange(a), "val": np.arange(a, a + b), "test": np.arange(a + b, len(X))}
        elif split == "stratified":
            tr, va, te = stratified_70_10_20(torch.from_numpy(y.astype(np.int64)), self.split_seed_name)
            idx = {"train": tr.numpy(), "val": va.numpy(), "test": te.numpy()}
        else:
            raise ValueError(f"covertype: split must be 'official' or 'stratified', got {split!r}")
        return X[:, :10].astype(np.float64), np.stack(cats, 1), y.astype(np.int64) - 1, idx


shuffled_tabular_partner(Covertype)
