"""File integrity and official downloads shared by adapters.

Every file is checked before use: a published checksum where one exists, otherwise shape/count
checks in the reader. Downloads go only to the adapter's known official URLs, to a temp file that is
verified and then renamed into place, so a half-downloaded file is never trusted.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from datasets.base import DataError


def file_digest(path: Path, algo: str = "md5", decompress: bool = False) -> str:
    h = hashlib.new(algo)
    opener = gzip.open if decompress else open
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(
            f"{path}: cannot read ({e}); expected a complete"
            f"{' gzip' if decompress else ''} file, "
            f"this one is truncated or corrupt — "
            f"delete it and download it again"
        ) from e
    return h.hexdigest()


# The only places files are fetched from: each adapter's official source (its URL constants).
OFFICIAL_URL_PREFIXES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Fashion-MNIST
    "https://www.cs.toronto.edu/~kriz/",  # CIFAR-10/100
    "https://zenodo.org/records/",  # MedMNIST v2 (medmnist.INFO urls)
    "https://github.com/Jakobovski/free-spoken-digit-dataset/",  # FSDD
    "http://download.tensorflow.org/data/",  # Speech Commands v2
    "https://github.com/karolpiczak/ESC-50/",  # ESC-50
    "https://www.timeseriesclassification.com/aeon-toolkit/",  # UCR ECG200/ECG5000
    "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/",  # UCI Adult
)


def check_official_url(url: str) -> str:
    """Refuse any URL that is not under a known official source (no other host, no other scheme)."""
    if not isinstance(url, str) or ".." in url or not url.startswith(OFFICIAL_URL_PREFIXES):
        raise DataError(
            f"refusing to download {url!r}: not one of the official dataset sources "
            f"({', '.join(OFFICIAL_URL_PREFIXES)}); put the file in the data dir by hand"
        )
    return url


def download(url: str, dest: Path, md5: str | None = None) -> Path:
    """Fetch `url` to `dest` atomically, verifying `md5` before the file appears."""
    check_official_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        if md5 and file_digest(Path(tmp)) != md5:
            raise DataError(f"{url}: downloaded file fails its MD5 check (expected {md5})")
        os.replace(tmp, dest)
    except OSError as e:
        raise DataError(
            f"cannot download {url} to {dest}: {e}. Without internet, put the official "
            f"files in a data dir and pass --data-dir or set SSLBENCH_DATA_DIR"
        ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


# ---- download helpers that leave nothing behind when offline -------------------------------
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
    """`download` that removes the folders it created when the download fails."""
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


def fetch_archive(url: str, sha256: str | None, dest: Path, members: str, what: str) -> None:
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
