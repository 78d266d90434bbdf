"""The prepared GPU session of issue #32: the kit that carries its packages, data and baseline code to
a node without network (`benchmarks/gpu_kit_unpack.py`), the comparison and targets
`benchmarks/gpu_table.py` reads off its rows, and (slow) the whole `gpu_check.sh` as a CPU dry run
beside the baseline's code."""

import gzip
import hashlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from _benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BASELINE_COMMIT = "9ff6478"  # the code the issue measured


def _tar_xz(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:xz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


# ---- the kit ----------------------------------------------------------------------------------------
def test_the_kit_unpacks_into_an_importable_site_a_data_dir_and_the_baseline(tmp_path, monkeypatch):
    kit = tmp_path / "kit"
    (kit / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(kit / "wheels" / "kitprobe-1.0-py3-none-any.whl", "w") as z:
        z.writestr("kitprobe/__init__.py", "ANSWER = 42\n")
    (kit / "wheels" / "python_version").write_text("3.12\n")
    labels = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9])  # an idx header and three labels
    _tar_xz(kit / "data-fashion_mnist.tar.xz", {"fashion-mnist/t10k-labels-idx1-ubyte": labels})
    _tar_xz(kit / "data-small.tar.xz", {"tabular/adult/adult.names": b"| adult\n"})
    _tar_xz(kit / "baseline.tar.xz", {"run_benchmark.py": b"print('baseline')\n"})
    (kit / "baseline.commit").write_text("abc1234\n")

    got = load_script("gpu_kit_unpack").unpack(kit, tmp_path / "dest")

    dest = tmp_path / "dest"
    assert got == {
        "site": str(dest / "site"),
        "python": "3.12",
        "data": str(dest / "data"),
        "baseline": str(dest / "baseline"),
        "baseline_commit": "abc1234",
        "kit": "1 wheels, data fashion_mnist, small, baseline yes",
    }
    monkeypatch.syspath_prepend(str(dest / "site"))
    assert importlib.import_module("kitprobe").ANSWER == 42
    gz = dest / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    assert gzip.decompress(gz.read_bytes()) == labels
    assert not gz.with_suffix("").exists()  # the raw copy is gone: the adapter reads the .gz
    # the adapter accepts the recompressed file by its content's SHA256 (its MD5 is not the official one)
    from datasets.fashion_mnist import verify

    verify(gz, "0" * 32, hashlib.sha256(labels).hexdigest())
    assert (dest / "data" / "tabular" / "adult" / "adult.names").read_bytes() == b"| adult\n"
    assert (dest / "baseline" / "run_benchmark.py").is_file()


def test_a_kit_without_baseline_or_wheels_says_so_and_a_missing_kit_is_one_line(tmp_path):
    unpack = load_script("gpu_kit_unpack").unpack
    kit = tmp_path / "kit"
    kit.mkdir()
    _tar_xz(kit / "data-small.tar.xz", {"graphs/Planetoid/Cora/raw/ind.cora.x": b"x"})
    got = unpack(kit, tmp_path / "dest")
    assert (got["site"], got["python"], got["baseline"], got["baseline_commit"]) == ("", "", "", "")
    assert got["kit"] == "0 wheels, data small, baseline no"
    with pytest.raises(SystemExit, match="no such kit folder"):
        unpack(tmp_path / "nowhere", tmp_path / "dest2")


# ---- the table's comparison and targets -------------------------------------------------------------
def _out(tmp_path: Path, rows: list[tuple], dry: str = "0", baseline: str = "9ff6478 (/tmp/b)") -> Path:
    out = tmp_path / "out"
    out.mkdir(parents=True)
    (out / "gpu_check_report.txt").write_text(  # the logs are archived: the report holds the same info
        f"date: 2026-12-06T10:00:00Z\nhost: node7  dry: {dry}  device: cuda  budget: 470s  data: /d\n"
        f"git: abc1234\nbaseline: {baseline}\n0, NVIDIA H200, 143771 MiB, 570.86\n"
        "torch 2.11.0+cu130 cuda 13.0 available True devices 1 NVIDIA H200\n"
    )
    (out / "gpu_check_rows.tsv").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return out


