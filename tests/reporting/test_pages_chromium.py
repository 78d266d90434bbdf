"""The rendered leaderboard page in headless Chromium (benchmarks/page_check.py): no sideways scroll
at 1280 px and 1400 px, no text or image box overlapping another, every plot loaded. Skipped only
where Chromium is not installed (Debian package `chromium`); marked slow (a full render, ~1 min)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


page_check = load_script("page_check")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        page_check.chromium() is None, reason="headless Chromium not installed (Debian package `chromium`)"
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The published leaderboards rendered afresh into a copy (the repository's files stay as they are)."""
    from benchmark.reporting.leaderboard import render

    root = tmp_path_factory.mktemp("lb") / "leaderboards"
    shutil.copytree(ROOT / "leaderboards", root, ignore=shutil.ignore_patterns("site", "README.md"))
    render(root)
    return root / "site" / "index.html"


@pytest.mark.parametrize("width", [1280, 1400])
def test_published_page_has_no_sideways_scroll_and_no_overlaps(site, width):
    res = page_check.measure(site, width)
    assert not page_check.problems(res, width), page_check.problems(res, width)
    assert res["texts"] > 1000 and res["images"] >= 8 and res["scrollBoxes"] >= 6  # it measured the page


def test_the_check_finds_overlaps_and_sideways_scroll(tmp_path):
    """A page with two texts on top of each other and a wide table outside any scroll box fails."""
    page = tmp_path / "index.html"
    cells = "".join(f"<td>cell number {i}</td>" for i in range(60))
    page.write_text(
        "<!DOCTYPE html><html><body><h1>Title</h1>"
        '<p style="margin-top:-2.2em">overlapping text</p>'
        f"<table><tr>{cells}</tr></table></body></html>"
    )
    res = page_check.measure(page, 1280)
    found = page_check.problems(res, 1280)
    assert any(p.startswith("scrolls sideways") for p in found), found
    assert any("Title" in p and "overlapping text" in p for p in found), found
