"""PTB-XL 12-lead ECGs, superdiagnostic multi-label task. Records are z-scored per record and lead
(the record's median and std).
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import DataError, Split, register_adapter
from datasets.ecg_base import ECGAdapter, cached_tensors, files_key

PTBXL_VERSION = "1.0.3"
PTBXL_ZIP = f"ptb-xl-a-large-publicly-available-electrocardiography-dataset-{PTBXL_VERSION}.zip"
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
PTBXL_LEADS = 12


@register_adapter
class PTBXL(ECGAdapter):
    """PTB-XL (Wagner et al. 2020): 12-lead 10-s ECGs, superdiagnostic multi-label task
    (NORM, MI, STTC, CD, HYP) as in Strodthoff et al. 2021: a record's classes are the
    `diagnostic_class` of its scp_codes whose `diagnostic` flag is 1 in scp_statements.csv; records
    with no superclass are dropped. Official folds: strat_fold 1–8 train, 9 val, 10 test.

    Root `<data_dir>/ecg/ptbxl` or `<data_dir>/ptb-xl` with ptbxl_database.csv,
    scp_statements.csv and records100/ (records500/ with option `sampling_rate: 500`), read with
    wfdb.rdsamp. Missing → PhysioNet's release zip of v1.0.3 is downloaded and unpacked, every member
    checked against PhysioNet's published SHA256SUMS.txt.
    Each record is z-scored per lead. The parsed tensor is cached atomically (~/.cache/sslbench/cache)
    keyed by the CSVs' size and mtime. Option `strict` (default true) requires all 21,799 records of
    v1.0.3 to be listed."""

    name = "ptbxl"
    fs = 100.0
    spec = InputSpec("signal1d", (PTBXL_LEADS, 1000), {"fs": 100})
    task = TaskSpec(5, multilabel=True, class_names=SUPERCLASSES)
    ood_partners = {"near": [], "far": []}
    extra_options = frozenset({"sampling_rate", "strict"})
    dataset_version = PTBXL_VERSION

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        self.sampling_rate = int(self.options.get("sampling_rate", 100))
        if self.sampling_rate not in (100, 500):
            raise ValueError("ptbxl: option sampling_rate must be 100 or 500")
        self.fs = float(self.sampling_rate)
        self.spec = InputSpec("signal1d", (PTBXL_LEADS, 10 * self.sampling_rate), {"fs": self.sampling_rate})

    def root(self) -> Path:
        cands = [self.data_dir / "ecg" / "ptbxl", self.data_dir / "ptb-xl", self.data_dir / "ptbxl"]
        for d in cands:
            if (d / "ptbxl_database.csv").exists():
                return d
        msg = (
            f"PTB-XL not found in any of {[str(c) for c in cands]} (expected ptbxl_database.csv, "
            f"scp_statements.csv and records{self.sampling_rate}/); get https://physionet.org/content/ptb-xl/1.0.3/"
        )
        self.fetch_or_fail(msg)
        return cands[0]

    def remote_files(self):
        """PhysioNet's release zip (one request instead of ~43,600 per-file ones), every member
        checked against the database's SHA256SUMS.txt, which is fetched first."""
        from datasets.files import Extract, remote

        sums = "ecg/ptbxl/SHA256SUMS.txt"
        return [
            remote(sums, "physionet", f"files/ptb-xl/{PTBXL_VERSION}/SHA256SUMS.txt"),
            remote(
                f"ecg/{PTBXL_ZIP}",
                "physionet",
                f"static/published-projects/ptb-xl/{PTBXL_ZIP}",
                extract=Extract(
                    into="ecg/ptbxl",
                    strip="*",
                    sums_from=sums,
                    provides=("ptbxl_database.csv", "scp_statements.csv"),
                ),
            ),
        ]

    def local_copy(self):
        cands = [self.data_dir / "ecg" / "ptbxl", self.data_dir / "ptb-xl", self.data_dir / "ptbxl"]
        return next((d for d in cands if (d / "ptbxl_database.csv").exists()), None)

    def _read_tables(self, root: Path):
        db, st = root / "ptbxl_database.csv", root / "scp_statements.csv"
        try:
            with open(st, newline="") as f:
                rows = list(csv.DictReader(f))
            key = next(iter(rows[0])) if rows else ""
            diag = {
                r[key]: r["diagnostic_class"]
                for r in rows
                if r.get("diagnostic", "").strip() in ("1", "1.0") and r.get("diagnostic_class")
            }
        except (OSError, KeyError, StopIteration, csv.Error, UnicodeDecodeError) as e:
            raise DataError(
                f"{st}: cannot read scp_statements.csv ({type(e).__name__}: {e}); expected "
                f"columns including diagnostic and diagnostic_class"
            ) from e
        try:
            with open(db, newline="") as f:
                recs = list(csv.DictReader(f))
            fcol = "filename_lr" if self.sampling_rate == 100 else "filename_hr"
            out = []
            for r in recs:
                codes = ast.literal_eval(r["scp_codes"])
                classes = sorted({diag[c] for c in codes if c in diag})
                out.append((int(float(r["ecg_id"])), int(float(r["strat_fold"])), r[fcol], classes))
        except (OSError, KeyError, ValueError, SyntaxError, csv.Error, UnicodeDecodeError) as e:
            raise DataError(
                f"{db}: cannot parse ptbxl_database.csv ({type(e).__name__}: {e}); expected "
                f"columns ecg_id, scp_codes, strat_fold, filename_lr/_hr"
            ) from e
        if self.options.get("strict", True) and len(out) != 21799:
            raise DataError(
                f"{db}: {len(out)} records; expected the 21,799 of PTB-XL 1.0.3 "
                f"(pass strict: false for a subset)"
            )
        return out

    def load_splits(self):
        root = self.root()
        table = [r for r in self._read_tables(root) if r[3]]  # records with ≥1 superclass
        T = self.spec.shape[1]

        def build():
            import wfdb

            x = torch.empty(len(table), PTBXL_LEADS, T)
            for i, (_, _, fname, _) in enumerate(table):
                path = root / fname
                try:
                    sig, meta = wfdb.rdsamp(str(path))
                except Exception as e:
                    raise DataError(
                        f"{path}.hea/.dat: cannot read WFDB record ({type(e).__name__}: {e})"
                    ) from e
                if sig.shape != (T, PTBXL_LEADS) or meta["fs"] != self.sampling_rate:
                    raise DataError(
                        f"{path}.dat: signal {sig.shape} at {meta['fs']} Hz; expected "
                        f"({T}, {PTBXL_LEADS}) at {self.sampling_rate} Hz"
                    )
                s = torch.from_numpy(np.nan_to_num(sig.T.astype(np.float32)))
                x[i] = (s - s.median(-1, keepdim=True).values) / s.std(-1, keepdim=True).clamp_min(1e-6)
            return {"x": x}

        files = [root / "ptbxl_database.csv", root / "scp_statements.csv"]
        for _, _, fname, _ in table:
            files += [root / f"{fname}.hea", root / f"{fname}.dat"]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise DataError(f"PTB-XL: {len(missing)} record file(s) missing, e.g. {missing[:3]}")
        x = cached_tensors("ptbxl-" + files_key(files, self.sampling_rate, len(table)), build)["x"]
        y = torch.zeros(len(table), len(SUPERCLASSES))
        for i, r in enumerate(table):
            for c in r[3]:
                y[i, SUPERCLASSES.index(c)] = 1.0
        fold = torch.tensor([r[1] for r in table])
        sel = {"train": fold <= 8, "val": fold == 9, "test": fold == 10}
        return {k: Split(x[m], y[m]) for k, m in sel.items()}
