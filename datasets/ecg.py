"""ECG adapters: MIT-BIH Arrhythmia beats, UCR ECG200 / ECG5000, PTB-XL. Spec "signal1d" (C, T).

Normalisation (documented per adapter): MIT-BIH and PTB-XL are z-scored per record and lead (the
record's median and std), so gain/offset differences between recordings are removed while the
beat-to-beat morphology within a record is kept; UCR series are z-normalised per series, the UCR
archive's own convention (a no-op for files that are already normalised).

Views: `datasets.signal_views.ecg_view` (crop-stretch, amplitude scale, baseline wander, noise,
segment mask). Corruptions: `datasets.signal_corruptions.ecg_corruptions`.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, default_data_dir, register_adapter
from datasets.signal_corruptions import ecg_corruptions
from datasets.signal_views import ecg_view
from datasets.splitting import name_seed, stratified_holdout


class ECGAdapter(Adapter):
    domain = "ecg"
    fs: ClassVar[float] = 360.0  # sampling rate used by views/corruptions (nominal for UCR)


    def views(self, x, generator):
        return ecg_view(x, generator, self.fs)

    def corruptions(self):
        return ecg_corruptions(self.fs, self.spec.shape[0])


def _zscore_rows(x: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    sd = x.std(-1, keepdim=True).clamp_min(1e-6)
    return (x - mu) / sd


def _cache_dir() -> Path:
    env = os.environ.get("SSLBENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sslbench" / "cache"


def _files_key(paths: list[Path], *extra) -> str:
    h = hashlib.sha256(repr(extra).encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _cached(key: str, build):
    """Load a cached tensor dict by key, or build and save it atomically (a damaged cache file is
    rebuilt, never trusted)."""
    from benchmark.core.io import atomic_torch_save, safe_torch_load

    path = _cache_dir() / f"{key}.pt"
    if path.exists():
        try:
            return safe_torch_load(path)
        except Exception:
            path.unlink(missing_ok=True)
    obj = build()
    try:
        atomic_torch_save(path, obj)
    except OSError:
        pass  # an unwritable cache only costs time
    return obj


def physionet_fetch(db: str, dest: Path, files: list[str], want, what: str) -> None:
    """Download `files` and every file of SHA256SUMS.txt accepted by `want` from PhysioNet database
    `db` (e.g. "mitdb/1.0.0") with wfdb's client, then check each against PhysioNet's published
    SHA256SUMS.txt; a mismatching file is deleted and named. A failed download removes the folders
    it created."""
    import wfdb

    from datasets.audio import created_dirs, remove_empty
    from datasets.files import file_digest

    new = created_dirs(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        wfdb.dl_files(db, str(dest), ["SHA256SUMS.txt"])
        sums = {}
        for ln in (dest / "SHA256SUMS.txt").read_text().splitlines():
            if ln.strip():
                digest, name = ln.split(maxsplit=1)
                sums[name.strip()] = digest
        wanted = list(files) + sorted(k for k in sums if want(k) and k not in files)
        wfdb.dl_files(db, str(dest), wanted)
    except Exception as e:
        (dest / "SHA256SUMS.txt").unlink(missing_ok=True)
        if not any(dest.iterdir()):
            remove_empty(new)
        raise DataError(f"cannot download {what} ({db}) from PhysioNet to {dest}: {e}. Offline, put the "
                        f"files there by hand (https://physionet.org/content/{db}/)") from e
    for rel in wanted:
        if rel in sums and file_digest(dest / rel, "sha256") != sums[rel]:
            (dest / rel).unlink()
            raise DataError(f"{dest / rel}: SHA256 does not match PhysioNet's SHA256SUMS.txt; run again to re-fetch it")


# ---------------------------------------------------------------------------------------------
# MIT-BIH Arrhythmia
AAMI = {**{s: 0 for s in "NLRej"}, **{s: 1 for s in "AaJS"}, **{s: 2 for s in "VE"}, "F": 3,
        **{s: 4 for s in "/fQ"}}
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
# de Chazal et al. 2004 inter-patient split; paced records 102, 104, 107, 217 are in neither.
DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201",
       "203", "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213",
       "214", "219", "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")
MITDB_FS = 360


def _read_record(path: Path):
    import wfdb

    for ext in (".hea", ".dat"):
        if not path.with_suffix(ext).exists():
            raise DataError(f"{path.with_suffix(ext)}: missing; a WFDB record needs .hea and .dat "
                            f"(get them from https://physionet.org/content/mitdb/1.0.0/)")
    try:
        rec = wfdb.rdrecord(str(path))
    except Exception as e:
        raise DataError(f"{path}.hea/.dat: cannot read WFDB record ({type(e).__name__}: {e}); "
                        f"the files are truncated or corrupt") from e
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] != rec.sig_len or sig.shape[0] == 0:
        raise DataError(f"{path}.dat: signal shape {None if sig is None else sig.shape}; expected "
                        f"({rec.sig_len}, {rec.n_sig}) as the header says")
    if not np.isfinite(sig).all():
        # wfdb marks invalid samples as NaN; fill them with the lead median (few samples at most)
        bad = ~np.isfinite(sig)
        if bad.mean() > 0.01:
            raise DataError(f"{path}.dat: {bad.mean():.1%} of samples are invalid (NaN)")
        sig = np.where(bad, np.nanmedian(sig, axis=0, keepdims=True), sig)
    return rec, sig


def _lead_index(rec, path: Path, lead: str) -> int:
    if lead in rec.sig_name:
        return rec.sig_name.index(lead)
    return 0  # MLII is absent in 102 and 104 (V5 first): the first lead is used there


def mitdb_record_beats(path: Path, lead: str = "MLII", before: float = 0.25, after: float = 0.45,
                       labelled: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(beats (B, 1, W) float32, AAMI labels (B,), R-peak samples (B,)) of one record. Beats are cut
    around the reference annotations (`labelled`) or around QRS complexes found by wfdb's XQRS
    detector; the signal is edge-padded so beats near the ends are kept; the record's lead is
    z-scored (median, std) first."""
    import wfdb

    rec, sig = _read_record(path)
    if rec.fs != MITDB_FS:
        raise DataError(f"{path}.hea: sampling rate {rec.fs} Hz; expected {MITDB_FS}")
    x = sig[:, _lead_index(rec, path, lead)].astype(np.float64)
    x = (x - np.median(x)) / max(float(x.std()), 1e-6)
    if labelled:
        try:
            ann = wfdb.rdann(str(path), "atr")
        except Exception as e:
            raise DataError(f"{path}.atr: cannot read annotations ({type(e).__name__}: {e})") from e
        keep = [(s, AAMI[c]) for s, c in zip(ann.sample, ann.symbol) if c in AAMI]
        if not keep:
            raise DataError(f"{path}.atr: no beat annotations")
        r = np.array([k[0] for k in keep], dtype=np.int64)
        y = np.array([k[1] for k in keep], dtype=np.int64)
        if r.min() < 0 or r.max() >= len(x):
            raise DataError(f"{path}.atr: annotation sample {int(r.max())} is past the signal's end "
                            f"({len(x)} samples) — the .dat file is truncated")
    else:
        from wfdb import processing

        q = processing.XQRS(sig=x, fs=rec.fs)
        q.detect(verbose=False)
        r = np.asarray(q.qrs_inds, dtype=np.int64)
        y = np.full(len(r), -1, dtype=np.int64)
    b, a = int(round(before * MITDB_FS)), int(round(after * MITDB_FS))
    padded = np.pad(x, (b, a), mode="edge")
    idx = r[:, None] + np.arange(0, b + a)[None, :]
    beats = torch.from_numpy(padded[idx].astype(np.float32)).unsqueeze(1)
    return beats, torch.from_numpy(y), torch.from_numpy(r)


