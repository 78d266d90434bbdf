#!/usr/bin/env python3
"""Unpacks a kit made by `benchmarks/gpu_kit.sh` on the GPU node (standard library only: it runs
before the kit's packages are importable).

    python3 benchmarks/gpu_kit_unpack.py KIT DEST

DEST/site      the wheels, unzipped (a wheel is a zip of its installed files): put it on PYTHONPATH;
DEST/data      the data archives, in the data dir's layout; Fashion-MNIST's idx bytes gzipped again
               (the adapter accepts a recompressed copy of the official bytes);
DEST/baseline  the baseline's code.
Prints `site=…`, `python=…` (the version the wheels are for), `data=…`, `baseline=…`,
`baseline_commit=…` (each empty when the kit has none) and a `kit:` summary line.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path


def unpack(kit: Path, dest: Path) -> dict[str, str]:
    if not kit.is_dir():
        raise SystemExit(f"{kit}: no such kit folder (make it with `bash benchmarks/gpu_kit.sh`)")
    site, data, baseline = dest / "site", dest / "data", dest / "baseline"
    wheels = sorted((kit / "wheels").glob("*.whl"))
    for whl in wheels:
        with zipfile.ZipFile(whl) as z:
            z.extractall(site)
    parts = sorted(kit.glob("data-*.tar.xz"))
    for part in parts:
        with tarfile.open(part, "r:xz") as t:
            t.extractall(data, filter="data")
    for raw in sorted((data / "fashion-mnist").glob("*-ubyte")):
        with open(raw, "rb") as src, gzip.open(raw.with_name(raw.name + ".gz"), "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
        raw.unlink()
    has_baseline = (kit / "baseline.tar.xz").is_file()
    if has_baseline:
        with tarfile.open(kit / "baseline.tar.xz", "r:xz") as t:
            t.extractall(baseline, filter="data")
    names = [p.name[len("data-") : -len(".tar.xz")] for p in parts]
    commit, version = kit / "baseline.commit", kit / "wheels" / "python_version"
    return {
        "site": str(site) if wheels else "",
        "python": version.read_text().strip() if wheels and version.is_file() else "",
        "data": str(data) if parts else "",
        "baseline": str(baseline) if has_baseline else "",
        "baseline_commit": commit.read_text().strip() if has_baseline and commit.is_file() else "",
        "kit": f"{len(wheels)} wheels, data {', '.join(names) or 'none'}, "
        f"baseline {'yes' if has_baseline else 'no'}",
    }


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    for key, value in unpack(Path(args[0]), Path(args[1])).items():
        print(f"{key}={value}" if key != "kit" else f"kit: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
