"""Graph adapters on the real Planetoid/TUDataset files in ../shared/data, read through PyG."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from benchmark.models.encoders import encoder_for
from datasets.base import DataError, get_adapter
from datasets.graph_batches import GraphBatch, NodeBatch, subgraph_mask

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def graph_cache(tmp_path_factory):
    """PyG's processed/ files go to a per-run cache, never into the repo or the shared data."""
    old = os.environ.get("SSLBENCH_CACHE_DIR")
    os.environ["SSLBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("pyg-cache"))
    yield
    if old is None:
        os.environ.pop("SSLBENCH_CACHE_DIR", None)
    else:
        os.environ["SSLBENCH_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def cora(data_dir):
    return get_adapter("cora", data_dir=data_dir, download=False)


@pytest.fixture(scope="module")
def mutag(data_dir):
    return get_adapter("mutag", data_dir=data_dir, download=False)


# ---- official counts -----------------------------------------------------------------------
def test_cora_public_split(cora):
    s = cora.splits()
    assert [len(s[k]) for k in ("train", "val", "test")] == [140, 500, 1000]
    assert torch.bincount(s["train"].labels).tolist() == [20] * 7
    g = s["train"].inputs
    assert g.x.shape == (2708, 1433) and g.edge_index.shape == (2, 10556)
    assert int(torch.cat([s[k].labels for k in s]).max()) + 1 == 7 == cora.task.num_classes
    nodes = torch.cat([s[k].inputs.nodes for k in s])
    assert len(torch.unique(nodes)) == 1640  # the three splits are disjoint
    assert cora.spec.kind == "graph" and cora.spec.shape == (1433,) and cora.spec.extras["task"] == "node"
    name_dir = cora.data_dir / "graphs" / "Planetoid" / "Cora"
    if not name_dir.stat().st_mode & 0o222:  # a read-only copy is never written to, even by root
        assert not (name_dir / "processed").exists()


def test_cora_batch_and_gcn_embed_exactly_the_index(cora):
    s = cora.splits()["val"]
    idx = torch.tensor([5, 0, 499])
    b = cora.prepare(cora.batch(s, idx), CPU)
    assert isinstance(b, NodeBatch) and b.nodes.tolist() == s.inputs.nodes[idx].tolist()
    torch.manual_seed(0)
    enc = encoder_for(cora)
    z = enc(b)
    assert z.shape == (3, enc.out_dim)
    full = enc(NodeBatch(b.x, b.edge_index, torch.arange(2708)))
    assert torch.allclose(z, full[b.nodes])


@pytest.mark.parametrize("name,n,counts", [("mutag", 188, [63, 125]), ("proteins", 1113, [663, 450])])
def test_tu_counts_and_stratified_split(data_dir, name, n, counts):
    a = get_adapter(name, data_dir=data_dir, download=False)
    s = a.splits()
    y = torch.cat([s[k].labels for k in ("train", "val", "test")])
    assert len(y) == n and torch.bincount(y).tolist() == counts
    ids = torch.cat([s[k].inputs.graph_ids for k in ("train", "val", "test")])
    assert sorted(ids.tolist()) == list(range(n))
    assert abs(len(s["test"]) - 0.2 * n) <= 2 and abs(len(s["val"]) - 0.1 * n) <= 2
    for k in s:  # stratified: every split keeps the class ratio
        frac = s[k].labels.float().mean().item()
        assert abs(frac - counts[1] / n) < 0.03
    again = get_adapter(name, data_dir=data_dir, download=False).splits()
    assert torch.equal(again["test"].inputs.graph_ids, s["test"].inputs.graph_ids)  # name-seeded


def test_mutag_ten_fold_partitions_all_graphs(data_dir):
    tests = []
    for k in range(10):
        s = get_adapter("mutag", data_dir=data_dir, download=False, fold=k).splits()
        tr, va, te = (set(s[x].inputs.graph_ids.tolist()) for x in ("train", "val", "test"))
        assert not (tr & va) and not (tr & te) and not (va & te) and len(tr | va | te) == 188
        tests.append(te)
    assert sorted(i for t in tests for i in t) == list(range(188))


def test_degree_node_features_give_tu_sets_one_spec(data_dir, mutag):
    """`node_features: degree`: one-hot node degree clipped at max_degree replaces the dataset's
    features — the same graphs, splits and labels — so MUTAG and PROTEINS share a spec (transfer)."""
    a = get_adapter("mutag", data_dir=data_dir, download=False, node_features="degree")
    p = get_adapter("proteins", data_dir=data_dir, download=False, node_features="degree", max_degree=10)
    assert a.spec == p.spec and a.spec.shape == (11,) and mutag.spec.shape == (7,)
    s, ref = a.splits(), mutag.splits()
    for k in ("train", "val", "test"):
        assert torch.equal(s[k].labels, ref[k].labels)
        assert torch.equal(s[k].inputs.graph_ids, ref[k].inputs.graph_ids)
    b = s["train"].inputs[torch.arange(4)]
    deg = torch.bincount(b.edge_index[0], minlength=b.x.shape[0])
    assert torch.equal(b.x.argmax(1), deg.clamp_max(10)) and torch.equal(b.x.sum(1), torch.ones(len(deg)))
    assert torch.equal(b.edge_index, ref["train"].inputs[torch.arange(4)].edge_index)
    capped = get_adapter("proteins", data_dir=data_dir, download=False, node_features="degree", max_degree=3)
    x = capped.splits()["train"].inputs.x
    assert x.shape[1] == 4 and int(x[:, 3].sum()) > 0  # degrees above 3 land in the last slot
    with pytest.raises(ValueError, match="node_features"):
        get_adapter("mutag", data_dir=data_dir, node_features="degrees")
    with pytest.raises(ValueError, match="max_degree"):
        get_adapter("mutag", data_dir=data_dir, max_degree=5)


@pytest.fixture(scope="module", params=["read-only data dir", "writable copy"])
def mutag_anywhere(request, data_dir, tmp_path_factory):
    """MUTAG from the shared copy (processed files go to the cache) and from a writable copy of it
    (PyG writes processed/ next to raw/, as on a fresh clone with its own data dir)."""
    if request.param == "read-only data dir":
        d = data_dir / "graphs" / "TUDataset" / "MUTAG"
        if d.stat().st_mode & 0o222 and os.access(d, os.W_OK):
            pytest.skip("the shared data dir is writable here; the writable case covers it")
        return request.param, get_adapter("mutag", data_dir=data_dir, download=False)
    root = tmp_path_factory.mktemp("writable-data")
    shutil.copytree(data_dir / "graphs" / "TUDataset" / "MUTAG" / "raw", root / "graphs/TUDataset/MUTAG/raw")
    return request.param, get_adapter("mutag", data_dir=root, download=False)


def test_graph_batch_matches_pyg_collation(mutag_anywhere):
    from torch_geometric.data import Batch
    from torch_geometric.datasets import TUDataset

    kind, mutag = mutag_anywhere
    s = mutag.splits()["train"]
    idx = torch.tensor([3, 0, 17, 5])
    b = mutag.batch(s, idx)
    root = mutag.pyg_root  # the data dir itself when writable, else the processed-files cache
    assert (root / "MUTAG" / "processed").is_dir()
    if kind == "writable copy":
        assert root == mutag.data_dir / "graphs" / "TUDataset"
    else:
        assert Path(os.environ["SSLBENCH_CACHE_DIR"]) in root.parents
    ds = TUDataset(str(root), "MUTAG")
    ref = Batch.from_data_list([ds[int(i)] for i in s.inputs.graph_ids[idx]])
    assert isinstance(b, GraphBatch) and b.num_graphs == 4
    assert torch.equal(b.x, ref.x) and torch.equal(b.edge_index, ref.edge_index)
    assert torch.equal(b.batch, ref.batch)
    assert torch.equal(mutag.splits()["train"].labels[idx], ref.y)
    pyg = b.to_pyg()
    assert pyg.num_graphs == 4
    torch.manual_seed(0)
    enc = encoder_for(mutag)
    enc.eval()
    z = enc(b)
    assert z.shape == (4, enc.out_dim)
    single = torch.cat([enc(mutag.batch(s, idx[i : i + 1])) for i in range(4)])
    assert torch.allclose(z, single, atol=1e-5)  # one pooled embedding per graph, in index order


# ---- data integrity ------------------------------------------------------------------------
def _copy_tu(data_dir, tmp_path, name="MUTAG") -> Path:
    dst = tmp_path / "graphs" / "TUDataset" / name / "raw"
    shutil.copytree(data_dir / "graphs" / "TUDataset" / name / "raw", dst)
    return dst


def test_tu_mismatched_node_counts(data_dir, tmp_path):
    raw = _copy_tu(data_dir, tmp_path)
    f = raw / "MUTAG_node_labels.txt"
    f.write_text("\n".join(f.read_text().splitlines()[:-10]) + "\n")
    with pytest.raises(DataError, match=r"MUTAG_node_labels\.txt: 3361 rows but .*3371 nodes"):
        get_adapter("mutag", data_dir=tmp_path, download=False).splits()


def test_tu_truncated_graph_labels_and_bad_edges(data_dir, tmp_path):
    raw = _copy_tu(data_dir, tmp_path)
    labels = raw / "MUTAG_graph_labels.txt"
    good = labels.read_text()
    labels.write_text("\n".join(good.splitlines()[:100]) + "\n")
    with pytest.raises(DataError, match=r"MUTAG_graph_labels\.txt: 100 graph labels but .*188 graphs"):
        get_adapter("mutag", data_dir=tmp_path, download=False).splits()
    labels.write_text(good)
    a = raw / "MUTAG_A.txt"
    a.write_text(a.read_text() + "1, 99999\n")
    with pytest.raises(DataError, match=r"MUTAG_A\.txt: node ids range 1\.\.99999; expected 1\.\.3371"):
        get_adapter("mutag", data_dir=tmp_path, download=False).splits()
    a.write_text("1, 2\n2, x\n")
    with pytest.raises(DataError, match=r"MUTAG_A\.txt: line 2"):
        get_adapter("mutag", data_dir=tmp_path, download=False).splits()


def test_tu_missing_files_offline(tmp_path):
    with pytest.raises(DataError, match=r"MUTAG_A\.txt.*chrsmrrs"):
        get_adapter("mutag", data_dir=tmp_path, download=False).splits()


def test_planetoid_truncated_pickle_names_the_file(data_dir, tmp_path):
    raw = tmp_path / "graphs" / "Planetoid" / "Cora" / "raw"
    shutil.copytree(data_dir / "graphs" / "Planetoid" / "Cora" / "raw", raw)
    g = raw / "ind.cora.graph"
    g.write_bytes(g.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"ind\.cora\.graph: PyG cannot read it"):
        get_adapter("cora", data_dir=tmp_path, download=False).splits()
    (raw / "ind.cora.tx").unlink()
    with pytest.raises(DataError, match=r"missing: \['ind\.cora\.tx'\]"):
        get_adapter("cora", data_dir=tmp_path, download=False).splits()


# ---- views ---------------------------------------------------------------------------------
def test_node_views_deterministic_and_keep_targets(cora):
    s = cora.splits()["train"]
    b = cora.prepare(cora.batch(s, torch.arange(32)), CPU)
    v1 = cora.views(b, torch.Generator().manual_seed(0))
    v2 = cora.views(b, torch.Generator().manual_seed(0))
    v3 = cora.views(b, torch.Generator().manual_seed(1))
    assert torch.equal(v1.edge_index, v2.edge_index) and torch.equal(v1.x, v2.x)
    assert not torch.equal(v1.edge_index, v3.edge_index)
    assert torch.equal(v1.nodes, b.nodes)
    assert 0.6 < v1.edge_index.shape[1] / b.edge_index.shape[1] < 0.8  # 30 % of edges dropped
    masked_cols = (v1.x == 0).all(0) & ~(b.x == 0).all(0)
    assert 0.2 < masked_cols.sum() / (~(b.x == 0).all(0)).sum() < 0.4  # 30 % of feature columns
    from datasets.graph_batches import node_views

    iso = node_views(b, torch.Generator().manual_seed(0), 0.0, 0.0, node_rate=0.5)
    assert set(map(tuple, iso.edge_index.t().tolist())) <= set(map(tuple, b.edge_index.t().tolist()))
    had = torch.unique(b.edge_index)
    touched = torch.isin(had, torch.unique(iso.edge_index))
    is_target = torch.isin(had, b.nodes)
    # targets are never dropped (they lose only edges to dropped neighbours); others half the time
    assert touched[is_target].float().mean() > 0.7 > touched[~is_target].float().mean()


def test_graph_views_batched_deterministic(mutag):
    s = mutag.splits()["train"]
    b = mutag.prepare(mutag.batch(s, torch.arange(64)), CPU)
    v1 = mutag.views(b, torch.Generator().manual_seed(0))
    v2 = mutag.views(b, torch.Generator().manual_seed(0))
    v3 = mutag.views(b, torch.Generator().manual_seed(1))
    assert torch.equal(v1.x, v2.x) and torch.equal(v1.edge_index, v2.edge_index)
    assert not (v1.x.shape == v3.x.shape and torch.equal(v1.edge_index, v3.edge_index))
    assert v1.num_graphs == 64 and torch.bincount(v1.batch, minlength=64).min() >= 1
    assert v1.edge_index.max() < v1.x.shape[0]
    # edges stay inside their graph after re-indexing
    assert torch.equal(v1.batch[v1.edge_index[0]], v1.batch[v1.edge_index[1]])
    assert v1.x.shape[0] < b.x.shape[0] and v1.edge_index.shape[1] < b.edge_index.shape[1]


def test_subgraph_is_connected_ball(mutag):
    s = mutag.splits()["train"]
    b = mutag.batch(s, torch.arange(16))
    g = torch.Generator().manual_seed(3)
    inside = subgraph_mask(
        b, 0.8, torch.rand(16, generator=g), torch.rand(8, b.edge_index.shape[1], generator=g)
    )
    counts = torch.bincount(b.batch, minlength=16)
    kept = torch.zeros(16).index_add_(0, b.batch, inside.float())
    assert torch.equal(kept, torch.ceil(0.8 * counts))  # MUTAG molecules are connected
    assert (kept < counts).any()
    # The kept nodes of every graph form one connected piece (a ball grown from the seed).
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    src, dst = b.edge_index
    keep_e = inside[src] & inside[dst]
    new_id = torch.cumsum(inside.long(), 0) - 1
    m = int(inside.sum())
    adj = csr_matrix(
        (torch.ones(int(keep_e.sum())).numpy(), (new_id[src[keep_e]].numpy(), new_id[dst[keep_e]].numpy())),
        shape=(m, m),
    )
    _, comp = connected_components(adj, directed=False)
    assert len(set(comp.tolist())) == 16  # one component per graph
    # Different edge weights grow a different ball; the same ones the same ball.
    u_seed = torch.rand(16, generator=g)
    w1, w2 = (
        torch.rand(1, b.edge_index.shape[1], generator=g),
        torch.rand(1, b.edge_index.shape[1], generator=g),
    )
    assert torch.equal(subgraph_mask(b, 0.5, u_seed, w1), subgraph_mask(b, 0.5, u_seed, w1))
    assert not torch.equal(subgraph_mask(b, 0.5, u_seed, w1), subgraph_mask(b, 0.5, u_seed, w2))


def _graph_views_reference(b, generator, rate, augs):
    """GraphCL views written as whole-array NumPy/SciPy operations (the implementation the compiled
    pass replaced): the same draws, SciPy's Dijkstra for the subgraph ball, lexsort for its ranks."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n, e, g, f = b.x.shape[0], b.edge_index.shape[1], b.num_graphs, b.x.shape[1]
    choice = torch.randint(0, len(augs), (g,), generator=generator).numpy()
    u_node, u_edge = torch.rand(n, generator=generator).numpy(), torch.rand(e, generator=generator).numpy()
    u_feat, u_seed = torch.rand(g, f, generator=generator).numpy(), torch.rand(g, generator=generator).numpy()
    u_walk = torch.rand(e, generator=generator).numpy()
    is_aug = {a: choice == i for i, a in enumerate(augs)}
    batch, (src, dst) = b.batch.numpy(), b.edge_index.numpy()
    counts = np.bincount(batch, minlength=g)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    x = b.x
    if "feature_masking" in augs:
        x = x * torch.from_numpy(~((u_feat < rate) & is_aug["feature_masking"][:, None])).float()[b.batch]
    keep = np.ones(n, dtype=bool)
    if "node_dropping" in augs:
        best = np.full(g, -1.0, dtype=np.float32)
        np.maximum.at(best, batch, u_node)
        keep &= ~((u_node < rate) & is_aug["node_dropping"][batch] & (u_node < best[batch]))
    if "subgraph" in augs and is_aug["subgraph"].any():
        seed = ptr[:-1] + np.minimum(
            np.floor(u_seed.astype(np.float64) * counts).astype(np.int64), counts - 1
        )
        adj = csr_matrix((u_walk.astype(np.float64) + 0.05, (src, dst)), shape=(n, n))
        dist = dijkstra(adj, directed=True, indices=seed[is_aug["subgraph"] & (counts > 0)], min_only=True)
        order = np.lexsort((dist, batch))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - ptr[batch[order]]
        inside = (rank < np.ceil((1 - rate) * counts).astype(np.int64)[batch]) & np.isfinite(dist)
        keep &= inside | ~is_aug["subgraph"][batch]
    keep_e = keep[src] & keep[dst]
    if "edge_dropping" in augs:
        keep_e &= ~((u_edge < rate) & is_aug["edge_dropping"][batch[src]])
    new_id = np.cumsum(keep) - 1
    return GraphBatch(
        x[torch.from_numpy(keep)],
        torch.from_numpy(np.stack([new_id[src[keep_e]], new_id[dst[keep_e]]])),
        b.batch[torch.from_numpy(keep)],
        g,
    )


@pytest.mark.parametrize("name", ["mutag", "proteins"])
def test_graph_views_equal_the_array_reference(name, data_dir):
    """The compiled view pass keeps exactly the nodes, edges and features the array formulation
    keeps: same draws, same float32 comparisons, same Dijkstra sums and tie-breaking."""
    from datasets.graph_batches import GRAPH_VIEWS, graph_views

    adapter = get_adapter(name, data_dir=data_dir, download=False)
    s = adapter.splits()["train"]
    checked = 0
    for i in range(12):
        idx = torch.randperm(len(s), generator=torch.Generator().manual_seed(i))[: 66 if i % 2 else 9]
        b = adapter.prepare(adapter.batch(s, idx), CPU)
        for rate, augs in [
            (0.2, GRAPH_VIEWS),
            (0.5, GRAPH_VIEWS),
            (0.3, ("subgraph",)),
            (0.3, ("node_dropping", "edge_dropping")),
            (0.3, ("feature_masking", "subgraph")),
        ]:
            g1, g2 = torch.Generator().manual_seed(i), torch.Generator().manual_seed(i)
            for _ in range(2):
                got, want = graph_views(b, g1, rate, augs), _graph_views_reference(b, g2, rate, augs)
                assert torch.equal(got.x, want.x) and torch.equal(got.edge_index, want.edge_index)
                assert torch.equal(got.batch, want.batch)
                checked += 1
            assert torch.equal(g1.get_state(), g2.get_state())  # the same draws, no more
    assert checked == 120


# ---- corruptions ---------------------------------------------------------------------------
def test_graph_corruptions_deterministic_monotone_batch_independent(mutag):
    s = mutag.splits()["test"]
    cors = mutag.corruptions()
    assert set(cors) == {"edge_removal", "feature_noise", "node_dropping"}
    idx_a, idx_b = torch.tensor([0, 1, 2]), torch.tensor([0, 7, 9, 11])
    ba, bb = mutag.batch(s, idx_a), mutag.batch(s, idx_b)
    for name, fn in cors.items():
        prev = None
        for sev in range(1, 6):
            o1, o2 = fn(ba, idx_a, sev), fn(ba, idx_a, sev)
            assert torch.equal(o1.x, o2.x) and torch.equal(o1.edge_index, o2.edge_index)
            # graph 0 is corrupted identically whichever batch it sits in
            oa, ob = o1, fn(bb, idx_b, sev)
            assert torch.equal(oa.x[oa.batch == 0], ob.x[ob.batch == 0])
            ea = oa.edge_index[:, oa.batch[oa.edge_index[0]] == 0]
            eb = ob.edge_index[:, ob.batch[ob.edge_index[0]] == 0]
            assert torch.equal(ea, eb)
            if name == "feature_noise":
                size = float((o1.x - ba.x).norm())
            else:
                size = -o1.edge_index.shape[1] if name == "edge_removal" else -o1.x.shape[0]
            if prev is not None:
                assert size > prev, (name, sev)
            prev = size
    with pytest.raises(ValueError):
        cors["edge_removal"](ba, idx_a, 6)


def test_node_task_corruptions_same_graph_for_every_chunk(cora):
    s = cora.splits()["test"]
    cors = cora.corruptions()
    b1, b2 = cora.batch(s, torch.arange(0, 10)), cora.batch(s, torch.arange(500, 510))
    undirected = set(map(tuple, b1.edge_index.t().tolist()))
    for name, fn in cors.items():
        prev = None
        for sev in (1, 3, 5):
            o1, o2 = fn(b1, torch.arange(0, 10), sev), fn(b2, torch.arange(500, 510), sev)
            assert torch.equal(o1.x, o2.x) and torch.equal(o1.edge_index, o2.edge_index)
            assert torch.equal(o1.nodes, b1.nodes) and o1.x.shape == b1.x.shape
            kept = set(map(tuple, o1.edge_index.t().tolist()))
            assert all((v, u) in kept for u, v in kept)  # an undirected edge goes in both directions
            assert kept <= undirected
            size = float((o1.x - b1.x).norm()) if name == "feature_noise" else -len(kept)
            if prev is not None:
                assert size > prev
            prev = size


# ---- end to end ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dataset,epochs", [("cora", 3), ("mutag", 2)])
def test_pipeline_end_to_end(data_dir, tmp_path, dataset, epochs, one_thread):
    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.runner import run_job

    rows = {}
    for method in ("simclr", "random_init"):
        job = Job(
            suite="test",
            method=method,
            dataset=dataset,
            seed=0,
            epochs=epochs,
            fractions=[0.1, 1.0],
            probes=["linear", "knn"],
            protocols=["label_fraction"],
            method_hparams={"batch_size": 64},
            dataset_options={"download": False},
        )
        res = run_job(job, data_dir, tmp_path / method, CPU)
        assert res.status == "done", res.error
        rows[method] = res.rows
        if method == "simclr":
            assert len(res.history["pretrain"]["epochs"]) == epochs
            assert all(torch.isfinite(torch.tensor(e["loss"])) for e in res.history["pretrain"]["epochs"])
    for method, rs in rows.items():
        acc = {(r["probe"], r["fraction"]): r["value"] for r in rs if r["metric"] == "accuracy"}
        assert set(acc) == {("linear", 0.1), ("linear", 1.0), ("knn", 0.1), ("knn", 1.0)}
        assert all(0 <= v <= 1 for v in acc.values())
        chance = 1 / (7 if dataset == "cora" else 2)
        assert acc[("linear", 1.0)] > chance, (method, acc)


def test_ood_partners_registered_with_the_same_spec(data_dir):
    from datasets.base import ADAPTERS

    for name in ("cora", "citeseer", "pubmed", "mutag", "proteins", "nci1", "imdb_binary"):
        for partner in ADAPTERS[name].ood_partners["near"] + ADAPTERS[name].ood_partners["far"]:
            assert partner in ADAPTERS and partner != name
            assert ADAPTERS[partner].spec == ADAPTERS[name].spec
    base = get_adapter("mutag", data_dir=data_dir, download=False).splits()["test"].inputs
    shuf = get_adapter("mutag_shuffled", data_dir=data_dir, download=False).splits()["test"].inputs
    assert torch.equal(shuf.graph_ids, base.graph_ids) and torch.equal(shuf.edge_ptr, base.edge_ptr)
    assert torch.equal(shuf.x.sum(0), base.x.sum(0)) and not torch.equal(shuf.x, base.x)
    b = get_adapter("mutag_shuffled", data_dir=data_dir, download=False).batch(
        get_adapter("mutag_shuffled", data_dir=data_dir, download=False).splits()["test"], torch.arange(8)
    )
    assert torch.equal(b.batch[b.edge_index[0]], b.batch[b.edge_index[1]])  # rewired inside each graph
    c = get_adapter("cora_shuffled", data_dir=data_dir, download=False).splits()["test"].inputs
    assert c.edge_index.shape == (2, 10556)
