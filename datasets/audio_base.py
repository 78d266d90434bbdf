"""What the audio adapters share (FSDD in `datasets.fsdd`, Speech Commands v2 in
`datasets.speech_commands`, ESC-50 in `datasets.esc50`): WAV reading, fixed-length clips and the
adapter base that turns waveforms into the chosen input spec.

WAV files are read with `soundfile` (torchaudio.load needs torchcodec, which we do not use) as
16-bit PCM, mono, and brought to a fixed length by centre-cropping or zero-padding on both sides.

Two input specs (option `input`):
- `logmel` (default): spec "spectrogram" (1, n_mels, frames). Computed once at load, batched, with
  torchaudio.transforms.MelSpectrogram (25 ms window, 10 ms hop, `n_mels` bands, 0..sr/2) and
  AmplitudeToDB (power, amin 1e-10 → floor −100 dB, no top_db clip); stored as float16 dB and
  standardised in `prepare` by the train split's global mean/std.
- `waveform`: spec "signal1d" (1, T); stored as int16 PCM, `prepare` scales to [-1, 1] and divides
  by the train split's RMS (one global constant, so gain differences between clips are kept).

Corruptions (docs/design.md §3.5): see `datasets.signal_corruptions` — on `waveform` they act on the
waveform; on `logmel` they are spectrogram-domain equivalents (gain and time shift exact, noise
exact in expectation, low-pass approximate per band; clipping only with `input: waveform`).

Splits: FSDD's official rule (recording index 0–4 test, 5–49 train); Speech Commands' official
validation_list.txt / testing_list.txt; ESC-50's official 5-fold CV (option `fold` is test, the
other four folds train, val is whole source recordings of those; datasets/esc50.py). Val for FSDD is
a stratified 10 % of train, fixed by a seed derived from the dataset name.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec
from datasets.base import Adapter, DataError, Split
from datasets.signal_corruptions import audio_logmel_corruptions, audio_waveform_corruptions
from datasets.signal_views import policy_view, spectrogram_view, waveform_view

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
        raise DataError(
            f"{path}: not a readable WAV file ({e}); the file is truncated or corrupt — "
            f"delete it and download the dataset again"
        ) from e
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
        return x[start : start + length]
    out = np.zeros(length, dtype=x.dtype)
    start = (length - n) // 2
    out[start : start + n] = x
    return out


def read_clips(
    paths: list[Path],
    expected_sr: int | None,
    length: int,
    target_sr: int | None = None,
    crop_before_resample: bool = True,
) -> torch.Tensor:
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
    extra_options = frozenset({"input", "sample_rate", "n_mels", "seconds"})
    sample_rate: ClassVar[int] = 16000
    clip_seconds: ClassVar[float] = 1.0

    @classmethod
    def spec_for(cls, input_kind: str, sample_rate: int, seconds: float, n_mels: int) -> InputSpec:
        t = int(round(sample_rate * seconds))
        if input_kind == "waveform":
            return InputSpec("signal1d", (1, t), {"sample_rate": sample_rate})
        if input_kind == "logmel":
            hop = sample_rate // 100
            return InputSpec(
                "spectrogram",
                (1, n_mels, 1 + t // hop),
                {"sample_rate": sample_rate, "hop_length": hop, "n_fft": sample_rate // 40},
            )
        raise ValueError(f"{cls.name}: option input must be 'logmel' or 'waveform', got {input_kind!r}")

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        self.input_kind = self.options.get("input", "logmel")
        self.sr = int(self.options.get("sample_rate", self.sample_rate))
        self.n_mels = int(self.options.get("n_mels", N_MELS))
        self.seconds = float(self.options.get("seconds", self.clip_seconds))
        self.length = int(round(self.sr * self.seconds))
        self.spec = self.spec_for(self.input_kind, self.sr, self.seconds, self.n_mels)
        self._stats: tuple[float, float] | None = None

    # -- subclasses return int16 waveforms (N, T) and labels per split ----------------------
    def load_waveforms(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _mel_transform(self):
        import torchaudio.transforms as T

        return T.MelSpectrogram(
            sample_rate=self.sr,
            n_fft=self.sr // 40,
            hop_length=self.sr // 100,
            n_mels=self.n_mels,
            f_min=0.0,
            f_max=self.sr / 2,
            power=2.0,
        )

    @torch.no_grad()
    def mel_power(self, waves: torch.Tensor) -> torch.Tensor:
        """Float waveforms (N, T) in [-1, 1] → mel power (N, n_mels, frames), computed in chunks."""
        if not hasattr(self, "_mel"):
            self._mel = self._mel_transform()
        return (
            torch.cat([self._mel(c.float()) for c in torch.split(waves, CHUNK)])
            if len(waves)
            else torch.empty(0, self.n_mels, self.spec.shape[-1])
        )

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
                raise DataError(
                    f"{self.name}: {name} clips have shape {tuple(waves.shape[1:])}; "
                    f"expected ({self.length},)"
                )
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

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        own = waveform_view if self.input_kind == "waveform" else spectrogram_view
        if policy is not None:
            return policy_view(x, generator, policy, own)
        return own(x, generator)

    def corruptions(self):
        if self.input_kind == "waveform":
            return audio_waveform_corruptions()
        import torchaudio.functional as AF

        mean, std = self.stats()
        fb = AF.melscale_fbanks(self.sr // 80 + 1, 0.0, self.sr / 2, self.n_mels, self.sr)  # (freqs, mels)
        freqs = torch.linspace(0, 1, fb.shape[0])  # fraction of Nyquist
        centre = (fb * freqs.view(-1, 1)).sum(0) / fb.sum(0).clamp_min(1e-12)
        return audio_logmel_corruptions(lambda w: self.mel_power(w), self.length, centre, mean, std, DB_FLOOR)
