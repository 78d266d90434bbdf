"""TUDataset graph classification (MUTAG, PROTEINS, NCI1, IMDB-BINARY), read with PyTorch
Geometric's own `TUDataset` class from `<data_dir>/graphs/TUDataset/<NAME>/raw/<NAME>_*.txt`, after
checking the text files agree with each other (`validate_tu_raw`). Read-only data dirs: see
`datasets.graph_base`. Missing files are downloaded from the TU collection (`Adapter.remote_files`)
into the data dir unless `download=False`; offline, the DataError names the files and where to put
them. `tu` with option `name` reads any TUDataset set from configuration alone.

Splits: TUDataset has no official split: a stratified 70/10/20 split fixed by a seed derived from
the dataset name (docs/design.md §3.1); option `fold=k` (0..9) gives fold k of a name-seeded stratified
10-fold CV instead (test = fold k, val = a stratified 10 % of the other folds). Batches are
`GraphBatch`es, views are GraphCL's: see `datasets.graph_batches`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.core.pyg import import_pyg
from benchmark.core.specs import InputSpec, TaskSpec
from datasets._keyed import stratified_70_10_20, stratified_kfold
from datasets.base import DataError, Split, register_adapter
from datasets.graph_base import GraphAdapter, pyg_root, shuffled_partner
from datasets.graph_batches import GraphSet, graph_policy_view, graph_views

TU_PATH = "graphkerneldatasets"
TU_URL = "https://www.chrsmrrs.com/" + TU_PATH
TU_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _np_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each (s, c), vectorised (NumPy)."""
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))


def _read_ints(path: Path, cols: int | None = None) -> np.ndarray:
    """Comma-separated integers, one row per line; a DataError names the file and line on junk."""
    import pandas as pd

    try:
        df = pd.read_csv(
            path, header=None, sep=",", skipinitialspace=True, dtype=str, keep_default_na=False, engine="c"
        )
    except Exception as e:
        raise DataError(f"{path}: cannot parse as comma-separated integers ({type(e).__name__}: {e})") from e
    if cols is not None and df.shape[1] != cols:
        raise DataError(f"{path}: {df.shape[1]} columns; expected {cols}")
    vals = df.apply(pd.to_numeric, errors="coerce")
    bad = vals.isna().any(axis=1).to_numpy()
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise DataError(
            f"{path}: line {line} is not {cols or 'comma-separated'} integer(s): "
            f"{','.join(df.iloc[line - 1].tolist())!r}; the file is corrupt — re-download it"
        )
    return vals.to_numpy(dtype=np.float64)


def validate_tu_raw(raw_dir: Path, name: str, expected: dict[str, Any]) -> None:
    """Check the TU text files agree with each other (and with the official counts) before PyG,
    which would otherwise fail with an opaque tensor error or silently misalign nodes."""
    f = lambda s: raw_dir / f"{name}_{s}.txt"  # noqa: E731
    required = ["A", "graph_indicator", "graph_labels"]
    missing = [f(s).name for s in required if not f(s).exists()]
    if missing:
        raise DataError(
            f"{raw_dir}: TUDataset files {missing} missing; "
            f"expected {[f(s).name for s in required]} "
            f"(+ node_labels etc.) from {TU_URL}/{name}.zip, extracted into {raw_dir}"
        )
    gi = _read_ints(f("graph_indicator"), 1)[:, 0].astype(np.int64)
    n_nodes = len(gi)
    n_graphs = int(gi.max()) if n_nodes else 0
    if n_nodes == 0 or gi.min() != 1 or np.any(np.diff(gi) < 0) or len(np.unique(gi)) != n_graphs:
        raise DataError(
            f"{f('graph_indicator')}: graph ids must run 1..G in non-decreasing order with "
            f"every graph present; the file is corrupt or truncated"
        )
    labels = _read_ints(f("graph_labels"), None)
    if len(labels) != n_graphs:
        raise DataError(
            f"{f('graph_labels')}: {len(labels)} graph labels but {f('graph_indicator').name} "
            f"describes {n_graphs} graphs (expected one label per graph); one of the two is "
            f"truncated — re-download {TU_URL}/{name}.zip"
        )
    for s in ("node_labels", "node_attributes"):
        if f(s).exists():
            rows = len(_read_ints(f(s), None))
            if rows != n_nodes:
                raise DataError(
                    f"{f(s)}: {rows} rows but {f('graph_indicator').name} has {n_nodes} nodes; "
                    f"mismatched node counts — one of the files is truncated or from another "
                    f"dataset"
                )
    a = _read_ints(f("A"), 2).astype(np.int64)
    if a.size and (a.min() < 1 or a.max() > n_nodes):
        raise DataError(
            f"{f('A')}: node ids range {a.min()}..{a.max()}; expected 1..{n_nodes} (the number "
            f"of lines of {f('graph_indicator').name}) — mismatched node counts"
        )
    if a.size and np.any(gi[a[:, 0] - 1] != gi[a[:, 1] - 1]):
        raise DataError(
            f"{f('A')}: an edge joins nodes of two different graphs; the file does not match "
            f"{f('graph_indicator').name}"
        )
    for s in ("edge_labels", "edge_attributes"):
        if f(s).exists() and len(_read_ints(f(s), None)) != len(a):
            raise DataError(f"{f(s)}: row count differs from the {len(a)} edges of {f('A').name}")
    got = {"graphs": n_graphs, "nodes": n_nodes, "edges": len(a)}
    bad = {k: (got[k], v) for k, v in expected.items() if k in got and got[k] != v}
    if bad:
        found = ", ".join(f"{g} {k} (expected {e})" for k, (g, e) in bad.items())
        raise DataError(
            f"{raw_dir}: {name} has {found}; the files are truncated or not the official "
            f"{name} — re-download {TU_URL}/{name}.zip"
        )


