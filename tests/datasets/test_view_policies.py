"""Named views (benchmark/core/views.py) per domain: multi-crop local crops at a lower resolution,
the semi-supervised weak / strong views, and the papers' own views for tables (SCARF) and graphs
(GraphCL, GRACE)."""

from dataclasses import replace

import pytest
import torch

from benchmark.core.views import ViewPolicy
from datasets import image_views, signal_views, volume_views
from datasets.graph_batches import GraphBatch, NodeBatch, graph_policy_view, node_policy_view
from methods.byol import BYOL_VIEW_1, BYOL_VIEW_2
from methods.dino import DINO_LOCAL
from methods.fixmatch import STRONG_VIEW, WEAK_VIEW


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_policy_validation():
    with pytest.raises(ValueError):
        ViewPolicy("nope")
    with pytest.raises(ValueError):
        ViewPolicy(scale=(0.5, 0.2))
    assert DINO_LOCAL.local and not BYOL_VIEW_1.local


def test_image_global_and_local_crops():
    x = torch.rand(6, 3, 28, 28)
    glob = image_views.policy_view(x, g(), BYOL_VIEW_1)
    loc = image_views.policy_view(x, g(), DINO_LOCAL)
    assert glob.shape == x.shape and loc.shape == (6, 3, 12, 12)  # 96/224 of 28 px
    assert torch.equal(loc, image_views.policy_view(x, g(), DINO_LOCAL))  # the generator decides
    assert 0 <= float(loc.min()) and float(loc.max()) <= 1
    tiny = image_views.policy_view(torch.rand(2, 1, 8, 8), g(), DINO_LOCAL)
    assert tiny.shape[-2:] == (8, 8)  # never below what the CNN's poolings need


def test_colour_ops():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(image_views.rgb_hue_shift(x, torch.zeros(4)), x, atol=1e-5)
    assert torch.allclose(image_views.rgb_hue_shift(x, torch.ones(4)), x, atol=1e-5)  # a full turn
    gray = x.mean(1, keepdim=True).expand_as(x).contiguous()
    assert torch.allclose(image_views.rgb_hue_shift(gray, torch.full((4,), 0.3)), gray, atol=1e-5)
    sol = image_views.solarize(x, g(), p=1.0)
    assert torch.equal(sol, torch.where(x >= 0.5, 1 - x, x))
    # BYOL's asymmetry: view 2 solarises some images, view 1 never does
    y = torch.full((64, 1, 8, 8), 0.9)
    v1 = image_views.policy_view(y, g(), replace(BYOL_VIEW_1, jitter_p=0.0, scale=(1.0, 1.0)))
    v2 = image_views.policy_view(y, g(), replace(BYOL_VIEW_2, jitter_p=0.0, scale=(1.0, 1.0)))
    assert float(v1.min()) > 0.5 and 0 < int((v2.flatten(1)[:, 0] < 0.5).sum()) < 64


def test_weak_view_is_an_integer_shift_and_strong_view_stays_in_range():
    x = torch.rand(8, 1, 16, 16)
    w = image_views.translate_flip(x, g(), 0.125, flip=False)
    for i in range(8):  # some integer shift of the image, borders repeated
        found = any(
            torch.allclose(w[i, 0, 2:-2, 2:-2], x[i, 0, 2 - dy : 14 - dy, 2 - dx : 14 - dx], atol=1e-5)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )
        assert found
    s = image_views.policy_view(x, g(), STRONG_VIEW)
    assert s.shape == x.shape and 0 <= float(s.min()) and float(s.max()) <= 1
    assert not torch.allclose(s, image_views.policy_view(x, g(), WEAK_VIEW))


@pytest.mark.parametrize("op", range(len(image_views.RA_OPS)))
def test_rand_augment_ops_keep_shape_and_range(op):
    x = torch.rand(5, 3, 12, 12)
    out = image_views.rand_augment_op(op, x, torch.rand(5))
    assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1 + 1e-6
    if image_views.RA_OPS[op] not in ("identity", "color"):
        assert not torch.allclose(out, x) or image_views.RA_OPS[op] == "equalize"
    both = image_views.rand_augment(x, g(op))
    assert both.shape == x.shape and 0 <= float(both.min()) and float(both.max()) <= 1


@pytest.mark.parametrize("channels", [1, 3])
def test_rand_augment_on_a_gpu_generator_gives_each_image_its_own_ops_result(channels):
    # the masked round (ops drawn on the device: no host read of who drew what) against the host's
    # round, which runs each op on the images that drew it
    x = torch.rand(64, channels, 12, 12, generator=g(1))
    ops = torch.arange(64) % len(image_views.RA_OPS)  # every op, several images each
    ops = ops[torch.randperm(64, generator=g(2))]
    mags = torch.rand(64, generator=g(3))
    by_op = x.clone()
    for k in range(len(image_views.RA_OPS)):
        idx = (ops == k).nonzero().flatten()
        by_op[idx] = image_views.rand_augment_op(k, x[idx], mags[idx])
    torch.testing.assert_close(image_views.rand_augment_masked(x, ops, mags), by_op)


