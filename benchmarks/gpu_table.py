#!/usr/bin/env python
"""docs/performance.md's GPU table, generated from one `benchmarks/gpu_check.sh` run (issue #32).

    python benchmarks/gpu_table.py OUT [--into docs/performance.md]
    python benchmarks/gpu_table.py OUT --print [--sections-only]

OUT is the folder gpu_check.sh wrote (its $OUT): the rows (`gpu_check_rows.tsv`) become the table,
and the run's info (date, commit, GPU, driver, torch and CUDA; `gpu_check_logs/00_info.log`, or the
report once the logs are archived) its caption. Two sections follow, computed from the rows' values:
today's code side by side with the baseline (the code the issue measured, run in the same session)
and each of the issue's targets, met or missed. A CPU dry run (`GPU_CHECK_DRY=1`) is printed but
never written: it measures no GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import write_readme  # noqa: E402

START, END = "<!-- gpu:start", "<!-- gpu:end -->"
# The targets
PAIRS_TARGET = 100_000  # SimCLR, whole Fashion-MNIST, batch 256: pairs/s, or LIMIT_SHARE × the limit if lower
LIMIT_SHARE = 0.8
SLICE_SECONDS, SLICE_UTIL = 40, 60  # the methods suite's Fashion-MNIST slice: seconds, mean GPU util %
STANDARD_HOURS = 2.0


def info(lines: list[str]) -> dict[str, str]:
    """The fields of the info log's first lines ("date: …", "git: …", the nvidia-smi and torch lines)."""
    out = {}
    for line in lines:
        if line.startswith("date: "):
            out["date"] = line[6:].strip()
        elif line.startswith("git: "):
            out["git"] = line[5:].strip()
        elif line.startswith("baseline: "):
            out["baseline"] = line[10:].strip()
        elif line.startswith("host: "):
            out["dry"] = line.split("dry: ")[1].split()[0] if "dry: " in line else "0"
        elif line.startswith("torch "):
            out["torch"] = line.strip()
        elif line.count(",") >= 3 and line[:1].isdigit() and "gpu" not in out:  # index, name, memory, driver
            idx, name, memory, driver = (f.strip() for f in line.split(",")[:4])
            out["gpu"] = f"{name} ({memory}, driver {driver})"
    return out


def read_rows(path: Path) -> list[dict]:
    """gpu_check_rows.tsv: step, status, seconds, measurement[, key=value;… values]."""
    rows = []
    for line in path.read_text().splitlines():
        step, status, secs, measurement, values = (line.split("\t") + [""] * 5)[:5]
        parsed = {}
        for pair in values.split(";"):
            key, _, value = pair.partition("=")
            try:
                parsed[key.strip()] = float(value)
            except ValueError:
                continue
        rows.append(
            {"step": step, "status": status, "secs": secs, "measurement": measurement, "values": parsed}
        )
    return rows


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}{unit}" if abs(x) >= 100 else f"{x:.2f}{unit}"


def side_by_side(rows: dict[str, dict], baseline: str) -> list[str]:
    """Today's code against the baseline, measured in the same run on the same GPU."""
    today, base = rows.get("throughput_small", {}), rows.get("baseline_throughput_small", {})
    grid, base_grid = rows.get("methods_local", {}), rows.get("baseline_methods_local", {})
    if not base and not base_grid:
        return ["No baseline ran in this session (gpu_check.sh without GPU_CHECK_KIT or GPU_CHECK_BASELINE)."]
    out = [
        f"Side by side with the baseline (commit {baseline or '?'}, the code the issue measured), "
        "same run, same GPU:",
        "",
        "| measurement | baseline | today | today vs baseline |",
        "|---|---:|---:|---:|",
    ]

    def line(label: str, b: float | None, t: float | None, kind: str = "rate"):
        """kind: rate (higher is better: t / b), time (lower is better: b / t), percent (t − b)."""
        change = "—"
        if b is not None and t is not None:
            if kind == "percent":
                change = f"{t - b:+.0f} points"
            elif b > 0 and t > 0:
                change = f"{(t / b if kind == 'rate' else b / t):.2f}× the speed"
        out.append(f"| {label} | {_fmt(b)} | {_fmt(t)} | {change} |")

    tv, bv = today.get("values", {}), base.get("values", {})
    for amp, name in (("off", "fp32"), ("bf16", "bf16")):
        if f"{amp}_loop" in tv or f"{amp}_loop" in bv:
            line(
                f"SimCLR loop, Fashion-MNIST, batch 256, {name} (pairs/s)",
                bv.get(f"{amp}_loop"),
                tv.get(f"{amp}_loop"),
            )
    gv, bgv = grid.get("values", {}), base_grid.get("values", {})

    def finished_seconds(v: dict) -> float | None:
        done = v.get("jobs_total") and v.get("jobs_done") == v.get("jobs_total")
        return v.get("seconds") if done else None

    def jobs_per_minute(v: dict) -> float | None:  # also for a grid its timeout cut
        return 60 * v.get("jobs_done", 0) / v["seconds"] if v.get("seconds") else None

    line(
        "methods slice, local executor: seconds (finished)",
        finished_seconds(bgv),
        finished_seconds(gv),
        "time",
    )
    line("methods slice, local executor: jobs per minute", jobs_per_minute(bgv), jobs_per_minute(gv))
    line("mean GPU utilisation over the slice (%)", bgv.get("util_mean"), gv.get("util_mean"), "percent")
    return out