class TUAdapter(GraphAdapter):
    """A TUDataset graph-classification set. Option `node_features: degree` replaces the dataset's
    node features by the one-hot node degree clipped at `max_degree` (option, default 10) — PyG's
    OneHotDegree — so sets with different feature vocabularies share a spec (graph, (max_degree+1,))
    and structure-only transfer between them is possible (e.g. PROTEINS → MUTAG, as in GCC)."""

    domain = "graphs"
    pyg_name: ClassVar[str]
    expected: ClassVar[dict[str, Any]]  # graphs, nodes, edges, class_counts
    max_degree: ClassVar[int | None] = None  # one-hot degree features for sets without node features
    extra_options = frozenset({"node_features", "max_degree", "fold", "use_node_attr", "view_rate"})
    dataset_version = "unversioned"  # the TU collection publishes no versions or checksums
    # GraphCL's views choose nodes and edges in a compiled host pass (datasets/graph_batches.py) that
    # reads the drawn numbers on the host: a CPU view generator on every device
    views_on_device = False
    protocol_note = (
        "TUDataset has no official split: one stratified 70/10/20 split; the literature's protocol is "
        "10-fold cross-validation (option fold=k gives fold k)"
    )

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        feats = self.options.get("node_features", "dataset")
        if feats not in ("dataset", "degree"):
            raise ValueError(
                f"{self.name}: option node_features must be 'dataset' or 'degree', got {feats!r}"
            )
        if "max_degree" in self.options and feats != "degree":
            raise ValueError(f"{self.name}: option max_degree needs node_features: degree")
        if feats == "degree":
            d = self.options.get("max_degree", 10)
            if not isinstance(d, int) or isinstance(d, bool) or d < 1:
                raise ValueError(f"{self.name}: option max_degree must be an integer ≥ 1, got {d!r}")
            self.max_degree = d
            self.spec = InputSpec("graph", (d + 1,), extras=dict(self.spec.extras))

    def raw_dir(self) -> Path:
        return self.data_dir / "graphs" / "TUDataset" / self.pyg_name / "raw"

    def remote_files(self):
        """The collection's zip (`<NAME>/<NAME>_*.txt`), unpacked into PyG's raw dir. No checksum is
        published; `validate_tu_raw` checks the files against each other and the known counts."""
        from datasets.files import Extract, remote

        n = self.pyg_name
        return [
            remote(
                f"graphs/TUDataset/{n}.zip",
                "tu",
                f"{TU_PATH}/{n}.zip",
                extract=Extract(
                    into=f"graphs/TUDataset/{n}/raw",
                    strip=n,
                    provides=(f"{n}_A.txt", f"{n}_graph_indicator.txt", f"{n}_graph_labels.txt"),
                ),
            )
        ]

    def load_splits(self) -> dict[str, Split]:
        raw_dir = self.raw_dir()
        if not (raw_dir / f"{self.pyg_name}_A.txt").exists():
            msg = (
                f"{self.name}: {raw_dir / (self.pyg_name + '_A.txt')} and the other "
                f"{self.pyg_name}_*.txt files not found; extract "
                f"{TU_URL}/{self.pyg_name}.zip "
                f"into {raw_dir} or allow downloading"
            )
            self.fetch_or_fail(msg)
        validate_tu_raw(raw_dir, self.pyg_name, self.expected)
        files = sorted(raw_dir.glob(f"{self.pyg_name}_*.txt"))
        root = pyg_root("TUDataset", self.pyg_name, raw_dir, files, self.options, lambda r: self._run_pyg(r))
        ds = self._run_pyg(root)
        self.pyg_root = root  # where PyG's processed/ files are: the data dir or the cache
        import_pyg()
        from torch_geometric.data import Batch

        big = Batch.from_data_list(list(ds))
        y = big.y.long().reshape(-1)
        counts = tuple(torch.bincount(y).tolist())
        want = self.expected.get("class_counts", counts)
        if len(y) != self.expected.get("graphs", len(y)) or counts != want:
            raise DataError(
                f"{raw_dir}: {len(y)} graphs with class counts {counts}; expected "
                f"{self.expected['graphs']} with {want}"
            )
        if not self.expected:  # the generic adapter: classes (and below, the spec) come from the files
            self.task = TaskSpec(len(counts))
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
        if not self.expected and self.options.get("node_features", "dataset") == "dataset":
            self.spec = InputSpec("graph", (int(x.shape[1]),), extras={"task": "graph"})
        if x.shape[1] != self.spec.shape[0]:
            raise DataError(
                f"{raw_dir}: node features have width {x.shape[1]}; expected {self.spec.shape[0]}"
            )
        fold = self.options.get("fold")
        seed_name = getattr(self, "split_base", None) or self.name  # a derived partner keeps its base's split
        if fold is None:
            tr, va, te = stratified_70_10_20(y, seed_name)
        else:
            tr, va, te = stratified_kfold(y, 10, int(fold), seed_name)
        tr_nodes = torch.from_numpy(
            _np_ranges(node_ptr[tr].numpy(), (node_ptr[tr + 1] - node_ptr[tr]).numpy())
        )
        self.feature_scale = x[tr_nodes].std(0)
        return {
            k: Split(GraphSet(x, ei, node_ptr, edge_ptr, ids), y[ids])
            for k, ids in (("train", tr), ("val", va), ("test", te))
        }

    def _run_pyg(self, root: Path):
        import_pyg()
        from torch_geometric.datasets import TUDataset

        try:
            return TUDataset(str(root), self.pyg_name, use_node_attr=self.options.get("use_node_attr", False))
        except Exception as e:
            raw = Path(root) / self.pyg_name / "raw"
            raise DataError(
                f"{self.name}: PyG cannot read the raw files in {raw} ({type(e).__name__}: {e}); "
                f"re-download them"
            ) from e

    def views(self, x, generator, policy=None):
        if policy is not None:
            return graph_policy_view(x, generator, policy)
        return graph_views(x, generator, self.options.get("view_rate", 0.2))


