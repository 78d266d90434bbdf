"""Honest cells in every table: n in each cell and no '± 0' for one seed (CSV: empty std and CI);
CIs inside the metric's range; accuracies at or below the majority-class floor marked and not ranked
above each other; ranks with datasets as blocks (no Friedman test below 3 datasets); superseded
budgets not shown as current; paired differences against the references with a CI over seeds."""

import csv
import hashlib
import math

import pandas as pd
import pytest
from scipy import stats as sps

from benchmark.cli import main
from benchmark.orchestration.store import ResultStore
from benchmark.reporting import plots
from benchmark.reporting.leaderboard import validate_file
from benchmark.reporting.protocol_tables import stats_markdown
from benchmark.reporting.stats import cell_text, clamp_to_floor, mean_std_ci
from benchmark.reporting.tables import LONG_COLUMNS, label_fraction_markdown, superseded_mask, write_tables

SUITE = "honest"


def _h(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _record(store, method, dataset, seed, budget, acc, floor=None, fractions=(0.1, 1.0), probes=("linear",)):
    rows = []
    for p in probes:
        for f in fractions:
            value = acc(f, p) if callable(acc) else acc
            rows.append(
                {
                    "protocol": "label_fraction",
                    "probe": p,
                    "fraction": f,
                    "metric": "accuracy",
                    "value": value,
                }
            )
            if floor is not None:
                rows.append(
                    {
                        "protocol": "label_fraction",
                        "probe": p,
                        "fraction": f,
                        "metric": "majority_floor",
                        "value": floor,
                    }
                )
    job = {
        "config_hash": _h(method, dataset, seed, budget),
        "group_hash": _h(method, dataset, budget),
        "suite": SUITE,
        "method": method,
        "dataset": dataset,
        "domain": "natural_images",
        "encoder": "default:image2d",
        "pretrain_budget": budget,
        "seed": seed,
        "config": {"method": method, "dataset": dataset, "seed": seed},
    }
    store.record(job, rows, code_version="0.1.0+abc1234")


# ---- cells over seeds ------------------------------------------------------------------------------


def test_one_seed_has_no_spread_and_intervals_stay_in_range():
    mean, std, n, lo, hi = mean_std_ci([0.8])
    assert (mean, n) == (0.8, 1) and math.isnan(std) and math.isnan(lo) and math.isnan(hi)
    vals = [0.99, 1.0, 1.0]
    mean, std, n, lo, hi = mean_std_ci(vals, (0.0, 1.0))
    half = sps.t.ppf(0.975, 2) * std / math.sqrt(3)
    assert mean + half > 1 and hi == 1.0 and lo == pytest.approx(mean - half)  # clipped, not shifted
    assert mean_std_ci([0.0, 0.01, 0.0], (0.0, math.inf))[3] == 0.0
    assert cell_text(0.81234, float("nan"), 1) == "0.8123 (n=1)"
    assert cell_text(0.8, 0.0, 1) == "0.8000 (n=1)"  # even a stored 0 std of one seed is not shown
    assert cell_text(0.8, 0.05, 3, 100, 1) == "80.0 ± 5.0 (n=3)"
    assert cell_text(0.8, 0.05, 3, 100, 1, below_floor=True) == "80.0 ± 5.0 (n=3) ▿"
    assert cell_text(float("nan"), 0.1, 3) == "—"


@pytest.fixture
def run_tables(tmp_path, monkeypatch):
    """A store with one-seed and three-seed methods, a floor, and an older budget of simclr."""
    times = iter(f"2026-01-01T00:00:{i:02d}Z" for i in range(60))
    monkeypatch.setattr("benchmark.orchestration.store.now_iso", lambda: next(times))
    store = ResultStore(tmp_path / "store.sqlite")
    _record(store, "simclr", "digits", 0, "5ep", 0.2, floor=0.5)  # the old budget, recorded first
    _record(store, "simclr", "digits", 0, "10ep", lambda f, p: 0.9 if f == 1.0 else 0.5, floor=0.5)
    for s in range(3):
        _record(store, "random_init", "digits", s, "10ep", 0.4 + 0.01 * s, floor=0.5)
        _record(store, "supervised", "digits", s, "10ep", 0.95 + 0.01 * s, floor=0.5)
    written = write_tables(store, tmp_path, SUITE)
    return tmp_path, written


def test_run_tables_show_n_mark_the_floor_and_hide_superseded_budgets(run_tables):
    out, written = run_tables
    rows = list(csv.DictReader(open(out / "label_fraction.csv")))
    assert list(rows[0]) == LONG_COLUMNS
    one = [r for r in rows if r["n_seeds"] == "1"]
    assert one and all(r["std"] == r["ci95_low"] == r["ci95_high"] == "" for r in one)
    three = [r for r in rows if r["n_seeds"] == "3" and r["metric"] == "accuracy"]
    assert three and all(0 <= float(r["ci95_low"]) <= float(r["ci95_high"]) <= 1 for r in three)
    assert {r["pretrain_budget"] for r in rows if r["method"] == "simclr"} == {
        "5ep",
        "10ep",
    }  # CSV keeps both

    md = (out / "label_fraction.md").read_text()
    assert "± 0" not in md and "(n=1)" in md and "(n=3)" in md
    simclr = [line for line in md.splitlines() if line.startswith("| simclr |")]
    assert len(simclr) == 1  # the 5-epoch row is superseded: not shown next to the current one
    cells = [c.strip() for c in simclr[0].strip("|").split("|")[1:]]
    assert cells == ["50.0 (n=1) ▿", "90.0 (n=1)"]  # at the floor (50 %): marked; above it: not
    ri = next(line for line in md.splitlines() if line.startswith("| random_init |"))
    assert ri.count("▿") == 2 and "(n=3)" in ri  # 40–42 % is below the floor
    sup = next(line for line in md.splitlines() if line.startswith("| supervised |"))
    assert "▿" not in sup
    assert "| *majority-class floor* | 50.0 | 50.0 |" in md
    assert "4 row(s) of a superseded pretraining budget" in md  # 5ep: accuracy + floor, 2 fractions
    assert "▿ = at or below the majority-class floor" in md


def test_floor_marks_only_accuracy_tables():
    long = pd.DataFrame(
        [
            {
                "protocol": "label_fraction",
                "dataset": "d",
                "method": "m",
                "probe": "linear",
                "fraction": 1.0,
                "metric": met,
                "mean": 0.5,
                "std": 0.0,
                "n_seeds": 2,
            }
            for met in ("balanced_accuracy", "majority_floor")
        ]
    )
    md = label_fraction_markdown(long, {"d": "balanced_accuracy"})
    assert "▿" not in md and "floor*" not in md  # the floor is an accuracy; balanced accuracy is not compared


# ---- validation --------------------------------------------------------------------------------------


def test_validate_rejects_ci_outside_unit_range_and_spread_of_one_seed(run_tables, tmp_path, capsys):
    out, _ = run_tables
    good = out / "label_fraction.csv"
    lines = list(csv.reader(open(good, newline="")))
    h = lines[0]
    i3 = next(
        i
        for i, r in enumerate(lines)
        if i and r[h.index("n_seeds")] == "3" and r[h.index("metric")] == "accuracy"
    )
    i1 = next(i for i, r in enumerate(lines) if i and r[h.index("n_seeds")] == "1")

    def bad(edit, name):
        rows = [list(r) for r in lines]
        edit(rows)
        path = tmp_path / f"{name}.csv"
        with open(path, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        return [(p.line, p.column, p.message) for p in validate_file(path)]

    assert validate_file(good) == []
    probs = bad(lambda r: r[i3].__setitem__(h.index("ci95_high"), "1.02"), "above")
    assert [(line, col) for line, col, _ in probs] == [(i3 + 1, "ci95_high")] and "outside [0, 1]" in probs[
        0
    ][2]
    probs = bad(lambda r: r[i3].__setitem__(h.index("ci95_low"), "-0.01"), "below")
    assert [(line, col) for line, col, _ in probs] == [(i3 + 1, "ci95_low")]
    for col, v in (("std", "0.0"), ("ci95_low", "0.5"), ("ci95_high", "0.5")):
        probs = bad(lambda r, c=col, v=v: r[i1].__setitem__(h.index(c), v), f"one_{col}")
        assert [(line, c) for line, c, _ in probs] == [(i1 + 1, col)] and "n_seeds = 1" in probs[0][2]
    probs = bad(lambda r: r[i3].__setitem__(h.index("std"), ""), "no_std")
    assert [(line, c) for line, c, _ in probs] == [(i3 + 1, "std")] and "n_seeds = 3" in probs[0][2]
    assert main(["leaderboard", "validate", str(tmp_path / "above.csv")]) == 1
    assert "outside [0, 1]" in capsys.readouterr().out


# ---- ranks: datasets as blocks, floor ties -------------------------------------------------------


def _long(values: dict, floors: dict | None = None) -> pd.DataFrame:
    """{(dataset, probe, fraction): {method: accuracy}} → a long frame (3 seeds each)."""
    rows = []
    for (ds, probe, f), by_method in values.items():
        for m, v in by_method.items():
            base = {
                "protocol": "label_fraction",
                "dataset": ds,
                "probe": probe,
                "fraction": f,
                "corruption": "",
                "severity": 0,
                "ood_partner": "",
                "method": m,
                "std": 0.01,
                "n_seeds": 3,
            }
            rows.append({**base, "metric": "accuracy", "mean": v})
            if floors and ds in floors:
                rows.append({**base, "metric": "majority_floor", "mean": floors[ds]})
    return pd.DataFrame(rows)


CELLS = [("linear", 0.01), ("linear", 0.1), ("linear", 1.0), ("knn", 0.01), ("knn", 0.1), ("knn", 1.0)]


def test_friedman_needs_three_datasets_not_three_cells():
    # two datasets × six probe/fraction cells: twelve cells but two blocks
    two = _long(
        {
            (ds, p, f): {"a": 0.9, "b": 0.8 - 0.01 * i, "c": 0.7}
            for ds in ("x", "y")
            for i, (p, f) in enumerate(CELLS)
        }
    )
    rs = plots.rank_stats(two)
    assert rs["n_blocks"] == 2 and rs["n_cells"] == 12
    assert rs["cd"] is None and rs["friedman_p"] is None and "≥ 3 datasets" in rs["reason"]
    assert rs["methods"] == ["a", "b", "c"] and rs["avg_rank"] == [1.0, 2.0, 3.0]
    md = stats_markdown(two)
    assert "Friedman χ²" not in md and "skipped: they need ≥ 3 datasets as blocks" in md

    three = _long({(ds, p, f): {"a": 0.9, "b": 0.8, "c": 0.7} for ds in ("x", "y", "z") for p, f in CELLS})
    rs = plots.rank_stats(three)
    assert rs["n_blocks"] == 3 and rs["cd"] is not None and rs["reason"] is None
    # Friedman over 3 blocks (not 18): χ² = 12n/(k(k+1)) Σ(R − (k+1)/2)² = 6 with n = 3, k = 3
    assert rs["friedman_p"] == pytest.approx(sps.chi2.sf(6.0, 2))


def test_a_dataset_is_one_block_its_cells_averaged():
    # in x, a wins 2 of 3 cells; in y and z b wins every cell: the blocks are x, y, z (not 9 cells)
    vals = {}
    for i, (p, f) in enumerate(CELLS[:3]):
        vals[("x", p, f)] = {"a": 0.9, "b": 0.8 if i < 2 else 0.95, "c": 0.1}
        for ds in ("y", "z"):
            vals[(ds, p, f)] = {"a": 0.8, "b": 0.9, "c": 0.1}
    rs = plots.rank_stats(_long(vals))
    # x: mean ranks a 4/3, b 5/3, c 3 → a 1st; y, z: b 1st → average ranks b 4/3, a 5/3, c 3
    assert dict(zip(rs["methods"], rs["avg_rank"])) == pytest.approx({"b": 4 / 3, "a": 5 / 3, "c": 3.0})


def test_cells_at_or_below_the_floor_tie_in_ranks():
    scores = pd.DataFrame({"a": [0.62, 0.9], "b": [0.55, 0.8], "c": [0.7, 0.7]}, index=["x", "y"])
    clamped = clamp_to_floor(scores, pd.Series({"x": 0.64}))
    assert clamped.loc["x"].tolist() == [0.64, 0.64, 0.7] and clamped.loc["y"].tolist() == [0.9, 0.8, 0.7]
    # through the rank statistics: a and b are both below the floor in x, so neither outranks the other
    vals = {("x", "linear", 1.0): {"a": 0.62, "b": 0.55, "c": 0.7}}
    for ds in ("y", "z"):
        vals[(ds, "linear", 1.0)] = {"a": 0.9, "b": 0.8, "c": 0.7}
    rs = plots.rank_stats(_long(vals, floors={"x": 0.64}))
    ranks = dict(zip(rs["methods"], rs["avg_rank"]))
    assert ranks["a"] == pytest.approx((2.5 + 1 + 1) / 3) and ranks["b"] == pytest.approx((2.5 + 2 + 2) / 3)
    md = stats_markdown(_long(vals, floors={"x": 0.64}))
    assert "| a | 1.50 |" in md and "| b | 2.17 |" in md


# ---- superseded budgets ----------------------------------------------------------------------------


def test_superseded_budgets_are_the_older_budget_of_the_same_method_and_source():
    df = pd.DataFrame(
        [
            ("s", "label_fraction", "d", "m", "e", "5ep", "2026-01-01T00:00:00Z"),
            ("s", "label_fraction", "d", "m", "e", "10ep", "2026-01-02T00:00:00Z"),
            ("s", "label_fraction", "d", "other", "e", "5ep", "2026-01-01T00:00:00Z"),
            ("s", "transfer", "d", "m", "e", "5ep@a", "2026-01-01T00:00:00Z"),  # another source: current
            ("s", "transfer", "d", "m", "e", "10ep@b", "2026-01-03T00:00:00Z"),
            ("s", "transfer", "d", "m", "e", "3ep@b", "2026-01-01T00:00:00Z"),
        ],
        columns=["suite", "protocol", "dataset", "method", "encoder", "pretrain_budget", "created_at"],
    )
    assert superseded_mask(df).tolist() == [True, False, False, False, False, True]


# ---- leaderboard pages: n, superseded, paired differences ------------------------------------------


@pytest.fixture
def board(tmp_path, monkeypatch):
    times = iter(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(3600))
    monkeypatch.setattr("benchmark.orchestration.store.now_iso", lambda: next(times))
    store = ResultStore(tmp_path / "res" / "store.sqlite")
    acc = {"simclr": [0.70, 0.74, 0.75], "random_init": [0.60, 0.61, 0.66], "supervised": [0.80, 0.83, 0.84]}
    for ds in ("digits", "cifar_x"):
        for s in range(3):
            _record(store, "simclr", ds, s, "1ep", 0.1, floor=0.3)  # an older budget, superseded below
        for m, vals in acc.items():
            for s in range(3):
                _record(store, m, ds, s, "2ep", lambda f, p, v=vals[s]: v * f**0.1, floor=0.3)
        _record(store, "byol", ds, 0, "2ep", 0.72, floor=0.3)  # one seed only
    store.close()
    root = tmp_path / "leaderboards"
    assert (
        main(
            ["leaderboard", "publish", "--suite", SUITE, "--out", str(tmp_path / "res"), "--root", str(root)]
        )
        == 0
    )
    return root, acc


def test_pages_show_n_hide_superseded_and_give_paired_deltas(board, capsys):
    root, acc = board
    paired = root / SUITE / "paired" / "label_fraction.csv"
    assert paired.exists()
    d = pd.read_csv(paired, keep_default_na=False)
    # simclr − random_init at 100 %, paired by seed, with the paired t-interval
    r = d[
        (d["new_method"] == "simclr")
        & (d["baseline"] == "random_init")
        & (d["dataset"] == "digits")
        & (d["fraction"] == 1.0)
        & (d["metric"] == "accuracy")
    ].iloc[0]
    ci = sps.ttest_rel(acc["simclr"], acc["random_init"]).confidence_interval(0.95)
    assert r["n_pairs"] == 3
    assert r["diff_mean"] == pytest.approx(sum(acc["simclr"]) / 3 - sum(acc["random_init"]) / 3)
    assert (float(r["ci95_low"]), float(r["ci95_high"])) == pytest.approx((ci.low, ci.high))
    one = d[d["new_method"] == "byol"]
    assert set(one["n_pairs"]) == {1} and set(one["ci95_low"]) == {""}  # one pair: no interval
    assert set(d["metric"]) == {"accuracy"}  # the floor is method-independent: never compared

    assert main(["leaderboard", "render", "--root", str(root)]) == 0
    md = (root / "site" / "leaderboard.md").read_text()
    page = (root / "site" / "index.html").read_text()
    for text in (md, page):
        assert "± 0.0000 (n=1)" not in text and "0.7200 (n=1)" in text
        assert (
            "Δ vs random_init (paired over seeds)" in text and "Δ vs supervised (paired over seeds)" in text
        )
        assert "Superseded (not shown" in text and "simclr · digits · 1ep" in text
    assert "0.1000" not in md.split("Superseded")[1]  # the 1-epoch numbers are never rendered as current
    delta = f"{r['diff_mean']:+.4f} [{float(r['ci95_low']):+.4f}, {float(r['ci95_high']):+.4f}] (n=3)"
    assert delta in md
    assert "majority-class floor | 0.3000" in md
