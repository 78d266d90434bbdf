"""`benchmarks/gpu_projection.py` (issue #32): the suite's projected GPU time from the measured grid
and the per-encoder factors, checked on a hand-computed case."""

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gp():
    spec = importlib.util.spec_from_file_location("gpu_projection", ROOT / "benchmarks" / "gpu_projection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _grid_store(path: Path) -> Path:
    """One finished SimCLR job on Fashion-MNIST: 20 epochs × 2,000 train, 5,000 images embedded."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE jobs (method TEXT, dataset TEXT, status TEXT, config_json TEXT, history_json TEXT)"
    )
    cfg = {"epochs": 20, "fractions": [0.1, 1.0], "max_train": 2000, "max_val": 1000, "max_test": 2000}
    hist = {
        "pretrain": {"steps": 140},
        "timing": {"train_s": 10.0, "embed_s": 1.0, "eval_s": {"label_fraction": 1.0}},
    }
    rows = [("simclr", "fashion_mnist", "done", cfg, hist), ("simclr", "cora", "done", cfg, hist)]
    rows.append(("byol", "fashion_mnist", "failed", cfg, hist))  # not finished: not a measurement
    con.executemany(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?)",
        [(*r[:3], json.dumps(r[3]), json.dumps(r[4])) for r in rows],
    )
    con.commit()
    con.close()
    return path


def test_the_encoder_factor_is_simclrs_loop_speed_ratio(gp):
    log = (
        "torch 2.11, NVIDIA H200, batch 256, 30 steps × 1 repeats; pairs/s as median (min–max)\n"
        "fashion_mnist:simclr      limit   90000 (90000–90000)  ours   60000 (60000–60000)"
        "  | ours/limit 0.67\n"
        "adult:simclr              limit  400000 (400000–400000)  ours  240000 (240000–240000)"
        "  | ours/limit 0.60\n"
        "cora:simclr: dataset not registered, skipped\n"
    )
    assert gp.encoder_factors(log) == {"fashion_mnist": 1.0, "adult": 0.25}
    with pytest.raises(SystemExit, match="fashion_mnist:simclr"):
        gp.encoder_factors(log.replace("fashion_mnist:simclr ", "x:simclr "))


def test_a_job_is_its_methods_measured_job_scaled_by_samples_images_and_encoder(gp, tmp_path, monkeypatch):
    costs = gp.method_costs(_grid_store(tmp_path / "store.sqlite"))
    assert set(costs) == {"simclr"} and costs["simclr"]["models"] == 1
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(
        "name: s\ndatasets:\n  - name: fashion_mnist\n    max_train: 4000\n    epochs: 40\n"
        "methods: [simclr]\nseeds: [0, 1]\nfractions: [1.0]\nprobes: [linear]\nprotocols: [label_fraction]\n"
    )
    monkeypatch.setattr(gp, "split_sizes", lambda name, data_dir, options: (60000, 6000, 10000))
    from benchmark.orchestration.suites import load_suite

    tot = gp.project(load_suite(str(suite_file)), costs, {"fashion_mnist": 0.5}, None)
    # per seed: training 10 s × (40 × 4,000) / (20 × 2,000) = 40 s; embedding and evaluation
    # (1 + 1) s × (4,000 + 6,000 + 10,000) / 5,000 = 8 s; × the encoder factor 0.5 = 24 s
    assert tot["jobs"] == 2 and tot["seconds"] == pytest.approx(2 * 24.0)
