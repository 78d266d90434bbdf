"""ResNet encoders for 2-D images and 3-D volumes, named so ImageNet weights map onto them
(`benchmark.models.pretrained`). Small inputs get the CIFAR / MedMNIST stem (3x3 stride-1 conv, no
max-pool); the classifier is dropped and features are globally average-pooled."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.layout import as_channels_last, channels_last

# (block, blocks per stage) of each architecture, as torchvision defines them.
ARCHS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet50": ("bottleneck", (3, 4, 6, 3))}
WIDTHS = (64, 128, 256, 512)


class ResNetEncoder2d(nn.Module):
    """torchvision's ResNet-18/50 with a small-image stem; 512-d (18) or 2048-d (50) features."""

    def __init__(self, in_channels: int, arch: str = "resnet18"):
        super().__init__()
        import torchvision.models as tvm

        net = getattr(tvm, arch)(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.arch = arch
        self.net = channels_last(net, 2)

    def forward(self, x):
        return self.net(as_channels_last(x, 2))


class ResNet18Encoder2d(ResNetEncoder2d):
    def __init__(self, in_channels: int):
        super().__init__(in_channels, "resnet18")


class BasicBlock3d(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.short = shortcut3d(cin, width, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class Bottleneck3d(nn.Module):
    """1x1 → 3x3 (stride here, as torchvision's v1.5) → 1x1 with 4x expansion."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(width * 4)
        self.short = shortcut3d(cin, width * 4, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + self.short(x))


def shortcut3d(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv3d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm3d(cout))


class ResNetEncoder3d(nn.Module):
    """The ResNet-18/50 layout in 3D. Stem: a 3x3x3 conv, stride 1 for volumes up to 32³ and stride
    2 above (MedMNIST 64³). `features` is [stem conv, BN, ReLU, blocks…]; `block_names` maps each
    block to torchvision's `layer<s>.<b>` name."""

    def __init__(self, in_channels: int, min_side: int, arch: str = "resnet18"):
        super().__init__()
        kind, per_stage = ARCHS[arch]
        block = BasicBlock3d if kind == "basic" else Bottleneck3d
        stem_stride = 1 if min_side <= 32 else 2
        layers: list[nn.Module] = [
            nn.Conv3d(in_channels, WIDTHS[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm3d(WIDTHS[0]),
            nn.ReLU(inplace=True),
        ]
        self.block_names: list[str] = []
        cin = WIDTHS[0]
        for s, (w, n) in enumerate(zip(WIDTHS, per_stage)):
            for b in range(n):
                layers.append(block(cin, w, 2 if (b == 0 and s > 0) else 1))
                self.block_names.append(f"layer{s + 1}.{b}")
                cin = w * block.expansion
        self.arch = arch
        self.features = channels_last(nn.Sequential(*layers), 3)
        self.out_dim = cin

    def forward(self, x):
        return self.features(as_channels_last(x, 3)).flatten(2).mean(-1)


class ResNet18Encoder3d(ResNetEncoder3d):
    def __init__(self, in_channels: int, min_side: int):
        super().__init__(in_channels, min_side, "resnet18")
