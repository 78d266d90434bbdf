"""Graph batch types, the GraphCL/GRACE views and the graph corruptions, shared by the Planetoid
(`datasets.planetoid`) and TUDataset (`datasets.tu`) adapters.

Batch representation (what `batch(split, index)` returns, what views/corruptions/encoders take):
- node tasks: `NodeBatch(x, edge_index, nodes)` — the whole graph plus the requested node ids; the
  GCN runs on the full graph and returns the rows of `nodes`, so the generic loop (index minibatches
  of the train pool → embeddings of exactly those samples) works unchanged. Planetoid is
  transductive: every node's features and every edge are visible, only the 140/500/1000 labels are
  split; pretraining draws its loss on the train nodes only (docs/design.md §3.1: pretraining sees the train
  split).
- graph tasks: `GraphBatch(x, edge_index, batch, num_graphs)` — the selected graphs gathered
  (vectorised, no per-graph Python) from one collated storage, node ids local to the batch, `batch`
  the graph position of each node (PyG's convention; `to_pyg()` gives a PyG `Batch`). The GIN returns
  one pooled embedding per graph, in `index` order.

Views (batched, driven by the given generator): edge dropping, feature masking, node dropping and
subgraph (a ball grown from a random seed node in random order — Dijkstra under random edge weights —
until it holds ≥ 1 − rate of the graph). Graph tasks use GraphCL's scheme (You et al. 2020): each
graph gets one of the four, rate 0.2. Node tasks use GRACE's (Zhu et al. 2020): edge dropping +
feature-column masking, rate 0.3; node dropping on a node batch isolates (removes every edge of)
random non-target nodes; subgraph is graph-task only. Those are the default (legacy) views; named
views (`graph_policy_view`, `node_policy_view`) follow the papers' own rates and anchors.

Corruptions (docs/design.md §3.5, keyed randomness from datasets/_keyed.py, severities nested):
edge_removal ({10..50} % of undirected edges, both directions together), feature_noise
(gaussian, σ ∈ {0.25, 0.5, 1, 1.5, 2} × the per-feature std of the train nodes), node_dropping
({5, 10, 20, 30, 40} % of nodes; at least one node per graph kept). Graph tasks key the randomness by
(sample index, node position within the graph). Node tasks: a node's embedding depends on its
neighbourhood, so the corruption is applied to the shared graph and keyed by global node ids —
the corrupted graph is one fixed function of (corruption, severity), identical for every node chunk
(so still deterministic per (sample, corruption, severity)); node_dropping there isolates the dropped
nodes (their edges are removed, their own features kept) instead of deleting them, so every node
still receives an embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmark.core.pyg import import_pyg
from datasets._keyed import keyed_normal, keyed_uniform
from datasets.draws import host as _drawn_on_host
from datasets.draws import integers, uniform

EDGE_REMOVAL = (0.1, 0.2, 0.3, 0.4, 0.5)
NODE_DROPPING = (0.05, 0.1, 0.2, 0.3, 0.4)
FEATURE_NOISE = (0.25, 0.5, 1.0, 1.5, 2.0)
GRAPH_VIEWS = ("node_dropping", "subgraph", "edge_dropping", "feature_masking")


# ==== batch representations =================================================================
@dataclass
class NodeBatch:
    """A whole graph and the ids of the nodes whose embeddings are wanted (node tasks)."""

    x: torch.Tensor  # (num_nodes, F) float
    edge_index: torch.Tensor  # (2, E) long, both directions of every undirected edge
    nodes: torch.Tensor  # (B,) long

    def to(self, device, non_blocking: bool = False) -> "NodeBatch":
        return NodeBatch(
            self.x.to(device, non_blocking=non_blocking).float(),
            self.edge_index.to(device, non_blocking=non_blocking),
            self.nodes.to(device, non_blocking=non_blocking),
        )

    def __len__(self) -> int:
        return int(self.nodes.shape[0])


@dataclass
class GraphBatch:
    """Several graphs as one disjoint union (PyG's batching convention)."""

    x: torch.Tensor  # (N, F) float
    edge_index: torch.Tensor  # (2, E) long, ids local to this batch
    batch: torch.Tensor  # (N,) long, graph position in the batch, non-decreasing
    num_graphs: int

    def to(self, device, non_blocking: bool = False) -> "GraphBatch":
        if self.x.dtype == torch.float32 and all(
            t.device == torch.device(device) for t in (self.x, self.edge_index, self.batch)
        ):
            return self  # already there: keep the batch's host index (`_host_index`) with it
        return GraphBatch(
            self.x.to(device, non_blocking=non_blocking).float(),
            self.edge_index.to(device, non_blocking=non_blocking),
            self.batch.to(device, non_blocking=non_blocking),
            self.num_graphs,
        )

    def __len__(self) -> int:
        return self.num_graphs

    def ptr(self) -> torch.Tensor:
        counts = torch.bincount(self.batch, minlength=self.num_graphs)
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def to_pyg(self):
        import_pyg()
        from torch_geometric.data import Batch

        b = Batch(x=self.x, edge_index=self.edge_index, batch=self.batch, ptr=self.ptr())
        b._num_graphs = self.num_graphs
        return b


class NodeSet:
    """`Split.inputs` of a node task: the shared graph plus the split's node ids."""

    def __init__(self, x: torch.Tensor, edge_index: torch.Tensor, nodes: torch.Tensor):
        self.x, self.edge_index, self.nodes = x, edge_index, nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, index) -> NodeBatch:
        return NodeBatch(self.x, self.edge_index, self.nodes[index])


