"""Audio adapters: Free Spoken Digit Dataset, Google Speech Commands v2, ESC-50.

WAV files are read with `soundfile` (torchaudio.load needs torchcodec, which we do not use) as
16-bit PCM, mono, and brought to a fixed length by centre-cropping or zero-padding on both sides.

Two input specs (option `input`):
- `logmel` (default): spec "spectrogram" (1, n_mels, frames). Computed once at load, batched, with
  torchaudio.transforms.MelSpectrogram (25 ms window, 10 ms hop, `n_mels` bands, 0..sr/2) and
  AmplitudeToDB (power, amin 1e-10 → floor −100 dB, no top_db clip); stored as float16 dB and
  standardised in `prepare` by the train split's global mean/std.
- `waveform`: spec "signal1d" (1, T); stored as int16 PCM, `prepare` scales to [-1, 1] and divides
  by the train split's RMS (one global constant, so gain differences between clips are kept).

Corruptions (DESIGN §3.5): see `datasets.signal_corruptions` — on `waveform` they act on the
waveform; on `logmel` they are spectrogram-domain equivalents (gain and time shift exact, noise
exact in expectation, low-pass approximate per band; clipping only with `input: waveform`).

Splits: FSDD's official rule (recording index 0–4 test, 5–49 train); Speech Commands' official
validation_list.txt / testing_list.txt; ESC-50's official folds (fold 5 test, fold 4 val, folds 1–3
train; option `test_fold` rotates both). Val for FSDD is a stratified 10 % of train, fixed by a seed
derived from the dataset name.
"""
from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.files import download, file_digest
from datasets.signal_corruptions import audio_logmel_corruptions, audio_waveform_corruptions, hash_uniform
from datasets.signal_views import spectrogram_view, waveform_view
from datasets.splitting import stratified_holdout

N_MELS = 64
DB_FLOOR = -100.0
CHUNK = 1024


# ---------------------------------------------------------------------------------------------
# reading
def read_wav(path: Path, expected_sr: int | None) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the file's rate. Unreadable, empty, multi-channel or wrong-rate
    files raise a DataError naming the file."""
    try:
        import soundfile as sf
    except (ImportError, OSError):  # no libsndfile: scipy's reader handles PCM/float WAV
        sf = None
    try:
        if sf is not None:
            data, sr = sf.read(str(path), dtype="int16", always_2d=True)
        else:
            data, sr = _read_wav_scipy(path)
    except Exception as e:  # soundfile raises its own LibsndfileError / RuntimeError
        raise DataError(f"{path}: not a readable WAV file ({e}); the file is truncated or corrupt — "
                        f"delete it and download the dataset again") from e
    if data.shape[1] != 1:
        raise DataError(f"{path}: {data.shape[1]} channels; expected mono audio")
    if data.shape[0] == 0:
        raise DataError(f"{path}: WAV file has no samples; expected a non-empty clip")
    if expected_sr is not None and sr != expected_sr:
        raise DataError(f"{path}: sample rate {sr} Hz; expected {expected_sr} Hz")
    return data[:, 0], sr


def _read_wav_scipy(path: Path) -> tuple[np.ndarray, int]:
    from scipy.io import wavfile

    sr, data = wavfile.read(str(path))
    data = data.reshape(len(data), -1)
    if data.dtype == np.uint8:
        data = ((data.astype(np.int16) - 128) << 8).astype(np.int16)
    elif data.dtype == np.int32:
        data = (data >> 16).astype(np.int16)
    elif data.dtype.kind == "f":
        data = np.clip(np.round(data * 32767.0), -32768, 32767).astype(np.int16)
    return data, int(sr)


def fix_length(x: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop or zero-pad (both sides) to `length` samples."""
    n = len(x)
    if n >= length:
        start = (n - length) // 2
        return x[start:start + length]
    out = np.zeros(length, dtype=x.dtype)
    start = (length - n) // 2
    out[start:start + n] = x
    return out


