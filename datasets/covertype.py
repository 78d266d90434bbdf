"""Forest covertype through scikit-learn's downloader and cache format, with the official split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets._keyed import stratified_70_10_20
from datasets.base import DataError, register_adapter
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


@register_adapter
class Covertype(TabularAdapter):
    """Forest covertype (Blackard & Dean 1999) through `sklearn.datasets.fetch_covtype`, which
    downloads the UCI archive once and caches it as `<data_home>/covertype/{samples,targets}_py3`.
    data_home is looked up as option `data_home`, `<data_dir>/tabular`, `<data_dir>/scikit_learn_data`,
    then scikit-learn's default; downloads go to `<data_dir>/tabular`. Split: the official one from
    covtype.info (rows in archive order: 11,340 train / 3,780 val / 565,892 test); option
    `split="stratified"` gives a name-seeded stratified 70/10/20 instead. The 4 wilderness and 40
    soil binary columns are read back as two categorical features."""

    extra_options = frozenset({"data_home", "split"})

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

    def _data_homes(self) -> list[Path]:
        from sklearn.datasets import get_data_home

        homes = [Path(self.options["data_home"])] if self.options.get("data_home") else []
        return homes + [self.data_dir / "tabular", self.data_dir / "scikit_learn_data", Path(get_data_home())]

    def read_raw(self):
        from sklearn.datasets import fetch_covtype

        homes = self._data_homes()
        cached = [
            h
            for h in homes
            if (h / "covertype" / "samples_py3").exists() and (h / "covertype" / "targets_py3").exists()
        ]
        home = cached[0] if cached else self.data_dir / "tabular"
        allow = self.options.get("download", True) and not cached
        where = home / "covertype"
        try:
            X, y = fetch_covtype(data_home=str(home), download_if_missing=allow, return_X_y=True)
        except OSError as e:
            raise DataError(
                f"covertype: scikit-learn's cache files samples_py3/targets_py3 not found under "
                f"any of {[str(h / 'covertype') for h in homes]} and they could not be "
                f"downloaded ({e}). Run sklearn.datasets.fetch_covtype("
                f"data_home='{self.data_dir / 'tabular'}') on a machine with internet and copy "
                f"{self.data_dir / 'tabular' / 'covertype'}"
            ) from e
        except Exception as e:  # a truncated or foreign joblib file
            raise DataError(
                f"{where}: cannot load scikit-learn's covertype cache ({type(e).__name__}: {e}); "
                f"delete samples_py3/targets_py3 there and fetch again"
            ) from e
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
