#!/usr/bin/env python
"""docs/performance.md's GPU table, generated from one `benchmarks/gpu_check.sh` run (issue #32).

    python benchmarks/gpu_table.py OUT [--into docs/performance.md]

OUT is the folder gpu_check.sh wrote (its $OUT): the rows (`gpu_check_rows.tsv`) become the table,
and the run's info log (`gpu_check_logs/00_info.log`: date, commit, GPU, driver, torch and CUDA)
its caption. A CPU dry run (`GPU_CHECK_DRY=1`) is refused: it measures no GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import write_readme  # noqa: E402

START, END = "<!-- gpu:start", "<!-- gpu:end -->"


def info(lines: list[str]) -> dict[str, str]:
    """The fields of the info log's first lines ("date: …", "git: …", the nvidia-smi and torch lines)."""
    out = {}
    for line in lines:
        if line.startswith("date: "):
            out["date"] = line[6:].strip()
        elif line.startswith("git: "):
            out["git"] = line[5:].strip()
        elif line.startswith("host: "):
            out["dry"] = line.split("dry: ")[1].split()[0] if "dry: " in line else "0"
        elif line.startswith("torch "):
            out["torch"] = line.strip()
        elif line.count(",") >= 3 and line[:1].isdigit() and "gpu" not in out:  # index, name, memory, driver
            idx, name, memory, driver = (f.strip() for f in line.split(",")[:4])
            out["gpu"] = f"{name} ({memory}, driver {driver})"
    return out


def markdown(out_dir: Path) -> str:
    rows_file, info_file = out_dir / "gpu_check_rows.tsv", out_dir / "gpu_check_logs" / "00_info.log"
    for f in (rows_file, info_file):
        if not f.is_file():
            raise SystemExit(f"{f}: not found (OUT must be the folder gpu_check.sh wrote)")
    meta = info(info_file.read_text().splitlines())
    if meta.get("dry") == "1":
        raise SystemExit(f"{info_file}: a CPU dry run (GPU_CHECK_DRY=1) measures no GPU; not writing")
    lines = [
        f"Measured by `bash benchmarks/gpu_check.sh` on {meta.get('gpu', 'an unnamed GPU')}, "
        f"{meta.get('date', '?')}, commit {meta.get('git', '?')}; {meta.get('torch', 'torch ?')}.",
        "",
        "| step | status | seconds | measurement |",
        "|---|---|---:|---|",
    ]
    for row in rows_file.read_text().splitlines():
        step, status, secs, measurement = (row.split("\t") + ["", "", "", ""])[:4]
        lines.append(f"| {step} | {status} | {secs} | {measurement.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the folder gpu_check.sh wrote ($OUT)")
    p.add_argument(
        "--into", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "performance.md"
    )
    args = p.parse_args(argv)
    write_readme(args.into, markdown(args.out), START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
