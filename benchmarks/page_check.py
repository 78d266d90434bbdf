#!/usr/bin/env python
"""Is the rendered leaderboard page share-ready? Opens it in headless Chromium (offline, no remote
debugging) at a given window width and measures, after every image has loaded and every <details>
is opened:

- horizontal scroll: document.scrollingElement.scrollWidth must not exceed its clientWidth (nor
  the window width); wide tables may scroll, but only inside their own box;
- overlaps: the box of every line of every text node and of every image; no two of them may
  overlap by more than 1 px in both directions (a sweep over the boxes sorted by top edge).

    python benchmarks/page_check.py                                  # leaderboards/site/index.html, 1280 px
    python benchmarks/page_check.py path/to/index.html --width 1400

How: a copy of the site gets one inline script that measures on `load` and writes JSON into a <pre>;
`chromium --headless --dump-dom --virtual-time-budget` prints the DOM, from which the JSON is read.
Exit 0 when the page passes, 1 when not (each problem printed), 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_ID = "page-check-result"

PROBE = """<script>
window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var boxes = [], id = 0;
  function add(r, what, key) {
    if (r.width < 1 || r.height < 1) return;
    boxes.push({x0: r.left + scrollX, y0: r.top + scrollY, x1: r.right + scrollX, y1: r.bottom + scrollY,
                what: what, key: key});
  }
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), n, texts = 0;
  while ((n = walker.nextNode())) {
    var t = n.textContent.trim();
    if (!t || n.parentElement.closest('script,style')) continue;
    var range = document.createRange(); range.selectNodeContents(n);
    var rects = range.getClientRects(); id += 1; texts += 1;
    var what = n.parentElement.tagName + ' "' + t.slice(0, 50) + '"';
    for (var i = 0; i < rects.length; i++) add(rects[i], what, id);
  }
  document.querySelectorAll('img').forEach(function (im) {
    id += 1; add(im.getBoundingClientRect(), 'IMG ' + im.getAttribute('src'), id);
  });
  boxes.sort(function (a, b) { return a.y0 - b.y0; });
  var active = [], overlaps = [], T = %(tol)s;
  boxes.forEach(function (b) {
    active = active.filter(function (a) { return a.y1 - T > b.y0; });
    active.forEach(function (a) {
      if (a.key === b.key) return;
      var w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0), h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
      if (w > T && h > T && overlaps.length < 50)
        overlaps.push([a.what, b.what, Math.round(w), Math.round(h)]);
    });
    active.push(b);
  });
  var se = document.scrollingElement, cw = se.clientWidth, wide = [];
  document.querySelectorAll('body *').forEach(function (el) {
    if (el.closest('.scroll') && !el.classList.contains('scroll')) return;  // scrolls in its own box
    var r = el.getBoundingClientRect();
    if (r.right > cw + 0.5 && wide.length < 20)
      wide.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
  });
  var pre = document.createElement('pre'); pre.id = '%(rid)s';
  pre.textContent = JSON.stringify({innerWidth: innerWidth, clientWidth: cw, scrollWidth: se.scrollWidth,
    texts: texts, boxes: boxes.length, images: document.images.length,
    imagesLoaded: Array.prototype.filter.call(document.images, function (i) {
      return i.complete && i.naturalWidth > 0; }).length,
    scrollBoxes: document.querySelectorAll('.scroll').length, overlaps: overlaps, wide: wide});
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def measure(index: Path, width: int = 1280, tol: float = 1.0, timeout: int = 300) -> dict:
    """The page's measurements (see the module docstring) at `width` px, from headless Chromium."""
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("headless Chromium not found (Debian package `chromium`)")
    index = Path(index).resolve()
    with tempfile.TemporaryDirectory(prefix="page_check_") as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(index.parent, site)  # the copy keeps relative image paths; the site stays as is
        probe = PROBE % {"tol": tol, "rid": RESULT_ID}
        page = site / index.name
        page.write_text(index.read_text().replace("</body>", probe + "</body>"))
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={width},900",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=60000",
            "--dump-dom",
            page.as_uri(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    m = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', r.stdout, re.S)
    if not m:
        raise RuntimeError(f"no measurement from Chromium (exit {r.returncode}): {r.stderr[-2000:]}")
    return json.loads(html.unescape(m.group(1)))


def problems(res: dict, width: int) -> list[str]:
    out = []
    if res["innerWidth"] != width:
        out.append(f"window is {res['innerWidth']} px wide, not {width}")
    if res["scrollWidth"] > res["clientWidth"] or res["scrollWidth"] > width:
        out.append(
            f"scrolls sideways: scrollWidth {res['scrollWidth']} > clientWidth {res['clientWidth']}; "
            f"too wide: {'; '.join(res['wide'])}"
        )
    out += [f"overlap {w}×{h} px: {a} / {b}" for a, b, w, h in res["overlaps"]]
    if res["imagesLoaded"] != res["images"]:
        out.append(f"{res['images'] - res['imagesLoaded']} image(s) did not load")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", nargs="?", default=str(ROOT / "leaderboards" / "site" / "index.html"))
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args(argv)
    if chromium() is None:
        print("page_check: headless Chromium not found (Debian package `chromium`)", file=sys.stderr)
        return 2
    res = measure(Path(args.index), args.width)
    found = problems(res, args.width)
    print(
        f"{args.index} at {args.width} px: scrollWidth {res['scrollWidth']} / clientWidth "
        f"{res['clientWidth']} (window {res['innerWidth']}); {res['texts']} text nodes in {res['boxes']} "
        f"boxes incl. {res['images']} images ({res['imagesLoaded']} loaded), {res['scrollBoxes']} table "
        f"scroll boxes; {len(res['overlaps'])} overlap(s)"
    )
    for p in found:
        print("  FAIL", p)
    print("page_check:", "FAIL" if found else "OK")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
