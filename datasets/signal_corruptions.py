"""Deterministic corruptions for audio and ECG (docs/design.md §3.5), severities 1–5.

Randomness is a counter-based hash of (sample index, corruption name, draw number): the same sample
gets the same corruption whatever batch it is in, on any device, and the whole batch is corrupted
with tensor ops (no per-sample generators or Python loops). The random draws (noise realisation,
sign, phase, segment position) do not depend on the severity; the severity only sets the strength,
so the five levels of one sample are nested (the same noise, louder; the same segment, wider).

Audio (`audio_waveform_corruptions`, acting on a waveform batch (N, 1, T)):
  gaussian_noise (SNR 30/20/10/5/0 dB), time_shift (5–40 % of the clip, zero-filled), gain
  (±3/6/10/15/20 dB, sign drawn per sample), low_pass (4th-order Butterworth magnitude response
  applied in the frequency domain, cut-off 0.75/0.5/0.3/0.2/0.125 × Nyquist), clipping (hard clip at
  50/30/20/10/5 % of the sample's peak).
Audio on the log-mel spec (`audio_logmel_corruptions`): the prepared batch is a standardised dB
  mel spectrogram, and the waveform is no longer available to the corruption (its signature is
  fn(prepared batch, indices, severity)). So the corruptions are applied as their spectrogram-domain
  equivalents — see that function's docstring for what is exact and what is approximate. Clipping
  has no faithful spectrogram-domain equivalent (it is nonlinear and phase dependent), so it is
  only offered with `input: waveform`.
ECG (`ecg_corruptions`, acting on (N, C, T)): baseline_wander, powerline (50 or 60 Hz), emg_noise
  (white noise high-passed by a first difference, i.e. broadband muscle-like), amplitude_scaling,
  segment_dropout, and lead_dropout when C > 1. Amplitudes are relative to each sample's std.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from datasets.splitting import name_seed

M32 = 0xFFFFFFFF
SEVERITIES = (1, 2, 3, 4, 5)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (lowbias32-style) on int64 tensors; products stay below 2^62."""
    x = x & M32
    x = ((x >> 16) ^ x) * 0x45D9F3B & M32
    x = ((x >> 16) ^ x) * 0x45D9F3B & M32
    return (x >> 16) ^ x


def hash_uniform(idx: torch.Tensor, n: int, *key) -> torch.Tensor:
    """(len(idx), n) uniforms in (0, 1), a pure function of (sample index, key..., draw number)."""
    salt = name_seed("corruption", *key)
    s1, s2 = salt & M32, (salt >> 32) & M32
    idx = idx.to(torch.int64).view(-1, 1)
    h = _mix32(_mix32(idx ^ s1) + s2)
    ctr = _mix32(torch.arange(n, dtype=torch.int64, device=idx.device).view(1, -1) * 0x9E3779B1 + s1)
    h = _mix32(h ^ ctr)
    return (h.double() + 0.5) / float(1 << 32)


def hash_normal(idx: torch.Tensor, n: int, *key) -> torch.Tensor:
    """(len(idx), n) standard normals by Box–Muller on `hash_uniform` draws."""
    u = hash_uniform(idx, 2 * n, *key)
    u1, u2 = u[:, :n], u[:, n:]
    return torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)


def _check(severity: int) -> int:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity!r}")
    return severity - 1


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(device=x.device, dtype=x.dtype).view((x.shape[0],) + (1,) * (x.dim() - 1))


def _noise_like(x, idx, key) -> torch.Tensor:
    per = int(torch.tensor(x.shape[1:]).prod())
    return hash_normal(idx.cpu(), per, *key).view(x.shape).to(device=x.device, dtype=x.dtype)


def _rms(x):
    return x.flatten(1).pow(2).mean(1).sqrt().clamp_min(1e-8)


def butterworth_gain(freq_frac: torch.Tensor, cutoff_frac: float, order: int = 4) -> torch.Tensor:
    """|H(f)| of a Butterworth low-pass, frequencies as fractions of Nyquist."""
    return 1.0 / torch.sqrt(1.0 + (freq_frac / cutoff_frac) ** (2 * order))


# ---------------------------------------------------------------------------------------------
# Audio on the waveform
SNR_DB = (30, 20, 10, 5, 0)
SHIFT_FRAC = (0.05, 0.1, 0.2, 0.3, 0.4)
GAIN_DB = (3, 6, 10, 15, 20)
LOWPASS_FRAC = (0.75, 0.5, 0.3, 0.2, 0.125)
CLIP_FRAC = (0.5, 0.3, 0.2, 0.1, 0.05)


