"""Every domain's view functions on fixed inputs, for the view-device tests
(tests/datasets/test_view_devices.py): each case takes a view generator and returns the view."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Callable

import torch

from benchmark.core.views import ViewPolicy
from datasets import image_views, signal_views, volume_views
from datasets.graph_batches import (
    GraphBatch,
    NodeBatch,
    graph_policy_view,
    graph_views,
    node_policy_view,
    node_views,
)
from methods.byol import BYOL_VIEW_1, BYOL_VIEW_2
from methods.dino import DINO_LOCAL
from methods.fixmatch import STRONG_VIEW, WEAK_VIEW

CROP = ViewPolicy("crop", scale=(0.2, 1.0))


def _inputs() -> dict[str, Any]:
    g = torch.Generator().manual_seed(1234)
    gray = torch.rand(16, 1, 28, 28, generator=g)
    rgb = torch.rand(12, 3, 32, 32, generator=g)
    vol = torch.rand(4, 1, 20, 20, 20, generator=g)
    ecg = torch.randn(8, 2, 500, generator=g)
    wave = torch.randn(8, 1, 800, generator=g)
    spec = torch.randn(8, 1, 32, 100, generator=g)
    # six random graphs of 4-9 nodes, both directions of every edge, as a batch
    xs, src, dst, batch, start = [], [], [], [], 0
    for k in range(6):
        n = int(torch.randint(4, 10, (1,), generator=g))
        xs.append(torch.rand(n, 5, generator=g))
        for i in range(1, n):  # a random tree keeps every graph connected
            j = int(torch.randint(0, i, (1,), generator=g))
            src += [start + i, start + j]
            dst += [start + j, start + i]
        batch += [k] * n
        start += n
    graphs = GraphBatch(torch.cat(xs), torch.tensor([src, dst]), torch.tensor(batch), 6)
    node_x = torch.rand(60, 7, generator=g)
    nodes = NodeBatch(node_x, torch.randint(0, 60, (2, 300), generator=g), torch.arange(20))
    return {
        "gray": gray,
        "rgb": rgb,
        "vol": vol,
        "ecg": ecg,
        "wave": wave,
        "spec": spec,
        "graphs": graphs,
        "nodes": nodes,
    }


def _ecg(t, gen):
    return signal_views.ecg_view(t, gen, 360.0)


def view_cases(tabular: dict | None = None) -> dict[str, Callable[[torch.Generator], Any]]:
    """name → view(generator). `tabular`: {name: tabular adapter}, whose SCARF views are included."""
    i = _inputs()
    iv, vv, sv = image_views, volume_views, signal_views
    cases = {
        "image/simclr_gray": lambda g: iv.simclr_image_view(i["gray"], g),
        "image/simclr_rgb": lambda g: iv.simclr_rgb_view(i["rgb"], g),
        "image/digits": lambda g: iv.random_erase(
            iv.color_jitter(iv.random_resized_crop_flip(i["gray"], g, (0.5, 1.0), flip=False), g), g, p=0.2
        ),
        "image/byol_1": lambda g: iv.policy_view(i["rgb"], g, BYOL_VIEW_1),
        "image/byol_2": lambda g: iv.policy_view(i["rgb"], g, BYOL_VIEW_2),
        "image/byol_2_gray": lambda g: iv.policy_view(i["gray"], g, BYOL_VIEW_2),
        "image/dino_local": lambda g: iv.policy_view(i["rgb"], g, DINO_LOCAL),
        "image/crop": lambda g: iv.policy_view(i["gray"], g, CROP),
        "image/weak": lambda g: iv.policy_view(i["rgb"], g, WEAK_VIEW),
        "image/strong": lambda g: iv.policy_view(i["rgb"], g, STRONG_VIEW),
        "image/strong_noflip": lambda g: iv.policy_view(i["gray"], g, STRONG_VIEW, flip=False),
        "volume/default": lambda g: vv.volume_view(i["vol"], g),
        "volume/rotation": lambda g: vv.random_resized_crop_flip_3d(i["vol"], g, max_rotation=0.3),
        "volume/byol_2": lambda g: vv.policy_view(i["vol"], g, replace(BYOL_VIEW_2, solarize_p=0.5)),
        "volume/dino_local": lambda g: vv.policy_view(i["vol"], g, DINO_LOCAL),
        "volume/weak": lambda g: vv.policy_view(i["vol"], g, WEAK_VIEW, flip_axes=(1, 2)),
        "volume/strong": lambda g: vv.policy_view(i["vol"], g, STRONG_VIEW),
        "signal/waveform": lambda g: sv.waveform_view(i["wave"], g),
        "signal/spectrogram": lambda g: sv.spectrogram_view(i["spec"], g),
        "signal/ecg": lambda g: _ecg(i["ecg"], g),
        "signal/weak": lambda g: sv.policy_view(i["ecg"], g, WEAK_VIEW, _ecg),
        "signal/strong": lambda g: sv.policy_view(i["ecg"], g, STRONG_VIEW, _ecg),
        "signal/crop": lambda g: sv.policy_view(i["ecg"], g, CROP, _ecg),
        "signal/dino_local": lambda g: sv.policy_view(i["ecg"], g, DINO_LOCAL, _ecg),
        "signal/spectrogram_local": lambda g: sv.policy_view(i["spec"], g, DINO_LOCAL, sv.spectrogram_view),
        "signal/spectrogram_weak": lambda g: sv.policy_view(i["spec"], g, WEAK_VIEW, sv.spectrogram_view),
        "graph/graphcl": lambda g: graph_views(i["graphs"], g, 0.2),
        "graph/graphcl_ssl": lambda g: graph_policy_view(i["graphs"], g, ViewPolicy("ssl", slot=1)),
        "graph/graphcl_weak": lambda g: graph_policy_view(i["graphs"], g, WEAK_VIEW),
        "graph/grace": lambda g: node_views(i["nodes"], g, 0.3, 0.3, 0.2),
        "graph/grace_ssl": lambda g: node_policy_view(i["nodes"], g, ViewPolicy("ssl", slot=1), "cora"),
    }
    for name, adapter in (tabular or {}).items():
        rows = adapter.splits()["train"].inputs[:64]
        for kind, policy in (("default", None), ("scarf", ViewPolicy("ssl", slot=1)), ("weak", WEAK_VIEW)):
            cases[f"tabular/{name}/{kind}"] = lambda g, a=adapter, r=rows, p=policy: a.views(r, g, p)
    return cases


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def fingerprint(out: Any, g: torch.Generator) -> dict[str, Any]:
    """What a view did, in a form that survives another CPU: the generator's state after it (which
    draws, how many, in what order; exact) and, per output tensor, exact digests of integer parts
    and (sum, position-weighted sum, sum of |values|) of float parts, to compare with a tolerance."""
    parts = {"x": out} if isinstance(out, torch.Tensor) else dict(vars(out))
    fp: dict[str, Any] = {"generator": _digest(g.get_state())}
    for name, t in sorted(parts.items()):
        if not isinstance(t, torch.Tensor):
            fp[name] = t
        elif t.is_floating_point():
            v = t.detach().cpu().double().flatten()
            w = torch.linspace(-1.0, 1.0, len(v), dtype=torch.float64)
            fp[name] = [float(v.sum()), float((v * w).sum()), float(v.abs().sum()), tuple(t.shape)]
        else:
            fp[name] = [_digest(t), tuple(t.shape)]
    return fp