class GraphSet:
    """`Split.inputs` of a graph task: collated storage of all graphs plus the split's graph ids.
    `edge_index` is global over the storage; `node_ptr`/`edge_ptr` delimit each graph."""

    def __init__(self, x, edge_index, node_ptr, edge_ptr, graph_ids):
        self.x, self.edge_index = x, edge_index
        self.node_ptr, self.edge_ptr, self.graph_ids = node_ptr, edge_ptr, graph_ids

    def __len__(self) -> int:
        return len(self.graph_ids)

    def __getitem__(self, index) -> GraphBatch:
        # One compiled pass gathers the graphs' nodes and edges (this runs for every training batch;
        # as ~10 NumPy calls it was 2 % of a MUTAG step).
        from datasets._graph_kernels import gather_graphs

        gids = self.graph_ids.numpy()[np.asarray(index, dtype=np.int64).reshape(-1)]
        nodes, ei, batch, ptr = gather_graphs(
            gids, self.node_ptr.numpy(), self.edge_ptr.numpy(), self.edge_index.numpy()
        )
        out = GraphBatch(
            self.x.index_select(0, torch.from_numpy(nodes)),
            torch.from_numpy(ei),
            torch.from_numpy(batch),
            len(gids),
        )
        out.__dict__["_host_index"] = _HostIndex(batch, ei, ptr)  # what views need, at hand
        return out


# ==== views =================================================================================
# A MUTAG training step is only ~12 ms of model work on two views of 66 small graphs, so the views'
# fixed costs count. Which nodes and edges a view keeps is decided on the host in one compiled pass
# (`_graph_kernels.graph_view_index`, Numba) over NumPy copies of the batch's index arrays, kept on
# the batch object (`_host_index`) so the step's views share them. Only the node-feature gathers run
# on the batch's device. The random numbers are drawn in a fixed order on the generator's device and
# read on the host, so TU adapters (graph tasks) keep a CPU view generator on every device
# (`views_on_device` False); GRACE's node views are tensor ops and draw on the batch's device.
def _host(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class _HostIndex:
    """NumPy copies of a GraphBatch's index arrays, and each graph's node range (`ptr`)."""

    def __init__(self, batch: np.ndarray, edge_index: np.ndarray, ptr: np.ndarray):
        self.batch, self.edge_index, self.ptr = batch, edge_index, ptr
        self.src, self.dst = edge_index


def _host_index(b: GraphBatch) -> _HostIndex:
    h = b.__dict__.get("_host_index")
    if h is None:
        batch = _host(b.batch)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(batch, minlength=b.num_graphs))])
        h = b.__dict__["_host_index"] = _HostIndex(batch, _host(b.edge_index), ptr)
    return h


