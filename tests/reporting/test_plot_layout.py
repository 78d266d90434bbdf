"""Share-ready plots: one colour and marker per method that no other method has, the same in every
figure; and in every figure of the published leaderboards, no two texts overlap, none leaves the
figure, and no line (a critical-difference leader line included) runs through a text."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from benchmark.reporting import plots
from benchmark.reporting.styles import METHOD_STYLES, PALETTE, STYLE_ORDER, method_style

ROOT = Path(__file__).resolve().parents[2] / "leaderboards"


def _lab(hex_colour: str) -> np.ndarray:
    """sRGB → CIELAB (D65), to measure how far apart two colours look."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_registered_method_has_its_own_colour_and_marker():
    from methods import METHODS

    assert set(METHODS) <= set(METHOD_STYLES), set(METHODS) - set(METHOD_STYLES)
    assert len(METHODS) >= 18 and len(STYLE_ORDER) == len(set(STYLE_ORDER))
    styles = [method_style(m) for m in METHODS]
    assert len(set(styles)) == len(styles)  # distinct (colour, marker) pairs …
    assert len({s.color for s in styles}) == len(styles)  # … and distinct colours on their own
    # the colours look different: ≥ 25 CIELAB ΔE76 apart (2.3 is a just-noticeable difference)
    dist = min(np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.combinations(PALETTE, 2))
    assert dist >= 25, dist
    # a method no registry names (a user's --method-file) gets a spare colour, the same every time
    assert method_style("my_method") == method_style("my_method")
    assert method_style("my_method").color not in {s.color for s in styles}


def _each_figure(monkeypatch, long, prefix, check) -> int:
    """`check(file name, figure)` on every plot `all_plots` draws from `long` (nothing is written);
    returns how many there were."""
    import matplotlib.pyplot as plt

    names = []

    def save(fig, path):
        names.append(Path(path).name)
        check(names[-1], fig)
        plt.close(fig)
        return Path(path)

    monkeypatch.setattr(plots, "_save", save)
    plots.all_plots(long, Path("unused"), prefix)
    return len(names)


def _line_styles(fig) -> dict[str, tuple]:
    """label → (colour, marker) of the figure's method lines and legend handles."""
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D

    out = {}
    for line in fig.findobj(Line2D):
        label = line.get_label()
        if label in METHOD_STYLES or label == "my_method":
            out.setdefault(label, set()).add((to_hex(line.get_color()), line.get_marker()))
    return out


def _tick_artists(fig) -> tuple[set[int], set[int]]:
    """(ids of tick labels drawn, ids of every tick's artists): ticks outside the view limits keep
    their (stale) texts but are never drawn."""
    drawn, every = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                parts = (tick.label1, tick.label2, tick.tick1line, tick.tick2line, tick.gridline)
                every |= {id(a) for a in parts}
                if axis.get_visible() and ax.axison and lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    drawn |= {id(a) for a in (tick.label1, tick.label2) if a.get_visible()}
    return drawn, every


def _texts(fig, renderer):
    from matplotlib.text import Text

    drawn, every = _tick_artists(fig)
    out = []
    for t in fig.findobj(Text):
        if id(t) in every and id(t) not in drawn:
            continue
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None:
            out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def _crosses(seg: np.ndarray, box, clip) -> bool:
    """Whether the drawn part of a segment (2 × 2, display pixels; `clip`: the box it is clipped
    to, or None) passes through the text box shrunk by 1 px."""
    x0, y0, x1, y1 = box.x0 + 1, box.y0 + 1, box.x1 - 1, box.y1 - 1
    if x0 >= x1 or y0 >= y1:
        return False
    t = np.linspace(0, 1, 200)[:, None]
    x, y = (seg[0] + t * (seg[1] - seg[0])).T
    inside = (x0 < x) & (x < x1) & (y0 < y) & (y < y1)
    if clip is not None:
        inside &= (clip.x0 <= x) & (x <= clip.x1) & (clip.y0 <= y) & (y <= clip.y1)
    return bool(inside.any())


def layout_problems(fig) -> list[str]:
    """Overlapping texts, texts outside the figure, and lines through texts of one figure."""
    from matplotlib.lines import Line2D

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig, renderer)
    frame = fig.bbox
    problems = [
        f"outside the figure: {s!r}"
        for s, b in texts
        if b.x0 < frame.x0 - 0.5 or b.y0 < frame.y0 - 0.5 or b.x1 > frame.x1 + 0.5 or b.y1 > frame.y1 + 0.5
    ]
    for (s, a), (u, b) in itertools.combinations(texts, 2):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        if w > 1 and h > 1:
            problems.append(f"overlap: {s!r} / {u!r}")
    ticks = _tick_artists(fig)[1]
    for line in fig.findobj(Line2D):
        xy = line.get_xydata()
        if id(line) in ticks or not line.get_visible() or line.get_linestyle() in ("None", ""):
            continue
        if len(xy) < 2:
            continue
        pts = line.get_transform().transform(xy)
        clip = line.get_clip_box() if line.get_clip_on() else None
        for seg in zip(pts[:-1], pts[1:]):
            for s, box in texts:
                if _crosses(np.array(seg), box, clip):
                    problems.append(f"line {line.get_label()!r} through {s!r}")
    return sorted(set(problems))


@pytest.fixture(scope="module")
def published():
    from benchmark.reporting.leaderboard import load_leaderboards

    boards = load_leaderboards(ROOT)
    if not boards:
        pytest.skip("no published leaderboards")
    return boards


def test_published_figures_have_no_overlapping_or_crossed_text(published, monkeypatch):
    """Every figure of every published suite (label efficiency, robustness, OOD, ranks / CD)."""
    from benchmark.reporting.tables import superseded_mask

    seen = {}

    def check(name, fig):
        assert not layout_problems(fig), (name, layout_problems(fig))
        for label, styles in _line_styles(fig).items():
            assert styles == {tuple(method_style(label))}, (name, label, styles)
            seen.setdefault(label, set()).add(name)

    for suite, df in published.items():
        # a suite at one label fraction (reference) has no label-efficiency curve to draw
        least = 8 if df["fraction"].nunique() > 1 else 0
        assert _each_figure(monkeypatch, df[~superseded_mask(df)], suite, check) >= least
    assert len(seen) >= 18  # every method drawn, each in its own style in every figure


def test_critical_difference_labels_are_not_crossed_for_many_methods(monkeypatch):
    """A CD diagram of 19 methods (18 registered + a user's) with cliques: leader lines end before
    their labels and never cross another label."""
    import matplotlib.pyplot as plt

    methods = sorted(METHOD_STYLES) + ["my_method"]
    avg = list(np.linspace(1.4, 17.6, len(methods)))
    avg[3] = avg[2]  # a tie
    rs = {
        "protocol": "label_fraction",
        "methods": methods,
        "avg_rank": avg,
        "n_blocks": 7,
        "cd": 4.2,
        "friedman_p": 1e-4,
        "groups": [methods[0:5], methods[3:9], methods[8:14], methods[12:]],
    }
    fig = plots._cd_diagram(rs)
    assert not layout_problems(fig)
    plt.close(fig)