def test_the_masked_rand_augment_round_never_makes_the_host_wait():
    from tests.methods.test_step_host_syncs import HostSync, HostWaits

    x = torch.rand(8, 3, 12, 12, device="meta")
    with HostWaits() as mode:
        out = image_views.rand_augment_masked(
            x, torch.randint(0, 14, (8,), device="meta"), torch.rand(8, device="meta")
        )
    assert mode.waits == [] and out.shape == x.shape
    with pytest.raises(HostSync), HostWaits():  # what the host's round would do with device ops
        torch.randint(0, 14, (8,), device="meta").unique().tolist()


def test_equalize_flattens_the_histogram():
    x = 0.2 + 0.2 * torch.rand(2, 1, 32, 32) ** 2  # a narrow, skewed range of levels
    e = image_views.equalize(x)
    assert float(e.min()) == 0 and float(e.max()) == 1 and abs(float(e.mean()) - 0.5) < 0.05
    order = x.flatten(1).argsort(1)
    assert bool((e.flatten(1).gather(1, order).diff(dim=1) >= 0).all())  # monotone in the input


def test_volume_and_signal_local_crops():
    v = torch.rand(3, 1, 28, 28, 28)
    assert volume_views.policy_view(v, g(), DINO_LOCAL).shape == (3, 1, 16, 16, 16)  # ≥ 16³ for the 3-D CNN
    assert volume_views.policy_view(v, g(), BYOL_VIEW_1).shape == v.shape
    assert volume_views.policy_view(v, g(), STRONG_VIEW).shape == v.shape
    s = torch.randn(4, 2, 200)
    own = lambda t, gen: t  # noqa: E731  (the domain view itself is not under test)
    assert signal_views.policy_view(s, g(), DINO_LOCAL, own).shape == (4, 2, 86)  # a short segment
    spec = torch.randn(4, 1, 32, 100)
    loc = signal_views.policy_view(spec, g(), DINO_LOCAL, own)
    assert loc.shape == (4, 1, 32, 43)  # frequencies kept, time at 96/224
    weak = signal_views.policy_view(s, g(), WEAK_VIEW, own)
    assert weak.shape == s.shape and not torch.equal(weak, s)


def test_tabular_views_follow_scarf(data_dir):
    from datasets.base import get_adapter

    a = get_adapter("breast_cancer", data_dir=data_dir)
    x = a.splits()["train"].inputs[:64]
    anchor = a.views(x, g(), ViewPolicy("ssl", slot=0))
    corrupted = a.views(x, g(), ViewPolicy("ssl", slot=1))
    assert torch.equal(anchor, x)  # SCARF's anchor is the row itself
    changed = (corrupted != x).float().mean()
    assert 0.45 < float(changed) < 0.7  # ~60 % of the features come from other rows
    pool = a.splits()["train"].inputs
    # no noise: every corrupted value is some train row's value of that feature
    col = corrupted[:, 0]
    assert all(bool((pool[:, 0] == v).any()) for v in col)
    weak = a.views(x, g(), WEAK_VIEW)
    assert torch.allclose(weak, x, atol=0.6) and not torch.equal(weak, x)


def _graphs():
    # two graphs: a 5-node path and a 4-node star, both directions of every edge
    x = torch.arange(9 * 3, dtype=torch.float).view(9, 3)
    und = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (5, 7), (5, 8)]
    ei = torch.tensor([[a for a, b in und] + [b for a, b in und], [b for a, b in und] + [a for a, b in und]])
    return GraphBatch(x, ei, torch.tensor([0] * 5 + [1] * 4), 2)


def test_graphcl_anchor_is_the_original_graph():
    b = _graphs()
    assert graph_policy_view(b, g(), ViewPolicy("ssl", slot=0)) is b
    v = graph_policy_view(b, g(), ViewPolicy("ssl", slot=1))
    assert v.num_graphs == 2 and v.x.shape[1] == 3


def test_grace_rates_per_view():
    n, e = 400, 4000
    gen = torch.Generator().manual_seed(0)
    b = NodeBatch(torch.ones(n, 100), torch.randint(0, n, (2, e), generator=gen), torch.arange(10))
    v1 = node_policy_view(b, g(), ViewPolicy("ssl", slot=0), "cora")
    v2 = node_policy_view(b, g(), ViewPolicy("ssl", slot=1), "cora")
    assert (
        abs(1 - v1.edge_index.shape[1] / e - 0.2) < 0.03 and abs(1 - v2.edge_index.shape[1] / e - 0.4) < 0.03
    )
    assert abs(float((v1.x[0] == 0).float().mean()) - 0.3) < 0.12
    assert abs(float((v2.x[0] == 0).float().mean()) - 0.4) < 0.12
