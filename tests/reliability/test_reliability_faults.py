"""Training faults: a NaN loss marks the job failed and a collapsed representation marks it collapsed,
with its reason in the store; the suite goes on, each such job gets one console line, the run exits
non-zero, and `report` shows those cells as 'failed' / 'collapsed', never as numbers. Runs on the
synthetic toy adapter (tests/_protocol_toys.py), so it needs no dataset installed."""

import json
import sqlite3

import pandas as pd
import pytest
from _protocol_toys import registered

from benchmark.cli import main

METHOD_FILE = """
import torch
from methods.base import Method, register_method


@register_method
class RelNanLoss(Method):
    name = "rel_nan_loss"
    family = "test"
    defaults = {}

    def training_step(self, x, y, view):
        return self.encoder(view(x)).mean() * float("nan")


@register_method
class RelInfLoss(Method):
    name = "rel_inf_loss"
    family = "test"
    defaults = {}

    def training_step(self, x, y, view):
        return self.encoder(view(x)).mean() * 0 + float("inf")


@register_method
class RelCollapse(Method):
    name = "rel_collapse"
    family = "test"
    defaults = {}

    def training_step(self, x, y, view):
        return self.encoder(view(x)).pow(2).mean()

    @torch.no_grad()
    def embed(self, x):  # every sample maps to the same point
        return torch.ones(len(x), 8)


@register_method
class RelRankOne(Method):
    name = "rel_rank_one"
    family = "test"
    defaults = {}

    def training_step(self, x, y, view):
        return self.encoder(view(x)).pow(2).mean()

    @torch.no_grad()
    def embed(self, x):  # two points, one direction apart: std well above 1e-4, RankMe ~ 1.7 (< 2)
        z = self.encoder(x)
        out = torch.zeros(len(x), z.shape[1])
        out[:, 0] = 1.0
        out[:, 1] = 0.3 * torch.where(z[:, 0] > z[:, 0].median(), 1.0, -1.0)
        return out
"""

SUITE = """name: rel_faults
datasets:
  - name: toy_blobs_a
    max_train: 100
    max_val: 50
    max_test: 50
methods: [rel_nan_loss, rel_inf_loss, rel_collapse, rel_rank_one, random_init]
seeds: [0]
fractions: [1.0]
probes: [knn]
pretrain: {epochs: 1, batch_size: 32}
"""


@pytest.fixture
def registered_cleanup():
    from benchmark.orchestration import method_files
    from methods.base import METHODS

    with registered():  # the toy adapters, for this test only
        yield
    for n in ("rel_nan_loss", "rel_inf_loss", "rel_collapse", "rel_rank_one"):
        METHODS.unregister(n)
        method_files._LOADED.pop(n, None)


def test_faults_fail_their_jobs_suite_goes_on_report_shows_failed(tmp_path, capsys, registered_cleanup):
    mf = tmp_path / "faulty.py"
    mf.write_text(METHOD_FILE)
    suite = tmp_path / "rel_faults.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    data = tmp_path / "data"
    data.mkdir()
    rc = main(
        [
            "run",
            "--suite",
            str(suite),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--no-progress",
            "--device",
            "cpu",
            "--method-file",
            str(mf),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "ran 5, skipped 0, failed 4" in err and "Traceback" not in err
    # one line per job, as it happens (training faults have no traceback to log)
    assert "FAILED rel_nan_loss × toy_blobs_a × seed 0: non-finite loss nan" in err
    assert "FAILED rel_inf_loss × toy_blobs_a × seed 0: non-finite loss inf" in err
    assert "COLLAPSED rel_collapse × toy_blobs_a × seed 0: representation collapsed: per-dimension std" in err
    assert "COLLAPSED rel_rank_one × toy_blobs_a × seed 0: representation collapsed: rankme 1." in err
    assert sum(line.startswith(("FAILED", "COLLAPSED")) for line in err.splitlines()) == 4

    c = sqlite3.connect(out / "store.sqlite")
    jobs = {m: (s, e, h) for m, s, e, h in c.execute("SELECT method, status, error, history_json FROM jobs")}
    assert jobs["random_init"][:2] == ("done", None)
    assert jobs["rel_nan_loss"][0] == "failed" and "non-finite loss" in jobs["rel_nan_loss"][1]
    assert jobs["rel_collapse"][0] == "collapsed" and "collapsed" in jobs["rel_collapse"][1]
    assert jobs["rel_rank_one"][0] == "collapsed"
    flag = json.loads(jobs["rel_rank_one"][2])["collapsed"]  # the stats behind the verdict, kept
    assert (
        flag["rankme"] < 2
        and flag["embedding_std"] > 1e-4
        and flag["dim"] == 128
        and "rankme" in flag["reason"]
    )
    # failed and collapsed jobs have no result rows: no number can leak into a table
    assert (
        c.execute(
            "SELECT count(*) FROM results r JOIN jobs j USING (config_hash) WHERE j.status!='done'"
        ).fetchone()[0]
        == 0
    )

    assert main(["report", "--suite", "rel_faults", "--out", str(out)]) == 0
    md = (out / "label_fraction.md").read_text()
    for m, status in (
        ("rel_nan_loss", "failed"),
        ("rel_inf_loss", "failed"),
        ("rel_collapse", "collapsed"),
        ("rel_rank_one", "collapsed"),
    ):
        row = next(line for line in md.splitlines() if line.startswith(f"| {m} |"))
        cells = [x.strip() for x in row.strip("|").split("|")[1:]]
        assert cells and all(x == status for x in cells), row
    ri = next(line for line in md.splitlines() if line.startswith("| random_init |"))
    assert "(n=1)" in ri and "±" not in ri and "failed" not in ri  # one seed: no spread shown
    csv = pd.read_csv(out / "label_fraction.csv")
    assert set(csv["method"]) == {"random_init"}

    # a rerun retries only the failed jobs, which fail again the same way
    rc = main(
        [
            "run",
            "--suite",
            str(suite),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--no-progress",
            "--device",
            "cpu",
            "--method-file",
            str(mf),
        ]
    )
    assert rc == 1 and "ran 4, skipped 1, failed 4" in capsys.readouterr().err


def test_markdown_failed_cells_when_every_method_failed():
    from benchmark.reporting.tables import LONG_COLUMNS, label_fraction_markdown

    md = label_fraction_markdown(pd.DataFrame(columns=LONG_COLUMNS), {}, {"digits": {"simclr"}})
    assert "### digits" in md and "| simclr | failed |" in md


def test_markdown_shows_collapsed_cells_and_pads_a_dataset_with_no_results():
    from benchmark.reporting.tables import LONG_COLUMNS, label_fraction_markdown

    md = label_fraction_markdown(
        pd.DataFrame(columns=LONG_COLUMNS), {}, {"digits": {"simclr": "collapsed", "byol": "failed"}}
    )
    assert "| method | result |\n|---|---:|\n" in md  # header, separator and rows have one column
    assert "| byol | failed |" in md and "| simclr | collapsed |" in md
