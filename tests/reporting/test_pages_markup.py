"""The best value of each column in bold (HTML and Markdown), lower winning for lower-is-better
metrics, ties at the shown precision all bold, the floor row never; every table in its own scroll box."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.reporting.leaderboard import summary_pivot
from benchmark.reporting.leaderboard.frames import numeric, read_long
from benchmark.reporting.leaderboard.markup import Cell, html_table, mark_best, md_table

CSV = Path(__file__).resolve().parents[2] / "leaderboards" / "quick" / "label_fraction.csv"


def test_mark_best_by_direction_with_ties_at_the_shown_precision():
    rows = [
        [Cell("a"), Cell("0.5", "0.50001"), Cell("3", "3.0"), Cell("x")],
        [Cell("b"), Cell("0.5", "0.49999"), Cell("1", "1.0"), Cell("y")],
        [Cell("c"), Cell("0.4", "0.4"), Cell("—", ""), Cell("z")],
    ]
    out = mark_best(rows, [None, False, True, None])
    assert [[c.best for c in r] for r in out] == [
        [False, True, False, False],  # 0.50001 and 0.49999 both show as 0.5000: a tie
        [False, True, True, False],  # rank 1 is the lowest
        [False, False, False, False],  # no value is never best
    ]
    assert not any(c.best for c in rows[0])  # the input is left as it was


def test_tables_show_the_best_in_bold_and_scroll_in_their_own_box():
    rows = [[Cell("a"), Cell("0.9000 (n=3)", "0.9", True)], [Cell("b"), Cell("0.1000 (n=3)", "0.1")]]
    md = md_table(["method", "acc"], rows)
    assert "| a | **0.9000 (n=3)** |" in md and "| b | 0.1000 (n=3) |" in md
    page = html_table(["method", "acc"], rows)
    assert page.startswith('<div class="scroll"><table') and page.endswith("</table></div>")
    assert '<td class="n best" data-sort="0.9"><strong>0.9000 (n=3)</strong></td>' in page
    assert '<td class="n" data-sort="0.1">0.1000 (n=3)</td>' in page


def _one_column(metric: str) -> pd.DataFrame:
    d = numeric(read_long(CSV))
    d = d[(d["dataset"] == "fsdd") & (d["probe"] == "linear") & (d["fraction"] == 1.0)]
    d = d[d["metric"].isin(["accuracy", "majority_floor"])]
    return d.assign(metric=d["metric"].replace({"accuracy": metric}))


def test_summary_bolds_the_highest_accuracy_and_the_lowest_error_never_the_floor():
    for metric, pick in (("accuracy", max), ("error", min)):
        d = _one_column(metric)
        headers, rows = summary_pivot(d, "label_fraction")
        assert len(headers) == 2
        values = {r[0].text: float(r[1].sort) for r in rows if r[1].sort}
        best = [r[0].text for r in rows if r[1].best]
        want = pick(v for m, v in values.items() if m != "majority-class floor")
        assert best and all(round(values[m], 4) == round(want, 4) for m in best), (metric, best)
        assert "majority-class floor" not in best and all("(n=" in r[1].text for r in rows[:-1])
