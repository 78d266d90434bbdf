"""UCR archive ECG sets (ECG200, ECG5000) in the archive's text format. Series are z-normalised per
series, the UCR archive's own convention (a no-op for files that are already normalised).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import DataError, Split, register_adapter
from datasets.ecg_base import ECGAdapter, zscore_rows
from datasets.files import Extract, remote
from datasets.splitting import stratified_holdout

UCR_PATH = "aeon-toolkit/{name}.zip"
UCR_URL = "https://www.timeseriesclassification.com/" + UCR_PATH


def read_ucr(
    path: Path, length: int | None = None, count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """UCR text format: one series per line, first value the class label; whitespace-, comma- or
    tab-separated. Ragged, non-numeric or wrong-count files raise a DataError naming the file."""
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    rows = []
    for i, ln in enumerate(lines, 1):
        try:
            rows.append([float(v) for v in ln.replace(",", " ").split()])
        except ValueError as e:
            raise DataError(
                f"{path}:{i}: non-numeric value ({e}); expected UCR format 'label v1 v2 …'"
            ) from e
        if len(rows[-1]) != len(rows[0]):
            raise DataError(
                f"{path}:{i}: {len(rows[-1]) - 1} values; line 1 has {len(rows[0]) - 1} "
                f"— the file is ragged or truncated"
            )
    if not rows:
        raise DataError(f"{path}: empty file")
    arr = np.asarray(rows)
    if length is not None and arr.shape[1] - 1 != length:
        raise DataError(f"{path}: series length {arr.shape[1] - 1}; expected {length}")
    if count is not None and arr.shape[0] != count:
        raise DataError(
            f"{path}: {arr.shape[0]} series; expected {count} — the file is truncated or not "
            f"the official one; delete it and download the official archive again"
        )
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: contains NaN/inf; expected equal-length complete series")
    return arr[:, 1:].astype(np.float32), arr[:, 0]


class UCRAdapter(ECGAdapter):
    """A UCR archive dataset (Dau et al. 2019) in its text format:
    `<data_dir>/ecg/ucr/<NAME>/<NAME>_TRAIN.txt|_TEST.txt` (also `<data_dir>/ucr/<NAME>/`, and the
    2018 archive's `.tsv`), else downloaded from timeseriesclassification.com (no checksum is
    published; the official counts and length are checked instead). Official train/test; val is a
    stratified 10 % of train (seed from the dataset name). Labels are remapped to 0..C-1 in sorted
    order of the original labels. Series are z-normalised per series. Option `length: L` resamples
    (linear) to L points, e.g. to share a spec with another ECG set for OOD or transfer."""

    ucr_name: ClassVar[str]
    counts: ClassVar[tuple[int, int]]
    series_length: ClassVar[int]
    fs = 100.0  # nominal: UCR beats carry no sampling rate; ~1 s per series is assumed
    extra_options = frozenset({"length"})
    dataset_version = "2018"  # the UCR archive 2018 release (aeon-toolkit's copies)

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        if "length" in self.options:
            self.spec = InputSpec("signal1d", (1, int(self.options["length"])), {"fs": self.fs})

    def files(self) -> tuple[Path, Path]:
        n = self.ucr_name
        for d in (self.data_dir / "ecg" / "ucr" / n, self.data_dir / "ucr" / n, self.data_dir / n):
            for ext in (".txt", ".tsv", ""):
                tr, te = d / f"{n}_TRAIN{ext}", d / f"{n}_TEST{ext}"
                if tr.exists() and te.exists():
                    return tr, te
        d = self.data_dir / "ecg" / "ucr" / n
        msg = (
            f"{n}: {n}_TRAIN.txt / {n}_TEST.txt not found in {d}; get them from "
            f"{UCR_URL.format(name=n)} (UCR archive) and put them there"
        )
        self.fetch_or_fail(msg)
        return d / f"{n}_TRAIN.txt", d / f"{n}_TEST.txt"

    def remote_files(self):
        # No checksum is published; the official counts and length are checked on load.
        n = self.ucr_name
        members = (f"{n}_TRAIN.txt", f"{n}_TEST.txt")
        return [
            remote(
                f"ecg/ucr/{n}/{n}.zip",
                "ucr",
                UCR_PATH.format(name=n),
                extract=Extract(into=f"ecg/ucr/{n}", members=members, flatten=True, provides=members),
            )
        ]

    def local_copy(self):
        n = self.ucr_name
        for d in (self.data_dir / "ecg" / "ucr" / n, self.data_dir / "ucr" / n, self.data_dir / n):
            for ext in (".txt", ".tsv", ""):
                if (d / f"{n}_TRAIN{ext}").exists() and (d / f"{n}_TEST{ext}").exists():
                    return d
        return None

    def load_splits(self):
        tr_path, te_path = self.files()
        n_tr, n_te = self.counts
        x_tr, y_tr_raw = read_ucr(tr_path, self.series_length, n_tr)
        x_te, y_te_raw = read_ucr(te_path, self.series_length, n_te)
        classes = sorted(set(y_tr_raw.tolist()))
        if len(classes) != self.task.num_classes:
            raise DataError(f"{tr_path}: {len(classes)} classes {classes}; expected {self.task.num_classes}")
        extra = sorted(set(y_te_raw.tolist()) - set(classes))
        if extra:
            raise DataError(f"{te_path}: labels {extra} do not occur in {tr_path.name}")
        remap = {c: i for i, c in enumerate(classes)}
        self.original_labels = classes
        y_tr = torch.tensor([remap[v] for v in y_tr_raw.tolist()], dtype=torch.int64)
        y_te = torch.tensor([remap[v] for v in y_te_raw.tolist()], dtype=torch.int64)
        x_tr, x_te = (zscore_rows(torch.from_numpy(a)).unsqueeze(1) for a in (x_tr, x_te))
        if "length" in self.options:
            L = self.spec.shape[1]
            x_tr, x_te = (
                torch.nn.functional.interpolate(a, size=L, mode="linear", align_corners=True)
                for a in (x_tr, x_te)
            )
        keep, hold = stratified_holdout(y_tr, 0.1, self.name)
        return {
            "train": Split(x_tr[keep], y_tr[keep]),
            "val": Split(x_tr[hold], y_tr[hold]),
            "test": Split(x_te, y_te),
        }


@register_adapter
class ECG200(UCRAdapter):
    """UCR ECG200 (Olszewski 2001): 100 train / 100 test beats of 96 points; label −1 (myocardial
    infarction) → 0, 1 (normal) → 1."""

    name = "ecg200"
    ucr_name = "ECG200"
    counts = (100, 100)
    series_length = 96
    spec = InputSpec("signal1d", (1, 96), {"fs": 100.0})
    task = TaskSpec(2, class_names=("abnormal", "normal"))
    ood_partners = {"near": [], "far": []}  # no registered set shares (1, 96); see option `length`


@register_adapter
class ECG5000(UCRAdapter):
    """UCR ECG5000 (BIDMC chf07 beats, Goldberger et al. 2000): 500 train / 4500 test, 140 points,
    5 classes (labels 1–5 → 0–4)."""

    name = "ecg5000"
    ucr_name = "ECG5000"
    counts = (500, 4500)
    series_length = 140
    spec = InputSpec("signal1d", (1, 140), {"fs": 100.0})
    task = TaskSpec(5, class_names=("N", "R-on-T PVC", "PVC", "SP or EB", "UB"))
    ood_partners = {"near": [], "far": []}  # no registered set shares (1, 140)
