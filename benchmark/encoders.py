"""Default small encoders, chosen from the input spec (DESIGN §2). Each exposes `out_dim`.

Kept small on purpose: on 2 CPU cores a ResNet-18 trains at ~33 pairs/s, a 4-block CNN at ~1,000.
Graph encoders live with the graph adapters (they need torch-geometric); they register here via
`ENCODER_BUILDERS`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from benchmark.specs import InputSpec


def _conv_stack(conv, bn, pool, in_ch: int, widths: tuple[int, ...], pool_blocks: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    ch = in_ch
    for i, w in enumerate(widths):
        layers += [conv(ch, w, 3, padding=1, bias=False), bn(w), nn.ReLU(inplace=True)]
        if i < pool_blocks:
            layers.append(pool(2))
        ch = w
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """N-D conv blocks (conv-BN-ReLU, max-pool after all but the last) + global average pool."""

    def __init__(self, dims: int, in_channels: int, widths=(16, 32, 64, 128)):
        super().__init__()
        conv, bn, pool = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
                          2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
                          3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)}[dims]
        self.features = _conv_stack(conv, bn, pool, in_channels, tuple(widths), len(widths) - 1)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(2).mean(-1)


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


def _volume3d(spec):
    return ConvEncoder(3, spec.channels, widths=(16, 32, 64, 128))


def _signal1d(spec):
    return ConvEncoder(1, spec.channels, widths=(32, 64, 128, 128, 128))


def _tabular(spec):
    return MLPEncoder(spec.shape[0])


def _graph(spec):
    from datasets.graphs import graph_encoder  # GCN (node tasks) / GIN (graph tasks); needs torch-geometric

    return graph_encoder(spec)


ENCODER_BUILDERS: dict[str, Callable[[InputSpec], nn.Module]] = {
    "image2d": _image2d, "spectrogram": _image2d, "volume3d": _volume3d,
    "signal1d": _signal1d, "tabular": _tabular, "graph": _graph,
}


def encoder_for_spec(spec: InputSpec) -> nn.Module:
    if spec.kind not in ENCODER_BUILDERS:
        raise NotImplementedError(f"no default encoder for spec kind {spec.kind!r}")
    return ENCODER_BUILDERS[spec.kind](spec)
