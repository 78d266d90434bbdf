"""DGI (methods/dgi.py): its loss on hand-computed logits, the readout, the corruption it trains
against (same edges, feature rows permuted among the nodes), the specs it runs on, and that it
learns to tell a graph from its corruption."""

import math

import pytest
import torch

from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.models.graph_encoders import GCNEncoder
from datasets.graph_batches import NodeBatch
from methods.base import METHODS
from methods.dgi import DGI, dgi_loss, graph_summary


def softplus(v):
    return math.log1p(math.exp(v))


def test_dgi_loss_on_hand_computed_logits():
    # BCE with logits: a positive scored s costs softplus(-s), a negative softplus(s); mean of all
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([-1.0])
    expected = (softplus(-2.0) + softplus(0.0) + softplus(-1.0)) / 3
    assert float(dgi_loss(pos, neg)) == pytest.approx(expected, rel=1e-6)
    # a confident right discriminator costs almost nothing, a confident wrong one a lot
    assert float(dgi_loss(torch.full((4,), 20.0), torch.full((4,), -20.0))) < 1e-8
    assert float(dgi_loss(torch.full((4,), -20.0), torch.full((4,), 20.0))) == pytest.approx(20.0, rel=1e-6)


def test_summary_is_the_sigmoid_of_the_mean_embedding():
    h = torch.tensor([[0.0, 2.0], [2.0, -2.0]])
    assert torch.allclose(graph_summary(h), torch.sigmoid(torch.tensor([1.0, 0.0])))


def node_spec(task="node"):
    return InputSpec("graph", (8,), extras={"task": task})


def test_dgi_runs_on_node_tasks_only():
    assert METHODS["dgi"] is DGI
    assert DGI.supports(node_spec())
    assert not DGI.supports(node_spec("graph"))  # graph-level infomax is InfoGraph, another paper
    assert not DGI.supports(InputSpec("image2d", (1, 8, 8)))


def two_community_graph(n=40, f=8, seed=0):
    """Two communities, dense inside and sparse between, with community-dependent features."""
    g = torch.Generator().manual_seed(seed)
    side = torch.arange(n) % 2
    p = torch.where(side[:, None] == side[None, :], 0.3, 0.02)
    adj = torch.rand(n, n, generator=g) < p
    adj = torch.triu(adj, 1)
    adj = adj | adj.t()
    edge_index = adj.nonzero().t().contiguous()
    x = torch.randn(n, f, generator=g) + 1.5 * side[:, None].float()
    return NodeBatch(x, edge_index, torch.arange(n))


class Recorder(torch.nn.Module):
    """The GCN, recording every batch it is called on."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen, self.out_dim = inner, [], inner.out_dim

    def forward(self, b):
        self.seen.append(b)
        return self.inner(b)


def test_the_negative_graph_keeps_the_edges_and_permutes_the_feature_rows():
    torch.manual_seed(0)
    b = two_community_graph()
    enc = Recorder(GCNEncoder(8, hidden=16, out_dim=8))
    m = DGI(enc, node_spec(), TaskSpec(2))
    loss = m.training_step(b, None, view=None)
    assert loss.dim() == 0 and torch.isfinite(loss)
    clean, corrupt = enc.seen
    assert clean is b
    assert torch.equal(corrupt.edge_index, b.edge_index) and torch.equal(corrupt.nodes, b.nodes)
    assert not torch.equal(corrupt.x, b.x)
    # the same rows in another order: every feature row appears exactly once
    assert torch.equal(corrupt.x.sort(0).values, b.x.sort(0).values)
    rows = {tuple(r.tolist()) for r in b.x}
    assert {tuple(r.tolist()) for r in corrupt.x} == rows


def test_dgi_learns_to_tell_the_graph_from_its_corruption():
    torch.manual_seed(0)
    b = two_community_graph()
    m = DGI(GCNEncoder(8, hidden=32, out_dim=16), node_spec(), TaskSpec(2))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = float(m.training_step(b, None, view=None).detach())
    for _ in range(150):
        opt.zero_grad()
        loss = m.training_step(b, None, view=None)
        loss.backward()
        opt.step()
    with torch.no_grad():
        perm = torch.randperm(len(b))
        h, h_neg = m.encoder(b), m.encoder(NodeBatch(b.x[perm], b.edge_index, b.nodes))
        s = graph_summary(h)
        correct = torch.cat([m.score(h, s) > 0, m.score(h_neg, s) < 0]).float().mean()
    assert first == pytest.approx(math.log(2), abs=0.2)  # an untrained discriminator guesses
    assert float(loss.detach()) < 0.5 * first and float(correct) > 0.85
