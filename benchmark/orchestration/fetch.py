"""`run_benchmark.py fetch`: stage everything a suite needs before it runs.

Cluster compute nodes usually have no internet: `fetch` runs on a login node (or any machine with
internet and the same data dir) and downloads the suite's datasets, the OOD partners its protocols
will score and its transfer sources and targets, through the one download layer
(`datasets.files.stage`: resumable, checksum-verified, unpacked atomically). `--dry-run` lists every
file with its URL, size and whether it is present, and the disk it needs, without downloading.

A dataset counts as present when its adapter finds an accepted local copy (`Adapter.local_copy`:
also e.g. Debian's Fashion-MNIST or scikit-learn's covertype cache), else file by file. The same
plan tells `run` which OOD partners and transfer datasets are absent (`missing_locally`), which
`run --strict` turns into an error before any job starts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.core.errors import DataError, UsageError
from benchmark.orchestration.suites import DatasetEntry, Suite
from datasets.base import ADAPTERS, Adapter, default_data_dir


@dataclass
class Need:
    """One dataset (with its options) the suite needs, and why."""

    name: str
    options: dict[str, Any]
    roles: list[str] = field(default_factory=list)
    adapter: Adapter | None = None

    @property
    def label(self) -> str:
        opts = f" {json.dumps(self.options, sort_keys=True)}" if self.options else ""
        return f"{self.name}{opts}"


def _make(name: str, options: dict, data_dir: Path, where: str) -> Adapter:
    if name not in ADAPTERS:
        raise UsageError(f"{where}: unknown dataset {name!r}; known: {', '.join(sorted(ADAPTERS))}")
    try:
        return ADAPTERS[name](data_dir=data_dir, **options)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{where}: dataset {name}: {e}") from e


class _Needs(dict):
    """(name, options) → Need, in the order first needed."""

    def __init__(self, data_dir: Path):
        super().__init__()
        self.data_dir = data_dir

    def add(self, name: str, options: dict, role: str, where: str) -> Need:
        key = (name, json.dumps(options, sort_keys=True, default=str))
        if key not in self:
            self[key] = Need(name, dict(options), [], _make(name, options, self.data_dir, where))
        if role not in self[key].roles:
            self[key].roles.append(role)
        return self[key]

    def add_partners(self, need: Need) -> None:
        """The OOD partners the `ood` protocol will score: those with the same spec (it skips the
        others, nothing is resized)."""
        spec = need.adapter.spec
        for group in ("near", "far"):
            for p in need.adapter.ood_partners.get(group, []):
                if p == need.name or p not in ADAPTERS:
                    continue
                ps = ADAPTERS[p].spec
                if ps.kind == spec.kind and tuple(ps.shape) == tuple(spec.shape):
                    self.add(p, {}, f"OOD partner of {need.name}", f"{need.name}.ood_partners")


def job_needs(jobs, data_dir: Path, ood_partners: bool = True) -> list[Need]:
    """What the given jobs read: their datasets (or transfer targets), their transfer sources, and
    (with `ood_partners`) the OOD partners of the jobs that run the `ood` protocol."""
    needs = _Needs(data_dir)
    for j in jobs:
        role = "transfer target" if j.pretrain_on else "dataset"
        need = needs.add(j.dataset, j.dataset_options, role, f"job {j.label()}")
        for src in j.pretrain_on:
            needs.add(src["name"], src.get("options") or {}, "transfer source", f"job {j.label()}")
        if ood_partners and "ood" in j.protocols:
            needs.add_partners(need)
    return list(needs.values())


def suite_needs(suite: Suite, data_dir: Path, ood_partners: bool = True) -> list[Need]:
    """Every dataset the suite reads: its datasets, the OOD partners the `ood` protocol will score
    (those whose spec matches; the protocol skips the others), and its transfer datasets."""
    needs = _Needs(data_dir)
    add = needs.add
    entries = []
    for i, d in enumerate(suite.datasets):
        entries.append((d, add(d.name, d.options, "dataset", f"suite {suite.source}: datasets[{i}]")))
    for i, tr in enumerate(suite.transfer):
        for key, role in (("pretrain_on", "transfer source"), ("evaluate_on", "transfer target")):
            for item in tr[key]:
                if isinstance(item, DatasetEntry):
                    name, options = item.name, item.options
                else:  # a name: the suite's own entry supplies its options
                    d = next((d for d in suite.datasets if d.name == item), None)
                    name, options = item, (d.options if d else {})
                add(name, options, role, f"suite {suite.source}: transfer[{i}].{key}")
    if ood_partners and "ood" in suite.protocols:
        for _, need in entries:
            needs.add_partners(need)
    return list(needs.values())


@dataclass
class FileRow:
    need: Need
    rf: Any  # datasets.files.RemoteFile
    status: str  # present | local copy | partial | missing


def plan(needs: list[Need], data_dir: Path) -> tuple[list[FileRow], dict[str, Path | None]]:
    """Every remote file of every need (each file once) with its status, and each need's local copy."""
    rows: list[FileRow] = []
    seen: set[str] = set()
    local: dict[str, Path | None] = {}
    for need in needs:
        local[need.label] = need.adapter.local_copy()
        for rf in need.adapter.remote_files():
            if rf.path in seen:
                continue
            seen.add(rf.path)
            part = data_dir / (rf.path + ".part")
            if rf.staged(data_dir):
                status = "present"
            elif local[need.label] is not None:
                status = "local copy"
            elif part.is_file():
                status = f"partial ({part.stat().st_size} bytes; resumes)"
            else:
                status = "missing"
            rows.append(FileRow(need, rf, status))
    return rows, local


