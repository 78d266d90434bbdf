"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) in torchvision's layout: the official "python version"
pickles, `<data_dir>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}` and
`<data_dir>/cifar-100-python/{train, test, meta}`.

Every file is checked against the MD5 torchvision publishes (`torchvision.datasets.CIFAR10.train_list`
etc., read lazily) *before* it is unpickled, and unpickled only from the data dir with
`encoding="bytes"` by an unpickler that resolves nothing but the numpy array constructors (the
batches are dicts of bytes, lists and one uint8 array), so a swapped file cannot run code. Then the
array shape (N, 3072) uint8, the label count and label range are checked per file. Missing files
are downloaded from torchvision's URL (the official tarball, MD5-checked, written atomically, then
only the expected members extracted). Official split: 50k train / 10k test; val is a stratified
10 % of train fixed by a seed derived from the dataset name (docs/design.md §3.1).

Options: `download` (default True), `encoder` (`small` | `resnet18`).
OOD partners: CIFAR-10 and CIFAR-100 are each other's near partner (docs/design.md §3.6); no registered far
partner has the 3×32×32 spec (the OOD protocol adds its synthetic-noise partner).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.files import file_digest, stage
from datasets.splitting import stratified_holdout


@dataclass(frozen=True)
class CifarLayout:
    folder: str
    url: str
    tgz_name: str
    tgz_md5: str
    train: tuple[tuple[str, str, int], ...]  # (file, md5, samples)
    test: tuple[tuple[str, str, int], ...]
    meta: tuple[str, str, str]  # (file, md5, key of the class names)
    label_key: str
    num_classes: int


def official_layout(variant: str) -> CifarLayout:
    """Files, MD5s and URL as torchvision publishes them (imported lazily)."""
    from torchvision.datasets import CIFAR10, CIFAR100

    cls, label_key, k = {"cifar10": (CIFAR10, "labels", 10), "cifar100": (CIFAR100, "fine_labels", 100)}[
        variant
    ]
    per_train = 50000 // len(cls.train_list)
    return CifarLayout(
        cls.base_folder,
        cls.url,
        cls.filename,
        cls.tgz_md5,
        tuple((f, m, per_train) for f, m in cls.train_list),
        tuple((f, m, 10000) for f, m in cls.test_list),
        (cls.meta["filename"], cls.meta["md5"], cls.meta["key"]),
        label_key,
        k,
    )


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}  # how Python 3 pickles bytes at protocol 2; a pure transform


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_pickle(path: Path) -> dict:
    """One official batch file as a dict with str keys (`pickle` with encoding="bytes")."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except (
        OSError,
        EOFError,
        ValueError,
        TypeError,
        pickle.UnpicklingError,
        AttributeError,
        IndexError,
    ) as e:
        raise DataError(
            f"{path}: not a readable CIFAR python batch ({type(e).__name__}: {e}); the file is "
            f"truncated or corrupt — delete it and download it again"
        ) from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict (CIFAR python batch), got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_batch(path: Path, n: int, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (n, 3, 32, 32), int64 labels (n,)) from one batch file, every field checked."""
    d = load_pickle(path)
    for key in ("data", label_key):
        if key not in d:
            raise DataError(
                f"{path}: no {key!r} entry; expected a CIFAR python batch with keys "
                f"'data' and {label_key!r} (found {sorted(d)})"
            )
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (n, 3072):
        shape = getattr(data, "shape", None)
        raise DataError(
            f"{path}: 'data' is {type(data).__name__} {getattr(data, 'dtype', '')} of shape "
            f"{shape}; expected uint8 ({n}, 3072)"
        )
    labels = np.asarray(d[label_key])
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: {label_key!r} has shape {labels.shape} dtype {labels.dtype}; expected "
            f"{n} integer labels"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{path}: labels take values {labels.min()}..{labels.max()}; expected 0..{num_classes - 1}"
        )
    return data.reshape(n, 3, 32, 32), labels.astype(np.int64)


