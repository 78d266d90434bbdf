"""Tokens for masked methods (docs/design.md §2) and the small token transformer built from an input spec.

A tokenizer turns a prepared batch into raw tokens (B, N, P) — the reconstruction targets of MAE —
and knows the token grid (for block masks):

| spec        | tokens                                  | grid        |
|-------------|-----------------------------------------|-------------|
| image2d     | non-overlapping patches (C·ph·pw)        | (gh, gw)    |
| spectrogram | time-frequency patches (C·pf·pt)         | (gf, gt)    |
| volume3d    | cubes (C·pd·ph·pw)                       | (gd, gh, gw)|
| signal1d    | segments (C·L)                           | (n,)        |
| tabular     | one token per feature (its scalar value) | (F,)  unordered |
| graph       | hop tokens of the nodes: token k = Â^k X | (K+1,)      |

Patch sizes are chosen so that there are at most `max_tokens` tokens; inputs are zero-padded up to
a multiple of the patch size. `TokenEncoder` embeds the tokens (a linear patch embedding, or a
per-feature scalar embedding for tables as in FT-Transformer), adds positions (fixed sine-cosine over
the token grid as in MAE and I-JEPA; learned ones for table features, or on request), can keep a
subset of tokens (masking) and exposes a mean-pooled `out_dim` embedding for probes.
Graphs: batches are not tensors (datasets/graph_batches.py: a node batch = the whole graph + node ids, a
graph batch = a disjoint union with a `batch` vector). Their tokens are built from the nodes as hop
tokens (Hop2Token, NAGphormer, Chen et al. 2023): token k is the node features propagated k times
with the symmetric-normalised adjacency with self-loops, Â^k X (k = 0..K) — read at the sample's node
(node tasks) or mean-pooled over the graph's nodes (graph tasks), so every sample has the same K+1
tokens and masking hides whole hops.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.specs import InputSpec

TOKEN_SPECS = ("image2d", "spectrogram", "volume3d", "signal1d", "tabular", "graph")


def _patch_sizes(dims: tuple[int, ...], max_tokens: int) -> tuple[int, ...]:
    """Per-dimension patch sizes with ∏ ceil(d / p) ≤ max_tokens, splitting the budget evenly."""
    per_dim = max(1, int(math.floor(max_tokens ** (1.0 / len(dims)) + 1e-9)))
    return tuple(max(1, math.ceil(d / per_dim)) for d in dims)


class GridTokenizer(nn.Module):
    """Non-overlapping patches over the trailing 1, 2 or 3 dims of a (B, C, *dims) tensor."""

    def __init__(self, spec: InputSpec, max_tokens: int = 64, patch: tuple[int, ...] | None = None):
        super().__init__()
        self.channels = spec.shape[0]
        self.dims = tuple(spec.shape[1:])
        self.patch = tuple(patch) if patch else _patch_sizes(self.dims, max_tokens)
        if len(self.patch) != len(self.dims):
            raise ValueError(f"patch {self.patch} does not match input dims {self.dims}")
        self.grid = tuple(math.ceil(d / p) for d, p in zip(self.dims, self.patch))
        self.num_tokens = math.prod(self.grid)
        self.token_dim = self.channels * math.prod(self.patch)
        self.ordered = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        pad = []
        for d, p, g in reversed(list(zip(self.dims, self.patch, self.grid))):
            pad += [0, g * p - d]
        if any(pad):
            x = F.pad(x, pad)
        k = len(self.dims)
        # (B, C, g1, p1, g2, p2, ...) → (B, g1, g2, ..., C, p1, p2, ...)
        shape = [b, self.channels]
        for g, p in zip(self.grid, self.patch):
            shape += [g, p]
        x = x.reshape(shape)
        perm = [0] + [2 + 2 * i for i in range(k)] + [1] + [3 + 2 * i for i in range(k)]
        return x.permute(perm).reshape(b, self.num_tokens, self.token_dim)


class FeatureTokenizer(nn.Module):
    """Tabular rows (B, F) → one scalar token per feature (B, F, 1); features have no order."""

    def __init__(self, spec: InputSpec, max_tokens: int = 64):
        super().__init__()
        self.num_tokens = int(spec.shape[0])
        self.grid = (self.num_tokens,)
        self.token_dim = 1
        self.ordered = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.num_tokens, 1)


def propagate(x: torch.Tensor, edge_index: torch.Tensor, hops: int) -> list[torch.Tensor]:
    """[X, ÂX, …, Â^hops X] with Â = D^-1/2 (A + I) D^-1/2 (edge_index lists both directions)."""
    n = x.shape[0]
    loops = torch.arange(n, device=x.device)
    row = torch.cat([edge_index[0], loops])
    col = torch.cat([edge_index[1], loops])
    deg = torch.zeros(n, device=x.device, dtype=x.dtype).index_add_(
        0, row, torch.ones_like(row, dtype=x.dtype)
    )
    w = (deg[row] * deg[col]).rsqrt().unsqueeze(1)
    out, h = [x], x
    for _ in range(hops):
        h = torch.zeros_like(h).index_add_(0, row, h[col] * w)
        out.append(h)
    return out


class HopTokenizer(nn.Module):
    """Graph batches → (B, K+1, F) hop tokens: rows `nodes` of a node batch, or the per-graph mean
    of a graph batch (`batch` vector, `num_graphs`)."""

    def __init__(self, spec: InputSpec, max_tokens: int = 64, hops: int = 3):
        super().__init__()
        self.hops = min(hops, max_tokens - 1)
        self.num_tokens = self.hops + 1
        self.grid = (self.num_tokens,)
        self.token_dim = int(spec.shape[0])
        self.ordered = True

    def forward(self, b) -> torch.Tensor:
        h = torch.stack(propagate(b.x.float(), b.edge_index, self.hops), dim=1)  # (N, K+1, F)
        if hasattr(b, "nodes"):
            return h[b.nodes]
        g = int(b.num_graphs)
        summed = h.new_zeros(g, *h.shape[1:]).index_add_(0, b.batch, h)
        count = torch.bincount(b.batch, minlength=g).clamp_min(1).to(h.dtype)
        return summed / count[:, None, None]


TOKENIZERS: dict[str, Callable[..., nn.Module]] = {
    "image2d": GridTokenizer,
    "spectrogram": GridTokenizer,
    "volume3d": GridTokenizer,
    "signal1d": GridTokenizer,
    "tabular": FeatureTokenizer,
    "graph": HopTokenizer,
}


def tokenizer_for_spec(spec: InputSpec, max_tokens: int = 64) -> nn.Module:
    if spec.kind not in TOKENIZERS:
        raise NotImplementedError(
            f"no tokenizer for spec kind {spec.kind!r} (tokens exist for {', '.join(TOKEN_SPECS)})"
        )
    return TOKENIZERS[spec.kind](spec, max_tokens=max_tokens)


class FeatureEmbedding(nn.Module):
    """FT-Transformer style: token j = x_j · w_j + b_j (one weight and bias vector per feature)."""

    def __init__(self, num_tokens: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_tokens, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(num_tokens, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t * self.weight + self.bias  # (B, F, 1) * (F, D) → (B, F, D)


def sincos_positions(grid: tuple[int, ...], dim: int) -> torch.Tensor:
    """Fixed sine-cosine positions (1, N, dim) over an N-d token grid, as MAE and I-JEPA use (2-D
    there): the width is split evenly over the grid's axes and each axis gets the 1-D table
    [sin(p·ω_i), cos(p·ω_i)], ω_i = 10000^(-i/(d/2)); leftover columns stay 0. Unlike learned
    positions initialised near 0, every position is distinct from the first step, which a decoder
    with a handful of steps needs to know where a masked token sits."""
    k = len(grid)
    per_axis = (dim // k) // 2 * 2
    if per_axis < 2:
        raise ValueError(f"width {dim} is too small for sine-cosine positions over a {k}-d grid")
    coords = torch.meshgrid(*[torch.arange(g, dtype=torch.float64) for g in grid], indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(per_axis // 2, dtype=torch.float64) / (per_axis / 2))
    table = torch.zeros(math.prod(grid), dim, dtype=torch.float64)
    for a, c in enumerate(coords):
        angles = c.flatten()[:, None] * omega[None, :]
        table[:, a * per_axis : (a + 1) * per_axis] = torch.cat([angles.sin(), angles.cos()], dim=1)
    return table.float().unsqueeze(0)


def position_table(kind: str, grid: tuple[int, ...], dim: int, ordered: bool = True) -> nn.Parameter:
    """'sincos' (fixed, not trained) on ordered grids; 'learned' (trained, N(0, 0.02²) at init), also
    what unordered tokens (table features) get, whose "positions" are feature identities."""
    if kind not in ("sincos", "learned"):
        raise ValueError(f"pos_embed must be 'sincos' or 'learned', got {kind!r}")
    if kind == "sincos" and ordered:
        return nn.Parameter(sincos_positions(grid, dim), requires_grad=False)
    return nn.Parameter(torch.randn(1, math.prod(grid), dim) * 0.02)


def transformer_blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        dim, heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


def gather_tokens(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """h (B, N, D); idx (B, K) per-sample or (K,) shared token indices → (B, K, D)."""
    if idx.dim() == 1:
        return h[:, idx]
    return torch.gather(h, 1, idx.unsqueeze(-1).expand(-1, -1, h.shape[-1]))


class TokenEncoder(nn.Module):
    """Tokenizer → embedding + learned positions → pre-norm transformer → LayerNorm.
    `forward(x)` is the mean-pooled (B, out_dim) embedding; `forward_tokens(x, keep)` encodes only
    the kept tokens (masking)."""

    def __init__(
        self,
        spec: InputSpec,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        max_tokens: int = 64,
        pos_embed: str = "sincos",
    ):
        super().__init__()
        self.spec = spec
        self.tokenizer = tokenizer_for_spec(spec, max_tokens)
        n, p = self.tokenizer.num_tokens, self.tokenizer.token_dim
        self.embedding = FeatureEmbedding(n, dim) if spec.kind == "tabular" else nn.Linear(p, dim)
        self.pos = position_table(pos_embed, self.tokenizer.grid, dim, self.tokenizer.ordered)
        self.blocks = transformer_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    @property
    def num_tokens(self) -> int:
        return self.tokenizer.num_tokens

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokenizer(x)

    def embed_tokens(self, raw: torch.Tensor) -> torch.Tensor:
        return self.embedding(raw) + self.pos

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(h))

    def forward_tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed_tokens(self.tokenize(x))
        if keep is not None:
            h = gather_tokens(h, keep)
        return self.encode(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(x).mean(1)


def random_keep(batch: int, num_tokens: int, keep: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample random masking (MAE): indices of `keep` kept tokens (B, keep) and a (B, N) bool
    mask that is True on the masked (dropped) tokens."""
    noise = torch.rand(batch, num_tokens, device=device)
    ids = noise.argsort(dim=1)
    kept = ids[:, :keep]
    mask = torch.ones(batch, num_tokens, dtype=torch.bool, device=device)
    mask.scatter_(1, kept, False)
    return kept, mask


def block_mask(grid: tuple[int, ...], scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random contiguous block covering about `scale` of the grid (same fraction per dim),
    as a flat bool mask (N,)."""
    k = len(grid)
    side = [max(1, min(g, round(g * scale ** (1.0 / k)))) for g in grid]
    m = torch.zeros(grid, dtype=torch.bool)
    sl = []
    for g, s in zip(grid, side):
        start = int(torch.randint(0, g - s + 1, (1,), generator=generator))
        sl.append(slice(start, start + s))
    m[tuple(sl)] = True
    return m.flatten()
