"""`benchmarks/device_throughput.py --limit` (issue #32): the bare training step on a device-resident
batch with views made once and replayed. On CPU: it trains (a finite loss), and after the warm-up
no view is generated and no batch is gathered, so it times the step alone. And
benchmarks/gpu_check.sh, the prepared GPU session that runs it, in its CPU dry mode."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from tests._protocol_toys import ToyA

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "device_throughput", ROOT / "benchmarks" / "device_throughput.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _CountingToy(ToyA):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.view_calls = self.batch_calls = 0

    def views(self, x, generator):
        self.view_calls += 1
        return super().views(x, generator)

    def batch(self, split, idx):
        self.batch_calls += 1
        return super().batch(split, idx)


def test_limit_replays_device_resident_views_and_trains():
    dt = _load()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = _CountingToy()
        split = a.splits()["train"]
        r = dt.measure_limit(a, split, torch.arange(400), torch.device("cpu"), "off", 32, steps=6, warmup=2)
        # one counting step + 2 warm-up steps make views (SimCLR: 2 per step); the 6 timed steps none
        assert a.view_calls == 2 + 2 * 2
        assert a.batch_calls == 1  # the one batch, gathered once
        assert r["pairs_per_s"] > 0 and r["step_ms"] > 0 and torch.isfinite(torch.tensor(r["final_loss"]))
    finally:
        torch.set_num_threads(threads)


def test_replay_cycles_the_recorded_views_in_order():
    dt = _load()
    made = iter(range(100))

    class _Fake:
        multi_crop = False

        def __call__(self, x, policy=None):
            return next(made)

    replay = dt._Replay(_Fake(), n=4)
    assert [replay(None) for _ in range(10)] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


# ---- benchmarks/gpu_check.sh: the prepared GPU session, checked here in its CPU dry mode ----------
def test_gpu_check_script_parses():
    import subprocess

    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], check=True)


@pytest.mark.slow
def test_gpu_check_dry_run_fills_its_table(tmp_path, fmnist_dir):
    import os
    import subprocess

    env = {**os.environ, "OUT": str(tmp_path), "GPU_CHECK_DRY": "1", "PYTHON": sys.executable}
    r = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert r.returncode == 0, r.stderr
    report = (tmp_path / "gpu_check_report.txt").read_text()
    rows = {
        line.split()[0]: line.split()[1] for line in report.split("measurement\n")[1].splitlines() if line
    }
    assert rows == {
        "throughput_small": "ok",
        "throughput_compile": "ok",
        "throughput_resnet18": "ok",
        "throughput_encoders": "ok",
        "methods_local": "ok",
        "methods_jobs_per_gpu_4": "ok",
        "projection": "ok",
    }, report
    assert "2/2 jobs done" in report and "usage error as expected" in report
    assert "compiled loop" in report and "compiled limit" in report  # compiled / eager, both measured
    assert "fashion_mnist:simclr ours/limit" in report  # the per-encoder ours / limit
    assert "h one job at a time" in report  # the suite's projected time from the grid's job times
    assert (tmp_path / "gpu_check_runs" / "methods_local" / "store.sqlite").exists()