def targets(rows: dict[str, dict]) -> list[str]:
    """Each of the issue's "Done when" targets from this run: met, missed, or not measured."""
    out = ["Issue #32's targets in this run:", "", "| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "missed")

    v = rows.get("throughput_small", {}).get("values", {})
    best, text = None, []
    for amp in ("off", "bf16"):
        loop, limit = v.get(f"{amp}_loop"), v.get(f"{amp}_limit")
        if loop is None:
            continue
        need = min(PAIRS_TARGET, LIMIT_SHARE * limit) if limit else PAIRS_TARGET
        text.append(
            f"{amp}: {loop:,.0f} pairs/s" + (f" (limit {limit:,.0f}, {loop / limit:.2f})" if limit else "")
        )
        best = bool(best) or loop >= need
    out.append(
        f"| SimCLR, whole Fashion-MNIST, batch 256: ≥ {PAIRS_TARGET:,} pairs/s, or ≥ {LIMIT_SHARE} × the "
        f"limit if lower | {'; '.join(text) or '—'} | {verdict(best)} |"
    )
    r = rows.get("throughput_resnet18", {}).get("values", {})
    loop, limit = r.get("bf16_loop"), r.get("bf16_limit")
    share = loop / limit if loop and limit else None
    out.append(
        f"| ResNet-18 bf16 ≥ {LIMIT_SHARE} × its limit | "
        f"{f'{loop:,.0f} / {limit:,.0f} = {share:.2f}' if share else '—'} | "
        f"{verdict(None if share is None else share >= LIMIT_SHARE)} |"
    )
    cells, ok = [], None
    for step in ("methods_local", "methods_jobs_per_gpu_4"):
        g = rows.get(step, {}).get("values", {})
        if not g.get("seconds"):
            continue
        finished = g.get("jobs_total") and g.get("jobs_done") == g.get("jobs_total")
        util = g.get("util_mean")
        cells.append(
            f"{step}: {g.get('jobs_done', 0):.0f}/{g.get('jobs_total', 0):.0f} jobs in {g['seconds']:.0f} s, "
            f"util {_fmt(util, ' %')}"
        )
        met = bool(finished) and g["seconds"] <= SLICE_SECONDS and util is not None and util >= SLICE_UTIL
        ok = bool(ok) or met
    out.append(
        f"| methods slice (Fashion-MNIST, seed 0) ≤ {SLICE_SECONDS} s with mean GPU util ≥ {SLICE_UTIL} % | "
        f"{'; '.join(cells) or '—'} | {verdict(ok)} |"
    )
    p = rows.get("projection", {}).get("values", {})
    hours = p.get("hours_shared", p.get("hours_one_at_a_time"))
    out.append(
        f"| `standard` projected ≤ {STANDARD_HOURS:g} h on one GPU | "
        f"{'—' if hours is None else f'{hours:.2f} h'} | "
        f"{verdict(None if hours is None else hours <= STANDARD_HOURS)} |"
    )
    return out


def markdown(out_dir: Path, allow_dry: bool = False, sections_only: bool = False) -> str:
    rows_file = out_dir / "gpu_check_rows.tsv"
    info_file = out_dir / "gpu_check_logs" / "00_info.log"
    if not info_file.is_file():
        info_file = out_dir / "gpu_check_report.txt"  # the same lines, once the logs are archived
    for f in (rows_file, info_file):
        if not f.is_file():
            raise SystemExit(f"{f}: not found (OUT must be the folder gpu_check.sh wrote)")
    meta = info(info_file.read_text().splitlines())
    dry = meta.get("dry") == "1"
    if dry and not allow_dry:
        raise SystemExit(f"{info_file}: a CPU dry run (GPU_CHECK_DRY=1) measures no GPU; not writing")
    rows = read_rows(rows_file)
    by_step = {r["step"]: r for r in rows}
    lines = []
    if dry:
        lines += ["(A CPU dry run: every step at a tiny size; no number below is a GPU measurement.)", ""]
    if not sections_only:
        lines += [
            f"Measured by `bash benchmarks/gpu_check.sh` on {meta.get('gpu', 'an unnamed GPU')}, "
            f"{meta.get('date', '?')}, commit {meta.get('git', '?')}; {meta.get('torch', 'torch ?')}.",
            "",
            "| step | status | seconds | measurement |",
            "|---|---|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['step']} | {r['status']} | {r['secs']} | {r['measurement'].replace('|', '/')} |"
            )
        lines.append("")
    baseline = meta.get("baseline", "none").split()[0] if meta.get("baseline", "none") != "none" else ""
    lines += side_by_side(by_step, baseline) + [""] + targets(by_step)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the folder gpu_check.sh wrote ($OUT)")
    p.add_argument(
        "--into", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "performance.md"
    )
    p.add_argument("--print", action="store_true", help="print the markdown instead of writing it")
    p.add_argument(
        "--sections-only", action="store_true", help="with --print: the comparison and targets only"
    )
    args = p.parse_args(argv)
    text = markdown(args.out, allow_dry=args.print, sections_only=args.sections_only)
    if args.print:
        print(text, end="")
    else:
        write_readme(args.into, text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
