"""ESC-50 environmental sounds: 5 s clips, 50 classes (or ESC-10), the 5 official folds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import TaskSpec
from datasets.audio_base import N_MELS, AudioAdapter, read_clips
from datasets.base import DataError, register_adapter
from datasets.files import Extract, remote
from datasets.splitting import name_seed

ESC50_PATH = "karolpiczak/ESC-50/archive/master.zip"
ESC50_URL = "https://github.com/" + ESC50_PATH


@register_adapter
class ESC50(AudioAdapter):
    """ESC-50 (Piczak 2015): 2,000 5-s clips at 44.1 kHz, 50 classes, 5 official folds.

    Root `<data_dir>/esc50` or `<data_dir>/ESC-50` (or `ESC-50-master`) with `meta/esc50.csv` and
    `audio/*.wav`; else the GitHub master archive is downloaded (no checksum is published: the CSV
    must list 2,000 clips, 40 per class, 400 per fold, and every file must read as mono 44.1 kHz).
    Resampled to 16 kHz by default (option `sample_rate`), 5 s.

    Split, as the official 5-fold cross-validation: option `fold` (1–5, default 5) is test, the
    other four folds train. Val (for the probes' selection only) is held out of those four folds by
    source recording (`src_file`; the official folds keep each recording's clips together): per
    class, whole recordings drawn with a name-seeded generator until 1/8 of the class's clips. A
    single run is one fold; the published protocol reports the mean over all five, which a suite
    gets with `folds: [1, 2, 3, 4, 5]` on the dataset entry (the full suite does): the five folds'
    results are pooled into one cell (docs/design.md §3.1). Option `esc10: true` keeps the ESC-10
    subset (10 classes)."""

    name = "esc50"
    sample_rate = 16000
    clip_seconds = 5.0
    spec = AudioAdapter.spec_for("logmel", 16000, 5.0, N_MELS)
    task = TaskSpec(50)
    ood_partners = {"near": [], "far": []}
    extra_options = frozenset({"esc10", "strict", "fold"})
    dataset_version = "master"  # the repository's master branch (it has no releases)

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        fold = self.options.get("fold", 5)
        if isinstance(fold, bool) or fold not in (1, 2, 3, 4, 5):
            raise ValueError(f"esc50: option fold must be one of the official folds 1..5, got {fold!r}")
        self.fold = int(fold)
        if self.options.get("esc10"):
            self.task = TaskSpec(10)

    def locate(self) -> Path:
        cands = [self.data_dir / n for n in ("esc50", "ESC-50", "ESC-50-master")]
        for d in cands:
            if (d / "meta" / "esc50.csv").exists():
                return d
        msg = (
            f"ESC-50 not found in any of {[str(c) for c in cands]} (expected meta/esc50.csv "
            f"and audio/*.wav); get {ESC50_URL} and unzip it there"
        )
        self.fetch_or_fail(msg)
        return cands[0]

    def remote_files(self):
        # The repository has no release: the master archive, which GitHub publishes no checksum for
        # (the CSV's 2,000 rows / 40 per class and every WAV are checked on load).
        return [
            remote(
                "esc50/ESC-50-master.zip",
                "github",
                ESC50_PATH,
                extract=Extract(into="esc50", strip="ESC-50-master", provides=("meta/esc50.csv",)),
            )
        ]

    def local_copy(self):
        cands = [self.data_dir / n for n in ("esc50", "ESC-50", "ESC-50-master")]
        return next((d for d in cands if (d / "meta" / "esc50.csv").exists()), None)

    def load_waveforms(self):
        root = self.locate()
        meta = root / "meta" / "esc50.csv"
        try:
            with open(meta, newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{meta}: cannot read ({e})") from e
        need = {"filename", "fold", "target", "category", "esc10", "src_file"}
        if not rows or not need <= set(rows[0]):
            raise DataError(
                f"{meta}: expected columns {sorted(need)}; got {list(rows[0]) if rows else 'no rows'}"
            )
        try:
            recs = [
                (
                    r["filename"],
                    int(r["fold"]),
                    int(r["target"]),
                    r["category"],
                    r["esc10"] == "True",
                    r["src_file"],
                )
                for r in rows
            ]
        except ValueError as e:
            raise DataError(f"{meta}: non-integer fold/target ({e})") from e
        if self.options.get("strict", True) and (
            len(recs) != 2000 or np.bincount([r[2] for r in recs]).tolist() != [40] * 50
        ):
            raise DataError(
                f"{meta}: {len(recs)} rows; expected the official 2000 (40 per class) — "
                f"pass strict: false for a subset"
            )
        if self.options.get("esc10"):
            recs = [r for r in recs if r[4]]
            targets = sorted({r[2] for r in recs})
            remap = {t: i for i, t in enumerate(targets)}
            names = {r[2]: r[3] for r in recs}
            self.task = TaskSpec(len(targets), class_names=tuple(names[t] for t in targets))
            recs = [(a, b, remap[c], d, e, s) for a, b, c, d, e, s in recs]
        else:
            names = {r[2]: r[3] for r in recs}
            self.task = TaskSpec(50, class_names=tuple(names.get(t, str(t)) for t in range(50)))
        test = [r for r in recs if r[1] == self.fold]
        rest = [r for r in recs if r[1] != self.fold]
        held = self.val_recordings(rest)
        out = {}
        for split, sel in (
            ("train", [r for r in rest if (r[2], r[5]) not in held]),
            ("val", [r for r in rest if (r[2], r[5]) in held]),
            ("test", test),
        ):
            waves = read_clips([root / "audio" / r[0] for r in sel], None, self.length, target_sr=self.sr)
            out[split] = (waves, torch.tensor([r[2] for r in sel], dtype=torch.int64))
        return out

    def val_recordings(self, recs) -> set[tuple[int, str]]:
        """(class, source recording) pairs held out of the training folds as val: per class, whole
        recordings in a name-seeded order until at least 1/8 of the class's clips (≥ 1 recording,
        never all of them)."""
        by_class: dict[int, dict[str, int]] = {}
        for r in recs:
            counts = by_class.setdefault(r[2], {})
            counts[r[5]] = counts.get(r[5], 0) + 1
        held: set[tuple[int, str]] = set()
        for c, counts in sorted(by_class.items()):
            sources = sorted(counts)
            if len(sources) < 2:
                continue
            g = torch.Generator().manual_seed(name_seed("esc50", "val", self.fold, c))
            order = [sources[i] for i in torch.randperm(len(sources), generator=g).tolist()]
            need, n = -(-sum(counts.values()) // 8), 0
            for s in order[:-1]:
                if n >= need:
                    break
                held.add((c, s))
                n += counts[s]
        return held
