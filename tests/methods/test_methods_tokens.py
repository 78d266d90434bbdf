"""Tokenizers per spec kind (shapes, padding, round trip) and the token transformer's masking."""

import math
from types import SimpleNamespace

import pytest
import torch

from benchmark.core.specs import InputSpec
from benchmark.models.tokens import (
    GridTokenizer,
    TokenEncoder,
    block_mask,
    gather_tokens,
    position_table,
    propagate,
    random_keep,
    sincos_positions,
    tokenizer_for_spec,
)

CASES = [  # spec, expected grid, expected token dim
    (InputSpec("image2d", (1, 28, 28)), (7, 7), 16),
    (InputSpec("image2d", (3, 32, 32)), (8, 8), 48),
    (InputSpec("spectrogram", (1, 64, 101)), (8, 8), 8 * 13),
    (InputSpec("volume3d", (1, 28, 28, 28)), (4, 4, 4), 7**3),
    (InputSpec("signal1d", (12, 1000)), (63,), 12 * 16),
    (InputSpec("signal1d", (1, 96)), (48,), 2),
    (InputSpec("tabular", (13,)), (13,), 1),
]


@pytest.mark.parametrize("spec,grid,token_dim", CASES, ids=[f"{c[0].kind}{c[0].shape}" for c in CASES])
def test_tokenizer_shapes(spec, grid, token_dim):
    tok = tokenizer_for_spec(spec, max_tokens=64)
    assert tok.grid == grid and tok.num_tokens == math.prod(grid)
    assert tok.num_tokens <= 64 or spec.kind == "tabular"  # tables: one token per feature
    assert tok.token_dim == token_dim
    x = torch.randn(3, *spec.shape)
    t = tok(x)
    assert t.shape == (3, math.prod(grid), token_dim)
    # Nothing is lost or invented: token values are the input values plus zero padding.
    assert torch.isclose(t.sum(), x.sum(), atol=1e-3)
    assert tok.ordered == (spec.kind != "tabular")


def test_patch_contents_2d_and_3d():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    tok = GridTokenizer(InputSpec("image2d", (1, 4, 4)), patch=(2, 2))
    t = tok(x)
    assert t.shape == (1, 4, 4)
    assert (
        t[0, 0].tolist() == [0, 1, 4, 5]
        and t[0, 1].tolist() == [2, 3, 6, 7]
        and t[0, 3].tolist() == [10, 11, 14, 15]
    )
    v = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    t3 = GridTokenizer(InputSpec("volume3d", (1, 2, 2, 2)), patch=(1, 2, 2))(v)
    assert t3[0, 0].tolist() == [0, 1, 2, 3] and t3[0, 1].tolist() == [4, 5, 6, 7]
    s = torch.arange(10.0).reshape(1, 2, 5)  # 2 channels, segments of 3 (padded to 6)
    t1 = GridTokenizer(InputSpec("signal1d", (2, 5)), patch=(3,))(s)
    assert (
        t1.shape == (1, 2, 6)
        and t1[0, 0].tolist() == [0, 1, 2, 5, 6, 7]
        and t1[0, 1].tolist() == [3, 4, 0, 8, 9, 0]
    )


def _node_batch():
    # A path 0-1-2 plus an isolated node 3, both edge directions listed; ask for nodes 1 and 3.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0]])
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    return SimpleNamespace(x=x, edge_index=ei, nodes=torch.tensor([1, 3]))


def test_graph_hop_tokens_node_batch():
    b = _node_batch()
    hops = propagate(b.x, b.edge_index, 1)
    # Â = D^-1/2 (A + I) D^-1/2 with degrees (2, 3, 2, 1) counting the self-loop.
    deg = torch.tensor([2.0, 3.0, 2.0, 1.0])
    a = torch.tensor([[1.0, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]])
    a_hat = a / torch.sqrt(deg[:, None] * deg[None, :])
    assert torch.allclose(hops[1], a_hat @ b.x, atol=1e-6)
    tok = tokenizer_for_spec(InputSpec("graph", (2,), extras={"task": "node"}))
    t = tok(b)
    assert tok.grid == (4,) and tok.token_dim == 2 and tok.ordered
    assert t.shape == (2, 4, 2)
    assert torch.allclose(t[:, 0], b.x[[1, 3]])  # hop 0 = the node's own features
    assert torch.allclose(t[1], b.x[3].expand(4, 2))  # an isolated node stays itself at every hop
    assert torch.allclose(t[0, 2], (a_hat @ a_hat @ b.x)[1], atol=1e-6)


