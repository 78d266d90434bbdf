"""Seeds that collapsed or failed have no result rows; `publish` records them per cell in
`unfinished.csv` and the page says which cells count fewer seeds or are absent, and why."""

import pandas as pd

from benchmark.reporting.leaderboard.pages import _suite_intro
from benchmark.reporting.leaderboard.publish import UNFINISHED_FILE, publish_unfinished, read_unfinished


class _Jobs:
    def __init__(self, jobs):
        self._jobs = jobs

    def jobs(self):
        return self._jobs


def _job(method, seed, status, error=None, dataset="cora"):
    return {
        "suite": "toy",
        "dataset": dataset,
        "method": method,
        "encoder": "default:graph",
        "init": "random",
        "pretrain_budget": "60ep",
        "seed": seed,
        "status": status,
        "error": error,
    }


def test_collapsed_seeds_are_recorded_merged_and_shown(tmp_path):
    store = _Jobs(
        [_job("vicreg", s, "collapsed", "representation collapsed: rankme 1.4 < 2\ntrace") for s in (0, 1, 2)]
        + [
            _job("moco_v3", 0, "done"),
            _job("moco_v3", 1, "collapsed", "rankme"),
            _job("moco_v3", 2, "failed", "oom"),
        ]
        + [_job("simclr", s, "done") for s in (0, 1, 2)]
    )
    publish_unfinished(store, "toy", tmp_path, log=lambda m: None)
    rows = {r["method"]: r for r in read_unfinished(tmp_path / "toy")}
    assert set(rows) == {"vicreg", "moco_v3"}  # every seed of simclr is done: not listed
    assert (rows["vicreg"]["seeds_done"], rows["vicreg"]["seeds_collapsed"]) == ("0", "3")
    assert rows["vicreg"]["first_reason"] == "representation collapsed: rankme 1.4 < 2"
    assert (rows["moco_v3"]["seeds_collapsed"], rows["moco_v3"]["seeds_failed"]) == ("1", "1")

    md: list[str] = []
    df = pd.DataFrame({"code_version": ["0.1.0+abc"], "created_at": ["2026-12-05T00:00:00Z"]})
    _suite_intro(tmp_path, "toy", df, [], md)
    line = next(m for m in md if m.startswith("Seeds without results"))
    assert "vicreg · cora · 60ep: 3 of 3 seed(s) collapsed" in line
    assert "moco_v3 · cora · 60ep: 2 of 3 seed(s) collapsed or failed" in line

    # a later publish of a store where vicreg's seeds finished takes its entry out, keeps moco_v3's
    publish_unfinished(_Jobs([_job("vicreg", s, "done") for s in (0, 1, 2)]), "toy", tmp_path, log=print)
    assert [r["method"] for r in read_unfinished(tmp_path / "toy")] == ["moco_v3"]
    # and once nothing is unfinished the file goes
    publish_unfinished(_Jobs([_job("moco_v3", s, "done") for s in (0, 1, 2)]), "toy", tmp_path, log=print)
    assert not (tmp_path / "toy" / UNFINISHED_FILE).exists()


def test_seeds_of_a_superseded_setting_are_not_the_cells(tmp_path):
    """A tuned setting replaces the default: the default's collapsed seeds leave the cell, as its
    results leave the tables; the current setting's own collapses are still listed."""

    def job(seed, status, config, at):
        return _job("moco_v3", seed, status, "rankme") | {"group_hash": config, "created_at": at}

    old = [
        job(0, "done", "default", "T01"),
        job(1, "collapsed", "default", "T01"),
        job(2, "collapsed", "default", "T02"),
    ]
    tuned = [job(s, "done", "lr x 0.5", "T05") for s in (0, 1, 2)]
    publish_unfinished(_Jobs(old + tuned), "toy", tmp_path, log=lambda m: None)
    assert read_unfinished(tmp_path / "toy") == []
    tuned[2] = job(2, "collapsed", "lr x 0.5", "T06")
    publish_unfinished(_Jobs(old + tuned), "toy", tmp_path, log=lambda m: None)
    (row,) = read_unfinished(tmp_path / "toy")
    assert (row["seeds_done"], row["seeds_collapsed"]) == ("2", "1")


def test_a_newer_budget_supersedes_the_older_budgets_entry(tmp_path):
    """The suite moved a method to a longer budget: the old budget's collapses leave the file (its
    rows leave the tables as superseded), in this store and in what an earlier publish wrote."""

    def job(seed, status, budget, at, method="vicreg"):
        return _job(method, seed, status, "rankme") | {"pretrain_budget": budget, "created_at": at}

    short = [job(s, "collapsed", "50ep", "T01") for s in (0, 1, 2)]
    other = [job(s, "collapsed", "50ep", "T01", method="swav") for s in (0, 1, 2)]
    publish_unfinished(_Jobs(short + other), "toy", tmp_path, log=lambda m: None)
    assert {(r["method"], r["pretrain_budget"]) for r in read_unfinished(tmp_path / "toy")} == {
        ("vicreg", "50ep"),
        ("swav", "50ep"),
    }
    long = [job(s, "collapsed", "200ep", "T05") for s in (0, 1, 2)]
    publish_unfinished(_Jobs(short + long), "toy", tmp_path, log=lambda m: None)
    # vicreg: only the current budget's entry; swav (not in this store): its entry stays
    assert {(r["method"], r["pretrain_budget"]) for r in read_unfinished(tmp_path / "toy")} == {
        ("vicreg", "200ep"),
        ("swav", "50ep"),
    }
    # once the newer budget's seeds all finish, neither budget of vicreg is listed
    done = [job(s, "done", "200ep", "T09") for s in (0, 1, 2)]
    publish_unfinished(_Jobs(short + done), "toy", tmp_path, log=lambda m: None)
    left = {(r["method"], r["pretrain_budget"]) for r in read_unfinished(tmp_path / "toy")}
    assert left == {("swav", "50ep")}
    # a transfer budget (pretrained elsewhere) is another source, never a newer budget of in-domain
    moved = [job(s, "collapsed", "20ep@proteins", "T12") for s in (0, 1, 2)]
    publish_unfinished(_Jobs(long + moved), "toy", tmp_path, log=lambda m: None)
    left = {(r["method"], r["pretrain_budget"]) for r in read_unfinished(tmp_path / "toy")}
    assert left == {("swav", "50ep"), ("vicreg", "200ep"), ("vicreg", "20ep@proteins")}