def subgraph_mask(
    b: GraphBatch, keep_frac: float, u_seed: torch.Tensor, u_edge: torch.Tensor
) -> torch.Tensor:
    """GraphCL's subgraph view of every graph of `b` as a node mask: from a random seed node
    (`u_seed`), grow outward in random order until ceil(keep_frac · nodes) are inside (or the seed's
    component is exhausted) — Dijkstra with random positive edge weights `u_edge[0]` + 0.05, the
    nearest nodes kept."""
    from datasets._graph_kernels import graph_view_index

    h = _host_index(b)
    nodes, _ = graph_view_index(
        h.batch,
        h.src,
        h.dst,
        h.ptr,
        np.zeros(b.num_graphs, dtype=np.int64),
        np.ones(len(h.batch), dtype=np.float32),
        np.ones(len(h.src), dtype=np.float32),
        _host(u_seed).astype(np.float32),
        _host(u_edge[0]).astype(np.float32),
        np.float32(0.0),
        keep_frac,
        -1,
        0,
        -1,
    )
    inside = torch.zeros(len(h.batch), dtype=torch.bool)
    inside[torch.from_numpy(nodes)] = True
    return inside


def graph_views(
    b: GraphBatch,
    generator: torch.Generator,
    rate: float = 0.2,
    augs: tuple[str, ...] = GRAPH_VIEWS,
    subgraph_keep: float | None = None,
    mask_nodes: bool = False,
) -> GraphBatch:
    """GraphCL: each graph gets one augmentation drawn from `augs`, all applied in one pass:
    node_dropping (each node with prob. `rate`; the graph's highest-drawn node always stays),
    subgraph (`subgraph_mask` at `subgraph_keep`, default 1 − rate), edge_dropping (each directed
    edge with prob. `rate`), feature_masking (each feature column of the graph with prob. `rate`;
    `mask_nodes`: instead each node's whole feature row, with prob. `rate`, set to its graph's mean
    row, as GraphCL's unsupervised TU code masks)."""
    from datasets._graph_kernels import graph_view_index

    h = _host_index(b)
    n, e, g, f = len(h.batch), len(h.src), b.num_graphs, b.x.shape[1]
    gen_dev = generator.device
    choice = _drawn_on_host(integers(0, len(augs), g, generator, gen_dev))
    u_node = _drawn_on_host(uniform(n, 0, 1, generator, gen_dev))
    u_edge = _drawn_on_host(uniform(e, 0, 1, generator, gen_dev))
    u_feat = _drawn_on_host(uniform((g, f), 0, 1, generator, gen_dev))
    u_seed = _drawn_on_host(uniform(g, 0, 1, generator, gen_dev))
    u_walk = _drawn_on_host(uniform(e, 0, 1, generator, gen_dev))  # random edge weights of the subgraph ball
    aug_id = {a: (augs.index(a) if a in augs else -1) for a in GRAPH_VIEWS}
    nodes, edges = graph_view_index(
        h.batch,
        h.src,
        h.dst,
        h.ptr,
        choice,
        u_node,
        u_edge,
        u_seed,
        u_walk,
        np.float32(rate),
        1.0 - rate if subgraph_keep is None else subgraph_keep,
        aug_id["node_dropping"],
        aug_id["subgraph"],
        aug_id["edge_dropping"],
    )
    dev = b.x.device
    batch = h.batch[nodes]
    x = b.x.index_select(0, torch.from_numpy(nodes).to(dev))
    masked = choice == aug_id["feature_masking"]
    if mask_nodes:
        u_mask = _drawn_on_host(uniform(n, 0, 1, generator, gen_dev))[nodes]
        hit = (u_mask < rate) & masked[batch]
        if hit.any():
            bt = torch.from_numpy(batch).to(dev)
            sums = torch.zeros(g, x.shape[1], device=dev, dtype=x.dtype).index_add_(0, bt, x)
            counts = torch.bincount(bt, minlength=g).clamp_min(1).to(x.dtype).unsqueeze(1)
            x = torch.where(torch.from_numpy(hit).to(dev).unsqueeze(1), (sums / counts)[bt], x)
    elif masked.any():  # zero the masked feature columns of those graphs
        keep = (~((u_feat < rate) & masked[:, None])).astype(np.float32)
        x = x * torch.from_numpy(keep[batch]).to(dev, x.dtype)
    return GraphBatch(x, torch.from_numpy(edges).to(dev), torch.from_numpy(batch).to(dev), g)


