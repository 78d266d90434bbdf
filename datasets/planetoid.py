"""Planetoid citation graphs (node classification): Cora, CiteSeer, PubMed, read with PyTorch
Geometric's own `Planetoid` class from `<data_dir>/graphs/Planetoid/<Name>/raw/ind.<name>.*`
(PyG's `raw_dir = root/name/raw`; read-only data dirs: see `datasets.graph_base`). Missing files
are downloaded by PyG (official URLs) into the data dir unless `download=False`; offline, the
DataError names the files and where to put them.

Splits: Planetoid's public split (Cora 140/500/1000). Batches are `NodeBatch`es (the whole graph plus
node ids), views are GRACE's, corruptions act on the shared graph: see `datasets.graph_batches`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from benchmark.core.pyg import import_pyg
from benchmark.core.specs import InputSpec, TaskSpec
from datasets.base import DataError, Split, register_adapter
from datasets.graph_base import GraphAdapter, pyg_root, shuffled_partner
from datasets.graph_batches import NodeSet, node_policy_view, node_views

PLANETOID_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"


class PlanetoidAdapter(GraphAdapter):
    extra_options = frozenset({"normalize_features", "edge_rate", "feature_rate", "node_rate"})
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
                raise DataError(
                    f"{self.name}: Planetoid raw files missing: {[f.name for f in missing]} "
                    f"in {raw_dir}. Put the official files there (from {PLANETOID_URL}, "
                    f"names ind.{self.pyg_name.lower()}.*) or allow downloading"
                )
            ds = self._run_pyg(base, raw_dir, download=True)
        else:
            for f in files:
                if f.stat().st_size == 0:
                    raise DataError(
                        f"{f}: empty file; expected a Planetoid pickle — re-download it from "
                        f"{PLANETOID_URL}/{f.name}"
                    )
            root = pyg_root(
                "Planetoid", self.pyg_name, raw_dir, files, self.options, lambda r: self._run_pyg(r, raw_dir)
            )
            ds = self._run_pyg(root, raw_dir)
        data = ds[0]
        exp = self.expected
        got = {
            "nodes": int(data.num_nodes),
            "features": int(data.x.shape[1]),
            "classes": int(data.y.max()) + 1,
            "split": (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())),
            "edges": int(data.edge_index.shape[1]),
        }
        bad = {k: (got[k], exp[k]) for k in exp if got[k] != exp[k]}
        if bad:
            raise DataError(
                f"{raw_dir}: loaded {self.pyg_name} does not match the official dataset "
                f"({', '.join(f'{k}: got {g}, expected {e}' for k, (g, e) in bad.items())}); "
                f"replace the raw files with the official ones from {PLANETOID_URL}"
            )
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
        import_pyg()
        from torch_geometric.datasets import Planetoid

        try:
            return Planetoid(str(root), self.pyg_name, split="public")
        except Exception as e:
            if download:
                raise DataError(
                    f"{self.name}: could not download Planetoid {self.pyg_name} into {raw_dir} "
                    f"({type(e).__name__}: {e}). Without internet, copy "
                    f"ind.{self.pyg_name.lower()}.* from {PLANETOID_URL} there"
                ) from e
            raise DataError(self._diagnose(raw_dir, e)) from e

    def _diagnose(self, raw_dir: Path, err: Exception) -> str:
        """Find which raw file PyG's own reader rejects (it unpickles them; we never do)."""
        import_pyg()
        from torch_geometric.io.planetoid import read_file

        for s in PLANETOID_RAW:
            try:
                read_file(str(raw_dir), self.pyg_name.lower(), s)
            except Exception as e:
                return (
                    f"{raw_dir / f'ind.{self.pyg_name.lower()}.{s}'}: PyG cannot read it "
                    f"({type(e).__name__}: {e}); expected a Planetoid pickle — the file is truncated or "
                    f"corrupt, re-download it from {PLANETOID_URL}"
                )
        return (
            f"{raw_dir}: PyG failed to build {self.pyg_name} ({type(err).__name__}: {err}); the raw "
            f"files are inconsistent with each other — replace them with the official ones"
        )

    def views(self, x, generator, policy=None):
        if policy is not None:
            return node_policy_view(x, generator, policy, self.name)
        return node_views(
            x,
            generator,
            self.options.get("edge_rate", 0.3),
            self.options.get("feature_rate", 0.3),
            self.options.get("node_rate", 0.0),
        )


def _planetoid(
    name: str,
    pyg_name: str,
    nodes: int,
    feats: int,
    classes: tuple[str, ...],
    split: tuple[int, int, int],
    edges: int,
    doc: str,
):
    cls = type(
        pyg_name,
        (PlanetoidAdapter,),
        {
            "__doc__": doc,
            "name": name,
            "pyg_name": pyg_name,
            "spec": InputSpec("graph", (feats,), extras={"task": "node", "num_nodes": nodes}),
            "task": TaskSpec(len(classes), class_names=classes),
            "expected": {
                "nodes": nodes,
                "features": feats,
                "classes": len(classes),
                "split": split,
                "edges": edges,
            },
            # Partners must share the spec (feature width): none of the Planetoid sets do, see README.
            "ood_partners": {"near": [], "far": []},
            "__module__": __name__,
        },
    )
    return register_adapter(cls)


Cora = _planetoid(
    "cora",
    "Cora",
    2708,
    1433,
    (
        "case_based",
        "genetic_algorithms",
        "neural_networks",
        "probabilistic_methods",
        "reinforcement_learning",
        "rule_learning",
        "theory",
    ),
    (140, 500, 1000),
    10556,
    "Cora citation graph (Sen et al. 2008), Planetoid public split.",
)
CiteSeer = _planetoid(
    "citeseer",
    "CiteSeer",
    3327,
    3703,
    ("agents", "ai", "db", "ir", "ml", "hci"),
    (120, 500, 1000),
    9104,
    "CiteSeer citation graph, Planetoid public split (15 isolated test ids padded by PyG).",
)
PubMed = _planetoid(
    "pubmed",
    "PubMed",
    19717,
    500,
    ("diabetes_experimental", "diabetes_type1", "diabetes_type2"),
    (60, 500, 1000),
    88648,
    "PubMed diabetes citation graph, Planetoid public split.",
)


for _base in (Cora, CiteSeer, PubMed):
    shuffled_partner(_base)