ROWS = [
    (
        "throughput_small",
        "ok",
        40,
        "…",
        "off_loop=90000;off_host=30000;off_limit=100000;bf16_loop=120000;"
        "bf16_limit=140000;util_mean=80.0;util_max=99",
    ),
    ("baseline_throughput_small", "ok", 30, "…", "off_loop=30000;bf16_loop=40000;"),
    ("throughput_resnet18", "ok", 45, "…", "bf16_loop=20000;bf16_limit=26000;"),
    ("methods_local", "ok", 38, "…", "seconds=38;jobs_done=18;jobs_total=18;util_mean=65.0;util_max=100"),
    ("baseline_methods_local", "ok", 120, "…", "seconds=120;jobs_done=18;jobs_total=18;util_mean=20.0"),
    ("projection", "ok", 9, "…", "hours_one_at_a_time=3.00;hours_shared=1.50;"),
]


def test_the_side_by_side_reads_today_against_the_baseline_from_the_same_run(tmp_path):
    gt = load_script("gpu_table")
    text = gt.markdown(_out(tmp_path, ROWS))
    assert "Side by side with the baseline (commit 9ff6478" in text
    assert (
        "| SimCLR loop, Fashion-MNIST, batch 256, fp32 (pairs/s) | 30,000 | 90,000 | 3.00× the speed |"
        in text
    )
    assert (
        "| SimCLR loop, Fashion-MNIST, batch 256, bf16 (pairs/s) | 40,000 | 120,000 | 3.00× the speed |"
        in text
    )
    # 120 s → 38 s: 120 / 38 = 3.16 times the speed; utilisation 20 → 65 %
    assert "| methods slice, local executor: seconds (finished) | 120 | 38.00 | 3.16× the speed |" in text
    assert "| methods slice, local executor: jobs per minute | 9.00 | 28.42 | 3.16× the speed |" in text
    assert "| mean GPU utilisation over the slice (%) | 20.00 | 65.00 | +45 points |" in text


def test_each_target_is_met_missed_or_not_measured(tmp_path):
    gt = load_script("gpu_table")
    text = gt.markdown(_out(tmp_path, ROWS))
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}

    def verdict(prefix: str) -> str:
        return next(v for k, v in lines.items() if k.startswith(prefix)).rstrip(" |").rsplit("| ", 1)[1]

    assert verdict("| SimCLR, whole Fashion-MNIST") == "met"  # 90k ≥ min(100k, 0.8 × 100k)
    assert verdict("| ResNet-18 bf16") == "missed"  # 20k / 26k = 0.77 < 0.8
    assert verdict("| methods slice (Fashion-MNIST") == "met"  # 18/18 in 38 s at 65 %
    assert verdict("| `standard` projected") == "met"  # 1.5 h with several jobs per GPU

    slow = [
        ("throughput_small", "ok", 40, "…", "off_loop=70000;off_limit=100000;"),  # < 80k: missed
        ("methods_local", "timeout", 40, "…", "seconds=30;jobs_done=17;jobs_total=18;util_mean=90"),
        ("projection", "ok", 9, "…", "hours_one_at_a_time=2.5;"),
    ]
    text = gt.markdown(_out(tmp_path / "slow", slow))
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert verdict("| SimCLR, whole Fashion-MNIST") == "missed"
    assert verdict("| ResNet-18 bf16") == "not measured"
    assert verdict("| methods slice (Fashion-MNIST") == "missed"  # fast, but one job never finished
    assert verdict("| `standard` projected") == "missed"
    assert "No baseline ran in this session" in text


def test_a_dry_run_is_printed_as_such_and_never_written(tmp_path, capsys):
    gt = load_script("gpu_table")
    out = _out(tmp_path, ROWS, dry="1")
    gt.main([str(out), "--print", "--sections-only"])
    printed = capsys.readouterr().out
    assert printed.startswith("(A CPU dry run") and "| step |" not in printed and "Side by side" in printed
    doc = tmp_path / "performance.md"
    doc.write_text(f"{gt.START} -->\nNot measured yet.\n{gt.END}\n")
    with pytest.raises(SystemExit, match="dry run"):
        gt.main([str(out), "--into", str(doc)])
    assert "Not measured yet" in doc.read_text()


