"""`benchmarks/sync_report.py`: per method, the synchronizing operations per training step that a run
made with SSLBENCH_SYNC_DEBUG=1 recorded in its store (issue #32), on a hand-made store."""

from pathlib import Path

import pytest
from _benchmark_scripts import load_script

from benchmark.orchestration.store import JOB_FIELDS, ResultStore


@pytest.fixture(scope="module")
def sr():
    return load_script("sync_report")


def _store(path: Path, jobs: list[tuple[str, str, dict]]) -> Path:
    store = ResultStore(path)
    for i, (method, status, history) in enumerate(jobs):
        job = {k: "x" for k in JOB_FIELDS} | {"config_hash": f"h{i}", "method": method, "seed": 0}
        store.record({**job, "config": {}}, [], status=status, history=history)
    store.close()
    return path


def _epochs(*syncs, site=None):
    """Epoch records with these counts, all at `site` when given."""
    return [
        {"epoch": i + 1, "host_syncs": n, "host_sync_sites": {site: n} if site and n else {}}
        for i, n in enumerate(syncs)
    ]


def test_syncs_per_step_by_method_with_their_lines(sr, tmp_path):
    site = "methods/mixmatch.py:120"
    jobs = [
        ("simclr", "done", {"pretrain": {"steps": 20, "epochs": _epochs(0, 0)}, "timing": {"train_s": 1}}),
        # one model per label fraction: both runs count
        ("mixmatch", "done", {"fraction=0.1": {"steps": 10, "epochs": _epochs(3, 3, site=site)}}),
        ("mixmatch", "done", {"fraction=1": {"steps": 10, "epochs": _epochs(2, 2, site=site)}}),
        ("byol", "failed", {"pretrain": {"steps": 10, "epochs": _epochs(9)}}),  # not finished
        ("random_init", "done", {"timing": {"train_s": 0}}),  # trains nothing
        ("vicreg", "done", {"pretrain": {"steps": 10, "epochs": [{"epoch": 1}]}}),  # counts not recorded
    ]
    lines = sr.report(_store(tmp_path / "store.sqlite", jobs))
    assert lines[0].split()[:3] == ["mixmatch", "0.50", "per"]  # 10 syncs in 20 steps
    assert "methods/mixmatch.py:120 ×10" in lines[0]
    assert lines[1].split()[:2] == ["simclr", "0.00"]
    summary, values = lines[-1].split("\t")
    assert summary == "sync-free steps: 1 of 2 methods; waits in mixmatch 0.50/step"
    assert values == "sync_free=1;trained=2"


def test_a_resumed_run_counts_only_the_steps_of_the_epochs_it_watched(sr, tmp_path):
    run = {"steps": 30, "epochs": [{"epoch": 1}, *_epochs(4, 2)]}  # epoch 1 ran before the resume
    (m,) = sr.method_syncs(_store(tmp_path / "s.sqlite", [("simclr", "done", {"pretrain": run})])).values()
    assert m["syncs"] == 6 and m["steps"] == 20


def test_a_store_without_counts_says_how_to_get_them(sr, tmp_path, capsys):
    path = _store(tmp_path / "s.sqlite", [("simclr", "done", {"pretrain": {"steps": 5, "epochs": [{}]}})])
    assert sr.main([str(path)]) == 0
    assert "not measured" in capsys.readouterr().out and "SSLBENCH_SYNC_DEBUG=1" in sr.report(path)[0]
    assert sr.main([str(tmp_path / "none.sqlite")]) == 2
