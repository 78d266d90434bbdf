"""Data integrity across every adapter family: a truncated / corrupt / wrong-shape file gives a
DataError naming the file, the expectation and the fix (the per-adapter tests cover more cases;
this checks the same three-part contract holds family by family), and the CLI exits 1 on it."""

import gzip
import shutil

import numpy as np
import pytest

from datasets.base import DataError, get_adapter

FIX_WORDS = ("download", "delete", "replace", "re-", "restore", "get ", "put ", "from http", "regenerate")
EXPECT_WORDS = ("expected", "expect", "md5", "checksum", "sha256", "not a readable")


def _contract(exc: DataError, fname: str):
    msg = str(exc)
    low = msg.lower()
    assert fname in msg, f"message does not name {fname}: {msg}"
    assert any(w in low for w in EXPECT_WORDS), f"message gives no expectation: {msg}"
    assert any(w in low for w in FIX_WORDS), f"message gives no fix: {msg}"
    assert "\n" not in msg.strip(), msg


def _images_fashion_mnist(dirs, tmp_path):
    src = dirs["fmnist"]
    d = tmp_path / "fashion-mnist"
    shutil.copytree(src, d, ignore=shutil.ignore_patterns("*.txt", "*.md"))
    f = d / "train-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:2000])
    return lambda: get_adapter("fashion_mnist", data_dir=tmp_path, download=False).splits(), f.name


def _images_fashion_mnist_shape(dirs, tmp_path):
    d = tmp_path / "fashion-mnist"
    shutil.copytree(dirs["fmnist"], d, ignore=shutil.ignore_patterns("*.txt", "*.md"))
    f = d / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(f, "wb") as g:  # a valid idx file with the wrong sample count
        g.write(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes(5))
    return lambda: get_adapter("fashion_mnist", data_dir=tmp_path, download=False).splits(), f.name


def _images_cifar(dirs, tmp_path):
    import datasets.cifar10 as cifar
    from tests.datasets.test_adapters_images import write_cifar10_fixture

    layout = write_cifar10_fixture(tmp_path)[0]
    f = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    f.write_bytes(f.read_bytes()[:100])
    dirs["monkeypatch"].setattr(cifar, "official_layout", lambda variant: layout)
    return lambda: get_adapter("cifar10", data_dir=tmp_path, download=False).splits(), f.name


def _medmnist(dirs, tmp_path):
    d = tmp_path / "medmnist"
    d.mkdir()
    raw = (dirs["data"] / "medmnist" / "breastmnist.npz").read_bytes()
    (d / "breastmnist.npz").write_bytes(raw[: len(raw) // 2])
    return lambda: get_adapter("breastmnist", data_dir=tmp_path, download=False).splits(), "breastmnist.npz"


def _medmnist_shape(dirs, tmp_path):
    d = tmp_path / "medmnist"
    d.mkdir()
    z = dict(np.load(dirs["data"] / "medmnist" / "breastmnist.npz"))
    z["test_images"] = z["test_images"][:, :20]
    np.savez(d / "breastmnist.npz", **z)
    return (
        lambda: get_adapter("breastmnist", data_dir=tmp_path, download=False, verify=False).splits(),
        "breastmnist.npz",
    )


def _audio_fsdd(dirs, tmp_path):
    src = dirs["data"] / "fsdd" / "recordings"
    if not src.is_dir():
        pytest.skip("no fsdd/")
    d = tmp_path / "fsdd" / "recordings"
    d.mkdir(parents=True)
    for p in src.glob("*.wav"):
        (d / p.name).symlink_to(p)
    t = d / "0_george_0.wav"
    good = t.read_bytes()
    t.unlink()
    t.write_bytes(good[:30])
    return lambda: get_adapter("fsdd", data_dir=tmp_path, download=False).splits(), t.name


def _ecg_ucr(dirs, tmp_path):
    src = dirs["data"] / "ecg" / "ucr" / "ECG200"
    d = tmp_path / "ecg" / "ucr" / "ECG200"
    shutil.copytree(src, d)
    f = next(p for p in sorted(d.iterdir()) if p.name.endswith("_TEST.txt") or p.name.endswith("_TEST.tsv"))
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n")
    return lambda: get_adapter("ecg200", data_dir=tmp_path, download=False).splits(), f.name


def _graphs_tu(dirs, tmp_path):
    raw = tmp_path / "graphs" / "TUDataset" / "MUTAG" / "raw"
    shutil.copytree(dirs["data"] / "graphs" / "TUDataset" / "MUTAG" / "raw", raw)
    f = raw / "MUTAG_graph_labels.txt"
    f.write_text("\n".join(f.read_text().splitlines()[:100]) + "\n")
    return lambda: get_adapter("mutag", data_dir=tmp_path, download=False).splits(), f.name


def _tabular_adult(dirs, tmp_path):
    d = tmp_path / "tabular" / "adult"
    shutil.copytree(dirs["data"] / "tabular" / "adult", d)
    f = d / "adult.test"
    f.write_text("\n".join(f.read_text().splitlines()[:5001]) + "\n")
    return lambda: get_adapter("adult", data_dir=tmp_path, download=False).splits(), f.name


CASES = {
    "images/fashion_mnist truncated": _images_fashion_mnist,
    "images/fashion_mnist wrong shape": _images_fashion_mnist_shape,
    "images/cifar10 truncated": _images_cifar,
    "medical/medmnist truncated": _medmnist,
    "medical/medmnist wrong shape": _medmnist_shape,
    "audio/fsdd truncated": _audio_fsdd,
    "ecg/ucr truncated": _ecg_ucr,
    "graphs/tu truncated": _graphs_tu,
    "tabular/adult truncated": _tabular_adult,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_error_names_file_expectation_and_fix(case, request, tmp_path, monkeypatch):
    dirs = {"monkeypatch": monkeypatch}
    if "fashion_mnist" in case:
        dirs["fmnist"] = request.getfixturevalue("fmnist_dir")
    elif "cifar" not in case:
        dirs["data"] = request.getfixturevalue("data_dir")
    load, fname = CASES[case](dirs, tmp_path)
    with pytest.raises(DataError) as e:
        load()
    _contract(e.value, fname)


def test_parsed_splits_are_shared_across_instances_until_a_file_changes(tmp_path):
    import os

    import torch

    from datasets.base import Adapter, Split

    calls = []

    class Counting(Adapter):
        name = "counting_toy"
        extra_options = frozenset({"variant"})

        def load_splits(self):
            calls.append(1)
            v = float((self.data_dir / "values.txt").read_text())
            self.scale = v  # state load_splits sets on the instance comes back on a cache hit
            s = Split(torch.full((4, 1), v), torch.zeros(4, dtype=torch.long))
            return {"train": s, "val": s, "test": s}

    (tmp_path / "values.txt").write_text("1.0")
    a, b = Counting(tmp_path), Counting(tmp_path)
    assert a.splits()["train"].inputs[0, 0] == 1.0
    assert b.splits()["train"].inputs[0, 0] == 1.0 and b.scale == 1.0
    assert len(calls) == 1
    assert Counting(tmp_path, variant="x").splits() and len(calls) == 2  # other options: own entry
    (tmp_path / "values.txt").write_text("22.0")  # a changed file is read again
    st = os.stat(tmp_path / "values.txt")
    os.utime(tmp_path / "values.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c = Counting(tmp_path)
    assert c.splits()["train"].inputs[0, 0] == 22.0 and c.scale == 22.0 and len(calls) == 3
