"""`benchmarks/gpu_projection.py` (issue #32): the suite's projected GPU time from the measured grid
and the per-encoder factors, checked on a hand-computed case; and `benchmarks/gpu_table.py`, which
writes a gpu_check.sh run into docs/performance.md."""

import json
import sqlite3
from pathlib import Path

import pytest
from _benchmark_scripts import load_script


@pytest.fixture(scope="module")
def gp():
    return load_script("gpu_projection")


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


def test_an_unmeasured_dataset_takes_the_factor_of_one_with_its_input_spec(gp, tmp_path, monkeypatch):
    costs = gp.method_costs(_grid_store(tmp_path / "store.sqlite"))
    suite_file = tmp_path / "s.yaml"
    entries = "".join(
        f"  - name: {d}\n    max_train: 4000\n    epochs: 40\n"
        for d in ("speech_commands", "breastmnist", "ecg200")
    )
    suite_file.write_text(
        f"name: s\ndatasets:\n{entries}methods: [simclr]\nseeds: [0]\nfractions: [1.0]\nprobes: [linear]\n"
        "protocols: [label_fraction]\n"
    )
    monkeypatch.setattr(gp, "split_sizes", lambda name, data_dir, options: (60000, 6000, 10000))
    from benchmark.orchestration.suites import load_suite

    tot = gp.project(load_suite(str(suite_file)), costs, {"fashion_mnist": 0.5, "fsdd": 2.0}, None)
    # Speech Commands' log-mel input is FSDD's, BreastMNIST's 28 × 28 gray image Fashion-MNIST's;
    # ECG200's series matches none: the largest factor. Each job costs 48 s × its factor.
    assert tot["shared"] == {"speech_commands": "fsdd", "breastmnist": "fashion_mnist"}
    assert tot["unmeasured"] == {"ecg200"}
    assert tot["by_dataset"] == pytest.approx({"speech_commands": 96.0, "breastmnist": 24.0, "ecg200": 96.0})


def test_a_method_the_grid_cannot_measure_costs_the_costliest_measured_method(gp, tmp_path, monkeypatch):
    costs = gp.method_costs(_grid_store(tmp_path / "store.sqlite"))
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(
        "name: s\ndatasets:\n  - name: cora\n    epochs: 40\nmethods: [simclr, dgi, byol]\nseeds: [0]\n"
        "fractions: [1.0]\nprobes: [linear]\nprotocols: [label_fraction]\n"
    )
    monkeypatch.setattr(gp, "split_sizes", lambda name, data_dir, options: (4000, 500, 1000))
    from benchmark.orchestration.suites import load_suite

    suite = load_suite(str(suite_file))
    # BYOL runs on images: the grid should have measured it, and a projection without it is refused
    with pytest.raises(SystemExit, match="no finished fashion_mnist job of byol"):
        gp.project(suite, costs, {"fashion_mnist": 1.0, "cora": 1.0}, None)
    costs["byol"] = costs["simclr"]
    tot = gp.project(suite, costs, {"fashion_mnist": 1.0, "cora": 1.0}, None)
    # DGI runs on node tasks only: SimCLR's job stands in, so all three Cora jobs cost the same
    assert tot["proxied"] == {"dgi": "simclr"} and tot["jobs"] == 3
    # training 10 s × (40 × 4,000) / (20 × 2,000) = 40 s; embedding and evaluation
    # (1 + 1) s × (4,000 + 500 + 1,000) / 5,000 = 2.2 s
    assert tot["seconds"] == pytest.approx(3 * 42.2)


# ---- benchmarks/gpu_table.py: docs/performance.md's GPU table from a gpu_check.sh run --------------
def _gpu_check_out(tmp_path: Path, dry: str) -> Path:
    out = tmp_path / f"out{dry}"
    (out / "gpu_check_logs").mkdir(parents=True)
    (out / "gpu_check_logs" / "00_info.log").write_text(
        f"date: 2026-12-06T10:00:00Z\nhost: node7  dry: {dry}  device: cuda  budget: 470s  data: /d\n"
        "git: abc1234\n0, NVIDIA H200, 143771 MiB, 570.86\n"
        "torch 2.11.0+cu130 cuda 13.0 available True devices 1 NVIDIA H200\n"
    )
    (out / "gpu_check_rows.tsv").write_text(
        "throughput_small\tok\t61\toff loop 90000/s, off limit 100000/s (90%);  GPU util mean 71 %\n"
        "projection\tok\t12\tstandard: 408 jobs projected: 1.50 h one job at a time\n"
    )
    return out


def test_the_gpu_table_is_written_between_its_markers(tmp_path):
    gt = load_script("gpu_table")
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\n{gt.START} (generated) -->\nNot measured yet.\n{gt.END}\n\ntail\n")
    gt.main([str(_gpu_check_out(tmp_path, "0")), "--into", str(doc)])
    text = doc.read_text()
    assert "Not measured yet" not in text and text.endswith(f"{gt.END}\n\ntail\n")
    assert "on NVIDIA H200 (143771 MiB, driver 570.86), 2026-12-06T10:00:00Z, commit abc1234" in text
    assert "| throughput_small | ok | 61 | off loop 90000/s" in text
    assert "| projection | ok | 12 | standard: 408 jobs projected: 1.50 h one job at a time |" in text
    with pytest.raises(SystemExit, match="dry run"):  # a CPU dry run measured no GPU
        gt.main([str(_gpu_check_out(tmp_path, "1")), "--into", str(doc)])


def test_a_dataset_without_files_is_sized_by_its_published_split_sizes_or_refused(gp, tmp_path):
    from benchmark.core.errors import DataError

    # Speech Commands v0.02 publishes its 35-word split: 84,843 / 9,981 / 11,005 clips
    assert gp.split_sizes("speech_commands", tmp_path, {}) == (84843, 9981, 11005)
    assert "speech_commands" in gp.PUBLISHED
    with pytest.raises(DataError):  # the 12-class variant adds silence crops of its own: no published size
        gp.split_sizes("speech_commands", tmp_path, {"classes": 12})
    with pytest.raises(DataError):  # never a download, and no published size to fall back on
        gp.split_sizes("fsdd", tmp_path, {})
