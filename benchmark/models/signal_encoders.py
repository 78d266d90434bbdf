"""A larger 1D encoder for GPU runs on signal1d specs (ECG, raw audio): the ResNet-18 layout in 1D
(4 stages × 2 basic blocks, widths 64–512, kernel 7 then 3, global average pool; cf. the 1D
ResNets of Strodthoff et al. 2021 for PTB-XL). Chosen by the adapter option `encoder: resnet18`
(`benchmark.models.encoders.build_encoder`); the default stays the small CPU-fast 1D CNN."""

from __future__ import annotations

import torch
from torch import nn


class _Block1d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, k: int = 3):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, k, padding=k // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.short = (
            nn.Sequential(nn.Conv1d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm1d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet18Encoder1d(nn.Module):
    """Stem: conv k=7 (stride 2 and a max-pool for signals longer than 1,000 samples, else stride 1,
    so 96–252-sample beats keep their resolution). 512-d features."""

    def __init__(self, in_channels: int, length: int, widths=(64, 128, 256, 512)):
        super().__init__()
        long = length > 1000
        layers: list[nn.Module] = [
            nn.Conv1d(in_channels, widths[0], 7, stride=2 if long else 1, padding=3, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        if long:
            layers.append(nn.MaxPool1d(3, stride=2, padding=1))
        cin = widths[0]
        for i, w in enumerate(widths):
            layers += [_Block1d(cin, w, 1 if i == 0 else 2), _Block1d(w, w, 1)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.out_dim = widths[-1]

    def forward(self, x):
        return self.features(x).mean(-1)
