"""Crash safety, resume and determinism on real Fashion-MNIST with tiny caps.

A suite is SIGKILLed at seeded random points (≥ 5 times) and rerun each time; the final tables must
equal those of an uninterrupted run, with no duplicate or missing rows. A truncated checkpoint or
cache file is discarded and recomputed, never trusted. The same suite and seed run twice gives
identical metrics.
"""

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark.core.io import safe_torch_load
from benchmark.evaluation.embeddings import EmbeddingCache
from benchmark.models.encoders import encoder_for
from benchmark.orchestration.jobs import expand
from benchmark.orchestration.runner import run_jobs
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import parse_suite
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import get_adapter
from methods.base import get_method_class

ROOT = Path(__file__).resolve().parents[2]

SUITE_YAML = """name: rel_crash
datasets:
  - name: fashion_mnist
    max_train: 200
    max_val: 100
    max_test: 100
methods: [simclr, random_init]
seeds: [0, 1]
fractions: [0.1, 1.0]
probes: [knn]
pretrain: {epochs: 2, batch_size: 32}
"""
N_JOBS = 4


def _cmd(suite: Path, out: Path, data: Path):
    return [
        sys.executable,
        str(ROOT / "run_benchmark.py"),
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
    ]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _tables(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out / "label_fraction.csv")
    df = df.drop(columns=["created_at", "code_version"])  # when, and at which commit, may differ
    return df.sort_values(["method", "probe", "fraction", "metric"]).reset_index(drop=True)


def _store_rows(out: Path):
    c = sqlite3.connect(out / "store.sqlite")
    jobs = c.execute("SELECT config_hash, method, seed, status FROM jobs ORDER BY config_hash").fetchall()
    rows = c.execute(
        "SELECT config_hash, protocol, probe, fraction, metric, value FROM results "
        "ORDER BY config_hash, protocol, probe, fraction, metric"
    ).fetchall()
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()
    return jobs, rows