def _signed(idx, name, severity, mag) -> torch.Tensor:
    sign = torch.where(hash_uniform(idx.cpu(), 1, name, "sign")[:, 0] < 0.5, -1.0, 1.0)
    return sign * mag


def audio_waveform_corruptions() -> dict[str, Callable]:
    def gaussian_noise(x, idx, severity):
        s = _check(severity)
        noise = _noise_like(x, idx, ("audio_noise",))
        return x + noise * _per_sample(_rms(x) / 10 ** (SNR_DB[s] / 20), x)

    def time_shift(x, idx, severity):
        s = _check(severity)
        shift = torch.round(_signed(idx, "audio_shift", severity, SHIFT_FRAC[s] * x.shape[-1]))
        from datasets.signal_views import shift_time

        return shift_time(x, shift, 0.0)

    def gain(x, idx, severity):
        s = _check(severity)
        db = _signed(idx, "audio_gain", severity, float(GAIN_DB[s]))
        return x * _per_sample(10 ** (db / 20), x)

    def low_pass(x, idx, severity):
        s = _check(severity)
        t = x.shape[-1]
        spec = torch.fft.rfft(x.double(), dim=-1)
        f = torch.linspace(0, 1, spec.shape[-1], dtype=torch.float64, device=x.device)
        return torch.fft.irfft(spec * butterworth_gain(f, LOWPASS_FRAC[s]), n=t, dim=-1).to(x.dtype)

    def clipping(x, idx, severity):
        s = _check(severity)
        peak = x.abs().flatten(1).amax(1).clamp_min(1e-8) * CLIP_FRAC[s]
        p = _per_sample(peak, x)
        return torch.maximum(torch.minimum(x, p), -p)

    return {
        "gaussian_noise": gaussian_noise,
        "time_shift": time_shift,
        "gain": gain,
        "low_pass": low_pass,
        "clipping": clipping,
    }


def audio_logmel_corruptions(
    mel_fn: Callable[[torch.Tensor], torch.Tensor],
    wave_len: int,
    mel_centre_frac: torch.Tensor,
    db_mean: float,
    db_std: float,
    db_floor: float = -100.0,
) -> dict[str, Callable]:
    """Spectrogram-domain equivalents of the waveform corruptions, on standardised dB log-mels.

    `mel_fn` maps waveforms (N, T) to mel power (N, F, frames) with the adapter's transform;
    `mel_centre_frac` is each mel band's centre frequency as a fraction of Nyquist.
    - gain: exact — a constant dB offset; bins at the floor (digital silence, e.g. the zero
      padding) stay there, and values are floored at the transform's `amin` level.
    - time_shift: exact up to the hop size — frames are shifted and the vacated frames are set to
      silence (the dB floor), as zero-padding the waveform would give.
    - gaussian_noise: a real white-noise waveform (hash-seeded per sample) is passed through the
      same mel transform and its power is added to the clip's mel power, scaled so that the ratio
      of total mel energies is the target SNR. Exact in expectation; the signal×noise cross term
      (zero mean) is omitted, and SNR is measured on mel-band energy.
    - low_pass: each band's power is multiplied by |H|² of the 4th-order Butterworth at the band's
      centre frequency (approximate: the response is taken constant across a band).
    """

    def to_power(x):
        return 10 ** ((x.double() * db_std + db_mean) / 10)

    def to_std(p, like):
        db = 10 * torch.log10(p.clamp_min(10 ** (db_floor / 10)))
        return ((db - db_mean) / db_std).to(like.dtype)

    def gaussian_noise(x, idx, severity):
        s = _check(severity)
        n = x.shape[0]
        noise = hash_normal(idx.cpu(), wave_len, "audio_noise_mel").float()
        pn = mel_fn(noise).double().to(x.device).view(x.shape)
        p = to_power(x)
        scale = p.flatten(1).sum(1) / pn.flatten(1).sum(1).clamp_min(1e-30) / 10 ** (SNR_DB[s] / 10)
        return to_std(p + pn * scale.view(n, 1, 1, 1), x)

    def time_shift(x, idx, severity):
        s = _check(severity)
        shift = torch.round(_signed(idx, "audio_shift", severity, SHIFT_FRAC[s] * x.shape[-1]))
        from datasets.signal_views import shift_time

        return shift_time(x, shift, (db_floor - db_mean) / db_std)

    def gain(x, idx, severity):
        s = _check(severity)
        db = _signed(idx, "audio_gain", severity, float(GAIN_DB[s]))
        p = to_power(x)
        silent = p <= 10 ** ((db_floor + 0.01) / 10)  # digital silence (zero padding) stays silent
        out = to_std(p * _per_sample(10 ** (db.double() / 10), x).double(), x)
        return torch.where(silent, x, out)

    def low_pass(x, idx, severity):
        s = _check(severity)
        h2 = butterworth_gain(mel_centre_frac.double(), LOWPASS_FRAC[s]) ** 2
        return to_std(to_power(x) * h2.to(x.device).view(1, 1, -1, 1), x)

    return {"gaussian_noise": gaussian_noise, "time_shift": time_shift, "gain": gain, "low_pass": low_pass}


