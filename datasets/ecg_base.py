"""What the ECG adapters share (MIT-BIH in `datasets.mitdb`, UCR ECG200 / ECG5000 in `datasets.ucr`,
PTB-XL in `datasets.ptbxl`): the adapter base, per-series z-scoring, an atomic tensor cache and the
PhysioNet file list (checked against PhysioNet's SHA256SUMS.txt). Spec "signal1d" (C, T).

Normalisation (documented per adapter): MIT-BIH and PTB-XL are z-scored per record and lead (the
record's median and std), so gain/offset differences between recordings are removed while the
beat-to-beat morphology within a record is kept; UCR series are z-normalised per series, the UCR
archive's own convention (a no-op for files that are already normalised).

Views: `datasets.signal_views.ecg_view` (crop-stretch, amplitude scale, baseline wander, noise,
segment mask). Corruptions: `datasets.signal_corruptions.ecg_corruptions`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar

import torch

from datasets.base import Adapter
from datasets.signal_corruptions import ecg_corruptions
from datasets.signal_views import ecg_view, policy_view


class ECGAdapter(Adapter):
    domain = "ecg"
    fs: ClassVar[float] = 360.0  # sampling rate used by views/corruptions (nominal for UCR)

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        if policy is not None:
            return policy_view(x, generator, policy, lambda t, g: ecg_view(t, g, self.fs))
        return ecg_view(x, generator, self.fs)

    def corruptions(self):
        return ecg_corruptions(self.fs, self.spec.shape[0])


def zscore_rows(x: torch.Tensor) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    sd = x.std(-1, keepdim=True).clamp_min(1e-6)
    return (x - mu) / sd


def _cache_dir() -> Path:
    env = os.environ.get("SSLBENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sslbench" / "cache"


def files_key(paths: list[Path], *extra) -> str:
    h = hashlib.sha256(repr(extra).encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def cached_tensors(key: str, build):
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


def physionet_files(db: str, version: str, dest: str, names: list[str], sizes: dict[str, int] | None = None):
    """RemoteFiles for files of PhysioNet database `db` at `version`, under the data dir's `dest`:
    `https://physionet.org/files/<db>/<version>/<name>` (the version appears once in the URL), each
    checked against the database's published SHA256SUMS.txt, which is fetched first."""
    from datasets.files import remote

    sums = f"{dest}/SHA256SUMS.txt"
    out = [remote(sums, "physionet", f"files/{db}/{version}/SHA256SUMS.txt")]
    for n in names:
        out.append(
            remote(
                f"{dest}/{n}",
                "physionet",
                f"files/{db}/{version}/{n}",
                size=(sizes or {}).get(n),
                hash_list=sums,
            )
        )
    return out
