"""Executors: where the jobs of a grid run. `run --executor local|process|ray|slurm`.

Every executor shares the runner's logic: `pending_jobs` (skip jobs already `done` in the store and
jobs their method does not support), `execute_job` in the worker (a pure function of the job config
that never touches the store) and `record_result` in the parent (the only writer of the store, one
transaction per job, as each result streams back). A failed job — an exception in the job, a worker
that died, a task the cluster lost — is recorded `failed` with its reason and the grid goes on.

- `local`: the sequential loop of `benchmark.orchestration.runner.run_jobs` (per-epoch progress bars).
- `process`: N spawned worker processes on this machine, each with
  `torch.set_num_threads(threads)` where threads = cores // N unless `--threads-per-job` says.
  With `--jobs-per-gpu K` and G GPUs (all visible ones for `--device cuda`, one for `cuda:N`)
  N = K·G and worker w runs its jobs on GPU w mod G (`worker_gpu`), so K jobs share each GPU.
- `ray`: one Ray task per job (`num_cpus`/`num_gpus` per job) on `--ray-address` or on a local cluster
  started for the run; results come back through `ray.wait` as they finish. `--jobs-per-gpu K`
  asks num_gpus = 1/K per task, so Ray packs K jobs on each GPU.
- `slurm`: submitit array jobs (`executor.map_array`), per-job resources from the suite's `resources:`
  section or flags; `cluster="local"`/`"debug"` run the same code without SLURM (used by the tests).

Determinism. A job seeds everything from its own seed (`name_seed`), so its result does not depend on
the executor, the worker that runs it or the order of jobs. On CPU it does depend on the number of
intra-op threads (a reduction split over 2 threads sums in another order than over 1: measured, the
weights differ in the 7th significant digit after one epoch). Results are therefore identical across
executors when the threads per job are the same: pass `--threads-per-job T` (or SSLBENCH_THREADS=T)
to pin it; the default is all cores for `local` and cores // workers for `process`.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.core.errors import UsageError
from benchmark.core.registry import Registry
from benchmark.orchestration.package_guard import REPO_ROOT
from benchmark.orchestration.suites import RESOURCE_KEYS

# Executors that run jobs in worker pools, by name: fn(make_tasks, options, finish, pending_by_hash,
# log, work_dir). `local` (in this process, `runner.run_jobs`) comes first in EXECUTORS.
POOL_EXECUTORS: Registry[Callable] = Registry("executor")


@dataclass
class ExecutorOptions:
    workers: int | None = None  # process: pool size (default: cores); ray: max jobs in flight
    threads_per_job: int | None = None  # torch intra-op threads in each job (default: see module doc)
    ray_address: str | None = None  # ray: cluster address ("auto", "ray://host:10001", …); None = local
    cpus_per_job: float = 1  # ray num_cpus / slurm cpus_per_task
    gpus_per_job: float = 0  # ray num_gpus / slurm gpus_per_node
    jobs_per_gpu: int | None = None  # process/ray: K jobs share each GPU (ray: num_gpus = 1/K)
    gpu_ids: list[int] | None = None  # process on CUDA: the GPUs workers are spread over
    mem_gb: float | None = None  # slurm
    timeout_min: int = 240  # slurm
    partition: str | None = None  # slurm
    account: str | None = None  # slurm
    qos: str | None = None  # slurm
    constraint: str | None = None  # slurm
    array_parallelism: int | None = None  # slurm: at most this many array tasks at once
    slurm_cluster: str | None = None  # submitit AutoExecutor cluster: None (auto), slurm, local, debug
    slurm_folder: Path | None = None  # submitit logs and pickles (default: <out>/submitit)
    method_files: list[str] = field(default_factory=list)  # --method-file, re-loaded in every worker
    poll_s: float = 1.0  # slurm: how often job states are polled


def options_from(suite_resources: dict[str, Any] | None, **flags) -> ExecutorOptions:
    """Suite `resources:` first, flags that were given (not None) override them."""
    opts = ExecutorOptions()
    res = dict(suite_resources or {})
    unknown = set(res) - RESOURCE_KEYS
    if unknown:
        raise UsageError(
            f"suite resources: unknown field(s) {sorted(unknown)}; allowed: {sorted(RESOURCE_KEYS)}"
        )
    for k, v in {**res, **{k: v for k, v in flags.items() if v is not None}}.items():
        if not hasattr(opts, k):
            raise UsageError(f"executor option {k!r} is unknown")
        setattr(opts, k, v)
    if opts.workers is not None and opts.workers < 1:
        raise UsageError(f"--workers must be ≥ 1, got {opts.workers}")
    if opts.threads_per_job is not None and opts.threads_per_job < 1:
        raise UsageError(f"--threads-per-job must be ≥ 1, got {opts.threads_per_job}")
    if opts.cpus_per_job <= 0 or opts.gpus_per_job < 0:
        raise UsageError("cpus_per_job must be > 0 and gpus_per_job ≥ 0")
    k = opts.jobs_per_gpu
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"--jobs-per-gpu must be an integer ≥ 1, got {k!r}")
        # each flag alone says what a job gets; together they could disagree (a suite's
        # resources.gpus_per_job is overridden: the flag is the more specific request)
        if flags.get("gpus_per_job") is not None:
            raise UsageError("--jobs-per-gpu and --gpus-per-job both set the GPU share of a job; give one")
        opts.gpus_per_job = ray_num_gpus(k)
    opts.method_files = [str(Path(p).resolve()) for p in opts.method_files]
    return opts


# --------------------------------------------------------------------------------------------
# the worker side: a pure function of the job (plus where data and scratch files live)


@dataclass
class WorkerTask:
    job: Any  # benchmark.orchestration.runner.Job
    data_dir: str | None
    work_dir: str
    device: str  # "cpu", "cuda", "cuda:1"; resolved in the worker (Ray/SLURM pick the GPU)
    amp: str = "off"
    threads: int | None = None
    method_files: list[str] = field(default_factory=list)
    compile_mode: str = "off"  # PretrainConfig.compile


def _ensure_importable() -> None:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def execute_job(task: WorkerTask) -> tuple[str, Any, str | None]:
    """Run one job in whatever process this is; never raises for the job's own errors.
    Returns (config_hash, JobResult, traceback text or None)."""
    _ensure_importable()
    import torch

    from benchmark.orchestration.runner import JobResult, run_job

    if task.threads:
        torch.set_num_threads(task.threads)
    if task.method_files:
        from benchmark.orchestration.method_files import load_method_files

        load_method_files(task.method_files)
    try:
        device = torch.device(task.device)
        if device.type == "cuda" and device.index is None:  # the pool's or the cluster's choice
            gpu = _WORKER_GPU if _WORKER_GPU is not None else torch.cuda.current_device()
            device = torch.device("cuda", gpu)
        res = run_job(
            task.job, task.data_dir, task.work_dir, device, None, amp=task.amp, compile_mode=task.compile_mode
        )
        return task.job.config_hash(), res, None
    except Exception as e:  # recorded as failed by the parent
        return (
            task.job.config_hash(),
            JobResult([], {}, 0.0, "failed", f"{type(e).__name__}: {e}"),
            traceback.format_exc(),
        )


def worker_gpu(worker: int, gpu_ids: list[int]) -> int:
    """The GPU of process-pool worker `worker` (0, 1, …) when K workers share each of `gpu_ids`:
    round-robin, so the K·G workers put exactly K on each GPU."""
    if not gpu_ids:
        raise ValueError("worker_gpu needs at least one GPU")
    return gpu_ids[worker % len(gpu_ids)]


def ray_num_gpus(jobs_per_gpu: int) -> float:
    """Ray's num_gpus for one task when `jobs_per_gpu` tasks share a GPU."""
    return 1.0 / jobs_per_gpu