# GRACE's published view rates (Zhu et al. 2020, App. / config.yaml): (edge drop, feature mask) of
# view 1 and view 2 per dataset; the temperature is the method's (methods/simclr.py).
GRACE_RATES = {
    "cora": ((0.2, 0.3), (0.4, 0.4)),
    "citeseer": ((0.2, 0.3), (0.0, 0.2)),
    "pubmed": ((0.4, 0.0), (0.1, 0.2)),
}


def graph_policy_view(b: GraphBatch, generator: torch.Generator, policy) -> GraphBatch:
    """Graph tasks under a named view (benchmark/core/views.py). `ssl`: GraphCL's unsupervised TU
    code (You et al. 2020) — slot 0 is the original graph, slot 1 one of the four augmentations at
    its rates (drop / perturb / mask 10 %, subgraph keeps 20 %, masked nodes take the mean row).
    `weak`: 10 % of the edges dropped; `strong`: a slot-1 GraphCL view. `crop`: the graph as is."""
    if policy.kind == "ssl":
        if policy.slot == 0:
            return b
        return graph_views(b, generator, 0.1, subgraph_keep=0.2, mask_nodes=True)
    if policy.kind == "weak":
        return graph_views(b, generator, 0.1, augs=("edge_dropping",))
    if policy.kind == "strong":
        return graph_views(b, generator, 0.1, subgraph_keep=0.2, mask_nodes=True)
    return b


def node_policy_view(b: NodeBatch, generator: torch.Generator, policy, dataset: str) -> NodeBatch:
    """Node tasks under a named view: `ssl` slot 0 / 1 are GRACE's two views at the dataset's
    published rates (Cora's where a dataset has none); `weak` / `strong` the same two;
    `crop` the graph as is."""
    first, second = GRACE_RATES.get(dataset, GRACE_RATES["cora"])
    if policy.kind == "crop":
        return b
    slot = policy.slot if policy.kind == "ssl" else (0 if policy.kind == "weak" else 1)
    edge, feature = first if slot == 0 else second
    return node_views(b, generator, edge, feature)


def node_views(
    b: NodeBatch,
    generator: torch.Generator,
    edge_rate: float = 0.3,
    feature_rate: float = 0.3,
    node_rate: float = 0.0,
) -> NodeBatch:
    """GRACE: drop edges, mask feature columns (shared by all nodes); optionally isolate random
    non-target nodes."""
    dev = b.x.device
    e, f = b.edge_index.shape[1], b.x.shape[1]
    keep_e = uniform(e, 0, 1, generator, dev) >= edge_rate
    keep_f = uniform(f, 0, 1, generator, dev) >= feature_rate
    if node_rate > 0:
        drop = uniform(b.x.shape[0], 0, 1, generator, dev) < node_rate
        drop[b.nodes] = False
        keep_e &= ~(drop[b.edge_index[0]] | drop[b.edge_index[1]])
    return NodeBatch(b.x * keep_f.to(b.x.dtype), b.edge_index[:, keep_e], b.nodes)