def test_graph_hop_tokens_graph_batch():
    nb = _node_batch()
    b = SimpleNamespace(x=nb.x, edge_index=nb.edge_index, batch=torch.tensor([0, 0, 0, 1]), num_graphs=2)
    tok = tokenizer_for_spec(InputSpec("graph", (2,), extras={"task": "graph"}))
    t = tok(b)
    assert t.shape == (2, 4, 2)
    assert torch.allclose(t[0, 0], nb.x[:3].mean(0)) and torch.allclose(t[1, 0], nb.x[3])
    enc = TokenEncoder(InputSpec("graph", (2,), extras={"task": "graph"}), dim=16, depth=1, heads=2)
    assert enc(b).shape == (2, 16)


@pytest.mark.parametrize(
    "spec", [c[0] for c in CASES[:1]] + [InputSpec("tabular", (5,)), InputSpec("volume3d", (1, 8, 8, 8))]
)
def test_token_encoder_masking(spec):
    torch.manual_seed(0)
    enc = TokenEncoder(spec, dim=32, depth=1, heads=2)
    x = torch.randn(4, *spec.shape)
    assert enc(x).shape == (4, 32) and enc.out_dim == 32
    n = enc.num_tokens
    kept, mask = random_keep(4, n, max(1, n // 4))
    assert mask.sum(1).tolist() == [n - max(1, n // 4)] * 4
    assert not mask.gather(1, kept).any()
    h = enc.forward_tokens(x, keep=kept)
    assert h.shape == (4, max(1, n // 4), 32)
    # Encoding only the kept tokens = gathering them before the transformer.
    full = enc.embed_tokens(enc.tokenize(x))
    assert torch.allclose(h, enc.encode(gather_tokens(full, kept)), atol=1e-6)
    shared = torch.tensor([0, n - 1])
    assert enc.forward_tokens(x, keep=shared).shape == (4, 2, 32)


def test_block_mask_size():
    g = torch.Generator().manual_seed(0)
    m = block_mask((8, 8), 0.25, g)
    assert m.shape == (64,) and int(m.sum()) == 16  # 4×4 block
    m = m.reshape(8, 8)
    rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
    assert len(rows) == 4 and len(cols) == 4 and int(rows[-1] - rows[0]) == 3  # contiguous


def test_sincos_positions_hand_values():
    # 1-D grid of 3, width 4: ω = [1, 1/100]; columns [sin(pω0), sin(pω1), cos(pω0), cos(pω1)].
    t = sincos_positions((3,), 4)[0]
    for p in range(3):
        want = [math.sin(p), math.sin(p / 100), math.cos(p), math.cos(p / 100)]
        assert t[p].tolist() == pytest.approx(want, abs=1e-6)
    # 2-D grid: the first half of the width encodes the row, the second half the column.
    t2 = sincos_positions((2, 3), 8)[0].reshape(2, 3, 8)
    assert torch.equal(t2[:, :, :4], sincos_positions((2,), 4)[0][:, None, :].expand(2, 3, 4))
    assert torch.equal(t2[:, :, 4:], sincos_positions((3,), 4)[0][None, :, :].expand(2, 3, 4))
    # 3-D grid, width not divisible by 3: 42 columns per axis, the last 2 stay 0; rows all distinct.
    t3 = sincos_positions((4, 4, 4), 128)[0]
    assert torch.all(t3[:, 126:] == 0) and len(torch.unique(t3, dim=0)) == 64
    with pytest.raises(ValueError, match="too small"):
        sincos_positions((2, 2, 2), 4)


def test_token_encoder_positions_fixed_or_learned():
    spec = InputSpec("image2d", (1, 28, 28))
    enc = TokenEncoder(spec, dim=32, depth=1, heads=2)  # default: fixed sine-cosine, as MAE / I-JEPA
    assert not enc.pos.requires_grad and torch.equal(enc.pos, sincos_positions((7, 7), 32))
    enc(torch.randn(2, *spec.shape)).sum().backward()
    assert enc.pos.grad is None and enc.embedding.weight.grad is not None
    learned = TokenEncoder(spec, dim=32, depth=1, heads=2, pos_embed="learned")
    assert learned.pos.requires_grad and learned.pos.abs().max() < 0.2
    # Table features have no order: their positions are learned feature identities either way.
    assert position_table("sincos", (5,), 32, ordered=False).requires_grad
    with pytest.raises(ValueError, match="pos_embed"):
        TokenEncoder(spec, dim=32, depth=1, heads=2, pos_embed="rope")