def process_gpu_ids(device, gpu_count: int) -> list[int]:
    """The GPUs a `--jobs-per-gpu` process pool spreads its workers over: the one `cuda:N` names, or
    all `gpu_count` visible ones for `cuda`."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not gpu_count:
        raise UsageError(f"--jobs-per-gpu needs a CUDA device; the jobs would run on {device}")
    if device.index is not None:
        if device.index >= gpu_count:
            raise UsageError(f"--device {device}: this machine has {gpu_count} GPU(s)")
        return [device.index]
    return list(range(gpu_count))


def process_pool_gpus(opts: ExecutorOptions, device, gpu_count: int) -> tuple[ExecutorOptions, str]:
    """(options with `gpu_ids`, the device a job is given) for a process pool on `device`. On CUDA
    the workers go round-robin over the GPUs (`worker_gpu`): K per GPU under --jobs-per-gpu, else
    --workers or one per core spread the same way, not all on the first GPU; each worker picks its
    GPU in its initializer and a job's "cuda" is its worker's GPU. Elsewhere: unchanged."""
    from dataclasses import replace

    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return opts, str(device)
    return replace(opts, gpu_ids=process_gpu_ids(device, gpu_count)), "cuda"


def process_pool_size(opts: ExecutorOptions, cores: int) -> int:
    """Workers of a process pool: K per GPU under --jobs-per-gpu, else --workers, else one per core."""
    if opts.jobs_per_gpu:
        return opts.jobs_per_gpu * len(opts.gpu_ids or [])
    return opts.workers or cores


# The GPU this process-pool worker runs its jobs on (CUDA jobs), set by its initializer.
_WORKER_GPU: int | None = None


def _claim_gpu(gpu_ids: list[int], counter) -> int:
    """Take the next worker number from the pool's shared counter and keep its GPU (`worker_gpu`)."""
    global _WORKER_GPU
    with counter.get_lock():
        worker = counter.value
        counter.value += 1
    _WORKER_GPU = worker_gpu(worker, gpu_ids)
    return _WORKER_GPU