@pytest.fixture(scope="module")
def setup(fmnist_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    suite = tmp / "rel_crash.yaml"
    suite.write_text(SUITE_YAML)
    data = tmp / "data"
    data.mkdir()
    t0 = time.monotonic()
    r = subprocess.run(
        _cmd(suite, tmp / "clean", data), capture_output=True, text=True, env=_env(), timeout=900
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp, suite, data, time.monotonic() - t0


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_uninterrupted(setup):
    tmp, suite, data, clean_s = setup
    out = tmp / "killed"
    rng = random.Random(20260126)  # deterministic kill points
    kills = attempts = 0
    while kills < 5:
        attempts += 1
        assert attempts <= 15, f"only {kills} kills landed in {attempts - 1} attempts"
        p = subprocess.Popen(
            _cmd(suite, out, data),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_env(),
            start_new_session=True,
        )
        delay = rng.uniform(0.15, 0.45) * clean_s
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            kills += 1
        else:
            assert p.returncode == 0, p.stderr.read().decode()[-3000:]
            rng = random.Random(rng.random())  # finished before the kill: earlier points next time
            clean_s *= 0.5
        finally:
            p.stderr.close()
    r = subprocess.run(_cmd(suite, out, data), capture_output=True, text=True, env=_env(), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r"ran (\d+), skipped (\d+), failed (\d+)", r.stderr)
    assert m and int(m.group(1)) + int(m.group(2)) == N_JOBS and m.group(3) == "0", r.stderr[-2000:]

    # same values, same rows, nothing duplicated or missing
    pd.testing.assert_frame_equal(_tables(out), _tables(tmp / "clean"), check_exact=True)
    jobs_k, rows_k = _store_rows(out)
    jobs_c, rows_c = _store_rows(tmp / "clean")
    assert jobs_k == jobs_c and len(jobs_k) == N_JOBS and {j[3] for j in jobs_k} == {"done"}
    assert rows_k == rows_c and len(rows_k) == len(set(r[:5] for r in rows_k))
    # every checkpoint and cache file on disk is complete (never half-written under its real name)
    for f in list((out / "checkpoints").glob("*.pt")) + list((out / "cache").rglob("*.pt")):
        assert isinstance(safe_torch_load(f), dict), f


@pytest.mark.slow
def test_same_suite_and_seed_twice_gives_identical_metrics(setup, tmp_path):
    tmp, suite, data, _ = setup
    # a second uninterrupted run, in-process this time, of the simclr jobs
    s = parse_suite(__import__("yaml").safe_load(SUITE_YAML), "rel_crash")
    jobs = [j for j in expand(s) if j.method == "simclr"]
    store = ResultStore(tmp_path / "store.sqlite")
    summary = run_jobs(
        jobs, store, data, tmp_path, torch.device("cpu"), log=lambda m: None, show_progress=False
    )
    assert summary["ran"] == 2 and not summary["failed"]
    a = store.frame("rel_crash").sort_values(["seed", "probe", "fraction", "metric"])
    b = ResultStore(tmp / "clean" / "store.sqlite").frame("rel_crash")
    b = b[b["method"] == "simclr"].sort_values(["seed", "probe", "fraction", "metric"])
    assert len(a) == len(b) > 0
    assert a["value"].tolist() == b["value"].tolist()  # bit-identical, not approximately equal
    assert a["config_hash"].tolist() == b["config_hash"].tolist()


def _simclr(a):
    torch.manual_seed(0)
    return get_method_class("simclr")(encoder_for(a), a.spec, a.task)


@pytest.mark.slow
def test_truncated_checkpoint_is_discarded_and_retrained(fmnist_dir, tmp_path):
    a = get_adapter("fashion_mnist", data_dir=tmp_path)
    split = a.splits()["train"]
    pool = torch.arange(96)
    cfg = dict(batch_size=32, lr=1e-3, weight_decay=1e-6, seed=0)
    fresh = _simclr(a)
    pretrain(fresh, a, split, pool, PretrainConfig(epochs=2, **cfg), tmp_path / "fresh.pt")

    ck = tmp_path / "damaged.pt"
    pretrain(_simclr(a), a, split, pool, PretrainConfig(epochs=1, **cfg), ck)
    data = ck.read_bytes()
    for damaged in (data[: len(data) // 2], b"", b"not a checkpoint at all"):
        ck.write_bytes(damaged)
        m = _simclr(a)
        hist = pretrain(m, a, split, pool, PretrainConfig(epochs=2, **cfg), ck)  # no crash: retrained
        assert [e["epoch"] for e in hist["epochs"]] == [1, 2]
        for (k, v1), v2 in zip(fresh.state_dict().items(), m.state_dict().values()):
            assert torch.equal(v1, v2), k
        assert safe_torch_load(ck)["epoch"] == 2  # replaced by a complete checkpoint


def test_truncated_embedding_cache_file_is_recomputed(tmp_path):
    cache = EmbeddingCache(tmp_path)
    key = {"model": "m", "split": "test"}
    feats = torch.randn(5, 3)
    cache.get_or_compute(key, lambda: feats)
    path = cache.path(key)
    path.write_bytes(path.read_bytes()[:40])
    again = cache.get_or_compute(key, lambda: feats * 2)
    assert torch.equal(again, feats * 2) and torch.equal(safe_torch_load(path)["features"], feats * 2)


def test_output_writers_are_atomic():
    """Tables, leaderboards, checkpoints and the embedding cache write only through benchmark/core/io.py."""
    for rel in (
        "benchmark/reporting/tables.py",
        "benchmark/reporting/protocol_tables.py",
        "benchmark/reporting/leaderboard/publish.py",
        "benchmark/reporting/leaderboard/pages.py",
        "benchmark/training/pretrain.py",
        "benchmark/evaluation/embeddings.py",
        "benchmark/reporting/plots.py",
    ):
        src = (ROOT / rel).read_text()
        assert "from benchmark.core.io import" in src, rel
        for bad in ("torch.save(", ".to_csv(path", "write_text(", "open(" + "'w'", 'open("w"'):
            assert bad not in src.replace("atomic_write_text(", ""), (rel, bad)
    io_src = (ROOT / "benchmark/core/io.py").read_text()
    assert "os.replace(tmp, path)" in io_src and "os.fsync" in io_src
