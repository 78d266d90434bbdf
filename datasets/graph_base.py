"""What the Planetoid (`datasets.planetoid`) and TUDataset (`datasets.tu`) adapters share: the
adapter base class (corruptions, device moves), PyG's processed-files root with its read-only
fallback, and the `<name>_shuffled` OOD partners.

PyG writes `processed/` next to `raw/`; when the data dir is read-only (a shared copy) the raw files
are symlinked into a writable cache (`cache_dir` option, else `$SSLBENCH_CACHE_DIR`, else
~/.cache/sslbench) under a key derived from their SHA-256, processed there in a temp dir and renamed
into place atomically, so a changed raw file never meets a stale processed file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import torch

from datasets.base import Adapter, Split, register_adapter
from datasets.graph_batches import GraphSet, NodeSet, edge_removal, make_feature_noise, node_dropping


# ==== PyG loading helpers ===================================================================
def _cache_base(options: dict) -> Path:
    if options.get("cache_dir"):
        return Path(options["cache_dir"])
    env = os.environ.get("SSLBENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "sslbench"


def _writable(path: Path) -> bool:
    """Writable by us *and* not marked read-only: root passes `os.access` on a dr-xr-xr-x shared
    copy, which must still not be written to."""
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK) and bool(path.stat().st_mode & 0o222)


def pyg_root(family: str, name: str, raw_dir: Path, raw_files: list[Path], options: dict, build) -> Path:
    """A root under which PyG finds `<name>/raw` and may write `<name>/processed`: the data dir when
    writable, else a content-keyed cache dir prepared atomically (built with `build(root)`)."""
    if (raw_dir.parent / "processed").is_dir() or (
        _writable(raw_dir.parent) and not options.get("cache_processed", False)
    ):
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


# ==== the adapter base ======================================================================
class GraphAdapter(Adapter):
    """What node- and graph-level adapters share: graph corruptions (feature noise scaled by the train
    features' std, set by `load_splits` as `feature_scale`) and moving a batch to the device."""

    feature_scale: torch.Tensor
    extra_options = frozenset({"cache_dir", "cache_processed", "pretrain_pool"})

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        pool = self.options.get("pretrain_pool", "train")
        if pool not in ("train", "all"):
            raise ValueError(f"{self.name}: option pretrain_pool must be 'train' or 'all', got {pool!r}")

    def pretraining_split(self) -> Split | None:
        """`pretrain_pool: all`: label-free pretraining on the whole dataset, as DGI, GRACE, GraphMAE
        (every node of the graph) and InfoGraph, GraphCL (every graph) do; labels are all -1."""
        if self.options.get("pretrain_pool", "train") != "all":
            return None
        s = self.splits()
        first = s["train"].inputs
        if isinstance(first, NodeSet):
            whole = NodeSet(first.x, first.edge_index, torch.arange(first.x.shape[0]))
        else:
            ids = torch.cat([s[k].inputs.graph_ids for k in ("train", "val", "test")])
            whole = GraphSet(first.x, first.edge_index, first.node_ptr, first.edge_ptr, ids)
        return Split(whole, torch.full((len(whole),), -1, dtype=torch.long))

    def corruptions(self):
        self.splits()
        return {
            "edge_removal": edge_removal,
            "feature_noise": make_feature_noise(self.feature_scale),
            "node_dropping": node_dropping,
        }

    def prepare(self, inputs, device):
        return inputs.to(device, non_blocking=True)


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


def shuffled_partner(base: type[Adapter]) -> type[Adapter]:
    def load_splits(self):
        from datasets.splitting import name_seed

        splits = base.load_splits(self)
        seed = name_seed("ood-shuffled", self.name)
        first = splits["train"].inputs
        if isinstance(first, NodeSet):  # one shared graph: shuffle it once
            shuffled = _shuffle_nodeset(first, seed)
            return {
                k: Split(NodeSet(shuffled.x, shuffled.edge_index, v.inputs.nodes), v.labels)
                for k, v in splits.items()
            }
        shuffled = _shuffle_graphset(first, seed)
        return {
            k: Split(
                GraphSet(
                    shuffled.x, shuffled.edge_index, shuffled.node_ptr, shuffled.edge_ptr, v.inputs.graph_ids
                ),
                v.labels,
            )
            for k, v in splits.items()
        }

    cls = type(
        base.__name__ + "Shuffled",
        (base,),
        {
            "__doc__": f"OOD partner of {base.name}: its graphs with node features permuted and edges "
            f"rewired at random (see the OOD-partner note in datasets/graph_base.py).",
            "name": base.name + "_shuffled",
            "ood_partners": {"near": [], "far": []},
            "split_base": base.name,
            "load_splits": load_splits,
            "__module__": base.__module__,
        },
    )
    register_adapter(cls)
    base.ood_partners = {"near": [cls.name], "far": []}
    return cls
