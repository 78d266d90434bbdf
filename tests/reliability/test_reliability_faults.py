"""Training faults: a NaN loss or a collapsed representation marks the job failed with its reason in
the store, the suite goes on, the run exits non-zero with a summary, and `report` shows the failed
cells as 'failed', never as numbers. Runs on the synthetic toy adapter (tests/_protocol_toys.py), so
it needs no dataset installed."""

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
"""

SUITE = """name: rel_faults
datasets:
  - name: toy_blobs_a
    max_train: 100
    max_val: 50
    max_test: 50
methods: [rel_nan_loss, rel_inf_loss, rel_collapse, random_init]
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
    for n in ("rel_nan_loss", "rel_inf_loss", "rel_collapse"):
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
    assert "ran 4, skipped 0, failed 3" in err and "failed jobs:" in err
    summary = err.split("failed jobs:")[1]
    assert "rel_nan_loss × toy_blobs_a × seed 0: non-finite loss nan" in summary
    assert "rel_inf_loss × toy_blobs_a × seed 0: non-finite loss inf" in summary
    assert "rel_collapse × toy_blobs_a × seed 0: representation collapsed" in summary

    c = sqlite3.connect(out / "store.sqlite")
    jobs = {m: (s, e) for m, s, e in c.execute("SELECT method, status, error FROM jobs")}
    assert jobs["random_init"] == ("done", None)
    assert jobs["rel_nan_loss"][0] == "failed" and "non-finite loss" in jobs["rel_nan_loss"][1]
    assert jobs["rel_collapse"][0] == "failed" and "collapsed" in jobs["rel_collapse"][1]
    # failed jobs have no result rows: no number can leak into a table
    assert (
        c.execute(
            "SELECT count(*) FROM results r JOIN jobs j USING (config_hash) WHERE j.status='failed'"
        ).fetchone()[0]
        == 0
    )

    assert main(["report", "--suite", "rel_faults", "--out", str(out)]) == 0
    md = (out / "label_fraction.md").read_text()
    for m in ("rel_nan_loss", "rel_inf_loss", "rel_collapse"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {m} |"))
        cells = [x.strip() for x in row.strip("|").split("|")[1:]]
        assert cells and all(x == "failed" for x in cells), row
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
    assert rc == 1 and "ran 3, skipped 1, failed 3" in capsys.readouterr().err


def test_markdown_failed_cells_when_every_method_failed():
    from benchmark.reporting.tables import LONG_COLUMNS, label_fraction_markdown

    md = label_fraction_markdown(pd.DataFrame(columns=LONG_COLUMNS), {}, {"digits": {"simclr"}})
    assert "### digits" in md and "| simclr | failed |" in md