def _tu(
    name: str,
    pyg_name: str,
    feats: int,
    expected: dict[str, Any],
    classes: tuple[str, ...],
    doc: str,
    max_degree: int | None = None,
):
    cls = type(
        pyg_name.replace("-", "_"),
        (TUAdapter,),
        {
            "__doc__": doc,
            "name": name,
            "pyg_name": pyg_name,
            "max_degree": max_degree,
            "spec": InputSpec("graph", (feats,), extras={"task": "graph"}),
            "task": TaskSpec(len(classes), class_names=classes),
            "expected": expected,
            "ood_partners": {"near": [], "far": []},
            "__module__": __name__,
        },
    )
    return register_adapter(cls)


MUTAG = _tu(
    "mutag",
    "MUTAG",
    7,
    {"graphs": 188, "nodes": 3371, "edges": 7442, "class_counts": (63, 125)},
    ("non_mutagenic", "mutagenic"),
    "MUTAG: nitroaromatic compounds, mutagenicity on S. typhimurium.",
)
PROTEINS = _tu(
    "proteins",
    "PROTEINS",
    3,
    {"graphs": 1113, "nodes": 43471, "edges": 162088, "class_counts": (663, 450)},
    ("non_enzyme", "enzyme"),
    "PROTEINS: enzymes vs non-enzymes (node labels: SSE type).",
)
NCI1 = _tu(
    "nci1",
    "NCI1",
    37,
    {"graphs": 4110},
    ("inactive", "active"),
    "NCI1: chemical compounds screened against non-small cell lung cancer (download only).",
)
IMDB_BINARY = _tu(
    "imdb_binary",
    "IMDB-BINARY",
    136,
    {"graphs": 1000},
    ("action", "romance"),
    "IMDB-BINARY: actor ego-networks; no node features, one-hot degree (≤135) as in PyG's "
    "OneHotDegree(135) (download only).",
    max_degree=135,
)


for _base in (MUTAG, PROTEINS, NCI1, IMDB_BINARY):
    shuffled_partner(_base)


@register_adapter
class TUByName(TUAdapter):
    """Any TUDataset graph-classification set by name, from configuration alone:
    `{name: tu, options: {name: ENZYMES}}` reads `graphs/TUDataset/<NAME>/raw/<NAME>_*.txt`
    (downloaded from the TU collection when missing), checks the files against each other, and takes
    the classes and node-feature width from them (no published counts to check; no OOD partner).
    Its spec is known only once the files are read, except with `node_features: degree` — use that
    to pair it with another set for transfer."""

    name = "tu"
    extra_options = frozenset({"name"})
    spec = InputSpec("graph", (1,), extras={"task": "graph"})  # until the files are read
    task = TaskSpec(2)
    expected: ClassVar[dict[str, Any]] = {}
    ood_partners = {"near": [], "far": []}

    def __init__(self, data_dir=None, **options):
        super().__init__(data_dir, **options)
        tu_name = self.options.get("name")
        if not isinstance(tu_name, str) or not TU_NAME_RE.match(tu_name):
            raise ValueError(
                f"tu: option name must be a TUDataset name such as ENZYMES or IMDB-MULTI, got {tu_name!r}"
            )
        self.pyg_name = tu_name