def read_clips(paths: list[Path], expected_sr: int | None, length: int, target_sr: int | None = None,
               crop_before_resample: bool = True) -> torch.Tensor:
    """int16 (N, length) clips. With `target_sr`, clips at another rate are resampled (batched,
    torchaudio.functional.resample) before fixing the length."""
    out = torch.empty(len(paths), length, dtype=torch.int16)
    for i, p in enumerate(paths):
        x, sr = read_wav(p, expected_sr)
        if target_sr is not None and sr != target_sr:
            import torchaudio.functional as AF

            y = AF.resample(torch.from_numpy(x.astype(np.float32)), sr, target_sr)
            x = y.round().clamp(-32768, 32767).to(torch.int16).numpy()
        out[i] = torch.from_numpy(fix_length(x, length))
    return out


# ---------------------------------------------------------------------------------------------
class AudioAdapter(Adapter):
    """Shared machinery: waveforms → chosen input spec, normalisation, views, corruptions."""

    domain = "audio"
    sample_rate: ClassVar[int] = 16000
    clip_seconds: ClassVar[float] = 1.0

    @classmethod
    def _spec_for(cls, input_kind: str, sample_rate: int, seconds: float, n_mels: int) -> InputSpec:
        t = int(round(sample_rate * seconds))
        if input_kind == "waveform":
            return InputSpec("signal1d", (1, t), {"sample_rate": sample_rate})
        if input_kind == "logmel":
            hop = sample_rate // 100
            return InputSpec("spectrogram", (1, n_mels, 1 + t // hop),
                             {"sample_rate": sample_rate, "hop_length": hop, "n_fft": sample_rate // 40})
        raise ValueError(f"{cls.name}: option input must be 'logmel' or 'waveform', got {input_kind!r}")

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        self.input_kind = self.options.get("input", "logmel")
        self.sr = int(self.options.get("sample_rate", self.sample_rate))
        self.n_mels = int(self.options.get("n_mels", N_MELS))
        self.seconds = float(self.options.get("seconds", self.clip_seconds))
        self.length = int(round(self.sr * self.seconds))
        self.spec = self._spec_for(self.input_kind, self.sr, self.seconds, self.n_mels)
        self._stats: tuple[float, float] | None = None

    # -- subclasses return int16 waveforms (N, T) and labels per split ----------------------
    def load_waveforms(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _mel_transform(self):
        import torchaudio.transforms as T

        return T.MelSpectrogram(sample_rate=self.sr, n_fft=self.sr // 40, hop_length=self.sr // 100,
                                n_mels=self.n_mels, f_min=0.0, f_max=self.sr / 2, power=2.0)

    @torch.no_grad()
    def mel_power(self, waves: torch.Tensor) -> torch.Tensor:
        """Float waveforms (N, T) in [-1, 1] → mel power (N, n_mels, frames), computed in chunks."""
        if not hasattr(self, "_mel"):
            self._mel = self._mel_transform()
        return torch.cat([self._mel(c.float()) for c in torch.split(waves, CHUNK)]) if len(waves) \
            else torch.empty(0, self.n_mels, self.spec.shape[-1])

    def _to_db(self, waves_int16: torch.Tensor) -> torch.Tensor:
        out = []
        for c in torch.split(waves_int16, CHUNK):
            p = self.mel_power(c.float() / 32768.0)
            out.append((10 * torch.log10(p.clamp_min(10 ** (DB_FLOOR / 10)))).to(torch.float16))
        return torch.cat(out).unsqueeze(1) if out else torch.empty(0, *self.spec.shape, dtype=torch.float16)

    def load_splits(self) -> dict[str, Split]:
        raw = self.load_waveforms()
        splits = {}
        for name, (waves, labels) in raw.items():
            if waves.shape[1:] != (self.length,):
                raise DataError(f"{self.name}: {name} clips have shape {tuple(waves.shape[1:])}; "
                                f"expected ({self.length},)")
            inputs = waves.unsqueeze(1) if self.input_kind == "waveform" else self._to_db(waves)
            splits[name] = Split(inputs, labels)
        tr = splits["train"].inputs.float()
        if self.input_kind == "waveform":
            rms = float((tr / 32768.0).pow(2).mean().sqrt().clamp_min(1e-6))
            self._stats = (0.0, rms * 32768.0)
        else:
            self._stats = (float(tr.mean()), float(tr.std().clamp_min(1e-6)))
        return splits

    def stats(self) -> tuple[float, float]:
        if self._stats is None:
            self.splits()
        return self._stats

    def prepare(self, inputs, device):
        mean, std = self.stats()
        return (inputs.to(device, non_blocking=True).float() - mean) / std


    def views(self, x, generator):
        return waveform_view(x, generator) if self.input_kind == "waveform" else spectrogram_view(x, generator)

    def corruptions(self):
        if self.input_kind == "waveform":
            return audio_waveform_corruptions()
        import torchaudio.functional as AF

        mean, std = self.stats()
        fb = AF.melscale_fbanks(self.sr // 80 + 1, 0.0, self.sr / 2, self.n_mels, self.sr)  # (freqs, mels)
        freqs = torch.linspace(0, 1, fb.shape[0])  # fraction of Nyquist
        centre = (fb * freqs.view(-1, 1)).sum(0) / fb.sum(0).clamp_min(1e-12)
        return audio_logmel_corruptions(lambda w: self.mel_power(w), self.length, centre, mean, std, DB_FLOOR)


def created_dirs(path: Path) -> list[Path]:
    """The missing ancestors of `path` (deepest first): what a failed download must remove again,
    so an offline attempt leaves no empty folders in the data dir."""
    out = []
    p = path
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first
        try:
            d.rmdir()
        except OSError:
            pass


def fetch(url: str, dest: Path) -> Path:
    """`datasets.files.download` that removes the folders it created when the download fails."""
    new = created_dirs(dest.parent)
    try:
        return download(url, dest)
    except BaseException:
        remove_empty(new)
        raise


@contextlib.contextmanager
def offline_hint(msg: str):
    """Re-raise a failed download as a DataError that also says which files are expected, where
    to put them and where to get them."""
    try:
        yield
    except DataError as e:
        raise DataError(f"{msg}. The download failed: {e}") from e


def _fetch_archive(url: str, sha256: str | None, dest: Path, members: str, what: str) -> None:
    """Download an archive, check it, and extract the members under `members` into `dest`
    atomically (extract to a temp dir, then rename)."""
    arch = dest.parent / f"{dest.name}-{Path(url).name}"
    if not arch.exists():
        fetch(url, arch)
    if sha256 and file_digest(arch, "sha256") != sha256:
        arch.unlink()
        raise DataError(f"{url}: downloaded archive fails its SHA256 check (expected {sha256})")
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".part"))
    try:
        if arch.suffix == ".zip":
            with zipfile.ZipFile(arch) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(arch) as t:
                t.extractall(tmp, filter="data")
        found = [p for p in tmp.rglob(members)]
        if not found:
            raise DataError(f"{arch}: no {members} inside; expected the official {what} archive")
        os.replace(found[0], dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
FSDD_RE = re.compile(r"^([0-9])_([a-z]+)_([0-9]+)\.wav$")
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


@register_adapter
class FSDD(AudioAdapter):
    """Free Spoken Digit Dataset (Jackson et al.), 8 kHz, 10 digits, 6 speakers × 50 takes.

    Files `<data_dir>/fsdd/recordings/{digit}_{speaker}_{index}.wav` (else downloaded: the v1.0.10
    GitHub release, which publishes no checksum — every file is checked instead: complete
    digit × speaker × index 0–49 grid, readable mono 8 kHz PCM). Clips are 1 s (8000 samples),
    centre-cropped/zero-padded. Official split: index 0–4 → test (300), 5–49 → train (2700, of
    which a stratified 10 % is val)."""

    name = "fsdd"
    sample_rate = 8000
    spec = AudioAdapter._spec_for("logmel", 8000, 1.0, N_MELS)
    task = TaskSpec(10, class_names=tuple(str(d) for d in range(10)))
    # ESC-50 (5 s clips) does not share the spec; the OOD protocol adds its synthetic far partner.
    ood_partners = {"near": ["speech_commands"], "far": []}

    def locate(self) -> Path:
        d = self.data_dir / "fsdd" / "recordings"
        if d.is_dir() and any(d.glob("*.wav")):
            return d
        msg = (f"FSDD: no WAV files in {d}; expected {{digit}}_{{speaker}}_{{index}}.wav "
               f"(3000 files) from {FSDD_URL} (recordings/)")
        if not self.options.get("download", True):
            raise DataError(msg)
        with offline_hint(msg):
            _fetch_archive(FSDD_URL, None, d, "recordings", "FSDD")
        return d

    def load_waveforms(self):
        root = self.locate()
        files = {}
        for p in sorted(root.glob("*.wav")):
            m = FSDD_RE.match(p.name)
            if not m:
                raise DataError(f"{p}: file name does not match {{digit}}_{{speaker}}_{{index}}.wav")
            files[(int(m.group(1)), m.group(2), int(m.group(3)))] = p
        speakers = sorted({k[1] for k in files})
        expected = {(d, s, i) for d in range(10) for s in speakers for i in range(50)}
        missing = sorted(expected - set(files))
        if missing or len(files) != len(expected):
            names = [f"{d}_{s}_{i}.wav" for d, s, i in missing[:10]]
            raise DataError(f"FSDD in {root}: {len(missing)} recording(s) missing from the digit × speaker × "
                            f"index 0–49 grid (e.g. {names}); a partial copy is refused — re-download")
        keys = sorted(files)
        waves = read_clips([files[k] for k in keys], 8000 if self.sr == 8000 else None, self.length,
                           target_sr=self.sr)
        labels = torch.tensor([k[0] for k in keys], dtype=torch.int64)
        is_test = torch.tensor([k[2] < 5 for k in keys])
        tr_all = torch.nonzero(~is_test).flatten()
        te = torch.nonzero(is_test).flatten()
        tr_pos, va_pos = stratified_holdout(labels[tr_all], 0.1, self.name)
        tr, va = tr_all[tr_pos], tr_all[va_pos]
        self.split_files = {k: [files[keys[i]].name for i in v.tolist()]
                            for k, v in (("train", tr), ("val", va), ("test", te))}
        return {"train": (waves[tr], labels[tr]), "val": (waves[va], labels[va]),
                "test": (waves[te], labels[te])}


# ---------------------------------------------------------------------------------------------
SC_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
SC_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"  # as torchaudio records it
SC_WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
            "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
            "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
            "yes", "zero")
SC_CORE = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SC_OFFICIAL_COUNTS = {"train": 84843, "val": 9981, "test": 11005}  # v0.02, 35 words


@register_adapter
class SpeechCommands(AudioAdapter):
    """Google Speech Commands v0.02 (Warden 2018), 16 kHz, 1 s clips.

    Root: `<data_dir>/speech_commands/speech_commands_v0.02`, `<data_dir>/SpeechCommands/
    speech_commands_v0.02` (torchaudio's layout) or `<data_dir>/speech_commands_v0.02`; else the
    official tarball is downloaded and checked against its SHA256. Official split by
    validation_list.txt / testing_list.txt; everything else (outside _background_noise_) is train.

    Options: `classes: 35` (default, every word) or `12` (the 10 core words + `_unknown_` for the
    other 25 + `_silence_`: non-overlapping 1 s crops of the _background_noise_ files, assigned
    80/10/10 to train/val/test by a hash of (file, crop) — the official v2 test set's silence clips
    are not in the main archive). `strict: true` (default) refuses a copy whose split sizes differ
    from the official 84,843 / 9,981 / 11,005 (35 words); `strict: false` accepts subsets."""

    name = "speech_commands"
    sample_rate = 16000
    spec = AudioAdapter._spec_for("logmel", 16000, 1.0, N_MELS)
    task = TaskSpec(35, class_names=SC_WORDS)
    ood_partners = {"near": ["fsdd"], "far": []}  # FSDD's default log-mel spec is also (1, 64, 101)

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        self.n_classes = int(self.options.get("classes", 35))
        if self.n_classes == 12:
            self.task = TaskSpec(12, class_names=SC_CORE + ("_unknown_", "_silence_"))
        elif self.n_classes != 35:
            raise ValueError("speech_commands: option classes must be 35 or 12")

    def locate(self) -> Path:
        cands = [self.data_dir / "speech_commands" / "speech_commands_v0.02",
                 self.data_dir / "SpeechCommands" / "speech_commands_v0.02",
                 self.data_dir / "speech_commands_v0.02"]
        for d in cands:
            if (d / "testing_list.txt").exists():
                return d
        msg = (f"Speech Commands v0.02 not found in any of {[str(c) for c in cands]} "
               f"(expected testing_list.txt, validation_list.txt and one folder per word); "
               f"get {SC_URL} and extract it into {cands[0]}")
        if not self.options.get("download", True):
            raise DataError(msg)
        dest = cands[0]
        arch = dest.parent / Path(SC_URL).name
        if not arch.exists():
            with offline_hint(msg):
                fetch(SC_URL, arch)
        if file_digest(arch, "sha256") != SC_SHA256:
            arch.unlink()
            raise DataError(f"{SC_URL}: download fails its SHA256 check (expected {SC_SHA256})")
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix="sc.part"))
        with tarfile.open(arch) as t:  # the tarball has no top folder
            t.extractall(tmp, filter="data")
        os.replace(tmp, dest)
        return dest

    def _label(self, word: str) -> int:
        if self.n_classes == 35:
            return SC_WORDS.index(word)
        return SC_CORE.index(word) if word in SC_CORE else 10

    def load_waveforms(self):
        root = self.locate()
        lists = {}
        for split, fname in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
            path = root / fname
            try:
                entries = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
            except (OSError, UnicodeDecodeError) as e:
                raise DataError(f"{path}: cannot read the official split list ({e})") from e
            for e in entries:
                if e.count("/") != 1 or not e.endswith(".wav") or e.split("/")[0] not in SC_WORDS:
                    raise DataError(f"{path}: bad entry {e!r}; expected <word>/<file>.wav with one of the 35 words")
                if not (root / e).exists():
                    raise DataError(f"{path} lists {e}, but {root / e} does not exist")
            lists[split] = set(entries)
        words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
        unknown = sorted(set(words) - set(SC_WORDS))
        if unknown:
            raise DataError(f"{root}: unexpected word folders {unknown}; expected the 35 v0.02 words")
        rel = {"train": [], "val": [], "test": []}
        for w in words:
            for p in sorted((root / w).glob("*.wav")):
                r = f"{w}/{p.name}"
                rel["val" if r in lists["val"] else "test" if r in lists["test"] else "train"].append(r)
        self.split_files = rel
        strict = self.options.get("strict", True)
        counts = {k: len(v) for k, v in rel.items()}
        if strict and counts != SC_OFFICIAL_COUNTS:
            raise DataError(f"Speech Commands in {root}: split sizes {counts}; expected the official "
                            f"{SC_OFFICIAL_COUNTS} — the copy is incomplete (pass strict: false for a subset)")
        out = {}
        for split, items in rel.items():
            waves = read_clips([root / r for r in items], self.sample_rate if self.sr == self.sample_rate else None,
                               self.length, target_sr=self.sr)
            labels = torch.tensor([self._label(r.split("/")[0]) for r in items], dtype=torch.int64)
            out[split] = (waves, labels)
        if self.n_classes == 12:
            self._add_silence(root, out)
        return out

    def _add_silence(self, root: Path, out: dict) -> None:
        noise_dir = root / "_background_noise_"
        files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
        if not files:
            raise DataError(f"{noise_dir}: no background-noise WAVs; the 12-class variant needs them for _silence_")
        crops: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
        for f in files:
            x, sr = read_wav(f, None)
            if sr != self.sr:
                import torchaudio.functional as AF

                x = AF.resample(torch.from_numpy(x.astype(np.float32)), sr, self.sr).round().clamp(
                    -32768, 32767).to(torch.int16).numpy()
            n = len(x) // self.length
            if n == 0:
                continue
            c = torch.from_numpy(x[:n * self.length].copy()).view(n, self.length)
            u = hash_uniform(torch.arange(n), 1, "sc_silence", f.name)[:, 0]
            for split, sel in (("test", u < 0.1), ("val", (u >= 0.1) & (u < 0.2)), ("train", u >= 0.2)):
                crops[split].append(c[sel])
        for split, parts in crops.items():
            w = torch.cat(parts) if parts else torch.empty(0, self.length, dtype=torch.int16)
            waves, labels = out[split]
            out[split] = (torch.cat([waves, w]), torch.cat([labels, torch.full((len(w),), 11)]))


# ---------------------------------------------------------------------------------------------
ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"


@register_adapter
class ESC50(AudioAdapter):
    """ESC-50 (Piczak 2015): 2,000 5-s clips at 44.1 kHz, 50 classes, 5 official folds.

    Root `<data_dir>/esc50` or `<data_dir>/ESC-50` (or `ESC-50-master`) with `meta/esc50.csv` and
    `audio/*.wav`; else the GitHub master archive is downloaded (no checksum is published: the CSV
    must list 2,000 clips, 40 per class, 400 per fold, and every file must read as mono 44.1 kHz).
    Resampled to 16 kHz by default (option `sample_rate`), 5 s. Split: fold `test_fold` (default 5)
    is test, the fold before it (default 4) val, the other three train — so one run is one fold of
    the official cross-validation. Option `esc10: true` keeps the ESC-10 subset (10 classes)."""

    name = "esc50"
    sample_rate = 16000
    clip_seconds = 5.0
    spec = AudioAdapter._spec_for("logmel", 16000, 5.0, N_MELS)
    task = TaskSpec(50)
    ood_partners = {"near": [], "far": []}

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        if self.options.get("esc10"):
            self.task = TaskSpec(10)

    def locate(self) -> Path:
        cands = [self.data_dir / n for n in ("esc50", "ESC-50", "ESC-50-master")]
        for d in cands:
            if (d / "meta" / "esc50.csv").exists():
                return d
        msg = (f"ESC-50 not found in any of {[str(c) for c in cands]} (expected meta/esc50.csv "
               f"and audio/*.wav); get {ESC50_URL} and unzip it there")
        if not self.options.get("download", True):
            raise DataError(msg)
        with offline_hint(msg):
            _fetch_archive(ESC50_URL, None, cands[0], "ESC-50-master", "ESC-50")
        return cands[0]

    def load_waveforms(self):
        root = self.locate()
        meta = root / "meta" / "esc50.csv"
        try:
            with open(meta, newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{meta}: cannot read ({e})") from e
        need = {"filename", "fold", "target", "category", "esc10"}
        if not rows or not need <= set(rows[0]):
            raise DataError(f"{meta}: expected columns {sorted(need)}; got {list(rows[0]) if rows else 'no rows'}")
        try:
            recs = [(r["filename"], int(r["fold"]), int(r["target"]), r["category"], r["esc10"] == "True")
                    for r in rows]
        except ValueError as e:
            raise DataError(f"{meta}: non-integer fold/target ({e})") from e
        if self.options.get("strict", True) and (len(recs) != 2000 or
                                                 np.bincount([r[2] for r in recs]).tolist() != [40] * 50):
            raise DataError(f"{meta}: {len(recs)} rows; expected the official 2000 (40 per class) — "
                            f"pass strict: false for a subset")
        if self.options.get("esc10"):
            recs = [r for r in recs if r[4]]
            targets = sorted({r[2] for r in recs})
            remap = {t: i for i, t in enumerate(targets)}
            names = {r[2]: r[3] for r in recs}
            self.task = TaskSpec(len(targets), class_names=tuple(names[t] for t in targets))
            recs = [(a, b, remap[c], d, e) for a, b, c, d, e in recs]
        else:
            names = {r[2]: r[3] for r in recs}
            self.task = TaskSpec(50, class_names=tuple(names.get(t, str(t)) for t in range(50)))
        test_fold = int(self.options.get("test_fold", 5))
        if test_fold not in (1, 2, 3, 4, 5):
            raise ValueError("esc50: option test_fold must be 1..5")
        val_fold = 5 if test_fold == 1 else test_fold - 1
        out = {}
        for split, folds in (("train", {1, 2, 3, 4, 5} - {test_fold, val_fold}), ("val", {val_fold}),
                             ("test", {test_fold})):
            sel = [r for r in recs if r[1] in folds]
            waves = read_clips([root / "audio" / r[0] for r in sel], None, self.length, target_sr=self.sr)
            out[split] = (waves, torch.tensor([r[2] for r in sel], dtype=torch.int64))
        return out
