#!/usr/bin/env python
"""How often each method's training steps made the host wait for the GPU, from a run made with
`SSLBENCH_SYNC_DEBUG=1` on CUDA (benchmark/training/step_syncs.py; `benchmarks/gpu_check.sh` makes
its jobs-per-GPU grid that way).

    python benchmarks/sync_report.py STORE.sqlite

One line per trained method: synchronizing operations per step and the source lines that ran them
most. The last line sums it up ("sync-free steps: K of N methods"), with `key=value` pairs after a
tab for gpu_check's table. A store whose jobs recorded no counts (made without the variable, or on
CPU) says so.
"""

from __future__ import annotations

import argparse
import collections
import json
import sqlite3
import sys
from pathlib import Path


def method_syncs(store: Path) -> dict[str, dict]:
    """method -> {"syncs", "steps", "sites"} over its done jobs' training runs that recorded counts."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT method, history_json FROM jobs WHERE status = 'done'").fetchall()
    finally:
        con.close()
    out: dict[str, dict] = {}
    for method, text in rows:
        history = json.loads(text) if text else {}
        for run in history.values() if isinstance(history, dict) else []:
            epochs = run.get("epochs") if isinstance(run, dict) else None
            counted = [e for e in epochs or [] if "host_syncs" in e]
            if not counted:
                continue
            m = out.setdefault(method, {"syncs": 0, "steps": 0.0, "sites": collections.Counter()})
            m["syncs"] += sum(e["host_syncs"] for e in counted)
            m["steps"] += run.get("steps", 0) * len(counted) / len(epochs)  # epochs resumed into: none
            for e in counted:
                m["sites"].update(e.get("host_sync_sites") or {})
    return out


def report(store: Path) -> list[str]:
    per_method = method_syncs(store)
    if not per_method:
        return [
            "sync-free steps: not measured (no job recorded counts: run with SSLBENCH_SYNC_DEBUG=1 on CUDA)\t"
        ]
    lines, free = [], 0
    for method, m in sorted(per_method.items()):
        per_step = m["syncs"] / m["steps"] if m["steps"] else float(m["syncs"])
        free += m["syncs"] == 0
        sites = ", ".join(f"{site} ×{n}" for site, n in m["sites"].most_common(3))
        counts = f"{per_step:8.2f} per step ({m['syncs']} in {m['steps']:.0f} steps)"
        lines.append(f"{method:<16} {counts}" + (f"  {sites}" if sites else ""))
    busy = [
        f"{k} {v['syncs'] / max(v['steps'], 1):.2f}/step" for k, v in sorted(per_method.items()) if v["syncs"]
    ]
    lines.append(
        f"sync-free steps: {free} of {len(per_method)} methods"
        + (f"; waits in {', '.join(busy)}" if busy else "")
        + f"\tsync_free={free};trained={len(per_method)}"
    )
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path, help="a run's store.sqlite")
    args = ap.parse_args(argv)
    if not args.store.is_file():
        print(f"{args.store}: no such store", file=sys.stderr)
        return 2
    print("\n".join(report(args.store)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