# ---- the whole script, dry, beside the baseline -------------------------------------------------------
def test_the_scripts_parse():
    for script in ("gpu_check.sh", "gpu_kit.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)], check=True)


@pytest.mark.slow
def test_the_dry_gpu_check_runs_every_step_beside_the_baseline(tmp_path, fmnist_dir):
    """Every step at a tiny size on the CPU, the baseline's code taken from git (a full clone; without
    that commit the baseline steps are skipped and say so)."""
    git = shutil.which("git")
    has_baseline = (
        bool(git)
        and not subprocess.run(
            [git, "-C", str(ROOT), "cat-file", "-e", f"{BASELINE_COMMIT}^{{commit}}"], capture_output=True
        ).returncode
    )
    # PYTHON relative to the checkout, as a user may give it: the baseline's steps run from its folder
    python = os.path.relpath(sys.executable, ROOT)
    env = dict(os.environ, GPU_CHECK_DRY="1", OUT=str(tmp_path / "out"), PYTHON=python)
    if has_baseline:
        base = tmp_path / "baseline"
        base.mkdir()
        archive = subprocess.run(
            [
                git,
                "-C",
                str(ROOT),
                "archive",
                BASELINE_COMMIT,
                "benchmark",
                "benchmarks",
                "datasets",
                "methods",
                "run_benchmark.py",
            ],
            check=True,
            capture_output=True,
        ).stdout
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(base, filter="data")
        env.update(GPU_CHECK_BASELINE=str(base), GPU_CHECK_BASELINE_COMMIT=BASELINE_COMMIT)
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = tmp_path / "out"
    # what a device session brings back: three files
    assert sorted(p.name for p in out.iterdir()) == [
        "gpu_check_logs.tar.gz",
        "gpu_check_report.txt",
        "gpu_check_rows.tsv",
    ]
    rows = {r.split("\t")[0]: r.split("\t") for r in (out / "gpu_check_rows.tsv").read_text().splitlines()}
    baseline_status = "ok" if has_baseline else "skipped"
    assert {step: r[1] for step, r in rows.items()} == {
        "throughput_small": "ok",
        "baseline_throughput_small": baseline_status,
        "throughput_resnet18": "ok",
        "methods_local": "ok",
        "baseline_methods_local": baseline_status,
        "throughput_encoders": "ok",
        "methods_jobs_per_gpu_4": "ok",
        "step_syncs": "ok",
        "projection": "ok",
        "throughput_compile": "ok",
    }, rows
    assert "jobs_done=2;jobs_total=2" in rows["methods_local"][4]
    assert "usage error as expected" in rows["methods_jobs_per_gpu_4"][3]
    assert "profile_views_ms=" in rows["throughput_small"][4]  # where the loop's host time goes
    assert rows["step_syncs"][3].startswith("sync-free steps: not measured")  # the CPU counts none
    assert "fashion_mnist:simclr ours/limit" in rows["throughput_encoders"][3]  # ours / limit per encoder
    assert "fashion_mnist_simclr_ours_limit=" in rows["throughput_encoders"][4]
    assert "fashion_mnist_mae_ours_limit=" in rows["throughput_encoders"][4]  # the token encoder
    assert "h one job at a time" in rows["projection"][3]  # the suite's projected time from the job times
    assert "hours_one_at_a_time=" in rows["projection"][4]
    # compiled / eager, for the loop and the limit
    assert "off_compiled_loop=" in rows["throughput_compile"][4]
    assert "off_compiled_limit=" in rows["throughput_compile"][4]
    report = (out / "gpu_check_report.txt").read_text()
    assert "Issue #32's targets in this run:" in report
    if has_baseline:
        assert "jobs_done=2;jobs_total=2" in rows["baseline_methods_local"][4]
        assert "off_loop=" in rows["baseline_throughput_small"][4]
        assert f"baseline: {BASELINE_COMMIT}" in report
        assert "| SimCLR loop, Fashion-MNIST, batch 256, fp32 (pairs/s) |" in report
    with tarfile.open(out / "gpu_check_logs.tar.gz") as t:
        names = t.getnames()
    assert "gpu_check_runs/methods_local/store.sqlite" in names
    assert "gpu_check_logs/00_info.log" in names
