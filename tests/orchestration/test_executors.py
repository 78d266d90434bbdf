"""Executors give the same stored metrics as the sequential loop: a 6-job grid on real Fashion-MNIST
through `run --executor local|process|ray|slurm` (Ray: a real local cluster on loopback; SLURM:
submitit's LocalExecutor). Threads per job are pinned to 1 everywhere: on CPU the number of
intra-op threads changes the floating-point reduction order (see benchmark/orchestration/executors.py)."""

import shutil
from pathlib import Path

import pytest
import yaml

from benchmark.cli import main
from benchmark.orchestration.executors import ExecutorOptions, options_from, run_grid, worker_device
from benchmark.orchestration.jobs import Job, expand
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import UsageError, parse_suite

GRID = {
    "name": "exec_grid",
    "datasets": [{"name": "fashion_mnist", "max_train": 320, "max_val": 100, "max_test": 200}],
    "methods": ["simclr", "random_init", "supervised"],
    "seeds": [0, 1],
    "fractions": [0.25, 1.0],
    "probes": ["linear", "knn"],
    "pretrain": {"epochs": 1, "batch_size": 64},
}


def _metrics(out):
    df = ResultStore(out / "store.sqlite").frame("exec_grid")
    cols = ["config_hash", "method", "seed", "protocol", "probe", "fraction", "metric", "value"]
    return sorted(tuple(r) for r in df[cols].itertuples(index=False))


def _run(tmp, name, *extra):
    out = tmp / name
    argv = [
        "run",
        "--suite",
        str(tmp / "grid.yaml"),
        "--out",
        str(out),
        "--data-dir",
        str(tmp / "data"),
        "--device",
        "cpu",
        "--no-progress",
        "--threads-per-job",
        "1",
        *extra,
    ]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def grid(fmnist_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("executors")
    (tmp / "data").mkdir()
    (tmp / "grid.yaml").write_text(yaml.safe_dump(GRID))
    out = _run(tmp, "local", "--executor", "local")
    ref = _metrics(out)
    assert len({r[0] for r in ref}) == 6  # six jobs, all done
    return tmp, ref


def test_process_pool_equals_local_and_resumes(grid):
    tmp, ref = grid
    out = _run(tmp, "process", "--executor", "process", "--workers", "2")
    assert _metrics(out) == ref
    # resume: every job is done, nothing runs again
    store = ResultStore(out / "store.sqlite")
    jobs = expand(parse_suite(GRID, "grid"))
    summary = run_grid(
        "process",
        jobs,
        store,
        tmp / "data",
        out,
        "cpu",
        log=lambda m: None,
        show_progress=False,
        options=ExecutorOptions(workers=2, threads_per_job=1),
    )
    assert summary["ran"] == 0 and summary["skipped"] == 6


def test_process_pool_records_a_failing_job_and_goes_on(grid, tmp_path):
    tmp, _ = grid
    good = expand(parse_suite({**GRID, "methods": ["random_init"], "seeds": [0]}, "grid"))[0]
    bad = Job(**{**good.config(), "method_hparams": {"no_such_hp": 1}})  # raises inside the worker
    store = ResultStore(tmp_path / "store.sqlite")
    logs = []
    summary = run_grid(
        "process",
        [bad, good],
        store,
        tmp / "data",
        tmp_path,
        "cpu",
        log=logs.append,
        show_progress=False,
        options=ExecutorOptions(workers=2, threads_per_job=1),
    )
    assert summary["ran"] == 2 and len(summary["failed"]) == 1
    status = {j["config_hash"]: j for j in store.jobs()}
    assert status[good.config_hash()]["status"] == "done"
    assert (
        status[bad.config_hash()]["status"] == "failed" and "no_such_hp" in status[bad.config_hash()]["error"]
    )
    # the worker's traceback reaches the job's log file; the console gets one line naming it
    assert not any("Traceback" in m for m in logs)
    (line,) = [m for m in logs if m.startswith("FAILED ")]
    log_file = Path(line.split("(traceback: ")[1].rstrip(")"))
    assert log_file.parent == tmp_path / "logs" and "Traceback" in log_file.read_text()
    assert "no_such_hp" in log_file.read_text()


@pytest.mark.slow
def test_ray_local_cluster_equals_local(grid):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'sslbench[dist]')")
    tmp, ref = grid
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        assert ray.cluster_resources()["CPU"] == 2
        out = _run(tmp, "ray", "--executor", "ray", "--cpus-per-job", "1")
    finally:
        ray.shutdown()
    assert _metrics(out) == ref


@pytest.mark.slow
def test_slurm_via_submitit_local_executor_equals_local(grid):
    pytest.importorskip("submitit", reason="submitit is not installed (pip install 'sslbench[dist]')")
    tmp, ref = grid
    out = _run(
        tmp,
        "slurm",
        "--executor",
        "slurm",
        "--slurm-cluster",
        "local",
        "--cpus-per-job",
        "1",
        "--timeout-min",
        "30",
    )
    assert _metrics(out) == ref
    assert any((out / "submitit").rglob("*_result.pkl"))  # it really went through submitit's files
    shutil.rmtree(out / "submitit")


def test_resources_from_suite_and_flags():
    opts = options_from(
        {"cpus_per_job": 4, "gpus_per_job": 1, "partition": "gpu"}, cpus_per_job=2, partition=None
    )
    assert (opts.cpus_per_job, opts.gpus_per_job, opts.partition) == (2, 1, "gpu")
    with pytest.raises(UsageError, match="unknown"):
        options_from({"gpu": 1})
    with pytest.raises(UsageError, match="resources"):
        parse_suite({**GRID, "resources": {"cpus": 2}}, "grid")
    assert parse_suite({**GRID, "resources": {"gpus_per_job": 1}}, "grid").resources == {"gpus_per_job": 1}


def test_cluster_device_checks():
    assert str(worker_device("ray", "auto", ExecutorOptions(gpus_per_job=1))) == "cuda"
    assert str(worker_device("slurm", "auto", ExecutorOptions())) == "cpu"
    with pytest.raises(UsageError, match="gpus-per-job"):
        worker_device("ray", "cuda", ExecutorOptions())
    with pytest.raises(UsageError, match="fp16"):
        worker_device("local", "cpu", ExecutorOptions(), amp="fp16")
