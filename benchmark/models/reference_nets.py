"""Networks of the published supervised baselines that the reference recipes train end to end
(benchmark/evaluation/reference_recipes.py): Kipf & Welling's GCN and Wang et al.'s FCN. MedMNIST's ResNet-18
(28) is the named `resnet18` encoder (small-image stem, as in MedMNIST v2) plus a linear head."""

from __future__ import annotations

import torch
from torch import nn


class KipfGCN(nn.Module):
    """2-layer GCN classifier: dropout → GCNConv → ReLU → dropout → GCNConv, logits for every node."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(in_dim, hidden)
        self.conv2 = GCNConv(hidden, num_classes)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = nn.functional.dropout(x, self.dropout, self.training)
        x = torch.relu(self.conv1(x, edge_index))
        x = nn.functional.dropout(x, self.dropout, self.training)
        return self.conv2(x, edge_index)


class FCN1d(nn.Module):
    """Wang et al. 2017 FCN: three Conv1d-BN-ReLU blocks (128, 256, 128 filters; kernels 8, 5, 3;
    'same' padding), global average pooling, linear classifier."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        blocks, c = [], in_channels
        for width, k in ((128, 8), (256, 5), (128, 3)):
            blocks += [nn.Conv1d(c, width, k, padding="same"), nn.BatchNorm1d(width), nn.ReLU()]
            c = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(-1))


class EncoderClassifier(nn.Module):
    """An encoder with a linear head on its pooled features (the ResNet-18 (28) recipe)."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
