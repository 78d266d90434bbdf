"""Initialization of an encoder before training: `random` (its own init), `imagenet` (torchvision's
ImageNet weights), or a path to a state dict the user saved for the same encoder.

ImageNet weights come from torchvision's weights API, so download, hash check and cache
(`$TORCH_HOME/hub/checkpoints`) are torchvision's. Adaptation rules (docs/design.md §2.1):
- stem: the 7x7 RGB kernel is resized to the encoder's 3x3 stem by adaptive average pooling and
  scaled by the ratio of kernel areas (49 / 9), so a filter's response to a flat patch is about
  kept; for C input channels the RGB kernels are summed (C = 1, so a gray image seen as R = G = B
  gives the same response) or averaged and repeated ×3/C (C ∉ {1, 3});
- 3-D: every k×k kernel is inflated to k×k×k by repeating it over depth and dividing by k (I3D,
  Carreira & Zisserman 2017), so a volume constant over depth gives the 2-D network's response;
- BatchNorm statistics and affine parameters are copied; the classifier is dropped.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.errors import UsageError
from benchmark.core.io import safe_torch_load
from benchmark.models.resnets import ResNetEncoder2d, ResNetEncoder3d

IMAGENET_WEIGHTS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
}
INITS = ("random", "imagenet")
# spec kinds whose ResNets take ImageNet weights (2-D directly, 3-D inflated); the 1-D ResNet does not
IMAGENET_KINDS = ("image2d", "spectrogram", "volume3d")


def imagenet_available(kind: str | None, encoder: str) -> bool:
    """Whether `init: imagenet` fits the encoder called `encoder` on a spec of `kind`."""
    return encoder in IMAGENET_WEIGHTS and kind in IMAGENET_KINDS


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of `arch` (downloaded once into torchvision's cache)."""
    from torchvision.models import get_weight

    if arch not in IMAGENET_WEIGHTS:
        raise UsageError(
            f"init imagenet: no ImageNet weights for {arch!r}; known: {sorted(IMAGENET_WEIGHTS)}"
        )
    return get_weight(IMAGENET_WEIGHTS[arch]).get_state_dict(progress=True)


def adapt_stem(w: torch.Tensor, in_channels: int, kernel: int) -> torch.Tensor:
    """(out, 3, 7, 7) → (out, in_channels, kernel, kernel) by the rules in the module docstring."""
    out = F.adaptive_avg_pool2d(w, kernel) * (w.shape[-1] ** 2 / kernel**2)
    if in_channels == 1:
        return out.sum(1, keepdim=True)
    if in_channels == 3:
        return out
    return out.mean(1, keepdim=True).repeat(1, in_channels, 1, 1) * (3 / in_channels)


def inflate(w: torch.Tensor) -> torch.Tensor:
    """(out, in, k, k) → (out, in, k, k, k), repeated over depth and divided by k."""
    k = w.shape[-1]
    return w.unsqueeze(2).repeat(1, 1, k, 1, 1) / k


def torchvision_key_3d(key: str, encoder: ResNetEncoder3d) -> str | None:
    """The 3-D encoder's parameter name for a torchvision ResNet key (None: not mapped, e.g. fc)."""
    if key.startswith("conv1."):
        return "features.0." + key[len("conv1.") :]
    if key.startswith("bn1."):
        return "features.1." + key[len("bn1.") :]
    for i, name in enumerate(encoder.block_names):
        if key.startswith(name + "."):
            rest = key[len(name) + 1 :].replace("downsample.", "short.")
            return f"features.{3 + i}.{rest}"
    return None


def init_from_state(encoder: nn.Module, tv: dict[str, torch.Tensor]) -> None:
    """Copy a torchvision ResNet state dict into a ResNet encoder, adapting stem and dimensions."""
    own = encoder.state_dict()
    new = {}
    for key, value in tv.items():
        if isinstance(encoder, ResNetEncoder2d):
            target = None if key.startswith("fc.") else "net." + key
        else:
            target = torchvision_key_3d(key, encoder)
        if target is None:
            continue
        if key == "conv1.weight":
            shape = own[target].shape
            value = adapt_stem(value, shape[1], shape[-1])
        if value.dim() == 4 and own[target].dim() == 5:
            value = inflate(value)
        if own[target].shape != value.shape:
            raise ValueError(f"{target}: ImageNet tensor {tuple(value.shape)} vs {tuple(own[target].shape)}")
        new[target] = value.to(own[target].dtype)
    missing = set(own) - set(new)
    if missing:
        raise ValueError(f"ImageNet weights leave {sorted(missing)[:3]}… uninitialised")
    encoder.load_state_dict(new)


def initialize(encoder: nn.Module, init: str | None) -> nn.Module:
    """Apply `init` to a freshly built encoder and return it."""
    if init in (None, "", "random"):
        return encoder
    if init == "imagenet":
        arch = getattr(encoder, "arch", None)
        if not isinstance(encoder, (ResNetEncoder2d, ResNetEncoder3d)) or arch not in IMAGENET_WEIGHTS:
            raise UsageError(
                f"init imagenet: encoder {type(encoder).__name__} has no ImageNet weights "
                f"(use encoder resnet18 or resnet50)"
            )
        init_from_state(encoder, imagenet_state_dict(arch))
        return encoder
    path = Path(init)
    if not path.is_file():
        raise UsageError(f"init {init!r}: expected 'random', 'imagenet' or the path of a saved state dict")
    state = safe_torch_load(path)
    try:
        encoder.load_state_dict(state.get("encoder", state) if isinstance(state, dict) else state)
    except (RuntimeError, AttributeError) as e:
        first = str(e).splitlines()[0]
        raise UsageError(f"init {init}: not a state dict of this encoder ({first})") from None
    return encoder
