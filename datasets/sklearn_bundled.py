"""The numeric sets shipped inside scikit-learn: breast_cancer and wine."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets._keyed import stratified_70_10_20
from datasets.base import DataError, register_adapter
from datasets.tabular_base import TabularAdapter, shuffled_tabular_partner, tabular_spec


class _SklearnBundled(TabularAdapter):
    """A numeric set shipped inside scikit-learn; stratified 70/10/20 split seeded by the name."""

    loader: ClassVar[str]
    expected: ClassVar[tuple[int, ...]]  # per-class counts
    protocol_note = "no official split: a stratified 70/10/20 split"

    @classmethod
    def version(cls, options=None) -> str:
        from datasets.digits import sklearn_version

        return sklearn_version()

    def read_raw(self):
        import sklearn.datasets

        X, y = getattr(sklearn.datasets, self.loader)(return_X_y=True)
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
        counts = tuple(np.bincount(y).tolist())
        if X.shape != (sum(self.expected), len(self.numeric)) or counts != self.expected:
            raise DataError(
                f"sklearn.datasets.{self.loader}: shape {X.shape}, class counts {counts}; "
                f"expected ({sum(self.expected)}, {len(self.numeric)}) and {self.expected} — "
                f"reinstall scikit-learn"
            )
        tr, va, te = stratified_70_10_20(torch.from_numpy(y), self.split_seed_name)
        return (
            X,
            np.zeros((len(X), 0), dtype=np.int64),
            y,
            {"train": tr.numpy(), "val": va.numpy(), "test": te.numpy()},
        )


BREAST_CANCER_FEATURES = [
    f"{stat} {f}"
    for stat in ("mean", "error", "worst")
    for f in (
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    )
]
WINE_FEATURES = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280/od315_of_diluted_wines",
    "proline",
]


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


for _base in (BreastCancer, Wine):
    shuffled_tabular_partner(_base)
