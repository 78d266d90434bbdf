"""Rules of the label-fraction protocol that the numbers depend on, each checked where a plausible
edit would break it: the probes see only the fraction's labelled subset, the majority-class floor is
the constant predictor's accuracy, the kNN probe uses k = min(20, labelled-set size) and breaks ties
at the k-th neighbour by the lower bank index."""

import math

import pytest
import torch
from _protocol_toys import registered, toy_ctx, toy_job

from benchmark.core.specs import TaskSpec
from benchmark.evaluation.fractions import label_fraction_subset
from benchmark.evaluation.probes import PROBES, knn_probe, knn_scores
from benchmark.evaluation.protocols.label_fraction import majority_floor, probe_rows

T = 0.07


@pytest.fixture
def recorded():
    """A feature probe that records the labelled rows it is handed (registered for one test)."""
    seen: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}

    def label_recorder(train_x, train_y, val_x, val_y, test_x, test_y, task):
        seen[len(seen)] = (train_x.clone(), train_y.clone())
        return knn_probe(train_x, train_y, val_x, val_y, test_x, test_y, task)

    PROBES.register(label_recorder, name="label_recorder")
    try:
        yield seen
    finally:
        PROBES.unregister("label_recorder")


def test_probes_see_only_the_fractions_labelled_subset(tmp_path, recorded):
    with registered():
        job = toy_job(probes=("linear", "label_recorder"), fractions=(0.1, 1.0))
        ctx = toy_ctx(job, tmp_path)
        rows = probe_rows(ctx, "label_fraction")
        labels = ctx.labels("train")
        feats = {f: ctx.features("train", f) for f in (0.1, 1.0)}
        head = ctx.linear_head(0.1)
    sub = label_fraction_subset(labels, 0.1, "toy_blobs_a", 0)
    assert len(sub) == 40 and len(labels) == 400  # 10 % of each of the 4 classes
    (x01, y01), (x1, y1) = recorded[0], recorded[1]
    assert torch.equal(y01, labels[sub]) and torch.equal(x01, feats[0.1][sub])
    assert torch.equal(y1, labels) and len(x1) == 400
    # the linear head is standardised with (so fitted on) the subset's features, not the pool's
    assert torch.allclose(head.mean, feats[0.1][sub].mean(0, keepdim=True))
    assert not torch.allclose(head.mean, feats[0.1].mean(0, keepdim=True))
    # one floor row per (fraction, probe), equal to the constant predictor's test accuracy
    floors = {(r["probe"], r["fraction"]): r["value"] for r in rows if r["metric"] == "majority_floor"}
    assert set(floors) == {(p, f) for p in ("linear", "label_recorder") for f in (0.1, 1.0)}
    test_y = ctx.labels("test")
    for (p, f), v in floors.items():
        majority = int(torch.bincount(labels[label_fraction_subset(labels, f, "toy_blobs_a", 0)]).argmax())
        assert v == pytest.approx(float((test_y == majority).float().mean()))


def test_majority_floor_is_the_constant_predictors_accuracy():
    # majority of the labelled subset (class 1), scored on test, not test's own majority (class 2)
    assert majority_floor(torch.tensor([0, 1, 1, 2]), torch.tensor([1, 2, 2, 2, 0])) == pytest.approx(0.2)
    # a tie goes to the lower class
    assert majority_floor(torch.tensor([2, 1, 2, 1]), torch.tensor([1, 1, 2])) == pytest.approx(2 / 3)
    # multi-label: each label at its majority value, accuracy averaged over every entry
    train = torch.tensor([[1, 0], [1, 1], [0, 0]])
    test = torch.tensor([[1, 0], [0, 0], [1, 1], [1, 0]])
    assert majority_floor(train, test) == pytest.approx(6 / 8)


def _bank_one_near_many_far(n_far=19, dim=8):
    """Query e0. Bank: one neighbour of class 1 at cos 1, then `n_far` of class 0 at cos 0.95."""
    e0 = torch.zeros(dim)
    e0[0] = 1.0
    far = torch.zeros(n_far, dim)
    far[:, 0] = 0.95
    far[torch.arange(n_far), 1 + torch.arange(n_far) % (dim - 1)] = math.sqrt(1 - 0.95**2)
    bank = torch.cat([e0.unsqueeze(0), far])
    labels = torch.cat([torch.tensor([1]), torch.zeros(n_far, dtype=torch.long)])
    return e0, bank, labels


def test_knn_probe_votes_over_twenty_neighbours_not_one():
    task = TaskSpec(2)
    q, bank, labels = _bank_one_near_many_far()
    queries = q.repeat(6, 1)
    y = torch.zeros(6, dtype=torch.long)
    res = knn_probe(bank, labels, queries, y, queries, y, task)
    assert res.selected["k"] == 20
    # 19 votes of class 0 at weight e^(0.95/T) outweigh one of class 1 at e^(1/T); 1-NN says class 1
    w_near, w_far = math.exp(1 / T), math.exp(0.95 / T)
    expected0 = 19 * w_far / (19 * w_far + w_near)
    scores = knn_scores(bank, labels, queries, task)
    assert torch.allclose(scores[:, 0], torch.full((6,), expected0), rtol=1e-5)
    assert res.metrics["accuracy"] == 1.0 and res.val_score == 1.0


