"""MedMNIST (Yang et al., Scientific Data 2023): the 12 2D and 6 3D sets, from the official `.npz`
files the `medmnist` package downloads, under the package's own flag names. The release is the one
the installed package's `INFO` describes — v3 (Zenodo record 10519652) for medmnist 3.x — and is
recorded with every result as `dataset_version` ("v3"). The reference numbers of docs/design.md §5
were published on v2.

Files: `<flag>.npz` (28 px) or `<flag>_<size>.npz`, looked up in `<data_dir>/medmnist/`,
`<data_dir>/` and `~/.medmnist/` (the package's default root), else downloaded from the Zenodo URL
in `medmnist.INFO` into `<data_dir>/medmnist/`. Every file is checked against the official MD5 in
`medmnist.INFO` (`MD5`, `MD5_64`, ...), then its keys, shapes, dtypes, per-split counts
(`INFO[flag]["n_samples"]`) and label ranges; any mismatch or truncation is a `DataError` naming
the file, what was expected and how to fix it. Official train/val/test splits (docs/design.md §3.1).

Options (suite `options:` or `get_adapter(..., **options)`):
- `size`: 28 (default) or 64; 2D sets also 128 and 224 (as `medmnist.INFO` offers them; large).
- `encoder`: `small` (default, the CPU CNN of `benchmark.models.encoders`) or `resnet18` (ResNet-18 with a
  small-image stem in 2D, a ResNet-18-style 3D CNN for volumes; for GPUs).
- `download`: False to never download (the error then names the files and where to put them).
- `verify`: False to skip the MD5 check (e.g. for a copy re-saved by another tool); the
  shape/count/label checks still run.

Specs: image2d (C, H, W) with C = 1 (gray) or 3 (RGB; stored HWC upstream, transposed here);
volume3d (1, D, H, W). Images stay uint8 in memory; `prepare` gives floats in [0, 1]. ChestMNIST is
multi-label (14 findings): `TaskSpec(multilabel=True)` and float labels (N, 14); RetinaMNIST's
ordinal grades are scored as 5 classes.

Views: `image_views.simclr_image_view` (gray) / `simclr_rgb_view` (RGB) and
`volume_views.volume_view` (3D); no mirror flips for the Organ{A,C,S}MNIST / OrganMNIST3D sets,
whose classes include left/right organs. Corruptions: `image_corruptions.IMAGE_CORRUPTIONS` (2D) and
`volume_corruptions.VOLUME_CORRUPTIONS` (3D).

OOD partners (docs/design.md §3.6, all 28 px defaults, the spec the OOD protocol compares):
- gray 2D: near = up to three other gray MedMNIST sets of a different source (the Organ family
  never lists its own siblings, which share their classes); far = `fashion_mnist` and
  `sklearn_digits_28` (natural images at 1×28×28).
- RGB 2D: near = other RGB MedMNIST sets; no registered far partner has the 3×28×28 spec (the
  protocol's synthetic-noise partner remains).
- 3D: sets from CT (organ, nodule, adrenal, fracture) are near to each other and far from those of
  another acquisition (vessel: MRA, synapse: electron microscopy), and vice versa.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.files import file_digest, stage

# flag: (channels, classes, multilabel). Static so registration does not import `medmnist`;
# tests check it against medmnist.INFO.
FLAGS_2D: dict[str, tuple[int, int, bool]] = {
    "pathmnist": (3, 9, False),
    "chestmnist": (1, 14, True),
    "dermamnist": (3, 7, False),
    "octmnist": (1, 4, False),
    "pneumoniamnist": (1, 2, False),
    "retinamnist": (3, 5, False),
    "breastmnist": (1, 2, False),
    "bloodmnist": (3, 8, False),
    "tissuemnist": (1, 8, False),
    "organamnist": (1, 11, False),
    "organcmnist": (1, 11, False),
    "organsmnist": (1, 11, False),
}
FLAGS_3D: dict[str, tuple[int, int, bool]] = {
    "organmnist3d": (1, 11, False),
    "nodulemnist3d": (1, 2, False),
    "adrenalmnist3d": (1, 2, False),
    "fracturemnist3d": (1, 3, False),
    "vesselmnist3d": (1, 2, False),
    "synapsemnist3d": (1, 2, False),
}
SIZES_2D = (28, 64, 128, 224)
SIZES_3D = (28, 64)
NO_FLIP = {"organamnist", "organcmnist", "organsmnist", "organmnist3d"}
SPLITS = ("train", "val", "test")

# OOD partner orders (smaller downloads first).
_GRAY_NEAR = ["breastmnist", "pneumoniamnist", "organsmnist", "octmnist", "chestmnist", "tissuemnist"]
_RGB_NEAR = ["retinamnist", "dermamnist", "bloodmnist", "pathmnist"]
_CT_3D = ["adrenalmnist3d", "nodulemnist3d", "fracturemnist3d", "organmnist3d"]
_OTHER_3D = ["vesselmnist3d", "synapsemnist3d"]


def _load_info() -> dict[str, dict[str, Any]]:
    """`medmnist.INFO`. Its `info.py` is loaded on its own when possible: importing the package runs
    its `__init__`, which pulls in torchvision and PIL (a second of start-up)."""
    import importlib.util
    import sys

    if "medmnist" in sys.modules:
        return sys.modules["medmnist"].INFO
    spec = importlib.util.find_spec("medmnist")
    locs = list(spec.submodule_search_locations or []) if spec else []
    info_py = Path(locs[0]) / "info.py" if locs else None
    if info_py is not None and info_py.is_file():
        mod_spec = importlib.util.spec_from_file_location("_sslbench_medmnist_info", info_py)
        mod = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(mod)
        return mod.INFO
    from medmnist import INFO  # an unusual install layout: import the package

    return INFO


_INFO: dict[str, dict[str, Any]] | None = None


def medmnist_info(flag: str) -> dict[str, Any]:
    """`medmnist.INFO[flag]`, loaded lazily (official URLs, MD5s, split sizes, label names)."""
    global _INFO
    if _INFO is None:
        try:
            _INFO = _load_info()
        except ImportError as e:
            raise DataError(
                f"{flag}: the `medmnist` package is needed for its official URLs and MD5s "
                f"(pip install 'medmnist>=3.0')"
            ) from e
    if flag not in _INFO:
        raise KeyError(f"medmnist.INFO has no flag {flag!r}")
    return _INFO[flag]


def medmnist_release() -> str:
    """The MedMNIST release whose URLs and MD5s are in use: the installed `medmnist` package's
    `INFO` describes v<major> (medmnist 3.x → the v3 files on Zenodo record 10519652), e.g. "v3"."""
    try:
        from importlib.metadata import version

        return f"v{version('medmnist').split('.')[0]}"
    except Exception:  # not installed: nothing can be read or downloaded anyway
        return ""


def npz_name(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def official_url_md5(flag: str, size: int) -> tuple[str, str]:
    info = medmnist_info(flag)
    suffix = "" if size == 28 else f"_{size}"
    if f"url{suffix}" not in info:
        raise ValueError(f"{flag}: medmnist.INFO offers no size {size}")
    return info[f"url{suffix}"], info[f"MD5{suffix}"]


def candidate_paths(data_dir: Path, flag: str, size: int) -> list[Path]:
    fname = npz_name(flag, size)
    return [data_dir / "medmnist" / fname, data_dir / fname, Path.home() / ".medmnist" / fname]


# Sizes in bytes of the official files we have seen (their MD5s match medmnist.INFO); others are
# listed as unknown until someone records them.
NPZ_SIZES = {"breastmnist.npz": 559580, "adrenalmnist3d.npz": 276833, "adrenalmnist3d_64.npz": 1880591}


def remote_file(flag: str, size: int):
    """The official npz on Zenodo (the URL and MD5 of `medmnist.INFO`, i.e. the release the installed
    `medmnist` package describes: v3 for medmnist 3.x)."""
    from datasets.files import SOURCES, remote

    url, md5 = official_url_md5(flag, size)
    if not url.startswith(SOURCES["zenodo"]):
        raise DataError(f"{flag}: medmnist.INFO url {url!r} is not on Zenodo; expected {SOURCES['zenodo']}…")
    name = npz_name(flag, size)
    return remote(
        f"medmnist/{name}", "zenodo", url.removeprefix(SOURCES["zenodo"]), f"md5:{md5}", NPZ_SIZES.get(name)
    )


def find_npz(data_dir: Path, flag: str, size: int) -> Path | None:
    return next((p for p in candidate_paths(data_dir, flag, size) if p.is_file()), None)


def locate_npz(data_dir: Path, flag: str, size: int, allow_download: bool = True) -> Path:
    cands = candidate_paths(data_dir, flag, size)
    found = find_npz(data_dir, flag, size)
    if found is not None:
        return found
    url, md5 = official_url_md5(flag, size)
    if not allow_download:
        raise DataError(
            f"{flag}: {npz_name(flag, size)} not found in any of {[str(c) for c in cands]}; "
            f"download it from {url} (MD5 {md5}) into {cands[0].parent}"
        )
    try:
        return stage(remote_file(flag, size), data_dir)
    except DataError as e:
        raise DataError(
            f"{flag}: {npz_name(flag, size)} is not in any of {[str(c) for c in cands]} and "
            f"downloading it failed: {e}. Put the official file (from {url}, MD5 {md5}) in "
            f"{cands[0].parent}"
        ) from e


def verify_md5(path: Path, md5: str) -> None:
    got = file_digest(path, "md5")
    if got != md5:
        raise DataError(
            f"{path}: MD5 {got} does not match the official {md5} (medmnist.INFO); the file "
            f"is truncated, corrupt or not the official release — delete it and download it "
            f"again (or pass the option verify: false for a re-saved copy)"
        )


def expected_image_shape(n: int, size: int, channels: int, volume: bool) -> tuple[int, ...]:
    if volume:
        return (n, size, size, size)
    return (n, size, size) if channels == 1 else (n, size, size, 3)


def read_medmnist_npz(
    path: Path,
    flag: str,
    size: int,
    n_samples: dict[str, int],
    channels: int,
    num_classes: int,
    multilabel: bool,
    volume: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (uint8 images, labels (N, L))} from an official npz, every field checked."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(
            f"{path}: not a readable .npz archive ({e}); the file is truncated or corrupt — "
            f"delete it and download it again"
        ) from e
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path}: expected an .npz archive with train/val/test images and labels, found a single array"
        )
    n_labels = num_classes if multilabel else 1
    out = {}
    with z:
        missing = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels") if f"{s}_{k}" not in z.files]
        if missing:
            raise DataError(
                f"{path}: missing arrays {missing}; expected train/val/test _images and "
                f"_labels as in the official MedMNIST release (found {sorted(z.files)})"
            )
        for s in SPLITS:
            try:
                images, labels = z[f"{s}_images"], z[f"{s}_labels"]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise DataError(
                    f"{path}: cannot read {s} arrays ({e}); the file is truncated or corrupt — "
                    f"delete it and download it again"
                ) from e
            n = n_samples[s]
            want = expected_image_shape(n, size, channels, volume)
            if tuple(images.shape) != want:
                raise DataError(
                    f"{path}: {s}_images has shape {tuple(images.shape)}; expected {want} "
                    f"({flag} at size {size}, {n} {s} samples per medmnist.INFO); not the official "
                    f"file — delete it and download it again"
                )
            if tuple(labels.shape) != (n, n_labels):
                raise DataError(
                    f"{path}: {s}_labels has shape {tuple(labels.shape)}; expected "
                    f"{(n, n_labels)}; not the official file — delete it and download it again"
                )
            images = _as_uint8(images, path, s)
            if not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"{path}: {s}_labels has dtype {labels.dtype}; expected integers")
            hi = 1 if multilabel else num_classes - 1
            if labels.size and (labels.min() < 0 or labels.max() > hi):
                raise DataError(
                    f"{path}: {s}_labels take values {int(labels.min())}..{int(labels.max())}; "
                    f"expected 0..{hi}"
                )
            out[s] = (images, labels)
    return out


def _as_uint8(images: np.ndarray, path: Path, split: str) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating) and images.size and images.min() >= 0 and images.max() <= 1:
        return np.round(images * 255).astype(np.uint8)  # some older 3D releases stored [0, 1] floats
    raise DataError(f"{path}: {split}_images has dtype {images.dtype}; expected uint8 (or floats in [0, 1])")


class MedMNISTAdapter(Adapter):
    """One MedMNIST flag; the concrete classes are made by `_make` below."""

    flag: str
    volume: bool
    channels: int
    num_classes: int
    multilabel: bool

    extra_options = frozenset({"size", "verify"})

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        sizes = SIZES_3D if self.volume else SIZES_2D
        self.size = int(options.get("size", 28))
        if self.size not in sizes:
            raise ValueError(f"{self.name}: size must be one of {sizes}, got {options.get('size')!r}")
        self.spec = _spec(self.volume, self.channels, self.size)

    @classmethod
    def version(cls, options=None) -> str:
        return medmnist_release()

    def remote_files(self):
        return [remote_file(self.flag, self.size)]

    def local_copy(self):
        return find_npz(self.data_dir, self.flag, self.size)

    def load_splits(self) -> dict[str, Split]:
        info = medmnist_info(self.flag)
        path = locate_npz(self.data_dir, self.flag, self.size, self.options.get("download", True))
        if self.options.get("verify", True):
            verify_md5(path, official_url_md5(self.flag, self.size)[1])
        arrays = read_medmnist_npz(
            path,
            self.flag,
            self.size,
            info["n_samples"],
            self.channels,
            self.num_classes,
            self.multilabel,
            self.volume,
        )
        splits = {}
        for s, (images, labels) in arrays.items():
            x = torch.from_numpy(np.ascontiguousarray(images))
            x = (
                x.permute(0, 3, 1, 2).contiguous()
                if (not self.volume and self.channels == 3)
                else x.unsqueeze(1)
            )
            if self.multilabel:
                y = torch.from_numpy(labels.astype(np.float32))
            else:
                y = torch.from_numpy(labels.reshape(-1).astype(np.int64))
            splits[s] = Split(x, y)
        labels = info.get("label", {})
        self.task = TaskSpec(
            self.num_classes,
            multilabel=self.multilabel,
            class_names=tuple(labels[str(i)] for i in range(self.num_classes) if str(i) in labels),
        )
        return splits

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True).float().div_(255.0)

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        if self.volume:
            from datasets.volume_views import policy_view, volume_view

            axes = () if self.flag in NO_FLIP else (0, 1, 2)
            if policy is not None:
                return policy_view(x, generator, policy, flip_axes=axes)
            return volume_view(x, generator, flip_axes=axes)
        from datasets.image_views import policy_view, simclr_image_view, simclr_rgb_view

        if policy is not None:
            return policy_view(x, generator, policy, flip=self.flag not in NO_FLIP)
        view = simclr_rgb_view if self.channels == 3 else simclr_image_view
        return view(x, generator, flip=self.flag not in NO_FLIP)

    def corruptions(self):
        if self.volume:
            from datasets.volume_corruptions import VOLUME_CORRUPTIONS

            return dict(VOLUME_CORRUPTIONS)
        from datasets.image_corruptions import IMAGE_CORRUPTIONS

        return dict(IMAGE_CORRUPTIONS)

    def describe(self):
        return {**super().describe(), "size": self.size, "encoder": self.encoder_name}


def _spec(volume: bool, channels: int, size: int) -> InputSpec:
    if volume:
        return InputSpec("volume3d", (channels, size, size, size))
    return InputSpec("image2d", (channels, size, size))


def _partners(flag: str, volume: bool, channels: int) -> dict[str, list[str]]:
    if volume:
        same, other = (_CT_3D, _OTHER_3D) if flag in _CT_3D else (_OTHER_3D, _CT_3D)
        return {"near": [f for f in same if f != flag], "far": [f for f in other if f != flag][:2]}
    if channels == 3:
        return {"near": [f for f in _RGB_NEAR if f != flag][:3], "far": []}
    organ = flag.startswith("organ")
    near = [f for f in _GRAY_NEAR if f != flag and not (organ and f.startswith("organ"))][:3]
    return {"near": near, "far": ["fashion_mnist", "sklearn_digits_28"]}


def _make(flag: str, volume: bool, channels: int, num_classes: int, multilabel: bool) -> type[Adapter]:
    attrs = {
        "__doc__": f"MedMNIST {flag} ({'3D' if volume else '2D'}) from its official npz.",
        "__module__": __name__,
        "name": flag,
        "flag": flag,
        "volume": volume,
        "channels": channels,
        "num_classes": num_classes,
        "multilabel": multilabel,
        "domain": "medical_3d" if volume else "medical_2d",
        "spec": _spec(volume, channels, 28),
        "task": TaskSpec(num_classes, multilabel=multilabel),
        "ood_partners": _partners(flag, volume, channels),
    }
    cls_name = "".join(p.capitalize() for p in flag.replace("mnist", "_mnist").split("_"))
    return register_adapter(type(cls_name, (MedMNISTAdapter,), attrs))


for _flag, (_c, _k, _ml) in FLAGS_2D.items():
    globals()[f"_{_flag}"] = _make(_flag, False, _c, _k, _ml)
for _flag, (_c, _k, _ml) in FLAGS_3D.items():
    globals()[f"_{_flag}"] = _make(_flag, True, _c, _k, _ml)