def worker_identity() -> tuple[int, int | None]:
    """(pid, its GPU for CUDA jobs or None) of this worker process."""
    return os.getpid(), _WORKER_GPU


def _init_process_worker(threads: int, path: list[str], gpu_ids=None, counter=None) -> None:
    for p in reversed(path):
        if p not in sys.path:
            sys.path.insert(0, p)
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    if gpu_ids:  # CUDA jobs: this worker's jobs run on its GPU (execute_job)
        torch.cuda.set_device(_claim_gpu(gpu_ids, counter))


# --------------------------------------------------------------------------------------------
# the parent side


def run_grid(
    executor: str,
    jobs: list,
    store,
    data_dir,
    work_dir,
    device,
    log: Callable = print,
    show_progress: bool = True,
    amp: str = "off",
    options: ExecutorOptions | None = None,
    compile_mode: str = "off",
) -> dict:
    """Run `jobs` with the named executor; returns the same summary as `runner.run_jobs`."""
    import torch

    from benchmark.orchestration.runner import (
        code_version,
        pending_jobs,
        record_result,
        run_jobs,
        write_job_log,
    )

    opts = options or ExecutorOptions()
    device = torch.device(device)
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "local":
        if opts.threads_per_job:
            os.environ["SSLBENCH_THREADS"] = str(opts.threads_per_job)
        return run_jobs(
            jobs,
            store,
            data_dir,
            work_dir,
            device,
            log=log,
            show_progress=show_progress,
            amp=amp,
            compile_mode=compile_mode,
        )
    pending, summary = pending_jobs(jobs, store, log)
    if not pending:
        return summary
    cv = code_version()
    by_hash = {j.config_hash(): j for j in pending}
    dev = str(device)
    if executor == "process":
        opts, dev = process_pool_gpus(opts, device, torch.cuda.device_count() if device.type == "cuda" else 0)
    data_dir = None if data_dir is None else str(Path(data_dir).resolve())  # workers may start elsewhere
    work_dir = Path(work_dir).resolve()
    make = lambda threads: [
        WorkerTask(
            j,
            data_dir,
            str(work_dir),
            dev,  # noqa: E731
            amp,
            threads,
            opts.method_files,
            compile_mode,
        )
        for j in pending
    ]
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(pending), desc=f"jobs ({executor})", unit="job", disable=not show_progress, leave=True
    )

    def finish(h: str, res, tb: str | None) -> None:
        job = by_hash.pop(h)
        log_path = write_job_log(work_dir, job, tb) if tb else None
        record_result(store, job, res, summary, log, cv, log_path)
        bar.update(1)
        bar.set_postfix_str(job.label())

    try:
        POOL_EXECUTORS[executor](make, opts, finish, by_hash, log, work_dir)
    finally:
        bar.close()
    return summary


def _failed(reason: str):
    from benchmark.orchestration.runner import JobResult

    return JobResult([], {}, 0.0, "failed", reason)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@POOL_EXECUTORS.register("process")
def run_process(make, opts: ExecutorOptions, finish, by_hash, log, work_dir: Path) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    cores = _cores()
    gpu_ids = opts.gpu_ids
    workers = process_pool_size(opts, cores)
    threads = opts.threads_per_job or max(1, cores // workers)
    if workers * threads > cores:
        log(f"process executor: {workers} workers × {threads} threads > {cores} cores (oversubscribed)")
    if gpu_ids and opts.jobs_per_gpu:
        log(f"process executor: {workers} workers, {opts.jobs_per_gpu} per GPU on cuda:{gpu_ids}")
    elif gpu_ids:
        log(f"process executor: {workers} workers, round-robin over cuda:{gpu_ids}")
    tasks = make(threads)
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_process_worker,
        initargs=(threads, list(sys.path), gpu_ids, ctx.Value("i", 0) if gpu_ids else None),
    )
    futures = {pool.submit(execute_job, t): t.job.config_hash() for t in tasks}
    try:
        todo = set(futures)
        while todo:
            finished, todo = wait(todo, return_when=FIRST_COMPLETED)
            for f in finished:
                try:
                    finish(*f.result())
                except BrokenProcessPool as e:  # a worker died (killed, out of memory, segfault)
                    finish(futures[f], _failed(f"worker process died: {e}"), None)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@POOL_EXECUTORS.register("ray")
def run_ray(make, opts: ExecutorOptions, finish, by_hash, log, work_dir: Path) -> None:
    try:
        import ray
    except ImportError as e:
        raise UsageError("--executor ray needs Ray: pip install 'sslbench[dist]' (or pip install ray)") from e
    started = False
    if not ray.is_initialized():
        env = {
            "env_vars": {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        }
        if opts.ray_address:
            ray.init(address=opts.ray_address, runtime_env=env, log_to_driver=False)
        else:  # a local cluster for this run, loopback only
            ray.init(
                num_cpus=opts.workers or _cores(),
                include_dashboard=False,
                runtime_env=env,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
        started = True
    todo: list = []
    try:
        threads = opts.threads_per_job or max(1, int(opts.cpus_per_job))
        remote = ray.remote(num_cpus=opts.cpus_per_job, num_gpus=opts.gpus_per_job, max_retries=0)(
            execute_job
        )
        refs = {remote.remote(t): t.job.config_hash() for t in make(threads)}
        todo = list(refs)
        while todo:
            ready, todo = ray.wait(todo, num_returns=1)
            for ref in ready:
                try:
                    finish(*ray.get(ref))
                except ray.exceptions.RayError as e:  # worker crashed, node lost, task cancelled
                    finish(
                        refs[ref],
                        _failed(f"ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}"),
                        None,
                    )
    except BaseException:
        for ref in todo:  # interrupted: stop what is still running
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


@POOL_EXECUTORS.register("slurm")
def run_slurm(make, opts: ExecutorOptions, finish, by_hash, log, work_dir: Path) -> None:
    try:
        import submitit
    except ImportError as e:
        raise UsageError(
            "--executor slurm needs submitit: pip install 'sslbench[dist]' (or pip install submitit)"
        ) from e
    folder = Path(opts.slurm_folder or work_dir / "submitit")
    ex = submitit.AutoExecutor(folder=str(folder) + "/%j", cluster=opts.slurm_cluster)
    params: dict[str, Any] = {
        "timeout_min": opts.timeout_min,
        "cpus_per_task": max(1, int(opts.cpus_per_job)),
        "name": "sslbench",
    }
    if opts.gpus_per_job:
        params["gpus_per_node"] = int(opts.gpus_per_job)
    if opts.mem_gb:
        params["mem_gb"] = opts.mem_gb
    for k in ("partition", "account", "qos", "constraint"):
        if getattr(opts, k):
            params[f"slurm_{k}"] = getattr(opts, k)
    if opts.array_parallelism:
        params["slurm_array_parallelism"] = opts.array_parallelism
    if ex.cluster != "slurm":  # local/debug executors take only the generic parameters
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    ex.update_parameters(**params)
    # workers import this checkout: sbatch exports the submitting environment (and so does LocalExecutor)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p
    )
    tasks = make(opts.threads_per_job or max(1, int(opts.cpus_per_job)))
    sub = ex.map_array(execute_job, tasks)
    log(
        f"submitted {len(sub)} job(s) to {ex.cluster} (array {sub[0].job_id.split('_')[0] if sub else '-'}); "
        f"logs in {folder}"
    )
    hashes = {id(s): t.job.config_hash() for s, t in zip(sub, tasks)}
    todo = list(sub)
    while todo:
        still = []
        for s in todo:
            if ex.cluster != "debug" and not s.done():
                still.append(s)
                continue
            try:
                finish(*s.result())
            except Exception as e:  # job killed, timed out, failed to start, or unpickling broke
                first = str(e).strip().splitlines()
                finish(
                    hashes[id(s)],
                    _failed(f"slurm job {s.job_id} failed: {type(e).__name__}: {first[-1] if first else ''}"),
                    None,
                )
        todo = still
        if todo:
            time.sleep(opts.poll_s)


# --------------------------------------------------------------------------------------------
# command line


def add_executor_arguments(r) -> None:
    g = r.add_argument_group("executors (see README, 'Running at scale')")
    g.add_argument(
        "--executor",
        default="local",
        choices=EXECUTORS,
        help="local (sequential), process (N local workers), ray (a Ray cluster), slurm (submitit)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        help="process: worker processes (default: cores); "
        "ray without --ray-address: CPUs of the local cluster",
    )
    g.add_argument(
        "--threads-per-job",
        type=int,
        default=None,
        help="torch threads in each job; pin it to get identical results across executors",
    )
    g.add_argument(
        "--ray-address",
        default=None,
        help="ray: cluster address (auto, ray://head:10001); default: start a local cluster",
    )
    g.add_argument("--cpus-per-job", type=float, default=None, help="ray/slurm: CPUs per job (default 1)")
    g.add_argument("--gpus-per-job", type=float, default=None, help="ray/slurm: GPUs per job (default 0)")
    g.add_argument(
        "--jobs-per-gpu",
        type=int,
        default=None,
        metavar="K",
        help="process/ray: run K jobs on each GPU at once (process: K workers per visible GPU; "
        "ray: num_gpus 1/K per job); needs a CUDA device",
    )
    g.add_argument("--mem-gb", type=float, default=None, help="slurm: memory per job")
    g.add_argument("--timeout-min", type=int, default=None, help="slurm: time limit per job (default 240)")
    g.add_argument("--partition", default=None, help="slurm: partition")
    g.add_argument("--account", default=None, help="slurm: account")
    g.add_argument("--array-parallelism", type=int, default=None, help="slurm: array tasks at once")
    g.add_argument(
        "--slurm-cluster",
        default=None,
        choices=["slurm", "local", "debug"],
        help="submitit backend (default: slurm when sbatch is present, else local)",
    )


def options_from_args(args, suite) -> ExecutorOptions:
    return options_from(
        getattr(suite, "resources", None),
        workers=args.workers,
        threads_per_job=args.threads_per_job,
        ray_address=args.ray_address,
        cpus_per_job=args.cpus_per_job,
        gpus_per_job=args.gpus_per_job,
        jobs_per_gpu=getattr(args, "jobs_per_gpu", None),
        mem_gb=args.mem_gb,
        timeout_min=args.timeout_min,
        partition=args.partition,
        account=args.account,
        array_parallelism=args.array_parallelism,
        slurm_cluster=args.slurm_cluster,
        method_files=getattr(args, "method_file", None) or None,
    )


def run_grid_from_args(args, jobs: list, store, work_dir, device, opts: ExecutorOptions) -> dict:
    """`run_grid` as the `run` and `tune` commands call it: executor, data dir, progress and AMP from
    their shared flags, log lines on stderr."""
    import sys

    return run_grid(
        args.executor,
        jobs,
        store,
        args.data_dir,
        work_dir,
        device,
        log=lambda m: print(m, file=sys.stderr),
        show_progress=not args.no_progress,
        amp=getattr(args, "amp", "off"),
        options=opts,
        compile_mode=getattr(args, "compile", "off"),
    )


def worker_device(executor: str, name: str, opts: ExecutorOptions, amp: str = "off"):
    """The device jobs run on. Local executors check it here; on a cluster the parent (a login node, a
    laptop) may have no GPU, so `cuda` is checked where the job runs and `auto` follows --gpus-per-job."""
    import torch

    from benchmark.orchestration.runner import resolve_device

    if opts.jobs_per_gpu and executor not in ("process", "ray"):
        raise UsageError(f"--jobs-per-gpu works with --executor process or ray, not {executor}")
    if opts.jobs_per_gpu and executor == "process" and opts.workers is not None:
        raise UsageError("--jobs-per-gpu sets the process pool's size (K per GPU); drop --workers")
    if executor in ("ray", "slurm"):
        if name == "auto":
            dev = torch.device("cuda" if opts.gpus_per_job else "cpu")
        else:
            try:
                dev = torch.device(name)
            except RuntimeError as e:
                raise UsageError(f"--device: {name!r} is not a device (auto, cpu, cuda, cuda:N)") from e
            if dev.type not in ("cpu", "cuda"):
                raise UsageError(f"--device: {name!r} is not supported (auto, cpu, cuda, cuda:N)")
        if executor == "slurm" and opts.gpus_per_job != int(opts.gpus_per_job):
            raise UsageError(
                f"--gpus-per-job {opts.gpus_per_job:g}: slurm gives a job whole GPUs; several jobs per "
                f"GPU: --executor process or ray with --jobs-per-gpu K"
            )
        if dev.type == "cuda" and not opts.gpus_per_job:
            raise UsageError(
                f"--device {name} with --executor {executor} needs --gpus-per-job (or "
                f"resources.gpus_per_job in the suite)"
            )
        if dev.type == "cuda" and dev.index is not None:
            raise UsageError(
                f"--device {name}: with --executor {executor} the cluster picks the GPU; use 'cuda'"
            )
    else:
        dev = resolve_device(name)
    if opts.jobs_per_gpu and dev.type != "cuda":
        raise UsageError(
            f"--jobs-per-gpu {opts.jobs_per_gpu} shares GPUs between jobs, but the jobs would run on "
            f"{dev} (--device {name}{', no GPU on this machine' if name == 'auto' else ''}); "
            f"drop it or use --device cuda"
        )
    if amp == "fp16" and dev.type != "cuda":
        raise UsageError("--amp fp16 needs a CUDA device (use --amp bf16 on CPU)")
    return dev


EXECUTORS = ("local", *POOL_EXECUTORS)
