"""Google Speech Commands v0.02: 1 s clips of 35 words (or the 12-class variant), official lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets.audio_base import N_MELS, AudioAdapter, read_clips, read_wav
from datasets.base import DataError, register_adapter
from datasets.files import Extract, Location, remote
from datasets.signal_corruptions import hash_uniform

SC_PATH = "data/speech_commands_v0.02.tar.gz"
SC_URL = "http://download.tensorflow.org/" + SC_PATH
SC_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"  # as torchaudio records it
SC_WORDS = (
    "backward",
    "bed",
    "bird",
    "cat",
    "dog",
    "down",
    "eight",
    "five",
    "follow",
    "forward",
    "four",
    "go",
    "happy",
    "house",
    "learn",
    "left",
    "marvin",
    "nine",
    "no",
    "off",
    "on",
    "one",
    "right",
    "seven",
    "sheila",
    "six",
    "stop",
    "three",
    "tree",
    "two",
    "up",
    "visual",
    "wow",
    "yes",
    "zero",
)
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
    spec = AudioAdapter.spec_for("logmel", 16000, 1.0, N_MELS)
    task = TaskSpec(35, class_names=SC_WORDS)
    ood_partners = {"near": ["fsdd"], "far": []}  # FSDD's default log-mel spec is also (1, 64, 101)
    extra_options = frozenset({"classes", "strict"})
    dataset_version = "0.02"
    published_split_sizes = tuple(SC_OFFICIAL_COUNTS[k] for k in ("train", "val", "test"))

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        self.n_classes = int(self.options.get("classes", 35))
        if self.n_classes == 12:
            self.task = TaskSpec(12, class_names=SC_CORE + ("_unknown_", "_silence_"))
            self.published_split_sizes = None  # the silence crops are ours, not the release's
        elif self.n_classes != 35:
            raise ValueError("speech_commands: option classes must be 35 or 12")

    def locate(self) -> Path:
        cands = [
            self.data_dir / "speech_commands" / "speech_commands_v0.02",
            self.data_dir / "SpeechCommands" / "speech_commands_v0.02",
            self.data_dir / "speech_commands_v0.02",
        ]
        for d in cands:
            if (d / "testing_list.txt").exists():
                return d
        msg = (
            f"Speech Commands v0.02 not found in any of {[str(c) for c in cands]} "
            f"(expected testing_list.txt, validation_list.txt and one folder per word); "
            f"get {SC_URL} and extract it into {cands[0]}"
        )
        self.fetch_or_fail(msg)
        return cands[0]

    def remote_files(self):
        # The tarball has no top folder; download.tensorflow.org is served from a GCS bucket, whose
        # https URL is the fallback.
        return [
            remote(
                "speech_commands/speech_commands_v0.02.tar.gz",
                "tensorflow",
                SC_PATH,
                f"sha256:{SC_SHA256}",
                fallbacks=(Location("tensorflow_gcs", SC_PATH),),
                extract=Extract(
                    into="speech_commands/speech_commands_v0.02",
                    provides=("testing_list.txt", "validation_list.txt"),
                ),
            )
        ]

    def local_copy(self):
        cands = [
            self.data_dir / "speech_commands" / "speech_commands_v0.02",
            self.data_dir / "SpeechCommands" / "speech_commands_v0.02",
            self.data_dir / "speech_commands_v0.02",
        ]
        return next((d for d in cands if (d / "testing_list.txt").exists()), None)

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
                    raise DataError(
                        f"{path}: bad entry {e!r}; expected <word>/<file>.wav with one of the 35 words"
                    )
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
            raise DataError(
                f"Speech Commands in {root}: split sizes {counts}; expected the official "
                f"{SC_OFFICIAL_COUNTS} — the copy is incomplete "
                f"(pass strict: false for a subset)"
            )
        out = {}
        for split, items in rel.items():
            waves = read_clips(
                [root / r for r in items],
                self.sample_rate if self.sr == self.sample_rate else None,
                self.length,
                target_sr=self.sr,
            )
            labels = torch.tensor([self._label(r.split("/")[0]) for r in items], dtype=torch.int64)
            out[split] = (waves, labels)
        if self.n_classes == 12:
            self._add_silence(root, out)
        return out

    def _add_silence(self, root: Path, out: dict) -> None:
        noise_dir = root / "_background_noise_"
        files = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
        if not files:
            raise DataError(
                f"{noise_dir}: no background-noise WAVs; the 12-class variant needs them for _silence_"
            )
        crops: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
        for f in files:
            x, sr = read_wav(f, None)
            if sr != self.sr:
                import torchaudio.functional as AF

                x = (
                    AF.resample(torch.from_numpy(x.astype(np.float32)), sr, self.sr)
                    .round()
                    .clamp(-32768, 32767)
                    .to(torch.int16)
                    .numpy()
                )
            n = len(x) // self.length
            if n == 0:
                continue
            c = torch.from_numpy(x[: n * self.length].copy()).view(n, self.length)
            u = hash_uniform(torch.arange(n), 1, "sc_silence", f.name)[:, 0]
            for split, sel in (("test", u < 0.1), ("val", (u >= 0.1) & (u < 0.2)), ("train", u >= 0.2)):
                crops[split].append(c[sel])
        for split, parts in crops.items():
            w = torch.cat(parts) if parts else torch.empty(0, self.length, dtype=torch.int16)
            waves, labels = out[split]
            out[split] = (torch.cat([waves, w]), torch.cat([labels, torch.full((len(w),), 11)]))
