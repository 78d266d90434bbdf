"""MIT-BIH Arrhythmia Database beats (AAMI classes, de Chazal's inter-patient split), read with wfdb.
Records are z-scored per record and lead (the record's median and std), so gain/offset differences
between recordings are removed while the beat-to-beat morphology within a record is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import DataError, Split, register_adapter
from datasets.ecg_base import ECGAdapter, cached_tensors, files_key, physionet_files, zscore_rows
from datasets.splitting import name_seed

AAMI = {
    **{s: 0 for s in "NLRej"},
    **{s: 1 for s in "AaJS"},
    **{s: 2 for s in "VE"},
    "F": 3,
    **{s: 4 for s in "/fQ"},
}
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
# de Chazal et al. 2004 inter-patient split; paced records 102, 104, 107, 217 are in neither.
DS1 = (
    "101",
    "106",
    "108",
    "109",
    "112",
    "114",
    "115",
    "116",
    "118",
    "119",
    "122",
    "124",
    "201",
    "203",
    "205",
    "207",
    "208",
    "209",
    "215",
    "220",
    "223",
    "230",
)
DS2 = (
    "100",
    "103",
    "105",
    "111",
    "113",
    "117",
    "121",
    "123",
    "200",
    "202",
    "210",
    "212",
    "213",
    "214",
    "219",
    "221",
    "222",
    "228",
    "231",
    "232",
    "233",
    "234",
)
PACED = ("102", "104", "107", "217")
MITDB_FS = 360
MITDB_VERSION = "1.0.0"


def _read_record(path: Path):
    import wfdb

    for ext in (".hea", ".dat"):
        if not path.with_suffix(ext).exists():
            raise DataError(
                f"{path.with_suffix(ext)}: missing; a WFDB record needs .hea and .dat "
                f"(get them from https://physionet.org/content/mitdb/1.0.0/)"
            )
    try:
        rec = wfdb.rdrecord(str(path))
    except Exception as e:
        raise DataError(
            f"{path}.hea/.dat: cannot read WFDB record ({type(e).__name__}: {e}); "
            f"the files are truncated or corrupt"
        ) from e
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] != rec.sig_len or sig.shape[0] == 0:
        raise DataError(
            f"{path}.dat: signal shape {None if sig is None else sig.shape}; expected "
            f"({rec.sig_len}, {rec.n_sig}) as the header says"
        )
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


def mitdb_record_beats(
    path: Path, lead: str = "MLII", before: float = 0.25, after: float = 0.45, labelled: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
            raise DataError(
                f"{path}.atr: annotation sample {int(r.max())} is past the signal's end "
                f"({len(x)} samples) — the .dat file is truncated"
            )
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
    .hea); if absent, all 48 records are downloaded from PhysioNet
    (https://physionet.org/files/mitdb/1.0.0/) and checked against PhysioNet's SHA256SUMS.txt.
    A beat is 0.25 s before to 0.45 s after the annotated R peak at 360 Hz (252 samples) of lead
    MLII — or the first lead where a record has no MLII (102, 104: V5). Beat symbols map to the AAMI
    EC57 classes: N,L,R,e,j → N; A,a,J,S → S; V,E → V; F → F; /,f,Q → Q; other
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
    extra_options = frozenset({"length", "lead", "paced", "unlabelled"})
    dataset_version = MITDB_VERSION

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
        out = torch.nn.functional.interpolate(
            beats, size=self.spec.shape[1], mode="linear", align_corners=True
        )
        return zscore_rows(out)

    def root(self) -> Path:
        cands = (self.data_dir / "ecg" / "mitdb", self.data_dir / "mitdb")
        for d in cands:
            if d.is_dir() and (any(d.glob("*.hea")) or (d / "RECORDS").exists()):
                return d
        msg = (
            f"MIT-BIH: no WFDB records in {cands[0]}; expected RECORDS and <rec>.hea/.dat/.atr "
            f"(e.g. 100.hea) from https://physionet.org/content/mitdb/1.0.0/"
        )
        self.fetch_or_fail(msg)  # the 48 records (~100 MB), SHA256-checked against PhysioNet's list
        return cands[0]

    def remote_files(self):
        names = ["RECORDS"] + [f"{r}.{e}" for r in sorted(DS1 + DS2 + PACED) for e in ("hea", "dat", "atr")]
        # every record is 650,000 two-channel samples in format 212: 1,950,000 bytes of .dat
        sizes = {n: 1950000 for n in names if n.endswith(".dat")}
        return physionet_files("mitdb", MITDB_VERSION, "ecg/mitdb", names, sizes)

    def local_copy(self):
        for d in (self.data_dir / "ecg" / "mitdb", self.data_dir / "mitdb"):
            if d.is_dir() and (any(d.glob("*.hea")) or (d / "RECORDS").exists()):
                return d
        return None

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
            raise DataError(
                f"MIT-BIH: records {names} leave the {empty} split(s) empty; need ≥2 DS1 and ≥1 DS2 record"
            )
        return out

    def load_splits(self):
        root = self.root()
        names = _mitdb_records(root, with_ann=True)
        lead = self.options.get("lead", "MLII")
        self.records = self.record_splits(names)
        out = {}
        for split, recs in self.records.items():
            parts = [mitdb_record_beats(root / r, lead) for r in recs]
            out[split] = Split(
                self._shape_beats(torch.cat([p[0] for p in parts])), torch.cat([p[1] for p in parts])
            )
            out[split].record = torch.cat([torch.full((len(p[1]),), int(r)) for p, r in zip(parts, recs)])
        if self.options.get("unlabelled"):
            self.extra_pretrain = self.unlabelled_split()
        return out

    def unlabelled_split(self) -> Split:
        cands = (self.data_dir / "ecg" / "mitdb_signals_only", self.data_dir / "mitdb_signals_only")
        d = next((p for p in cands if p.is_dir()), None)
        if d is None:
            raise DataError(
                f"MIT-BIH: no signals-only records in {self.data_dir / 'ecg' / 'mitdb_signals_only'}"
            )
        names = _mitdb_records(d, with_ann=False)
        lead = self.options.get("lead", "MLII")
        paths = [d / f"{n}{e}" for n in names for e in (".hea", ".dat")]
        for p in paths:
            if not p.exists():
                raise DataError(f"{p}: missing (listed in {d / 'RECORDS'})")
        key = "mitdb-unlabelled-" + files_key(paths, lead, 0.25, 0.45)
        obj = cached_tensors(
            key,
            lambda: {"beats": torch.cat([mitdb_record_beats(d / n, lead, labelled=False)[0] for n in names])},
        )
        beats = self._shape_beats(obj["beats"])
        return Split(beats, torch.full((len(beats),), -1, dtype=torch.int64))