# ==== corruptions ===========================================================================
def _sev(severity: int) -> int:
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be 1..5, got {severity}")
    return severity - 1


def _node_keys(b, sample_indices):
    """(graph key, position key) per node: (sample index, position within its graph) for graph
    batches, (0, global node id) for node batches."""
    if isinstance(b, NodeBatch):
        n = b.x.shape[0]
        return torch.zeros(n, dtype=torch.long), torch.arange(n)
    batch = b.batch.cpu()
    ptr = b.ptr().cpu()
    return sample_indices.cpu()[batch], torch.arange(len(batch)) - ptr[batch]


def edge_removal(b, sample_indices, severity):
    p = EDGE_REMOVAL[_sev(severity)]
    gk, pk = _node_keys(b, sample_indices)
    src, dst = b.edge_index.cpu()
    lo, hi = torch.minimum(pk[src], pk[dst]), torch.maximum(pk[src], pk[dst])
    keep = (keyed_uniform("graph/edge_removal", gk[src], lo, hi) >= p).to(b.x.device)
    if isinstance(b, NodeBatch):
        return NodeBatch(b.x, b.edge_index[:, keep], b.nodes)
    return GraphBatch(b.x, b.edge_index[:, keep], b.batch, b.num_graphs)


def make_feature_noise(scale: torch.Tensor):
    node_task_noise: dict[tuple[int, int], torch.Tensor] = {}  # one graph: the same z for every chunk

    def feature_noise(b, sample_indices, severity):
        sigma = FEATURE_NOISE[_sev(severity)]
        key = tuple(b.x.shape)
        if isinstance(b, NodeBatch) and key in node_task_noise:
            z = node_task_noise[key]
        else:
            gk, pk = _node_keys(b, sample_indices)
            cols = torch.arange(b.x.shape[1])
            z = (
                keyed_normal("graph/feature_noise", gk[:, None], pk[:, None], cols[None, :])
                * scale.double()[None, :]
            ).float()
            if isinstance(b, NodeBatch):
                node_task_noise.clear()
                node_task_noise[key] = z
        x = b.x + (sigma * z).to(b.x.device, b.x.dtype)
        if isinstance(b, NodeBatch):
            return NodeBatch(x, b.edge_index, b.nodes)
        return GraphBatch(x, b.edge_index, b.batch, b.num_graphs)

    return feature_noise


def node_dropping(b, sample_indices, severity):
    p = NODE_DROPPING[_sev(severity)]
    gk, pk = _node_keys(b, sample_indices)
    u = keyed_uniform("graph/node_dropping", gk, pk)
    drop = u < p
    if isinstance(b, NodeBatch):
        drop = drop.to(b.x.device)
        keep_e = ~(drop[b.edge_index[0]] | drop[b.edge_index[1]])
        return NodeBatch(b.x, b.edge_index[:, keep_e], b.nodes)
    u = _host(u)
    h = _host_index(b)
    best = np.full(b.num_graphs, -1.0, dtype=u.dtype)
    np.maximum.at(best, h.batch, u)
    node_keep = ~((u < p) & (u < best[h.batch]))  # at least one node per graph stays
    nodes = np.flatnonzero(node_keep)
    new_id = np.cumsum(node_keep) - 1
    edges = new_id.take(np.compress(node_keep[h.src] & node_keep[h.dst], h.edge_index, axis=1))
    dev = b.x.device
    return GraphBatch(
        b.x.index_select(0, torch.from_numpy(nodes).to(dev)),
        torch.from_numpy(edges).to(dev),
        torch.from_numpy(h.batch[nodes]).to(dev),
        b.num_graphs,
    )
