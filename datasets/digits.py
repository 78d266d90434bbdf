"""scikit-learn's bundled handwritten digits (UCI Optical Recognition of Handwritten Digits, test
part): 1797 8×8 gray images with values 0–16, 10 classes, via `sklearn.datasets.load_digits` (no
download). There is no official split: a stratified 70/10/20 train/val/test split fixed by a seed
derived from the dataset name (docs/design.md §3.1) — 20 % of each class to test, then 12.5 % of the rest
(10 % of the whole) to val.

Images are stored as uint8 (value·255/16, rounded); `prepare` gives floats in [0, 1].

Options: `size` (default 8) resizes the images (bilinear, at load time) to size×size, and
`encoder` (`small` | `resnet18`). `sklearn_digits_28` is the same data at 28×28 — registered so it
can be the OOD partner of 1×28×28 sets (Fashion-MNIST, the gray MedMNIST sets), since the OOD
protocol compares partner specs as registered; its split is identical to `sklearn_digits`'.
OOD partners: `sklearn_digits_28` has Fashion-MNIST near and BreastMNIST far; no registered set
shares the 1×8×8 spec of `sklearn_digits` (the protocol's synthetic-noise partner remains).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import Adapter, DataError, Split, register_adapter
from datasets.splitting import stratified_holdout

N_SAMPLES = 1797
SPLIT_SEED_NAME = "sklearn_digits"  # shared by every size so the splits coincide


def sklearn_version() -> str:
    """The bundled copy is the installed scikit-learn's: its version names the data's release."""
    import sklearn

    return f"sklearn-{sklearn.__version__}"


def load_digits_uint8(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (1797, 1, size, size), int64 labels) from scikit-learn's bundled copy."""
    from sklearn.datasets import load_digits

    try:
        bunch = load_digits()
    except (OSError, ValueError) as e:
        raise DataError(
            f"scikit-learn's bundled digits file could not be read ({e}); reinstall scikit-learn"
        ) from e
    images, target = np.asarray(bunch.images), np.asarray(bunch.target)
    if images.shape != (N_SAMPLES, 8, 8) or target.shape != (N_SAMPLES,):
        raise DataError(
            f"sklearn load_digits() gave images {images.shape} and targets {target.shape}; "
            f"expected ({N_SAMPLES}, 8, 8) and ({N_SAMPLES},) — reinstall scikit-learn"
        )
    if images.min() < 0 or images.max() > 16 or set(np.unique(target)) != set(range(10)):
        raise DataError(
            "sklearn load_digits(): values outside 0..16 or labels not 0..9; reinstall scikit-learn"
        )
    x = torch.from_numpy(np.round(images * (255.0 / 16.0))).float().unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < 8)
    return x.round().clamp(0, 255).to(torch.uint8), torch.from_numpy(target.astype(np.int64))


def digits_split(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    rest, test = stratified_holdout(labels, 0.2, SPLIT_SEED_NAME, "test")
    keep, val = stratified_holdout(labels[rest], 0.125, SPLIT_SEED_NAME, "val")
    return {"train": rest[keep], "val": rest[val], "test": test}


@register_adapter
class SklearnDigits(Adapter):
    name = "sklearn_digits"
    domain = "natural_images"
    spec = InputSpec("image2d", (1, 8, 8))
    task = TaskSpec(10, class_names=tuple(str(i) for i in range(10)))
    ood_partners = {"near": [], "far": []}
    default_size = 8

    extra_options = frozenset({"size"})
    protocol_note = "no official split: a stratified 70/10/20 split"

    @classmethod
    def version(cls, options=None) -> str:
        return sklearn_version()

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        size = options.get("size", self.default_size)
        if not isinstance(size, int) or not 4 <= size <= 256:
            raise ValueError(f"{self.name}: size must be an int in 4..256, got {size!r}")
        self.size = size
        self.spec = InputSpec("image2d", (1, size, size))

    def load_splits(self) -> dict[str, Split]:
        x, y = load_digits_uint8(self.size)
        return {k: Split(x[idx], y[idx]) for k, idx in digits_split(y).items()}

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True).float().div_(255.0)

    multi_crop = True
    views_on_device = True

    def views(self, x, generator, policy=None):
        # Digits are not mirror-symmetric classes: no flips; milder crops than the default on 8 px.
        from datasets.image_views import color_jitter, policy_view, random_erase, random_resized_crop_flip

        if policy is not None:
            return policy_view(x, generator, policy, flip=False)

        x = random_resized_crop_flip(x, generator, scale=(0.5, 1.0), flip=False)
        x = color_jitter(x, generator)
        return random_erase(x, generator, p=0.2)

    def corruptions(self):
        from datasets.image_corruptions import IMAGE_CORRUPTIONS

        return dict(IMAGE_CORRUPTIONS)

    def describe(self):
        return {**super().describe(), "size": self.size}


@register_adapter
class SklearnDigits28(SklearnDigits):
    name = "sklearn_digits_28"
    spec = InputSpec("image2d", (1, 28, 28))
    ood_partners = {"near": ["fashion_mnist"], "far": ["breastmnist"]}
    default_size = 28
