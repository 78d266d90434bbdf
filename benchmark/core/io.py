"""Atomic file output: write to a temp file in the same directory, fsync, then rename. A reader (or
a crash) sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results and leaderboards are shared files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_torch_save(path, obj: Any) -> Path:
    return atomic_write(path, lambda f: torch.save(obj, f))


def safe_torch_load(path) -> Any:
    """Only tensors and plain containers: never unpickle arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


def writable_dir(path, flag: str, create: bool = True) -> Path:
    """`path` as a directory we can write into, created when missing (with `create=False`, the
    nearest existing parent is checked instead and nothing is left behind); otherwise a UsageError in
    one line naming `flag` (a file in the way, a read-only or missing parent). Writing a probe file is
    the only reliable test: root passes `os.access` on read-only mounts."""
    from benchmark.core.errors import UsageError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: is a file, expected a directory")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is a file, expected a directory")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path if path.is_dir() else parent, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{flag} {path}: not writable ({e.strerror or e})") from None
    return path
