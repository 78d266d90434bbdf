"""Default small encoders, chosen from the input spec (docs/design.md §2). Each exposes `out_dim`.

Kept small on purpose: on 2 CPU cores a ResNet-18 trains at ~33 pairs/s, a 4-block CNN at ~1,000.
`build_encoder(spec, name)` is the one entry point: the orchestration calls it with the adapter's
spec and the encoder name the suite asked for. Graph encoders (torch-geometric) are in
`graph_encoders`, the 1-D ResNet in `signal_encoders`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from benchmark.core.specs import InputSpec
from benchmark.models.layout import as_channels_last, channels_last
from benchmark.models.resnets import ResNet18Encoder2d, ResNet18Encoder3d, ResNetEncoder2d, ResNetEncoder3d
from benchmark.models.signal_encoders import ResNet18Encoder1d
from benchmark.models.tokens import TokenEncoder


def _conv_stack(
    conv, bn, pool, in_ch: int, widths: tuple[int, ...], pool_blocks: int, stem_stride: int = 1
) -> nn.Sequential:
    layers: list[nn.Module] = []
    ch = in_ch
    for i, w in enumerate(widths):
        stride = stem_stride if i == 0 else 1
        layers += [conv(ch, w, 3, stride=stride, padding=1, bias=False), bn(w), nn.ReLU(inplace=True)]
        if i < pool_blocks:
            layers.append(pool(2))
        ch = w
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """N-D conv blocks (conv-BN-ReLU, max-pool after all but the last) + global average pool."""

    def __init__(self, dims: int, in_channels: int, widths=(16, 32, 64, 128), stem_stride: int = 1):
        super().__init__()
        conv, bn, pool = {
            1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
            2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
            3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d),
        }[dims]
        self.dims = dims
        self.features = channels_last(
            _conv_stack(conv, bn, pool, in_channels, tuple(widths), len(widths) - 1, stem_stride), dims
        )
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(as_channels_last(x, self.dims)).flatten(2).mean(-1)


class MLPEncoder(nn.Module):
    def __init__(self, in_features: int, hidden: int = 256, out_dim: int = 128, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x):
        return self.net(x.flatten(1))


def _image2d(spec):
    return ConvEncoder(2, spec.channels)


def _spectrogram(spec):
    # A stride-2 first conv once the map exceeds ~48x48 (FSDD's 64 mels x 101 frames is 8x an MNIST
    # image): the cost per sample drops ~4x, and four pooled blocks still see the whole map.
    big = spec.shape[1] * spec.shape[2] > 48 * 48
    return ConvEncoder(2, spec.channels, stem_stride=2 if big else 1)


def _volume3d(spec):
    # At 28³ a 3x3x3 conv block costs ~28x a 2-D block at 28² (~40 volumes/s on 2 cores, and halving
    # the widths only gained 1.7x: BN/ReLU/pool traffic dominates). A stride-2 first conv works on 14³
    # from then on, ~8x cheaper; MedMNIST 3D objects still span several voxels there.
    big = spec.shape[1] * spec.shape[2] * spec.shape[3] > 20**3
    return ConvEncoder(3, spec.channels, stem_stride=2 if big else 1)


def _signal1d(spec):
    return ConvEncoder(1, spec.channels, widths=(32, 64, 128, 128, 128))


def _tabular(spec):
    return MLPEncoder(spec.shape[0])


def _graph(spec):
    from benchmark.models.graph_encoders import graph_encoder  # imports torch-geometric, only when needed

    return graph_encoder(spec)


ENCODER_BUILDERS: dict[str, Callable[[InputSpec], nn.Module]] = {
    "image2d": _image2d,
    "spectrogram": _spectrogram,
    "volume3d": _volume3d,
    "signal1d": _signal1d,
    "tabular": _tabular,
    "graph": _graph,
}


def encoder_for_spec(spec: InputSpec) -> nn.Module:
    if spec.kind not in ENCODER_BUILDERS:
        raise NotImplementedError(f"no default encoder for spec kind {spec.kind!r}")
    return ENCODER_BUILDERS[spec.kind](spec)


NAMED_ENCODERS: dict[str, dict[str, Callable[[InputSpec], nn.Module]]] = {
    "resnet18": {
        "image2d": lambda spec: ResNet18Encoder2d(spec.channels),
        "spectrogram": lambda spec: ResNet18Encoder2d(spec.channels),
        "volume3d": lambda spec: ResNet18Encoder3d(spec.channels, min(spec.shape[1:])),
        "signal1d": lambda spec: ResNet18Encoder1d(spec.channels, spec.shape[-1]),
    },
    "resnet50": {
        "image2d": lambda spec: ResNetEncoder2d(spec.channels, "resnet50"),
        "spectrogram": lambda spec: ResNetEncoder2d(spec.channels, "resnet50"),
        "volume3d": lambda spec: ResNetEncoder3d(spec.channels, min(spec.shape[1:]), "resnet50"),
    },
    # A small ViT: the token transformer MAE and JEPA use, patch size chosen from the spec (at most
    # 64 tokens); width 192, depth 6, 3 heads as ViT-Tiny but shallower for small inputs.
    "vit_tiny": {
        kind: (lambda spec: TokenEncoder(spec, dim=192, depth=6, heads=3, mlp_ratio=4.0))
        for kind in ("image2d", "spectrogram", "volume3d")
    },
}


def encoder_available(spec: InputSpec | None, name: str) -> bool:
    """Whether `build_encoder(spec, name)` has a builder (any spec kind when `spec` is unknown)."""
    if name in ("", "small", "default"):
        return True
    kinds = NAMED_ENCODERS.get(name, {})
    return bool(kinds) and (spec is None or spec.kind in kinds)


def build_encoder(spec: InputSpec, name: str | None = None) -> nn.Module:
    """The encoder called `name` for `spec` ("small"/"default"/None: `encoder_for_spec`)."""
    if name in (None, "", "small", "default"):
        return encoder_for_spec(spec)
    if name not in NAMED_ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: small, {', '.join(sorted(NAMED_ENCODERS))}")
    if spec.kind not in NAMED_ENCODERS[name]:
        raise ValueError(
            f"encoder {name!r} has no builder for spec kind {spec.kind!r} "
            f"(it covers {', '.join(sorted(NAMED_ENCODERS[name]))})"
        )
    return NAMED_ENCODERS[name][spec.kind](spec)


def encoder_for(dataset) -> nn.Module:
    """The encoder for a dataset adapter: anything with `spec` and `encoder_name` (duck-typed, so this
    layer does not import the adapters)."""
    return build_encoder(dataset.spec, getattr(dataset, "encoder_name", None))
