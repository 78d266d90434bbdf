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
from benchmark.models.signal_encoders import ResNet18Encoder1d


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


# Channels-last layouts for 2-D/3-D convs: oneDNN's CPU kernels run these small CNNs ~1.7x faster
# in training and ~2.5x faster in inference than in the default NCHW layout (2 cores, batch 256,
# measured on 28² images, 64x101 spectrograms and 28³ volumes); CUDA's cuDNN supports it too.
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def channels_last(module: nn.Module, dims: int) -> nn.Module:
    """Store `module`'s conv weights channels-last (inputs are converted in `forward`)."""
    return module.to(memory_format=CHANNELS_LAST[dims]) if dims in CHANNELS_LAST else module


def as_channels_last(x: torch.Tensor, dims: int) -> torch.Tensor:
    return (
        x.contiguous(memory_format=CHANNELS_LAST[dims])
        if dims in CHANNELS_LAST and x.dim() == dims + 2
        else x
    )


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


# ---- larger encoders for GPUs, chosen by name (adapter option `encoder: resnet18`) -------------
class ResNet18Encoder2d(nn.Module):
    """torchvision's ResNet-18 with a small-image stem (3x3 stride-1 conv, no max-pool), as in the
    CIFAR / MedMNIST ResNet baselines; the classifier is dropped. 512-d features."""

    def __init__(self, in_channels: int):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = channels_last(net, 2)
        self.out_dim = 512

    def forward(self, x):
        return self.net(as_channels_last(x, 2))


class _BasicBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.short = (
            nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18Encoder3d(nn.Module):
    """ResNet-18 layout in 3D (4 stages × 2 basic blocks, widths 64–512, global average pool).
    The stem is a 3x3x3 conv, stride 1 for volumes up to 32³ and stride 2 above (MedMNIST 64³)."""

    def __init__(self, in_channels: int, min_side: int, widths=(64, 128, 256, 512)):
        super().__init__()
        stem_stride = 1 if min_side <= 32 else 2
        layers: list[nn.Module] = [
            nn.Conv3d(in_channels, widths[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        cin = widths[0]
        for i, w in enumerate(widths):
            layers += [_BasicBlock3d(cin, w, 1 if i == 0 else 2), _BasicBlock3d(w, w, 1)]
            cin = w
        self.features = channels_last(nn.Sequential(*layers), 3)
        self.out_dim = widths[-1]

    def forward(self, x):
        return self.features(as_channels_last(x, 3)).flatten(2).mean(-1)


NAMED_ENCODERS: dict[str, dict[str, Callable[[InputSpec], nn.Module]]] = {
    "resnet18": {
        "image2d": lambda spec: ResNet18Encoder2d(spec.channels),
        "spectrogram": lambda spec: ResNet18Encoder2d(spec.channels),
        "volume3d": lambda spec: ResNet18Encoder3d(spec.channels, min(spec.shape[1:])),
        "signal1d": lambda spec: ResNet18Encoder1d(spec.channels, spec.shape[-1]),
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