def read_cifar_dir(root: Path, layout: CifarLayout, verify: bool = True):
    """Verify (MD5) and read every file of `layout` in `root`: (x_train, y_train, x_test, y_test,
    class names)."""

    def check(fname, md5):
        path = root / fname
        if not path.is_file():
            raise DataError(f"{path}: missing; expected the official CIFAR file {fname}")
        if verify and file_digest(path, "md5") != md5:
            raise DataError(
                f"{path}: MD5 does not match torchvision's published {md5}; the file is "
                f"truncated, corrupt or not the official release — delete {root} and "
                f"download it again"
            )
        return path

    parts = {}
    for split, files in (("train", layout.train), ("test", layout.test)):
        xs, ys = zip(*(read_batch(check(f, m), n, layout.label_key, layout.num_classes) for f, m, n in files))
        parts[split] = (np.concatenate(xs), np.concatenate(ys))
    meta = load_pickle(check(layout.meta[0], layout.meta[1]))
    names = meta.get(layout.meta[2])
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise DataError(
            f"{root / layout.meta[0]}: {layout.meta[2]!r} should list {layout.num_classes} class names"
        )
    names = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    return (*parts["train"], *parts["test"], names)


# Official tarball sizes in bytes.
TGZ_SIZES = {"cifar10": 170498071, "cifar100": 169001437}


def remote_file(layout: CifarLayout, variant: str):
    """The official tarball (torchvision's URL, https://www.cs.toronto.edu/~kriz/<tgz>), MD5-checked;
    only the expected members are extracted, each checked against its own published MD5."""
    from datasets.files import Extract, remote

    files = (*layout.train, *layout.test, (layout.meta[0], layout.meta[1], 0))
    return remote(
        layout.tgz_name,
        "toronto",
        f"~kriz/{layout.tgz_name}",
        f"md5:{layout.tgz_md5}",
        TGZ_SIZES.get(variant),
        extract=Extract(
            into=layout.folder,
            strip=layout.folder,
            members=tuple(f for f, *_ in files),
            member_hashes={f: f"md5:{m}" for f, m, _ in files},
            provides=tuple(f for f, *_ in files),
        ),
    )


def fetch(data_dir: Path, layout: CifarLayout, variant: str = "cifar10") -> Path:
    """Download the official tarball (MD5-checked) and extract only the expected members."""
    stage(remote_file(layout, variant), data_dir)
    return data_dir / layout.folder


class _Cifar(Adapter):
    variant: str
    domain = "natural_images"
    spec = InputSpec("image2d", (3, 32, 32))

    dataset_version = "python"  # the one "CIFAR-10/100 python version" release (2009)

    def remote_files(self):
        return [remote_file(official_layout(self.variant), self.variant)]

    def load_splits(self) -> dict[str, Split]:
        layout = official_layout(self.variant)
        root = self.data_dir / layout.folder
        needed = [f for f, *_ in (*layout.train, *layout.test, layout.meta)]
        if not all((root / f).is_file() for f in needed):
            if not self.options.get("download", True):
                raise DataError(
                    f"{self.name}: files {needed} not all found in {root}; download "
                    f"{layout.url} (MD5 {layout.tgz_md5}) and extract it in {self.data_dir}"
                )
            fetch(self.data_dir, layout, self.variant)
        x_tr, y_tr, x_te, y_te, names = read_cifar_dir(root, layout)
        self.task = TaskSpec(layout.num_classes, class_names=names)
        x_tr, y_tr = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
        train_idx, val_idx = stratified_holdout(y_tr, 0.1, self.name)
        return {
            "train": Split(x_tr[train_idx], y_tr[train_idx]),
            "val": Split(x_tr[val_idx], y_tr[val_idx]),
            "test": Split(torch.from_numpy(x_te), torch.from_numpy(y_te)),
        }

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True).float().div_(255.0)

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        from datasets.image_views import policy_view, simclr_rgb_view

        if policy is not None:
            return policy_view(x, generator, policy)
        return simclr_rgb_view(x, generator)

    def corruptions(self):
        from datasets.image_corruptions import IMAGE_CORRUPTIONS

        return dict(IMAGE_CORRUPTIONS)


@register_adapter
class CIFAR10(_Cifar):
    name = "cifar10"
    variant = "cifar10"
    task = TaskSpec(10)
    ood_partners = {"near": ["cifar100"], "far": []}


@register_adapter
class CIFAR100(_Cifar):
    name = "cifar100"
    variant = "cifar100"
    task = TaskSpec(100)
    ood_partners = {"near": ["cifar10"], "far": []}
