"""Graph encoders, chosen from a graph spec: a GCN for node tasks, a GIN for graph tasks.

They read the batch types of `datasets.graph_batches` by attribute only (`x`, `edge_index`, and `nodes` or
`batch` / `num_graphs`), so this module does not import the adapters.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.core.pyg import import_pyg
from benchmark.core.specs import InputSpec


class GCNEncoder(nn.Module):
    """Kipf & Welling GCN (2 layers, ReLU after each), full-graph pass, rows of the batch's nodes."""

    def __init__(self, in_dim: int, hidden: int = 256, out_dim: int = 128, layers: int = 2):
        super().__init__()
        import_pyg()
        from torch_geometric.nn import GCNConv

        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out_dim = out_dim

    def forward(self, b) -> torch.Tensor:
        h = b.x
        for conv in self.convs:
            h = torch.relu(conv(h, b.edge_index))
        return h[b.nodes]


class GINEncoder(nn.Module):
    """GIN (Xu et al. 2019): `layers` GINConv(MLP)-BN-ReLU blocks; each block's node states are
    pooled per graph (sum or mean) and concatenated (GraphCL / InfoGraph readout)."""

    def __init__(self, in_dim: int, hidden: int = 64, layers: int = 3, pooling: str = "sum"):
        super().__init__()
        import_pyg()
        from torch_geometric.nn import GINConv

        if pooling not in ("sum", "mean"):
            raise ValueError(f"pooling must be 'sum' or 'mean', got {pooling!r}")
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        d = in_dim
        for _ in range(layers):
            mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            self.convs.append(GINConv(mlp))
            self.norms.append(nn.BatchNorm1d(hidden))
            d = hidden
        self.pooling = pooling
        self.out_dim = hidden * layers

    def forward(self, b) -> torch.Tensor:
        h = b.x
        pooled = []
        for conv, norm in zip(self.convs, self.norms):
            h = torch.relu(norm(conv(h, b.edge_index)))
            s = h.new_zeros(b.num_graphs, h.shape[1]).index_add_(0, b.batch, h)
            if self.pooling == "mean":
                cnt = torch.bincount(b.batch, minlength=b.num_graphs).clamp_min(1)
                s = s / cnt[:, None].to(s.dtype)
            pooled.append(s)
        return torch.cat(pooled, 1)


def graph_encoder(spec: InputSpec, **kw) -> nn.Module:
    """The default encoder for a graph spec: GCN for node tasks, GIN for graph tasks."""
    task = spec.extras.get("task")
    if task == "node":
        return GCNEncoder(spec.shape[0], **kw)
    if task == "graph":
        return GINEncoder(spec.shape[0], **kw)
    raise ValueError(f"graph spec needs extras['task'] in ('node', 'graph'), got {task!r}")