# ---------------------------------------------------------------------------------------------
# ECG
WANDER_AMP = (0.1, 0.25, 0.5, 0.8, 1.2)  # × sample std
POWERLINE_AMP = (0.05, 0.1, 0.2, 0.35, 0.5)
EMG_STD = (0.05, 0.1, 0.2, 0.35, 0.5)
SCALE_LOG = (0.15, 0.3, 0.5, 0.75, 1.0)  # factor exp(±v)
DROP_FRAC = (0.05, 0.1, 0.2, 0.3, 0.45)
LEAD_DROP_P = (0.1, 0.2, 0.3, 0.45, 0.6)


def _sample_std(x):
    return x.flatten(1).std(1).clamp_min(1e-8)


def _ecg_interference(fs: float) -> dict[str, Callable]:
    """The corruptions that need the sampling rate: baseline wander and powerline hum."""

    def baseline_wander(x, idx, severity):
        s = _check(severity)
        n, _, t = x.shape
        u = hash_uniform(idx.cpu(), 4, "ecg_wander").to(x.device)
        tt = torch.arange(t, device=x.device, dtype=torch.float64) / fs
        # two slow components (0.05–0.5 Hz respiration-like and a drift) with random phases
        f1 = 0.05 + 0.45 * u[:, :1]
        w = torch.sin(2 * math.pi * f1 * tt + 2 * math.pi * u[:, 1:2]) + 0.5 * torch.sin(
            2 * math.pi * 0.5 * f1 * tt + 2 * math.pi * u[:, 2:3]
        )
        w = w / 1.5 * (WANDER_AMP[s] * _sample_std(x).double()).view(n, 1)
        return x + w.to(x.dtype).unsqueeze(1)

    def powerline(x, idx, severity):
        s = _check(severity)
        n, _, t = x.shape
        u = hash_uniform(idx.cpu(), 2, "ecg_powerline").to(x.device)
        hz = torch.where(u[:, :1] < 0.5, 50.0, 60.0).double()
        tt = torch.arange(t, device=x.device, dtype=torch.float64) / fs
        w = torch.sin(2 * math.pi * hz * tt + 2 * math.pi * u[:, 1:2])
        w = w * (POWERLINE_AMP[s] * _sample_std(x).double()).view(n, 1) * math.sqrt(2)
        return x + w.to(x.dtype).unsqueeze(1)

    return {"baseline_wander": baseline_wander, "powerline": powerline}


def emg_noise(x, idx, severity):
    s = _check(severity)
    e = _noise_like(x, idx, ("ecg_emg",))
    e = torch.diff(e, dim=-1, prepend=torch.zeros_like(e[..., :1])) / math.sqrt(2)
    return x + e * _per_sample(EMG_STD[s] * _sample_std(x), x)


def amplitude_scaling(x, idx, severity):
    s = _check(severity)
    f = torch.exp(_signed(idx, "ecg_scale", severity, SCALE_LOG[s]))
    return x * _per_sample(f, x)


def segment_dropout(x, idx, severity):
    s = _check(severity)
    n, _, t = x.shape
    w = max(1, int(round(DROP_FRAC[s] * t)))
    centre = hash_uniform(idx.cpu(), 1, "ecg_segment")[:, 0] * t  # same centre at every severity
    start = (centre - w / 2).round().long().clamp(0, t - w).to(x.device)
    pos = torch.arange(t, device=x.device).view(1, t)
    m = (pos >= start.view(n, 1)) & (pos < (start + w).view(n, 1))
    return x.masked_fill(m.unsqueeze(1), 0.0)


def lead_dropout(x, idx, severity):
    s = _check(severity)
    n, c, _ = x.shape
    u = hash_uniform(idx.cpu(), c, "ecg_lead").to(x.device)
    drop = u < LEAD_DROP_P[s]
    # keep at least one lead: the lead with the largest draw survives
    keep = torch.nn.functional.one_hot(u.argmax(1), c).bool()
    return x.masked_fill((drop & ~keep).unsqueeze(-1), 0.0)


def ecg_corruptions(fs: float, n_leads: int) -> dict[str, Callable]:
    out = {
        **_ecg_interference(fs),
        "emg_noise": emg_noise,
        "amplitude_scaling": amplitude_scaling,
        "segment_dropout": segment_dropout,
    }
    if n_leads > 1:
        out["lead_dropout"] = lead_dropout
    return out
