"""Graph adapters: Planetoid (node classification) and TUDataset (graph classification), read with
PyTorch Geometric's own dataset classes from their raw-dir layout.

Layout: `<data_dir>/graphs/Planetoid/<Name>/raw/ind.<name>.*` and `<data_dir>/graphs/TUDataset/<NAME>/
raw/<NAME>_*.txt` — PyG's `raw_dir = root/name/raw`. PyG writes `processed/` next to `raw/`; when the
data dir is read-only (a shared copy) the raw files are symlinked into a writable cache
(`cache_dir` option, else `$SSLBENCH_CACHE_DIR`, else ~/.cache/sslbench) under a key derived from
their SHA-256, processed there in a temp dir and renamed into place atomically, so a changed raw file
never meets a stale processed file. Missing files are downloaded by PyG (official URLs) into the data
dir unless `download=False`; offline, the DataError names the files and where to put them.

Batch representation (what `batch(split, index)` returns, what views/corruptions/encoders take):
- node tasks: `NodeBatch(x, edge_index, nodes)` — the whole graph plus the requested node ids; the
  GCN runs on the full graph and returns the rows of `nodes`, so the generic loop (index minibatches
  of the train pool → embeddings of exactly those samples) works unchanged. Planetoid is
  transductive: every node's features and every edge are visible, only the 140/500/1000 labels are
  split; pretraining draws its loss on the train nodes only (DESIGN §3.1: pretraining sees the train
  split).
- graph tasks: `GraphBatch(x, edge_index, batch, num_graphs)` — the selected graphs gathered
  (vectorised, no per-graph Python) from one collated storage, node ids local to the batch, `batch`
  the graph position of each node (PyG's convention; `to_pyg()` gives a PyG `Batch`). The GIN returns
  one pooled embedding per graph, in `index` order.

Splits: Planetoid's public split (Cora 140/500/1000). TUDataset has no official split: a stratified
70/10/20 split fixed by a seed derived from the dataset name (DESIGN §3.1); option `fold=k` (0..9)
gives fold k of a name-seeded stratified 10-fold CV instead (test = fold k, val = a stratified 10 %
of the other folds).

Views (batched, driven by the given generator): edge dropping, feature masking, node dropping and
subgraph (a ball grown from a random seed node in random order — Dijkstra under random edge weights —
until it holds ≥ 1 − rate of the graph). Graph
tasks use GraphCL's scheme (You et al. 2020): each graph gets one of the four, rate 0.2. Node tasks
use GRACE's (Zhu et al. 2020): edge dropping + feature-column masking, rate 0.3; node dropping on a
node batch isolates (removes every edge of) random non-target nodes; subgraph is graph-task only.

Corruptions (DESIGN §3.5, keyed randomness from datasets/_keyed.py, severities nested):
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

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from datasets._keyed import keyed_normal, keyed_uniform, stratified_70_10_20, stratified_kfold
from datasets.base import Adapter, DataError, Split, register_adapter

EDGE_REMOVAL = (0.1, 0.2, 0.3, 0.4, 0.5)
NODE_DROPPING = (0.05, 0.1, 0.2, 0.3, 0.4)
FEATURE_NOISE = (0.25, 0.5, 1.0, 1.5, 2.0)
GRAPH_VIEWS = ("node_dropping", "subgraph", "edge_dropping", "feature_masking")


# ==== batch representations =================================================================
@dataclass
class NodeBatch:
    """A whole graph and the ids of the nodes whose embeddings are wanted (node tasks)."""

    x: torch.Tensor           # (num_nodes, F) float
    edge_index: torch.Tensor  # (2, E) long, both directions of every undirected edge
    nodes: torch.Tensor       # (B,) long

    def to(self, device, non_blocking: bool = False) -> "NodeBatch":
        return NodeBatch(self.x.to(device, non_blocking=non_blocking).float(),
                         self.edge_index.to(device, non_blocking=non_blocking),
                         self.nodes.to(device, non_blocking=non_blocking))

    def __len__(self) -> int:
        return int(self.nodes.shape[0])


@dataclass
class GraphBatch:
    """Several graphs as one disjoint union (PyG's batching convention)."""

    x: torch.Tensor           # (N, F) float
    edge_index: torch.Tensor  # (2, E) long, ids local to this batch
    batch: torch.Tensor       # (N,) long, graph position in the batch, non-decreasing
    num_graphs: int

    def to(self, device, non_blocking: bool = False) -> "GraphBatch":
        if self.x.dtype == torch.float32 and all(t.device == torch.device(device)
                                                 for t in (self.x, self.edge_index, self.batch)):
            return self  # already there: keep the batch's host index (`_host_index`) with it
        return GraphBatch(self.x.to(device, non_blocking=non_blocking).float(),
                          self.edge_index.to(device, non_blocking=non_blocking),
                          self.batch.to(device, non_blocking=non_blocking), self.num_graphs)

    def __len__(self) -> int:
        return self.num_graphs

    def ptr(self) -> torch.Tensor:
        counts = torch.bincount(self.batch, minlength=self.num_graphs)
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def to_pyg(self):
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
        nodes, ei, batch, ptr = gather_graphs(gids, self.node_ptr.numpy(), self.edge_ptr.numpy(),
                                              self.edge_index.numpy())
        out = GraphBatch(self.x.index_select(0, torch.from_numpy(nodes)), torch.from_numpy(ei),
                         torch.from_numpy(batch), len(gids))
        out.__dict__["_host_index"] = _HostIndex(batch, ei, ptr)  # what views need, at hand
        return out


def _np_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each (s, c), vectorised (NumPy)."""
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))


# ==== views =================================================================================
# A MUTAG training step is only ~12 ms of model work on two views of 66 small graphs, so the views'
# fixed costs count. Which nodes and edges a view keeps is decided on the host in one compiled pass
# (`_graph_kernels.graph_view_index`, Numba) over NumPy copies of the batch's index arrays, kept on
# the batch object (`_host_index`) so the step's views share them. Only the node-feature gathers run
# on the batch's device. The random numbers come from the CPU generator, in a fixed order.
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


def _subgraph_mask(b: GraphBatch, keep_frac: float, u_seed: torch.Tensor, u_edge: torch.Tensor) -> torch.Tensor:
    """GraphCL's subgraph view of every graph of `b` as a node mask: from a random seed node
    (`u_seed`), grow outward in random order until ceil(keep_frac · nodes) are inside (or the seed's
    component is exhausted) — Dijkstra with random positive edge weights `u_edge[0]` + 0.05, the
    nearest nodes kept."""
    from datasets._graph_kernels import graph_view_index

    h = _host_index(b)
    nodes, _ = graph_view_index(h.batch, h.src, h.dst, h.ptr, np.zeros(b.num_graphs, dtype=np.int64),
                                np.ones(len(h.batch), dtype=np.float32), np.ones(len(h.src), dtype=np.float32),
                                _host(u_seed).astype(np.float32), _host(u_edge[0]).astype(np.float32),
                                np.float32(0.0), keep_frac, -1, 0, -1)
    inside = torch.zeros(len(h.batch), dtype=torch.bool)
    inside[torch.from_numpy(nodes)] = True
    return inside


def graph_views(b: GraphBatch, generator: torch.Generator, rate: float = 0.2,
                augs: tuple[str, ...] = GRAPH_VIEWS) -> GraphBatch:
    """GraphCL: each graph gets one augmentation drawn from `augs`, all applied in one pass:
    node_dropping (each node with prob. `rate`; the graph's highest-drawn node always stays),
    subgraph (`_subgraph_mask` at 1 − rate), edge_dropping (each directed edge with prob. `rate`),
    feature_masking (each feature column of the graph with prob. `rate`)."""
    from datasets._graph_kernels import graph_view_index

    h = _host_index(b)
    n, e, g, f = len(h.batch), len(h.src), b.num_graphs, b.x.shape[1]
    choice = torch.randint(0, len(augs), (g,), generator=generator).numpy()
    u_node = torch.rand(n, generator=generator).numpy()
    u_edge = torch.rand(e, generator=generator).numpy()
    u_feat = torch.rand(g, f, generator=generator).numpy()
    u_seed = torch.rand(g, generator=generator).numpy()
    u_walk = torch.rand(e, generator=generator).numpy()  # random edge weights of the subgraph ball
    aug_id = {a: (augs.index(a) if a in augs else -1) for a in GRAPH_VIEWS}
    nodes, edges = graph_view_index(h.batch, h.src, h.dst, h.ptr, choice, u_node, u_edge, u_seed, u_walk,
                                    np.float32(rate), 1.0 - rate, aug_id["node_dropping"],
                                    aug_id["subgraph"], aug_id["edge_dropping"])
    dev = b.x.device
    batch = h.batch[nodes]
    x = b.x.index_select(0, torch.from_numpy(nodes).to(dev))
    masked = choice == aug_id["feature_masking"]
    if masked.any():  # zero the masked feature columns of those graphs
        keep = (~((u_feat < rate) & masked[:, None])).astype(np.float32)
        x = x * torch.from_numpy(keep[batch]).to(dev, x.dtype)
    return GraphBatch(x, torch.from_numpy(edges).to(dev), torch.from_numpy(batch).to(dev), g)


def node_views(b: NodeBatch, generator: torch.Generator, edge_rate: float = 0.3,
               feature_rate: float = 0.3, node_rate: float = 0.0) -> NodeBatch:
    """GRACE: drop edges, mask feature columns (shared by all nodes); optionally isolate random
    non-target nodes."""
    dev = b.x.device
    e, f = b.edge_index.shape[1], b.x.shape[1]
    keep_e = (torch.rand(e, generator=generator) >= edge_rate).to(dev)
    keep_f = (torch.rand(f, generator=generator) >= feature_rate).to(dev)
    if node_rate > 0:
        drop = (torch.rand(b.x.shape[0], generator=generator) < node_rate).to(dev)
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
            z = (keyed_normal("graph/feature_noise", gk[:, None], pk[:, None], cols[None, :])
                 * scale.double()[None, :]).float()
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
    return GraphBatch(b.x.index_select(0, torch.from_numpy(nodes).to(dev)), torch.from_numpy(edges).to(dev),
                      torch.from_numpy(h.batch[nodes]).to(dev), b.num_graphs)


# ==== PyG loading helpers ===================================================================
def _cache_base(options: dict) -> Path:
    if options.get("cache_dir"):
        return Path(options["cache_dir"])
    env = os.environ.get("SSLBENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sslbench"


def _writable(path: Path) -> bool:
    """Writable by us *and* not marked read-only: root passes `os.access` on a dr-xr-xr-x shared
    copy, which must still not be written to."""
    return (path.is_dir() and os.access(path, os.W_OK | os.X_OK)
            and bool(path.stat().st_mode & 0o222))


def _pyg_root(family: str, name: str, raw_dir: Path, raw_files: list[Path], options: dict, build) -> Path:
    """A root under which PyG finds `<name>/raw` and may write `<name>/processed`: the data dir when
    writable, else a content-keyed cache dir prepared atomically (built with `build(root)`)."""
    if (raw_dir.parent / "processed").is_dir() or (_writable(raw_dir.parent)
                                                   and not options.get("cache_processed", False)):
        return raw_dir.parent.parent  # PyG's own layout: processed/ next to raw/
    h = hashlib.sha256()
    for f in sorted(raw_files):
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    final = _cache_base(options) / "pyg" / f"{family}-{name}-{h.hexdigest()[:16]}"
    if (final / name / "processed").is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=final.name + ".tmp-"))
    try:
        (tmp / name / "raw").mkdir(parents=True)
        for f in raw_files:
            (tmp / name / "raw" / f.name).symlink_to(f.resolve())
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: use theirs
            if not (final / name / "processed").is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ==== Planetoid ================================================================================
PLANETOID_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"


class _GraphAdapter(Adapter):
    """What node- and graph-level adapters share: graph corruptions (feature noise scaled by the train
    features' std, set by `load_splits` as `feature_scale`) and moving a batch to the device."""

    feature_scale: torch.Tensor

    def corruptions(self):
        self.splits()
        return {"edge_removal": edge_removal, "feature_noise": make_feature_noise(self.feature_scale),
                "node_dropping": node_dropping}

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True)


class PlanetoidAdapter(_GraphAdapter):
    domain = "graphs"
    pyg_name: ClassVar[str]
    expected: ClassVar[dict[str, Any]]  # nodes, features, classes, split sizes, directed edges

    def load_splits(self) -> dict[str, Split]:
        base = self.data_dir / "graphs" / "Planetoid"
        raw_dir = base / self.pyg_name / "raw"
        files = [raw_dir / f"ind.{self.pyg_name.lower()}.{s}" for s in PLANETOID_RAW]
        missing = [f for f in files if not f.exists()]
        ds = None
        if missing:
            if not self.options.get("download", True):
                raise DataError(f"{self.name}: Planetoid raw files missing: {[f.name for f in missing]} "
                                f"in {raw_dir}. Put the official files there (from {PLANETOID_URL}, "
                                f"names ind.{self.pyg_name.lower()}.*) or allow downloading")
            ds = self._run_pyg(base, raw_dir, download=True)
        else:
            for f in files:
                if f.stat().st_size == 0:
                    raise DataError(f"{f}: empty file; expected a Planetoid pickle — re-download it from "
                                    f"{PLANETOID_URL}/{f.name}")
            root = _pyg_root("Planetoid", self.pyg_name, raw_dir, files, self.options,
                             lambda r: self._run_pyg(r, raw_dir))
            ds = self._run_pyg(root, raw_dir)
        data = ds[0]
        exp = self.expected
        got = {"nodes": int(data.num_nodes), "features": int(data.x.shape[1]),
               "classes": int(data.y.max()) + 1,
               "split": (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())),
               "edges": int(data.edge_index.shape[1])}
        bad = {k: (got[k], exp[k]) for k in exp if got[k] != exp[k]}
        if bad:
            raise DataError(f"{raw_dir}: loaded {self.pyg_name} does not match the official dataset "
                            f"({', '.join(f'{k}: got {g}, expected {e}' for k, (g, e) in bad.items())}); "
                            f"replace the raw files with the official ones from {PLANETOID_URL}")
        x = data.x.float()
        if self.options.get("normalize_features", True):  # PyG's NormalizeFeatures (row sums to 1)
            x = x / x.sum(1, keepdim=True).clamp_min(1e-12)
        ei = data.edge_index.long()
        self.feature_scale = x.std(0)
        out = {}
        for split, mask in (("train", data.train_mask), ("val", data.val_mask), ("test", data.test_mask)):
            nodes = torch.nonzero(mask).flatten()
            out[split] = Split(NodeSet(x, ei, nodes), data.y[nodes].long())
        return out

    def _run_pyg(self, root: Path, raw_dir: Path, download: bool = False):
        from torch_geometric.datasets import Planetoid

        try:
            return Planetoid(str(root), self.pyg_name, split="public")
        except Exception as e:
            if download:
                raise DataError(f"{self.name}: could not download Planetoid {self.pyg_name} into {raw_dir} "
                                f"({type(e).__name__}: {e}). Without internet, copy ind.{self.pyg_name.lower()}.* "
                                f"from {PLANETOID_URL} there") from e
            raise DataError(self._diagnose(raw_dir, e)) from e

    def _diagnose(self, raw_dir: Path, err: Exception) -> str:
        """Find which raw file PyG's own reader rejects (it unpickles them; we never do)."""
        from torch_geometric.io.planetoid import read_file

        for s in PLANETOID_RAW:
            try:
                read_file(str(raw_dir), self.pyg_name.lower(), s)
            except Exception as e:
                return (f"{raw_dir / f'ind.{self.pyg_name.lower()}.{s}'}: PyG cannot read it "
                        f"({type(e).__name__}: {e}); expected a Planetoid pickle — the file is truncated or "
                        f"corrupt, re-download it from {PLANETOID_URL}")
        return (f"{raw_dir}: PyG failed to build {self.pyg_name} ({type(err).__name__}: {err}); the raw "
                f"files are inconsistent with each other — replace them with the official ones")

    def views(self, x, generator):
        return node_views(x, generator, self.options.get("edge_rate", 0.3),
                          self.options.get("feature_rate", 0.3), self.options.get("node_rate", 0.0))


def _planetoid(name: str, pyg_name: str, nodes: int, feats: int, classes: tuple[str, ...],
               split: tuple[int, int, int], edges: int, doc: str):
    cls = type(pyg_name, (PlanetoidAdapter,), {
        "__doc__": doc, "name": name, "pyg_name": pyg_name,
        "spec": InputSpec("graph", (feats,), extras={"task": "node", "num_nodes": nodes}),
        "task": TaskSpec(len(classes), class_names=classes),
        "expected": {"nodes": nodes, "features": feats, "classes": len(classes), "split": split,
                     "edges": edges},
        # Partners must share the spec (feature width): none of the Planetoid sets do, see README.
        "ood_partners": {"near": [], "far": []},
        "__module__": __name__,
    })
    return register_adapter(cls)


Cora = _planetoid("cora", "Cora", 2708, 1433,
                  ("case_based", "genetic_algorithms", "neural_networks", "probabilistic_methods",
                   "reinforcement_learning", "rule_learning", "theory"),
                  (140, 500, 1000), 10556, "Cora citation graph (Sen et al. 2008), Planetoid public split.")
CiteSeer = _planetoid("citeseer", "CiteSeer", 3327, 3703,
                      ("agents", "ai", "db", "ir", "ml", "hci"), (120, 500, 1000), 9104,
                      "CiteSeer citation graph, Planetoid public split (15 isolated test ids padded by PyG).")
PubMed = _planetoid("pubmed", "PubMed", 19717, 500, ("diabetes_experimental", "diabetes_type1",
                                                     "diabetes_type2"),
                    (60, 500, 1000), 88648, "PubMed diabetes citation graph, Planetoid public split.")


# ==== TUDataset ==============================================================================
TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets"


def _read_ints(path: Path, cols: int | None = None) -> np.ndarray:
    """Comma-separated integers, one row per line; a DataError names the file and line on junk."""
    import pandas as pd

    try:
        df = pd.read_csv(path, header=None, sep=",", skipinitialspace=True, dtype=str,
                         keep_default_na=False, engine="c")
    except Exception as e:
        raise DataError(f"{path}: cannot parse as comma-separated integers ({type(e).__name__}: {e})") from e
    if cols is not None and df.shape[1] != cols:
        raise DataError(f"{path}: {df.shape[1]} columns; expected {cols}")
    vals = df.apply(pd.to_numeric, errors="coerce")
    bad = vals.isna().any(axis=1).to_numpy()
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise DataError(f"{path}: line {line} is not {cols or 'comma-separated'} integer(s): "
                        f"{','.join(df.iloc[line - 1].tolist())!r}; the file is corrupt — re-download it")
    return vals.to_numpy(dtype=np.float64)


def validate_tu_raw(raw_dir: Path, name: str, expected: dict[str, Any]) -> None:
    """Check the TU text files agree with each other (and with the official counts) before PyG,
    which would otherwise fail with an opaque tensor error or silently misalign nodes."""
    f = lambda s: raw_dir / f"{name}_{s}.txt"  # noqa: E731
    required = ["A", "graph_indicator", "graph_labels"]
    missing = [f(s).name for s in required if not f(s).exists()]
    if missing:
        raise DataError(f"{raw_dir}: TUDataset files {missing} missing; expected {[f(s).name for s in required]} "
                        f"(+ node_labels etc.) from {TU_URL}/{name}.zip, extracted into {raw_dir}")
    gi = _read_ints(f("graph_indicator"), 1)[:, 0].astype(np.int64)
    n_nodes = len(gi)
    n_graphs = int(gi.max()) if n_nodes else 0
    if n_nodes == 0 or gi.min() != 1 or np.any(np.diff(gi) < 0) or len(np.unique(gi)) != n_graphs:
        raise DataError(f"{f('graph_indicator')}: graph ids must run 1..G in non-decreasing order with "
                        f"every graph present; the file is corrupt or truncated")
    labels = _read_ints(f("graph_labels"), None)
    if len(labels) != n_graphs:
        raise DataError(f"{f('graph_labels')}: {len(labels)} graph labels but {f('graph_indicator').name} "
                        f"describes {n_graphs} graphs (expected one label per graph); one of the two is "
                        f"truncated — re-download {TU_URL}/{name}.zip")
    for s in ("node_labels", "node_attributes"):
        if f(s).exists():
            rows = len(_read_ints(f(s), None))
            if rows != n_nodes:
                raise DataError(f"{f(s)}: {rows} rows but {f('graph_indicator').name} has {n_nodes} nodes; "
                                f"mismatched node counts — one of the files is truncated or from another dataset")
    a = _read_ints(f("A"), 2).astype(np.int64)
    if a.size and (a.min() < 1 or a.max() > n_nodes):
        raise DataError(f"{f('A')}: node ids range {a.min()}..{a.max()}; expected 1..{n_nodes} (the number "
                        f"of lines of {f('graph_indicator').name}) — mismatched node counts")
    if a.size and np.any(gi[a[:, 0] - 1] != gi[a[:, 1] - 1]):
        raise DataError(f"{f('A')}: an edge joins nodes of two different graphs; the file does not match "
                        f"{f('graph_indicator').name}")
    for s in ("edge_labels", "edge_attributes"):
        if f(s).exists() and len(_read_ints(f(s), None)) != len(a):
            raise DataError(f"{f(s)}: row count differs from the {len(a)} edges of {f('A').name}")
    got = {"graphs": n_graphs, "nodes": n_nodes, "edges": len(a)}
    bad = {k: (got[k], v) for k, v in expected.items() if k in got and got[k] != v}
    if bad:
        raise DataError(f"{raw_dir}: {name} has {', '.join(f'{g} {k} (expected {e})' for k, (g, e) in bad.items())}; "
                        f"the files are truncated or not the official {name} — re-download {TU_URL}/{name}.zip")


class TUAdapter(_GraphAdapter):
    """A TUDataset graph-classification set. Option `node_features: degree` replaces the dataset's
    node features by the one-hot node degree clipped at `max_degree` (option, default 10) — PyG's
    OneHotDegree — so sets with different feature vocabularies share a spec (graph, (max_degree+1,))
    and structure-only transfer between them is possible (e.g. PROTEINS → MUTAG, as in GCC)."""

    domain = "graphs"
    pyg_name: ClassVar[str]
    expected: ClassVar[dict[str, Any]]  # graphs, nodes, edges, class_counts
    max_degree: ClassVar[int | None] = None  # one-hot degree features for sets without node features

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        feats = self.options.get("node_features", "dataset")
        if feats not in ("dataset", "degree"):
            raise ValueError(f"{self.name}: option node_features must be 'dataset' or 'degree', got {feats!r}")
        if "max_degree" in self.options and feats != "degree":
            raise ValueError(f"{self.name}: option max_degree needs node_features: degree")
        if feats == "degree":
            d = self.options.get("max_degree", 10)
            if not isinstance(d, int) or isinstance(d, bool) or d < 1:
                raise ValueError(f"{self.name}: option max_degree must be an integer ≥ 1, got {d!r}")
            self.max_degree = d
            self.spec = InputSpec("graph", (d + 1,), extras=dict(self.spec.extras))

    def load_splits(self) -> dict[str, Split]:
        base = self.data_dir / "graphs" / "TUDataset"
        raw_dir = base / self.pyg_name / "raw"
        if not (raw_dir / f"{self.pyg_name}_A.txt").exists():
            if not self.options.get("download", True):
                raise DataError(f"{self.name}: {raw_dir / (self.pyg_name + '_A.txt')} and the other "
                                f"{self.pyg_name}_*.txt files not found; extract {TU_URL}/{self.pyg_name}.zip "
                                f"into {raw_dir} or allow downloading")
            ds = self._run_pyg(base, download=True)
        else:
            validate_tu_raw(raw_dir, self.pyg_name, self.expected)
            files = sorted(raw_dir.glob(f"{self.pyg_name}_*.txt"))
            root = _pyg_root("TUDataset", self.pyg_name, raw_dir, files, self.options,
                             lambda r: self._run_pyg(r))
            ds = self._run_pyg(root)
        from torch_geometric.data import Batch

        big = Batch.from_data_list(list(ds))
        y = big.y.long().reshape(-1)
        counts = tuple(torch.bincount(y).tolist())
        want = self.expected.get("class_counts", counts)
        if len(y) != self.expected["graphs"] or counts != want:
            raise DataError(f"{raw_dir}: {len(y)} graphs with class counts {counts}; expected "
                            f"{self.expected['graphs']} with {want}")
        node_ptr = big.ptr.long()
        ei = big.edge_index.long()
        egraph = big.batch[ei[0]]
        if ei.shape[1] and torch.any(egraph[1:] < egraph[:-1]):
            raise DataError(f"{raw_dir}: PyG returned edges not grouped by graph")
        ecount = torch.bincount(egraph, minlength=len(y))
        edge_ptr = torch.cat([ecount.new_zeros(1), ecount.cumsum(0)])
        if big.x is None or self.options.get("node_features") == "degree":
            # e.g. IMDB-BINARY (no node features), or asked for: one-hot degree (PyG's OneHotDegree), clipped
            deg = torch.bincount(ei[0], minlength=int(node_ptr[-1]))
            x = torch.nn.functional.one_hot(deg.clamp_max(self.max_degree), self.max_degree + 1).float()
        else:
            x = big.x.float()
        if x.shape[1] != self.spec.shape[0]:
            raise DataError(f"{raw_dir}: node features have width {x.shape[1]}; expected {self.spec.shape[0]}")
        fold = self.options.get("fold")
        seed_name = getattr(self, "split_base", None) or self.name  # a derived partner keeps its base's split
        if fold is None:
            tr, va, te = stratified_70_10_20(y, seed_name)
        else:
            tr, va, te = stratified_kfold(y, 10, int(fold), seed_name)
        tr_nodes = torch.from_numpy(_np_ranges(node_ptr[tr].numpy(), (node_ptr[tr + 1] - node_ptr[tr]).numpy()))
        self.feature_scale = x[tr_nodes].std(0)
        return {k: Split(GraphSet(x, ei, node_ptr, edge_ptr, ids), y[ids])
                for k, ids in (("train", tr), ("val", va), ("test", te))}

    def _run_pyg(self, root: Path, download: bool = False):
        from torch_geometric.datasets import TUDataset

        try:
            return TUDataset(str(root), self.pyg_name, use_node_attr=self.options.get("use_node_attr", False))
        except Exception as e:
            raw = Path(root) / self.pyg_name / "raw"
            hint = (f"could not download it ({type(e).__name__}: {e}); without internet extract "
                    f"{TU_URL}/{self.pyg_name}.zip into {raw}") if download else \
                f"PyG cannot read the raw files in {raw} ({type(e).__name__}: {e}); re-download them"
            raise DataError(f"{self.name}: {hint}") from e

    def views(self, x, generator):
        return graph_views(x, generator, self.options.get("view_rate", 0.2))


def _tu(name: str, pyg_name: str, feats: int, expected: dict[str, Any], classes: tuple[str, ...],
        doc: str, max_degree: int | None = None):
    cls = type(pyg_name.replace("-", "_"), (TUAdapter,), {
        "__doc__": doc, "name": name, "pyg_name": pyg_name, "max_degree": max_degree,
        "spec": InputSpec("graph", (feats,), extras={"task": "graph"}),
        "task": TaskSpec(len(classes), class_names=classes), "expected": expected,
        "ood_partners": {"near": [], "far": []},
        "__module__": __name__,
    })
    return register_adapter(cls)


MUTAG = _tu("mutag", "MUTAG", 7, {"graphs": 188, "nodes": 3371, "edges": 7442, "class_counts": (63, 125)},
            ("non_mutagenic", "mutagenic"), "MUTAG: nitroaromatic compounds, mutagenicity on S. typhimurium.")
PROTEINS = _tu("proteins", "PROTEINS", 3,
               {"graphs": 1113, "nodes": 43471, "edges": 162088, "class_counts": (663, 450)},
               ("non_enzyme", "enzyme"), "PROTEINS: enzymes vs non-enzymes (node labels: SSE type).")
NCI1 = _tu("nci1", "NCI1", 37, {"graphs": 4110}, ("inactive", "active"),
           "NCI1: chemical compounds screened against non-small cell lung cancer (download only).")
IMDB_BINARY = _tu("imdb_binary", "IMDB-BINARY", 136, {"graphs": 1000},
                  ("action", "romance"),
                  "IMDB-BINARY: actor ego-networks; no node features, one-hot degree (≤135) as in PyG's "
                  "OneHotDegree(135) (download only).", max_degree=135)


# ==== OOD partners ==========================================================================
# No other registered graph set shares a spec with these (feature widths differ), and the OOD
# protocol's synthetic noise needs tensor inputs, so each set gets a "near" partner built from its
# own files: `<name>_shuffled`, the same graph(s) with node features permuted across all nodes and
# every edge's target re-drawn uniformly inside its own graph (node tasks: one endpoint of each
# undirected edge kept, the other re-drawn, both directions stored; the edge count and feature
# marginals are kept, the feature/structure dependence and homophily destroyed). Name-seeded.
def _shuffle_nodeset(s: NodeSet, seed: int) -> NodeSet:
    g = torch.Generator().manual_seed(seed)
    n = s.x.shape[0]
    x = s.x[torch.randperm(n, generator=g)]
    src = s.edge_index[0][s.edge_index[0] < s.edge_index[1]]  # one direction of each edge
    dst = torch.randint(0, n, (len(src),), generator=g)
    return NodeSet(x, torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]), s.nodes)


