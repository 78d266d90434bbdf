"""Markup of the leaderboard pages: the page's CSS and sorting script, HTML and Markdown tables, and
the best value of each column in bold.

A table is a header list and rows of `Cell`s (text, sort key; `sort` None for a label cell). The
page never scrolls sideways: wide tables scroll inside their own box, images shrink to the page.
"""

from __future__ import annotations

import html
from typing import NamedTuple

from benchmark.reporting.tables import SCHEMA_VERSION


class Cell(NamedTuple):
    text: str
    sort: str | None = None  # numeric sort key (repr of a float), "" for no value, None: a label
    best: bool = False  # the best value of its column: bold


SCRIPT = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-sort');
    if (v === null) v = td.textContent.trim();
    if (v === '') return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function cmp(a, b) {
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === 'number' ? -1 : 1;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.tabIndex = 0;
      function sort() {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.forEach(function (r, j) { r._i = j; });
        rows.sort(function (ra, rb) {
          var a = key(ra.cells[i]), b = key(rb.cells[i]);
          if (a === null || b === null) return (a === null) - (b === null) || ra._i - rb._i;
          return (asc ? cmp(a, b) : cmp(b, a)) || ra._i - rb._i;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') sort(); });
    });
  });
})();
"""

STYLE = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:2rem auto;padding:0 1rem;max-width:1200px;color:#222}
h1,h2,h3,h4,p,li,figcaption,summary{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;margin:0.5rem 0 1.2rem}
table{border-collapse:collapse;font-size:0.85rem}
th,td{border:1px solid #ccc;padding:0.2rem 0.5rem;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#eef6ee}
th{background:#f0f0f0;cursor:pointer;user-select:none;min-width:6rem}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
pre{background:#f7f7f7;padding:0.6rem;overflow:auto;max-width:100%}
figure{margin:1rem 0;max-width:100%}img{max-width:100%;height:auto;border:1px solid #eee}
"""

BEST_NOTE = "Bold: the best value of its column (ties at the shown precision all bold)."


def esc(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def mark_best(rows: list[list[Cell]], lower_better: list[bool | None], digits: int = 4) -> list[list[Cell]]:
    """`rows` with the best cell of each column flagged: the largest value, or the smallest where
    `lower_better[j]` (None: no best in column j). Values compare as shown (`digits` places)."""
    rows = [list(r) for r in rows]
    for j, low in enumerate(lower_better):
        if low is None:
            continue
        vals = {}
        for i, r in enumerate(rows):
            s = r[j].sort if j < len(r) else None
            if s:
                vals[i] = round(float(s), digits)
        if not vals:
            continue
        best = min(vals.values()) if low else max(vals.values())
        for i, v in vals.items():
            if v == best:
                rows[i][j] = rows[i][j]._replace(best=True)
    return rows


def html_table(headers: list[str], rows: list[list[Cell]], cls: str = "sortable") -> str:
    """A table in its own horizontal scroll box (the page itself never scrolls sideways)."""
    out = [
        f'<div class="scroll"><table class="{cls}"><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in headers)
        + "</tr></thead><tbody>"
    ]
    for row in rows:
        cells = []
        for c in map(_cell, row):
            cls_ = "" if c.sort is None else ' class="n best"' if c.best else ' class="n"'
            attr = "" if c.sort is None else f' data-sort="{esc(c.sort)}"'
            text = f"<strong>{esc(c.text)}</strong>" if c.best else esc(c.text)
            cells.append(f"<td{cls_}{attr}>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def md_table(headers: list[str], rows: list[list[Cell]]) -> str:
    def cell(t) -> str:
        return str(t).replace("|", "\\|").replace("\n", " ")

    def shown(c: Cell) -> str:
        return f"**{cell(c.text)}**" if c.best and c.text not in ("", "—") else cell(c.text)

    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    out += ["| " + " | ".join(shown(_cell(c)) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _cell(c) -> Cell:
    return c if isinstance(c, Cell) else Cell(*c)


def page(nav: list[str], body: list[str]) -> str:
    """The whole self-contained HTML page (inline CSS and script, nothing from the network)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        "<title>SSLBench leaderboards</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>SSLBench leaderboards</h1>\n"
        f"<p>Generated from the published CSVs (schema {SCHEMA_VERSION}); no network needed.</p>"
        f"<ul>{''.join(nav)}</ul>\n" + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