def missing_locally(suite_or_jobs, data_dir: Path | None, ood_partners: bool = True) -> list[tuple[str, str]]:
    """(dataset, role) of every OOD partner (unless `ood_partners` is False: a suite that marks them
    optional) and transfer dataset a suite (or a list of jobs) reads that has no local copy yet (a
    download on first use may still bring it; `run --strict` refuses to rely on that)."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    out = []
    needs = (
        suite_needs(suite_or_jobs, data_dir, ood_partners)
        if isinstance(suite_or_jobs, Suite)
        else job_needs(suite_or_jobs, data_dir, ood_partners)
    )
    for need in needs:
        roles = [r for r in need.roles if r != "dataset"]
        if roles and need.adapter.local_copy() is None:
            out.append((need.label, ", ".join(roles)))
    return out


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= f:
            return f"{n / f:.1f} {unit}"
    return f"{n} B"


def print_plan(
    rows: list[FileRow], local: dict, needs: list[Need], data_dir: Path, out=None, lookup: bool = False
) -> None:
    """The plan, one line per file. With `lookup`, files with no recorded size get the size their
    host announces (marked `~`); those no host answered for stay `?`, with the hosts named."""
    out = out or sys.stdout
    announced: dict[str, int] = {}
    dead: dict[str, str] = {}
    if lookup and any(r.rf.size is None for r in rows):
        from datasets.files import announced_sizes

        announced, dead = announced_sizes([r.rf for r in rows])
    w = max([len(r.need.name) for r in rows] + [7])
    print(f"{'dataset':<{w}}  {'status':<10}  {'size':>10}  file (under {data_dir}) <- url", file=out)
    for r in rows:
        status = r.status.split(" (")[0]
        size = _size(r.rf.size) if r.rf.size is not None or r.rf.path not in announced else None
        size = size or "~" + _size(announced[r.rf.path])
        print(f"{r.need.name:<{w}}  {status:<10}  {size:>10}  {r.rf.path} <- {r.rf.url}", file=out)
        for extra in r.rf.urls()[1:]:
            print(f"{'':<{w}}  {'':<10}  {'':>10}  (fallback) <- {extra}", file=out)
    for need in needs:
        note = f"{need.label} ({', '.join(need.roles)})"
        if not need.adapter.remote_files():
            print(f"{note}: bundled with its Python package, nothing to download", file=out)
        elif local.get(need.label) is not None and not Path(local[need.label]).is_relative_to(data_dir):
            print(f"{note}: local copy at {local[need.label]}", file=out)
    if announced:
        print(f"~ size announced by the host now (no size recorded): {len(announced)} file(s)", file=out)
    if lookup and dead:
        print(
            "sizes not looked up, no answer from: "
            + ", ".join(f"{h} ({why})" for h, why in sorted(dead.items()))
            + " — offline? `fetch --dry-run` on a machine with internet gives every size",
            file=out,
        )

    def size_of(r: FileRow) -> int | None:
        return r.rf.size if r.rf.size is not None else announced.get(r.rf.path)

    todo = [r for r in rows if r.status not in ("present", "local copy")]
    known = sum(size_of(r) for r in todo if size_of(r) is not None)
    unknown = sum(size_of(r) is None for r in todo)
    archives = any(r.rf.extract is not None for r in todo)
    elsewhere = sum(r.status == "local copy" for r in rows)
    print(
        f"{len(rows)} file(s): {len(rows) - len(todo)} present"
        + (f" ({elsewhere} covered by an existing local copy)" if elsewhere else "")
        + f", {len(todo)} to download "
        f"({_size(known) if known else '0 B'} of known size"
        f"{f' + {unknown} file(s) of unknown size' if unknown else ''}); disk needed: "
        f"{'at least ' if unknown else ''}{_size(known) if known else '0 B'}"
        + (" (archives are unpacked: about as much again until each archive is deleted)" if archives else ""),
        file=out,
    )


def fetch_suite(
    suite: Suite,
    data_dir: str | Path | None,
    dry_run: bool = False,
    ood_partners: bool = True,
    progress: bool = True,
    out=None,
    log=None,
    size_lookup: bool = True,
) -> int:
    """Dry-run: print the plan. Otherwise stage every missing file (resuming partial ones) and
    return 1 after naming every failure, else 0."""
    out = out or sys.stdout
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir}: not a directory")
    needs = suite_needs(suite, data_dir, ood_partners)
    rows, local = plan(needs, data_dir)
    print(f"suite {suite.name}: {len(needs)} dataset(s) with options, data dir {data_dir}", file=out)
    if not ood_partners and "ood" in suite.protocols:
        why = (
            "the suite marks them optional (ood_partners: optional): the OOD protocol scores those in "
            "the data dir and lists the others as missing; --ood-partners stages them"
            if suite.ood_partners == "optional"
            else "--no-ood-partners"
        )
        print(f"OOD partners left out: {why}", file=out)
    print_plan(rows, local, needs, data_dir, out, lookup=dry_run and size_lookup)
    if dry_run:
        return 0
    log = log or (lambda m: print(m, file=sys.stderr))
    from datasets.files import stage

    todo = [r for r in rows if r.status not in ("present", "local copy")]
    failures: list[str] = []
    failed_lists: set[str] = set()
    # present files with a known checksum are verified too; then the missing ones are downloaded
    todo_ids = {id(r) for r in todo}
    for r in [r for r in rows if r.status == "present"] + todo:
        if r.rf.hash_list in failed_lists:
            failures.append(f"{r.rf.path}: its checksum list {r.rf.hash_list} could not be fetched")
            continue
        try:
            if id(r) in todo_ids:
                data_dir.mkdir(parents=True, exist_ok=True)
            stage(r.rf, data_dir, progress=progress, log=log)
            if id(r) in todo_ids:
                log(f"ok   {r.rf.path}")
        except DataError as e:
            failures.append(str(e))
            failed_lists.add(r.rf.path)
            log(f"FAIL {r.rf.path}: {e}")
    if failures:
        print(f"fetch: {len(failures)} file(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"fetched {len(todo)} file(s) into {data_dir}" if todo else "nothing to download", file=out)
    return 0


def add_parser(sub) -> None:
    f = sub.add_parser("fetch", help="download everything a suite needs (for nodes without internet)")
    f.add_argument("--suite", default="quick", help="shipped suite name (quick, ...) or a .yaml file")
    f.add_argument(
        "--data-dir", default=None, help="where to put the files (default: $SSLBENCH_DATA_DIR or ~/.cache)"
    )
    f.add_argument("--dry-run", action="store_true", help="list files, sizes and status; download nothing")
    partners = f.add_mutually_exclusive_group()
    partners.add_argument(
        "--no-ood-partners",
        action="store_true",
        help="leave out the OOD partners (datasets and transfer only)",
    )
    partners.add_argument(
        "--ood-partners",
        action="store_true",
        help="stage the OOD partners even where the suite marks them optional",
    )
    f.add_argument(
        "--no-size-lookup",
        action="store_true",
        help="--dry-run: do not ask the hosts for the sizes no checksum list records",
    )
    f.add_argument("--no-progress", action="store_true", help="no progress bars")
    f.add_argument(
        "--dataset-file",
        action="append",
        default=None,
        metavar="FILE",
        help="Python file defining a dataset adapter (executed only because it is named here)",
    )


def cmd_fetch(args) -> int:
    from benchmark.orchestration.package_guard import check_datasets_package

    check_datasets_package()
    import datasets  # noqa: F401  (every built-in adapter registered)
    from benchmark.orchestration.suites import load_suite

    suite = load_suite(args.suite)
    return fetch_suite(
        suite,
        args.data_dir,
        dry_run=args.dry_run,
        ood_partners=args.ood_partners or (not args.no_ood_partners and suite.ood_partners == "required"),
        progress=not args.no_progress,
        size_lookup=not args.no_size_lookup,
    )
