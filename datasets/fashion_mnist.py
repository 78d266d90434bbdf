"""Fashion-MNIST (Xiao et al. 2017) from its official idx `.gz` files.

Looked up, in order, in `<data_dir>/fashion-mnist`, `<data_dir>/FashionMNIST/raw` (torchvision's
layout), `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`), else downloaded from
the official mirror torchvision uses, with its MD5s. Official split: 60k train / 10k test; val is a
stratified 10 % of train fixed by a seed derived from the dataset name (docs/design.md §3.1).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.files import file_digest, stage_all
from datasets.image_views import policy_view, simclr_image_view
from datasets.splitting import stratified_holdout

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# The same .gz files in the dataset's own repository: the fallback when the S3 website is down.
GITHUB_PATH = "zalandoresearch/fashion-mnist/raw/master/data/fashion/"
# Official .gz sizes in bytes (as the S3 host and GitHub serve them).
SIZES = {
    "train-images-idx3-ubyte.gz": 26421880,
    "train-labels-idx1-ubyte.gz": 29515,
    "t10k-images-idx3-ubyte.gz": 4422102,
    "t10k-labels-idx1-ubyte.gz": 5148,
}
# name: (official .gz MD5 as torchvision publishes it, SHA256 of the decompressed idx payload,
#        expected idx dims)
FILES = {
    "train-images-idx3-ubyte.gz": (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        (60000, 28, 28),
    ),
    "train-labels-idx1-ubyte.gz": (
        "25c81989df183df01b3e8a0aad5dffbe",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        (60000,),
    ),
    "t10k-images-idx3-ubyte.gz": (
        "bef4ecab320f06d8554ea6380940ec79",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        (10000, 28, 28),
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "bb300cfdad3c16e7a12a480ee83cd310",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        (10000,),
    ),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


def read_idx_gz(path: Path, expected_dims: tuple[int, ...]) -> np.ndarray:
    """Parse an idx file (magic 0x0000 08 <ndim>, big-endian dims, uint8 payload), checking every
    field against `expected_dims` so a truncated or foreign file fails with its name."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(
            f"{path}: not a readable gzip idx file ({e}); the file is truncated or "
            f"corrupt — delete it and re-download (or reinstall dataset-fashion-mnist)"
        ) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(
            f"{path}: bad idx magic {raw[:4].hex()!r}; expected 000008{len(expected_dims):02x} "
            f"(uint8 idx with {len(expected_dims)} dims)"
        )
    ndim = raw[3]
    if ndim != len(expected_dims):
        raise DataError(f"{path}: idx has {ndim} dims; expected {len(expected_dims)}")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    if tuple(dims) != tuple(expected_dims):
        raise DataError(f"{path}: idx shape {tuple(dims)}; expected {tuple(expected_dims)}")
    payload = raw[4 + 4 * ndim :]
    if len(payload) != int(np.prod(dims)):
        raise DataError(
            f"{path}: payload has {len(payload)} bytes; expected {int(np.prod(dims))} "
            f"for shape {tuple(dims)} — the file is truncated"
        )
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def verify(path: Path, md5_gz: str, sha_raw: str) -> None:
    """Accept the official .gz (MD5) or a recompressed copy of the same bytes (SHA256 of content)."""
    if file_digest(path, "md5") == md5_gz:
        return
    if file_digest(path, "sha256", decompress=True) == sha_raw:
        return
    raise DataError(
        f"{path}: checksum mismatch — neither the official MD5 {md5_gz} of the .gz nor "
        f"the SHA256 of its idx content matches; delete it and download it again"
    )


def remote_files() -> list:
    from datasets.files import Location, remote

    return [
        remote(
            f"fashion-mnist/{f}",
            "fashion_mnist",
            f,
            f"md5:{md5}",
            SIZES[f],
            fallbacks=(Location("github", GITHUB_PATH + f),),
        )
        for f, (md5, _, _) in FILES.items()
    ]


def find_local(data_dir: Path) -> Path | None:
    for d in (data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw", DEBIAN_DIR):
        if all((d / f).exists() for f in FILES):
            return d
    return None


def locate_files(data_dir: Path, allow_download: bool = True) -> Path:
    found = find_local(data_dir)
    if found is not None:
        return found
    candidates = [data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw", DEBIAN_DIR]
    if not allow_download:
        raise DataError(
            f"Fashion-MNIST files {sorted(FILES)} not found in any of {[str(c) for c in candidates]}"
        )
    stage_all(remote_files(), data_dir)
    return data_dir / "fashion-mnist"


# Verified arrays per process, keyed by each file's path, size and mtime: every job of a suite
# reuses them instead of re-hashing and re-decompressing 30 MB, and a changed file is re-checked.
_VERIFIED: dict[tuple, dict[str, np.ndarray]] = {}


def _load_verified(root: Path) -> dict[str, np.ndarray]:
    key = tuple(
        (str((root / f).resolve()), (root / f).stat().st_size, (root / f).stat().st_mtime_ns) for f in FILES
    )
    if key not in _VERIFIED:
        arrays = {}
        for fname, (md5, sha, dims) in FILES.items():
            verify(root / fname, md5, sha)
            arrays[fname] = read_idx_gz(root / fname, dims)
        _VERIFIED.clear()
        _VERIFIED[key] = arrays
    return _VERIFIED[key]


@register_adapter
class FashionMNIST(Adapter):
    name = "fashion_mnist"
    domain = "natural_images"
    spec = InputSpec("image2d", (1, 28, 28))
    task = TaskSpec(10, class_names=CLASSES)
    # near: handwritten digits at 28 px; far: gray medical images (datasets/digits.py, medmnist.py)
    ood_partners = {"near": ["sklearn_digits_28"], "far": ["breastmnist", "pneumoniamnist"]}
    dataset_version = "2017"  # the one release (Xiao et al. 2017); no later versions exist

    def remote_files(self):
        return remote_files()

    def local_copy(self):
        return find_local(self.data_dir)

    def load_splits(self) -> dict[str, Split]:
        root = locate_files(self.data_dir, allow_download=self.options.get("download", True))
        arrays = _load_verified(root)
        x_train = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].copy()).unsqueeze(1)
        y_train = torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64))
        x_test = torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"].copy()).unsqueeze(1)
        y_test = torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
        train_idx, val_idx = stratified_holdout(y_train, 0.1, self.name)
        return {
            "train": Split(x_train[train_idx], y_train[train_idx]),
            "val": Split(x_train[val_idx], y_train[val_idx]),
            "test": Split(x_test, y_test),
        }

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True).float().div_(255.0)

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        # No horizontal-flip ban: garments are left/right symmetric classes.
        if policy is not None:
            return policy_view(x, generator, policy)
        return simclr_image_view(x, generator)

    def corruptions(self):
        from datasets.image_corruptions import IMAGE_CORRUPTIONS

        return dict(IMAGE_CORRUPTIONS)