def _mitdb_records(root: Path, with_ann: bool) -> list[str]:
    rec_file = root / "RECORDS"
    if rec_file.exists():
        names = [ln.strip() for ln in rec_file.read_text().splitlines() if ln.strip()]
    else:
        names = sorted(p.stem for p in root.glob("*.hea"))
    if with_ann:
        missing = [n for n in names if not (root / f"{n}.atr").exists()]
        if missing:
            raise DataError(f"{root}: records {missing} listed without their .atr annotation files")
    return names


@register_adapter
class MITBIH(ECGAdapter):
    """MIT-BIH Arrhythmia Database beats (Moody & Mark 2001) read with wfdb.rdrecord/rdann.

    Records from `<data_dir>/ecg/mitdb` (or `<data_dir>/mitdb`), listed by RECORDS (else every
    .hea); if absent, all 48 records are downloaded from PhysioNet (mitdb/1.0.0) with wfdb's client
    and checked against PhysioNet's SHA256SUMS.txt. A beat is 0.25 s before to 0.45 s after the annotated R peak at 360 Hz (252 samples) of
    lead MLII — or the first lead where a record has no MLII (102, 104: V5). Beat symbols map to
    the AAMI EC57 classes: N,L,R,e,j → N; A,a,J,S → S; V,E → V; F → F; /,f,Q → Q; other
    annotations (rhythm, noise, '!', 'x', …) are not beats and are skipped.

    Inter-patient split by record (no patient in two splits): test = de Chazal's DS2 records,
    train+val = DS1 records; val = a record-level holdout of DS1 (20 %, at least one record), drawn
    by a seed derived from the dataset name. Paced records (102, 104, 107, 217) are excluded by
    default as AAMI/de Chazal prescribe; `paced: include` adds them to train (their beats are
    mostly Q). With the 9 records in ../shared/data that gives train 208 + 106 (or the DS1 records
    present minus val), val one DS1 record, test 100, 103, 105.

    Loading the 9 local records takes < 1 s, so labelled beats are not cached. The signals-only
    records (`<data_dir>/ecg/mitdb_signals_only`) are offered as unlabelled pretraining beats by
    `unlabelled_split()` (R peaks from wfdb's XQRS detector, ~4 s per record, cached atomically
    under ~/.cache/sslbench/cache or $SSLBENCH_CACHE_DIR); option `unlabelled: true` makes the
    adapter expose them as `self.extra_pretrain` (the runner pretrains on the train split only,
    so using them needs a loop that reads that attribute).

    Option `length: L` gives UCR-style beats: each 0.7 s beat resampled (linear) to L points and
    z-normalised per beat, as the UCR archive prepares its ECG sets — `length: 96` shares ECG200's
    spec, so MIT-BIH can be a transfer source for it (the quick suite's ECG transfer pair)."""

    name = "mitdb"
    fs = MITDB_FS
    spec = InputSpec("signal1d", (1, 252), {"fs": MITDB_FS})
    task = TaskSpec(5, class_names=AAMI_CLASSES)
    ood_partners = {"near": [], "far": []}

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        if "length" in self.options:
            L = self.options["length"]
            if not isinstance(L, int) or isinstance(L, bool) or L < 8:
                raise ValueError(f"mitdb: option length must be an integer ≥ 8, got {L!r}")
            self.fs = MITDB_FS * L / self.spec.shape[1]  # the beat still spans 0.7 s
            self.spec = InputSpec("signal1d", (1, L), {"fs": self.fs})

    def _shape_beats(self, beats: torch.Tensor) -> torch.Tensor:
        if "length" not in self.options:
            return beats
        out = torch.nn.functional.interpolate(beats, size=self.spec.shape[1], mode="linear", align_corners=True)
        return _zscore_rows(out)

    def root(self) -> Path:
        cands = (self.data_dir / "ecg" / "mitdb", self.data_dir / "mitdb")
        for d in cands:
            if d.is_dir() and (any(d.glob("*.hea")) or (d / "RECORDS").exists()):
                return d
        msg = (f"MIT-BIH: no WFDB records in {cands[0]}; expected RECORDS and <rec>.hea/.dat/.atr "
               f"(e.g. 100.hea) from https://physionet.org/content/mitdb/1.0.0/")
        if not self.options.get("download", True):
            raise DataError(msg)
        from datasets.audio import offline_hint

        with offline_hint(msg):  # the 48 records (~100 MB), SHA256-checked against PhysioNet's list
            physionet_fetch("mitdb/1.0.0", cands[0], ["RECORDS"],
                            lambda rel: rel.split(".")[-1] in ("hea", "dat", "atr"), "MIT-BIH")
        return cands[0]

    def record_splits(self, names: list[str]) -> dict[str, list[str]]:
        paced = self.options.get("paced", "exclude")
        ds1 = [n for n in names if n in DS1]
        ds2 = [n for n in names if n in DS2]
        other = [n for n in names if n not in DS1 and n not in DS2 and n not in PACED]
        if other:
            raise DataError(f"MIT-BIH: records {other} are not in mitdb (DS1/DS2/paced)")
        g = torch.Generator().manual_seed(name_seed("mitdb-val-records", self.name))
        perm = [ds1[i] for i in torch.randperm(len(ds1), generator=g).tolist()]
        n_val = max(1, int(round(0.2 * len(ds1)))) if len(ds1) >= 2 else 0
        train = sorted(perm[n_val:])
        if paced == "include":
            train += sorted(n for n in names if n in PACED)
        elif paced != "exclude":
            raise ValueError("mitdb: option paced must be 'exclude' or 'include'")
        out = {"train": train, "val": sorted(perm[:n_val]), "test": sorted(ds2)}
        empty = [k for k, v in out.items() if not v]
        if empty:
            raise DataError(f"MIT-BIH: records {names} leave the {empty} split(s) empty; need ≥2 DS1 "
                            f"and ≥1 DS2 record")
        return out

    def load_splits(self):
        root = self.root()
        names = _mitdb_records(root, with_ann=True)
        lead = self.options.get("lead", "MLII")
        self.records = self.record_splits(names)
        out = {}
        for split, recs in self.records.items():
            parts = [mitdb_record_beats(root / r, lead) for r in recs]
            out[split] = Split(self._shape_beats(torch.cat([p[0] for p in parts])),
                               torch.cat([p[1] for p in parts]))
            out[split].record = torch.cat([torch.full((len(p[1]),), int(r)) for p, r in zip(parts, recs)])
        if self.options.get("unlabelled"):
            self.extra_pretrain = self.unlabelled_split()
        return out

    def unlabelled_split(self) -> Split:
        d = next((p for p in (self.data_dir / "ecg" / "mitdb_signals_only", self.data_dir / "mitdb_signals_only")
                  if p.is_dir()), None)
        if d is None:
            raise DataError(f"MIT-BIH: no signals-only records in {self.data_dir / 'ecg' / 'mitdb_signals_only'}")
        names = _mitdb_records(d, with_ann=False)
        lead = self.options.get("lead", "MLII")
        paths = [d / f"{n}{e}" for n in names for e in (".hea", ".dat")]
        for p in paths:
            if not p.exists():
                raise DataError(f"{p}: missing (listed in {d / 'RECORDS'})")
        key = "mitdb-unlabelled-" + _files_key(paths, lead, 0.25, 0.45)
        obj = _cached(key, lambda: {"beats": torch.cat([mitdb_record_beats(d / n, lead, labelled=False)[0]
                                                        for n in names])})
        beats = self._shape_beats(obj["beats"])
        return Split(beats, torch.full((len(beats),), -1, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# UCR archive
UCR_URL = "https://www.timeseriesclassification.com/aeon-toolkit/{name}.zip"


def read_ucr(path: Path, length: int | None = None, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
            raise DataError(f"{path}:{i}: non-numeric value ({e}); expected UCR format "
                            f"'label v1 v2 …'") from e
        if len(rows[-1]) != len(rows[0]):
            raise DataError(f"{path}:{i}: {len(rows[-1]) - 1} values; line 1 has {len(rows[0]) - 1} "
                            f"— the file is ragged or truncated")
    if not rows:
        raise DataError(f"{path}: empty file")
    arr = np.asarray(rows)
    if length is not None and arr.shape[1] - 1 != length:
        raise DataError(f"{path}: series length {arr.shape[1] - 1}; expected {length}")
    if count is not None and arr.shape[0] != count:
        raise DataError(f"{path}: {arr.shape[0]} series; expected {count} — the file is truncated or not the official "
                        f"one; delete it and download the official archive again")
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
        msg = (f"{n}: {n}_TRAIN.txt / {n}_TEST.txt not found in {d}; get them from "
               f"{UCR_URL.format(name=n)} (UCR archive) and put them there")
        if not self.options.get("download", True):
            raise DataError(msg)
        import zipfile

        arch = d / f"{n}.zip"
        if not arch.exists():
            from datasets.audio import fetch, offline_hint

            with offline_hint(msg):
                fetch(UCR_URL.format(name=n), arch)
        with zipfile.ZipFile(arch) as z:
            for m in z.namelist():
                base = Path(m).name
                if base in (f"{n}_TRAIN.txt", f"{n}_TEST.txt"):
                    tmp = d / (base + ".part")
                    tmp.write_bytes(z.read(m))
                    os.replace(tmp, d / base)
        tr, te = d / f"{n}_TRAIN.txt", d / f"{n}_TEST.txt"
        if not (tr.exists() and te.exists()):
            raise DataError(f"{arch}: no {n}_TRAIN.txt/{n}_TEST.txt inside")
        return tr, te

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
        x_tr, x_te = (_zscore_rows(torch.from_numpy(a)).unsqueeze(1) for a in (x_tr, x_te))
        if "length" in self.options:
            L = self.spec.shape[1]
            x_tr, x_te = (torch.nn.functional.interpolate(a, size=L, mode="linear", align_corners=True)
                          for a in (x_tr, x_te))
        keep, hold = stratified_holdout(y_tr, 0.1, self.name)
        return {"train": Split(x_tr[keep], y_tr[keep]), "val": Split(x_tr[hold], y_tr[hold]),
                "test": Split(x_te, y_te)}


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


# ---------------------------------------------------------------------------------------------
# PTB-XL
PTBXL_DB = "ptb-xl/1.0.3"
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
    wfdb.rdsamp. Missing → downloaded with wfdb's PhysioNet client (`wfdb.dl_files`, db
    ptb-xl/1.0.3) and every fetched file checked against PhysioNet's published SHA256SUMS.txt.
    Each record is z-scored per lead. The parsed tensor is cached atomically (~/.cache/sslbench/cache)
    keyed by the CSVs' size and mtime. Option `strict` (default true) requires all 21,799 records of
    v1.0.3 to be listed."""

    name = "ptbxl"
    fs = 100.0
    spec = InputSpec("signal1d", (PTBXL_LEADS, 1000), {"fs": 100})
    task = TaskSpec(5, multilabel=True, class_names=SUPERCLASSES)
    ood_partners = {"near": [], "far": []}

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
        msg = (f"PTB-XL not found in any of {[str(c) for c in cands]} (expected ptbxl_database.csv, "
               f"scp_statements.csv and records{self.sampling_rate}/); get https://physionet.org/content/ptb-xl/1.0.3/")
        if not self.options.get("download", True):
            raise DataError(msg)
        from datasets.audio import offline_hint

        with offline_hint(msg):
            self._download(cands[0])
        return cands[0]

    def _download(self, dest: Path) -> None:
        folder = f"records{self.sampling_rate}/"
        physionet_fetch(PTBXL_DB, dest, ["ptbxl_database.csv", "scp_statements.csv"],
                        lambda rel: rel.startswith(folder), "PTB-XL")

    def _read_tables(self, root: Path):
        db, st = root / "ptbxl_database.csv", root / "scp_statements.csv"
        try:
            with open(st, newline="") as f:
                rows = list(csv.DictReader(f))
            key = next(iter(rows[0])) if rows else ""
            diag = {r[key]: r["diagnostic_class"] for r in rows
                    if r.get("diagnostic", "").strip() in ("1", "1.0") and r.get("diagnostic_class")}
        except (OSError, KeyError, StopIteration, csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{st}: cannot read scp_statements.csv ({type(e).__name__}: {e}); expected "
                            f"columns including diagnostic and diagnostic_class") from e
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
            raise DataError(f"{db}: cannot parse ptbxl_database.csv ({type(e).__name__}: {e}); expected "
                            f"columns ecg_id, scp_codes, strat_fold, filename_lr/_hr") from e
        if self.options.get("strict", True) and len(out) != 21799:
            raise DataError(f"{db}: {len(out)} records; expected the 21,799 of PTB-XL 1.0.3 "
                            f"(pass strict: false for a subset)")
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
                    raise DataError(f"{path}.hea/.dat: cannot read WFDB record ({type(e).__name__}: {e})") from e
                if sig.shape != (T, PTBXL_LEADS) or meta["fs"] != self.sampling_rate:
                    raise DataError(f"{path}.dat: signal {sig.shape} at {meta['fs']} Hz; expected "
                                    f"({T}, {PTBXL_LEADS}) at {self.sampling_rate} Hz")
                s = torch.from_numpy(np.nan_to_num(sig.T.astype(np.float32)))
                x[i] = (s - s.median(-1, keepdim=True).values) / s.std(-1, keepdim=True).clamp_min(1e-6)
            return {"x": x}

        files = [root / "ptbxl_database.csv", root / "scp_statements.csv"]
        for _, _, fname, _ in table:
            files += [root / f"{fname}.hea", root / f"{fname}.dat"]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise DataError(f"PTB-XL: {len(missing)} record file(s) missing, e.g. {missing[:3]}")
        x = _cached("ptbxl-" + _files_key(files, self.sampling_rate, len(table)), build)["x"]
        y = torch.zeros(len(table), len(SUPERCLASSES))
        for i, r in enumerate(table):
            for c in r[3]:
                y[i, SUPERCLASSES.index(c)] = 1.0
        fold = torch.tensor([r[1] for r in table])
        sel = {"train": fold <= 8, "val": fold == 9, "test": fold == 10}
        return {k: Split(x[m], y[m]) for k, m in sel.items()}
