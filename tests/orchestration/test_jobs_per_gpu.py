"""`--jobs-per-gpu K` (issue #32): K jobs share each GPU. The parts that need no GPU are checked here:
the worker → GPU assignment of the process pool (and that spawned workers really claim distinct
worker numbers), Ray's fractional num_gpus, and the usage errors (exit 2, one line, before any job)."""

import multiprocessing as mp
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

from benchmark.cli import main
from benchmark.orchestration import executors as ex
from benchmark.orchestration.executors import (
    ExecutorOptions,
    options_from,
    process_gpu_ids,
    process_pool_gpus,
    process_pool_size,
    ray_num_gpus,
    worker_device,
    worker_gpu,
)
from benchmark.orchestration.suites import UsageError


def test_workers_round_robin_over_the_gpus_k_each():
    assert [worker_gpu(w, [0, 1]) for w in range(6)] == [0, 1, 0, 1, 0, 1]
    assert [worker_gpu(w, [3]) for w in range(3)] == [3, 3, 3]  # --device cuda:3
    k, gpus = 3, [0, 1, 2, 3]
    placed = [worker_gpu(w, gpus) for w in range(k * len(gpus))]
    assert {g: placed.count(g) for g in gpus} == {g: k for g in gpus}
    with pytest.raises(ValueError):
        worker_gpu(0, [])


def test_pool_gpus_from_the_device():
    assert process_gpu_ids("cuda", 4) == [0, 1, 2, 3]
    assert process_gpu_ids("cuda:2", 4) == [2]
    for device, count in (("cuda:4", 4), ("cpu", 4), ("cuda", 0)):
        with pytest.raises(UsageError):
            process_gpu_ids(device, count)


def test_a_cuda_process_pool_spreads_its_workers_over_the_gpus_with_or_without_k():
    plain, dev = process_pool_gpus(ExecutorOptions(), "cuda", 2)
    assert (plain.gpu_ids, dev, process_pool_size(plain, 16)) == ([0, 1], "cuda", 16)
    assert [worker_gpu(w, plain.gpu_ids) for w in range(4)] == [0, 1, 0, 1]  # not all on cuda:0
    k3, dev = process_pool_gpus(ExecutorOptions(jobs_per_gpu=3), "cuda", 2)
    assert (k3.gpu_ids, dev, process_pool_size(k3, 16)) == ([0, 1], "cuda", 6)
    one, dev = process_pool_gpus(ExecutorOptions(workers=4), "cuda:1", 2)
    assert (one.gpu_ids, dev, process_pool_size(one, 16)) == ([1], "cuda", 4)
    cpu, dev = process_pool_gpus(ExecutorOptions(workers=2), "cpu", 0)
    assert (cpu.gpu_ids, dev, process_pool_size(cpu, 16)) == (None, "cpu", 2)


def test_slurm_gives_whole_gpus():
    with pytest.raises(UsageError, match="--gpus-per-job 0.5: slurm gives a job whole GPUs"):
        worker_device("slurm", "cuda", ExecutorOptions(gpus_per_job=0.5))
    assert str(worker_device("slurm", "cuda", ExecutorOptions(gpus_per_job=2))) == "cuda"


def _sleep_then_identify():
    time.sleep(0.5)  # keep this worker busy so that every task lands on a different worker
    return ex.worker_identity()


def test_spawned_workers_claim_distinct_numbers_and_so_k_per_gpu():
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    with ProcessPoolExecutor(
        4, mp_context=ctx, initializer=ex._claim_gpu, initargs=([0, 1], counter)
    ) as pool:
        seen = dict(f.result() for f in [pool.submit(_sleep_then_identify) for _ in range(4)])
    assert len(seen) == 4 and sorted(seen.values()) == [0, 0, 1, 1]


def test_ray_asks_a_fraction_of_a_gpu_per_job(monkeypatch):
    assert ray_num_gpus(4) == 0.25 and ray_num_gpus(1) == 1.0
    assert options_from(None, jobs_per_gpu=4).gpus_per_job == 0.25
    # the flag overrides a suite's per-job GPUs, but not together with --gpus-per-job
    assert options_from({"gpus_per_job": 1}, jobs_per_gpu=2).gpus_per_job == 0.5
    with pytest.raises(UsageError, match="--gpus-per-job"):
        options_from(None, jobs_per_gpu=2, gpus_per_job=1)

    asked = {}
    fake = types.SimpleNamespace(
        is_initialized=lambda: True,
        remote=lambda **kw: asked.update(kw) or (lambda fn: types.SimpleNamespace(remote=fn)),
        wait=lambda todo, num_returns: (todo[:1], todo[1:]),
        get=lambda ref: ref,
        exceptions=types.SimpleNamespace(RayError=RuntimeError),
    )
    monkeypatch.setitem(sys.modules, "ray", fake)
    done = []
    task = types.SimpleNamespace(job=types.SimpleNamespace(config_hash=lambda: "h"))
    monkeypatch.setattr(ex, "execute_job", lambda t: ("h", "result", None))
    ex.run_ray(
        lambda threads: [task], options_from(None, jobs_per_gpu=4), lambda *r: done.append(r), {}, print, None
    )
    assert asked["num_gpus"] == 0.25 and done == [("h", "result", None)]


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(UsageError, match=r"--jobs-per-gpu must be an integer ≥ 1"):
        options_from(None, jobs_per_gpu=k)


def test_jobs_per_gpu_needs_process_or_ray_and_a_gpu():
    k2 = ExecutorOptions(jobs_per_gpu=2, gpus_per_job=0.5)
    for executor in ("local", "slurm"):
        with pytest.raises(UsageError, match="process or ray"):
            worker_device(executor, "cuda", k2)
    with pytest.raises(UsageError, match="--jobs-per-gpu 2 .* cpu"):
        worker_device("process", "cpu", k2)
    with pytest.raises(UsageError, match="--jobs-per-gpu 2 .* cpu"):
        worker_device("ray", "cpu", k2)
    assert str(worker_device("ray", "auto", k2)) == "cuda"  # the cluster has the GPUs, not this host
    with pytest.raises(UsageError, match="drop --workers"):
        worker_device("process", "cuda", ExecutorOptions(jobs_per_gpu=2, workers=3))
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no GPU on this machine"):
            worker_device("process", "auto", k2)
        with pytest.raises(UsageError, match="CUDA is not available"):
            worker_device("process", "cuda", k2)


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--executor", "process", "--device", "cpu"], "--jobs-per-gpu 2 shares GPUs"),
        (["--executor", "local", "--device", "cpu"], "--jobs-per-gpu works with --executor process or ray"),
        (["--executor", "ray", "--gpus-per-job", "1"], "give one"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(tmp_path, capsys, extra, expected):
    rc = main(
        [
            "run",
            "--suite",
            "smoke",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
            "--jobs-per-gpu",
            "2",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "out" / "store.sqlite").exists()  # no job started


def test_tune_shares_the_flag(tmp_path, capsys):
    rc = main(["tune", "--suite", "quick", "--out", str(tmp_path), "--no-progress", "--jobs-per-gpu", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--jobs-per-gpu must be an integer ≥ 1, got 0" in err[0], err