def test_knn_k_is_capped_at_the_labelled_set_size():
    task = TaskSpec(3)
    g = torch.Generator().manual_seed(0)
    bank, labels = torch.randn(5, 4, generator=g), torch.tensor([0, 1, 2, 1, 0])
    query = torch.randn(7, 4, generator=g)
    scores = knn_scores(bank, labels, query, task)  # k = 20 asked, 5 exist
    sim = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(bank, dim=1).t()
    w = torch.exp(sim / T)
    expected = w @ torch.nn.functional.one_hot(labels, 3).float() / w.sum(1, keepdim=True)
    assert torch.allclose(scores, expected, atol=1e-6)
    res = knn_probe(
        bank, labels, query, torch.zeros(7, dtype=torch.long), query, torch.zeros(7, dtype=torch.long), task
    )
    assert res.selected["k"] == 5


@pytest.mark.parametrize("chunk", [1, 3, 2048])
def test_knn_ties_at_the_kth_neighbour_go_to_the_lower_bank_index(chunk):
    task = TaskSpec(3)
    near = torch.tensor([1.0, 0.0, 0.0])
    tied = torch.tensor([0.6, 0.8, 0.0])  # cos 0.6 to the query, four copies
    bank = torch.stack([near, tied, tied, tied, tied])
    query = near.repeat(4, 1)
    for order, winner in (([0, 1, 2, 2, 2], 1), ([0, 2, 1, 1, 1], 2)):
        labels = torch.tensor(order)
        scores = knn_scores(bank, labels, query, task, k=2, chunk=chunk)
        # k = 2: the near neighbour plus the first (lowest-index) of the four tied ones
        w_near, w_tie = math.exp(1 / T), math.exp(0.6 / T)
        expected = torch.zeros(3)
        expected[0], expected[winner] = w_near, w_tie
        assert torch.allclose(scores, (expected / expected.sum()).repeat(4, 1), rtol=1e-5), (order, scores)


def test_a_suites_linear_l2_grid_is_the_one_the_head_selects_from(tmp_path):
    # the grid a suite declares reaches the val-selected head (and so every protocol that reuses it);
    # without one the head keeps the probe's default grid
    from benchmark.evaluation.probes import L2_GRID

    with registered():
        wide = toy_ctx(toy_job(probes=("linear",), linear_l2_grid=[30.0, 300.0]), tmp_path / "wide")
        default = toy_ctx(toy_job(probes=("linear",)), tmp_path / "default")
        assert wide.linear_head(1.0).l2 in (30.0, 300.0)
        assert default.linear_head(1.0).l2 in L2_GRID
        # the job keeps its grid and what val chose there (the run summary reads it)
        head = wide.linear_head(1.0)
        assert wide.histories["linear_l2"] == {
            "grid": [30.0, 300.0],
            "selected": {"1": head.l2},
            "val": {"1": head.val_scores},
        }
        assert len(head.val_scores) == 2 and head.val_score == max(head.val_scores)


def test_the_run_summary_names_the_heads_whose_l2_sat_on_the_grids_edge():
    from types import SimpleNamespace

    from benchmark.cli import l2_edge_line
    from benchmark.orchestration.runner import note_l2_edges

    grid = [1e-6, 1e-4, 1e-2, 1e-1]
    summary: dict = {}
    for dataset, method, selected, val in (
        ("cora", "mmcr", {"0.1": 0.1, "1": 0.1}, {}),  # both on the top edge (no val scores kept)
        ("cora", "simclr", {"0.1": 1e-4, "1": 1e-2}, {}),  # inside
        ("adult", "simclr", {"1": 1e-6}, {"1": [0.9, 0.8, 0.7, 0.7]}),  # the bottom edge, a strict win
        # the bottom edge by a tie: ties keep the first grid value, so a flat val is no narrow grid
        ("ecg200", "simclr", {"1": 1e-6}, {"1": [0.8, 0.8, 0.8, 0.7]}),
        ("ecg200", "mmcr", {"1": 0.1}, {"1": [0.5, 0.6, 0.7, 0.7]}),  # the top edge, tied with 1e-2
    ):
        job = SimpleNamespace(dataset=dataset, method=method)
        note_l2_edges(summary, job, {"linear_l2": {"grid": grid, "selected": selected, "val": val}})
    note_l2_edges(summary, SimpleNamespace(dataset="x", method="y"), {})  # no linear head: nothing
    assert summary["l2_edges"] == {
        "heads": 7,
        "top": {("cora", "mmcr"): 2},
        "bottom": {("adult", "simclr"): 1},
    }
    line = l2_edge_line(summary["l2_edges"])
    assert line.startswith("linear probe: of 7 val-selected heads, the L2 strength sat on its top edge in 2 ")
    assert "(cora mmcr ×2) and its bottom edge in 1 (adult simclr ×1)" in line
    assert l2_edge_line({"heads": 3, "top": {}, "bottom": {}}) is None and l2_edge_line(None) is None
