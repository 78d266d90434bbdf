import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from datasets.base import DataError, get_adapter
from datasets.fashion_mnist import FILES, read_idx_gz

ROOT = Path(__file__).resolve().parents[2]


def test_official_files_load_with_official_split(fmnist_dir, tmp_path):
    a = get_adapter("fashion_mnist", data_dir=tmp_path, download=False)
    s = a.splits()
    assert len(s["train"]) + len(s["val"]) == 60000 and len(s["test"]) == 10000
    assert len(s["val"]) == 6000  # stratified 10 % of the official train split
    assert s["train"].inputs.dtype == torch.uint8 and s["train"].inputs.shape[1:] == (1, 28, 28)
    assert torch.bincount(s["val"].labels).tolist() == [600] * 10
    assert torch.bincount(s["test"].labels).tolist() == [1000] * 10


def _copy(fmnist_dir, tmp_path) -> Path:
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    for f in FILES:
        shutil.copy(fmnist_dir / f, d / f)
    return d


def test_truncated_file_names_the_file(fmnist_dir, tmp_path):
    d = _copy(fmnist_dir, tmp_path)
    target = d / "train-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:2000])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        get_adapter("fashion_mnist", data_dir=tmp_path, download=False).splits()


def test_wrong_content_fails_checksum_and_shape(fmnist_dir, tmp_path):
    d = _copy(fmnist_dir, tmp_path)
    # A valid gzip of a valid idx header but the wrong sample count.
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes(5))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*checksum"):
        get_adapter("fashion_mnist", data_dir=tmp_path, download=False).splits()
    with pytest.raises(DataError, match=r"shape \(5,\); expected \(10000,\)"):
        read_idx_gz(d / "t10k-labels-idx1-ubyte.gz", (10000,))


def test_cli_reports_corrupt_file_with_exit_1(fmnist_dir, tmp_path):
    d = _copy(fmnist_dir, tmp_path)
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run_benchmark.py"),
            "run",
            "--suite",
            "quick",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--seeds",
            "0",
            "--methods",
            "random_init",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stderr
    assert "train-images-idx3-ubyte.gz" in r.stderr


def test_views_are_batched_deterministic_and_in_range(fmnist_dir, tmp_path):
    a = get_adapter("fashion_mnist", data_dir=tmp_path, download=False)
    x = a.prepare(a.splits()["test"].inputs[:64], torch.device("cpu"))
    v1 = a.views(x, torch.Generator().manual_seed(0))
    v2 = a.views(x, torch.Generator().manual_seed(0))
    v3 = a.views(x, torch.Generator().manual_seed(1))
    assert v1.shape == x.shape and torch.equal(v1, v2) and not torch.equal(v1, v3)
    assert v1.min() >= 0 and v1.max() <= 1
