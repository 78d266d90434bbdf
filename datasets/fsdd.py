"""Free Spoken Digit Dataset: 8 kHz spoken digits, official split by recording index."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from benchmark.core.specs import TaskSpec
from datasets.audio_base import N_MELS, AudioAdapter, read_clips
from datasets.base import DataError, register_adapter
from datasets.files import Extract, remote
from datasets.splitting import stratified_holdout

FSDD_VERSION = "1.0.10"
FSDD_PATH = f"Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v{FSDD_VERSION}.tar.gz"
FSDD_URL = "https://github.com/" + FSDD_PATH
FSDD_RE = re.compile(r"^([0-9])_([a-z]+)_([0-9]+)\.wav$")


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
    spec = AudioAdapter.spec_for("logmel", 8000, 1.0, N_MELS)
    task = TaskSpec(10, class_names=tuple(str(d) for d in range(10)))
    # ESC-50 (5 s clips) does not share the spec; the OOD protocol adds its synthetic far partner.
    ood_partners = {"near": ["speech_commands"], "far": []}
    dataset_version = FSDD_VERSION

    def locate(self) -> Path:
        d = self.data_dir / "fsdd" / "recordings"
        if d.is_dir() and any(d.glob("*.wav")):
            return d
        msg = (
            f"FSDD: no WAV files in {d}; expected {{digit}}_{{speaker}}_{{index}}.wav "
            f"(3000 files) from {FSDD_URL} (recordings/)"
        )
        self.fetch_or_fail(msg)
        return d

    def remote_files(self):
        # GitHub publishes no checksum for its generated archives; every WAV is checked on load.
        return [
            remote(
                f"fsdd/free-spoken-digit-dataset-{FSDD_VERSION}.tar.gz",
                "github",
                FSDD_PATH,
                extract=Extract(
                    into="fsdd/recordings", strip=f"free-spoken-digit-dataset-{FSDD_VERSION}/recordings"
                ),
            )
        ]

    def local_copy(self):
        d = self.data_dir / "fsdd" / "recordings"
        return d if d.is_dir() and any(d.glob("*.wav")) else None

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
            raise DataError(
                f"FSDD in {root}: {len(missing)} recording(s) missing from the digit × speaker × "
                f"index 0–49 grid (e.g. {names}); a partial copy is refused — re-download"
            )
        keys = sorted(files)
        waves = read_clips(
            [files[k] for k in keys], 8000 if self.sr == 8000 else None, self.length, target_sr=self.sr
        )
        labels = torch.tensor([k[0] for k in keys], dtype=torch.int64)
        is_test = torch.tensor([k[2] < 5 for k in keys])
        tr_all = torch.nonzero(~is_test).flatten()
        te = torch.nonzero(is_test).flatten()
        tr_pos, va_pos = stratified_holdout(labels[tr_all], 0.1, self.name)
        tr, va = tr_all[tr_pos], tr_all[va_pos]
        self.split_files = {
            k: [files[keys[i]].name for i in v.tolist()]
            for k, v in (("train", tr), ("val", va), ("test", te))
        }
        return {
            "train": (waves[tr], labels[tr]),
            "val": (waves[va], labels[va]),
            "test": (waves[te], labels[te]),
        }
