"""One fixed look per method for every plot and page: a colour and a marker that no other method
has, the same in every figure (a method's colour never depends on which methods a plot shows).

`METHOD_STYLES` names every registered method (tests/reporting/test_plot_layout.py checks that it
covers the method registry and that no two methods share a colour); a method it does not name (a
user's `--method-file`) gets one of the spare colours with a marker chosen from its name, so it also
looks the same everywhere. `LOWER_IS_BETTER` is the one list of metrics where smaller wins.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

LOWER_IS_BETTER = frozenset({"fpr95", "mce", "ce", "error", "corruption_error"})

# 28 colours at least ~27 CIELAB ΔE76 apart and dark enough to read on white (L* ≤ 78); the first
# nine are matplotlib's tab10 without its grey.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#ff00ff",
    "#000080",
    "#c2b280",
    "#cab2d6",
    "#f99379",
    "#008856",
    "#2b3d26",
    "#848482",
    "#000000",
    "#b3446c",
    "#800000",
    "#0000ff",
    "#330033",
    "#0066ff",
    "#996600",
    "#ff0099",
    "#990099",
    "#330000",
    "#00cc00",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*")

# slot i → PALETTE[i], MARKERS[i % len(MARKERS)]; new methods take the next free slot (never
# reorder: a method's colour is part of how readers recognise it across pages)
STYLE_ORDER = (
    "simclr",
    "moco_v2",
    "moco_v3",
    "byol",
    "simsiam",
    "barlow_twins",
    "vicreg",
    "swav",
    "dino",
    "mmcr",
    "mae",
    "jepa",
    "fixmatch",
    "mixmatch",
    "mean_teacher",
    "random_init_tokens",
    "random_init",
    "supervised",
    # the reference recipes (methods/reference_recipes.py)
    "gcn_supervised",
    "fcn",
    "resnet18_medmnist",
    "gbdt_reference",
    "logreg_reference",
    "dgi",
)


class Style(NamedTuple):
    color: str
    marker: str


METHOD_STYLES = {m: Style(PALETTE[i], MARKERS[i % len(MARKERS)]) for i, m in enumerate(STYLE_ORDER)}
SPARE_COLORS = PALETTE[len(STYLE_ORDER) :]


def method_style(method: str) -> Style:
    """The colour and marker of `method`, the same in every plot."""
    if method in METHOD_STYLES:
        return METHOD_STYLES[method]
    h = zlib.crc32(method.encode())  # stable across runs (unlike hash())
    return Style(SPARE_COLORS[h % len(SPARE_COLORS)], MARKERS[(h // len(SPARE_COLORS)) % len(MARKERS)])


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER
