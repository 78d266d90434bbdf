"""Expand a suite into jobs and run them: pretrain → embed once → protocols → store → tables.

A job is a serialisable config (method × dataset × seed + everything that changes its result);
`run_job` is a pure function of it returning result rows, and only the caller writes to the store.
A job whose config hash is already `done` in the store is skipped.
"""

from __future__ import annotations

import os
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

import benchmark
from benchmark.core.errors import UsageError
from benchmark.core.io import atomic_write_text
from benchmark.evaluation.plugins import PROTOCOLS
from benchmark.evaluation.reference_recipes import recipe_rows
from benchmark.orchestration.job_context import JobContext
from benchmark.orchestration.jobs import (
    Job,
    axis_skip_reason,
    init_label,
    known_methods,
    training_fingerprint,
)
from benchmark.training.pretrain import CollapseFault, TrainingFault
from datasets.base import ADAPTERS, get_adapter
from methods.base import get_method_class


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"--device: {name!r} is not a device (auto, cpu, cuda, cuda:N)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: {name!r} is not supported (auto, cpu, cuda, cuda:N)")
    return dev


def code_version() -> str:
    sha = ""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{benchmark.__version__}+{sha}" if sha else benchmark.__version__


@dataclass
class JobResult:
    rows: list[dict]
    history: dict
    wall_s: float
    status: str = "done"
    error: str | None = None


def run_job(
    job: Job,
    data_dir,
    work_dir,
    device,
    progress=None,
    amp: str = "off",
    on_resume=None,
    compile_mode: str = "off",
) -> JobResult:
    """Pure function of the job config: train, embed, run its protocols; return result rows.
    A collapsed encoder (`CollapseFault`) ends the job with status `collapsed` and no rows."""
    t0 = time.perf_counter()
    adapter = get_adapter(job.dataset, data_dir=data_dir, **job.dataset_options)
    ctx = JobContext(
        job,
        adapter,
        device,
        Path(work_dir),
        progress,
        amp=amp,
        on_resume=on_resume,
        compile_mode=compile_mode,
    )
    ctx.histories["training_fingerprint"] = training_fingerprint(job)
    try:
        ctx.train_models()
    except CollapseFault as e:
        history = {**ctx.histories, "collapsed": e.stats}
        return JobResult([], history, time.perf_counter() - t0, "collapsed", str(e))
    except TrainingFault as e:
        return JobResult([], ctx.histories, time.perf_counter() - t0, "failed", str(e))
    rows: list[dict] = []
    timing = ctx.histories["timing"] = {"train_s": time.perf_counter() - t0, "eval_s": {}}
    if get_method_class(job.method).end_to_end:  # a reference recipe trains and scores itself
        rows += recipe_rows(ctx)
        timing["eval_s"]["end_to_end"] = time.perf_counter() - t0 - timing["train_s"]
    for name in [] if get_method_class(job.method).end_to_end else job.protocols:
        t1 = time.perf_counter()
        rows += PROTOCOLS[name](ctx)
        timing["eval_s"][name] = time.perf_counter() - t1  # embedding + probes + scoring
    timing["embed_s"] = ctx.embed_s
    return JobResult(rows, ctx.histories, time.perf_counter() - t0)


def job_record(job: Job, adapter_cls) -> dict:
    return {
        "config_hash": job.config_hash(),
        "group_hash": job.group_hash(),
        "suite": job.suite,
        "method": job.method,
        "dataset": job.dataset,
        "domain": adapter_cls.domain,
        "encoder": encoder_label(job, adapter_cls),
        "init": init_label(job.init),
        "pretrain_budget": f"{job.epochs}ep"
        + ("@" + "+".join(p["name"] for p in job.pretrain_on) if job.pretrain_on else ""),
        "seed": job.seed,
        "config": job.config(),
        "dataset_version": adapter_cls.version(job.dataset_options),
    }


def encoder_label(job: Job, adapter_cls) -> str:
    """`<encoder>:<spec kind>` for the leaderboard's encoder column: `tokens` for methods that build
    their own token transformer (MAE, JEPA), the dataset option `encoder` (e.g. `resnet18`) when one
    is set, else `default` (benchmark.models.encoders.encoder_for_spec)."""
    if job.method in known_methods() and get_method_class(job.method).builds_encoder:
        name = "tokens"
    else:
        name = job.dataset_options.get("encoder") or "default"
        name = "default" if name == "small" else name
    return f"{name}:{adapter_cls.spec.kind}"


def set_threads() -> None:
    n = int(os.environ.get("SSLBENCH_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(max(1, n))


def _method_supports(job: Job) -> bool:
    spec = getattr(ADAPTERS[job.dataset], "spec", None)
    return spec is None or get_method_class(job.method).supports(spec)


def pending_jobs(jobs: list[Job], store, log=print) -> tuple[list[Job], dict]:
    """The jobs still to run (not `done` in the store, supported by their method) and a fresh
    summary. Shared by every executor (benchmark/orchestration/executors.py)."""
    done = store.done_hashes()
    stale = stale_jobs([j for j in jobs if j.config_hash() in done], store)
    if stale:
        names = sorted({f"{j.method} on {j.dataset}" for j in stale})
        log(
            f"{len(stale)} stored job(s) ran under an earlier recipe of their method ({', '.join(names)}); "
            "running them again (each stored result is replaced when its new run finishes)"
        )
    done = done - {j.config_hash() for j in stale}
    pending = [j for j in jobs if j.config_hash() not in done]
    summary = {"total": len(jobs), "skipped": len(jobs) - len(pending), "ran": 0, "failed": []}
    if summary["skipped"]:
        log(f"{summary['skipped']} of {len(jobs)} job(s) already in the store; skipping them")
    summary["unsupported"] = []
    runnable = []
    for j in pending:  # declared by the method, or an init its encoder cannot take: logged
        reason = skip_reason(j)
        if reason is None:
            runnable.append(j)
            continue
        log(f"SKIP {j.label()}: {reason}")
        summary["unsupported"].append((j.label(), reason))
    return runnable, summary


def stale_jobs(done: list[Job], store) -> list[Job]:
    """The stored jobs whose recorded training fingerprint differs from today's: their method's recipe
    changed since they ran, although their config hash did not. Jobs stored without a fingerprint
    (recorded before it existed) cannot be told apart and count as current."""
    stored = store.training_fingerprints() if hasattr(store, "training_fingerprints") else {}
    return [j for j in done if stored.get(j.config_hash()) not in (None, training_fingerprint(j))]


def skip_reason(job: Job) -> str | None:
    """Why a job of the grid is not run (None: it is): its method does not support the dataset's
    spec, or its init does not fit its encoder (benchmark/orchestration/jobs.py axis_skip_reason)."""
    if not _method_supports(job):
        return (
            f"method {job.method!r} does not support spec {ADAPTERS[job.dataset].spec.kind!r} "
            f"(supports {', '.join(get_method_class(job.method).supported_specs)})"
        )
    return axis_skip_reason(job)


def job_log_path(work_dir, job: Job) -> Path:
    """Where a failed job's traceback goes: `<out>/logs/<dataset>-<method>-seed<seed>-<hash>.log`."""
    return Path(work_dir) / "logs" / f"{job.dataset}-{job.method}-seed{job.seed}-{job.config_hash()[:8]}.log"


def write_job_log(work_dir, job: Job, text: str) -> Path | None:
    """Keep a failed job's traceback out of the console; None when the log cannot be written."""
    try:
        return atomic_write_text(job_log_path(work_dir, job), f"{job.label()}\n{text}")
    except OSError:
        return None


def l2_edge(grid: list[float], chosen: float, val_scores: list[float] | None) -> str | None:
    """The grid's edge ("top" or "bottom") where val chose an end of the ascending grid and beat its
    neighbour there, else None. A choice tied with its neighbour is no sign of a narrow grid: ties
    keep the first value, so a flat val score would always land on the bottom edge."""
    if len(grid) < 2 or chosen not in (grid[0], grid[-1]):
        return None
    end, inner = (-1, -2) if chosen == grid[-1] else (0, 1)
    if val_scores and len(val_scores) == len(grid) and val_scores[end] <= val_scores[inner] + 1e-12:
        return None
    return "top" if end == -1 else "bottom"


def note_l2_edges(summary: dict, job: Job, history: dict) -> None:
    """Count the job's val-selected linear heads, and those whose L2 strength sits on an edge of its
    grid, per (dataset, method): the run summary names them (docs/protocol.md, "grid edge")."""
    noted = history.get("linear_l2")
    if not noted:
        return
    edges = summary.setdefault("l2_edges", {"heads": 0, "top": {}, "bottom": {}})
    for fraction, l2 in noted["selected"].items():
        edges["heads"] += 1
        side = l2_edge(list(noted["grid"]), l2, (noted.get("val") or {}).get(fraction))
        if side:
            key = (job.dataset, job.method)
            edges[side][key] = edges[side].get(key, 0) + 1


def record_result(
    store,
    job: Job,
    res: JobResult,
    summary: dict,
    log=print,
    cv: str | None = None,
    log_path: Path | None = None,
) -> None:
    """Write one finished job to the store (one transaction) and count it; a failed or collapsed job
    gets one console line (its traceback, if any, is in `log_path`). Only the parent calls this."""
    store.record(
        job_record(job, ADAPTERS[job.dataset]),
        res.rows,
        status=res.status,
        error=res.error,
        history=res.history,
        wall_s=res.wall_s,
        code_version=cv if cv is not None else code_version(),
    )
    summary["ran"] += 1
    timing = (res.history or {}).get("timing")
    if timing:  # evaluation cost vs training, printed in the run summary
        summary["train_s"] = summary.get("train_s", 0.0) + timing["train_s"]
        summary["eval_s"] = summary.get("eval_s", 0.0) + sum(timing["eval_s"].values())
    for partner, reason in ((res.history or {}).get("ood_missing") or {}).items():
        summary.setdefault("missing_partners", {})[(job.dataset, partner)] = reason
    if res.status == "done":
        note_l2_edges(summary, job, res.history or {})
    else:
        error = " ".join(str(res.error).split())
        summary["failed"].append((job.label(), error))
        where = f" (traceback: {log_path})" if log_path else ""
        log(f"{res.status.upper()} {job.label()}: {error}{where}")


def run_jobs(
    jobs: list[Job],
    store,
    data_dir,
    work_dir,
    device,
    log=print,
    show_progress=True,
    amp: str = "off",
    compile_mode: str = "off",
) -> dict:
    """Run pending jobs in order, recording each in the store as it finishes. Returns a summary."""
    from tqdm.auto import tqdm

    set_threads()
    pending, summary = pending_jobs(jobs, store, log)
    cv = code_version()
    bar = tqdm(pending, desc="jobs", unit="job", disable=not show_progress, leave=True)
    for job in bar:
        bar.set_postfix_str(job.label())
        epoch_bar = tqdm(
            total=job.epochs, desc=f"  {job.method} epochs", leave=False, disable=not show_progress
        )
        progress = lambda epoch, rec: (epoch_bar.update(1), epoch_bar.set_postfix(loss=f"{rec['loss']:.3f}"))  # noqa: E731

        def resumed(done: int, job=job, epoch_bar=epoch_bar) -> None:
            log(f"{job.label()}: resuming from epoch {done} of {job.epochs} (checkpoint in {work_dir})")
            epoch_bar.update(done)

        log_path = None
        try:
            res = run_job(
                job,
                data_dir,
                work_dir,
                device,
                progress,
                amp=amp,
                on_resume=resumed,
                compile_mode=compile_mode,
            )
        except Exception as e:  # recorded, the suite goes on; the traceback goes to the job's log
            res = JobResult([], {}, 0.0, "failed", f"{type(e).__name__}: {e}")
            log_path = write_job_log(work_dir, job, traceback.format_exc())
        finally:
            epoch_bar.close()
        record_result(store, job, res, summary, log, cv, log_path)
    return summary