def _shuffle_graphset(s: GraphSet, seed: int) -> GraphSet:
    g = torch.Generator().manual_seed(seed)
    n = s.x.shape[0]
    x = s.x[torch.randperm(n, generator=g)]
    counts = s.node_ptr[1:] - s.node_ptr[:-1]
    egraph = torch.arange(len(counts)).repeat_interleave(s.edge_ptr[1:] - s.edge_ptr[:-1])
    u = torch.rand(len(egraph), generator=g)
    dst = s.node_ptr[egraph] + (u * counts[egraph]).floor().long()
    return GraphSet(x, torch.stack([s.edge_index[0], dst]), s.node_ptr, s.edge_ptr, s.graph_ids)


def _shuffled_partner(base: type[Adapter]) -> type[Adapter]:
    def load_splits(self):
        from datasets.splitting import name_seed

        splits = base.load_splits(self)
        seed = name_seed("ood-shuffled", self.name)
        first = splits["train"].inputs
        if isinstance(first, NodeSet):  # one shared graph: shuffle it once
            shuffled = _shuffle_nodeset(first, seed)
            return {k: Split(NodeSet(shuffled.x, shuffled.edge_index, v.inputs.nodes), v.labels)
                    for k, v in splits.items()}
        shuffled = _shuffle_graphset(first, seed)
        return {k: Split(GraphSet(shuffled.x, shuffled.edge_index, shuffled.node_ptr, shuffled.edge_ptr,
                                  v.inputs.graph_ids), v.labels) for k, v in splits.items()}

    cls = type(base.__name__ + "Shuffled", (base,), {
        "__doc__": f"OOD partner of {base.name}: its graphs with node features permuted and edges "
                   f"rewired at random (see the OOD-partner note in datasets/graphs.py).",
        "name": base.name + "_shuffled", "ood_partners": {"near": [], "far": []},
        "split_base": base.name, "load_splits": load_splits, "__module__": __name__,
    })
    register_adapter(cls)
    base.ood_partners = {"near": [cls.name], "far": []}
    return cls


for _base in (Cora, CiteSeer, PubMed, MUTAG, PROTEINS, NCI1, IMDB_BINARY):
    _shuffled_partner(_base)
