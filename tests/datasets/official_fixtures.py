"""Small files in each source's official format, for the loopback download tests
(tests/datasets/test_downloads.py): what the official host serves, at its URL path, with the same
archive layout (PhysioNet's per-file tree and release zip, UCI's zip, the Zenodo npz, the TF Speech
Commands tarball, GitHub archive zips/tarballs, UCR zips, TU zips, Planetoid raw pickles, ...).

Each builder adds its files to a `Loopback` and returns a `Fixture`: the `patch` that swaps the
official checksums / counts the adapter checks for the fixture's own (the files are tiny, not the
real ones), and the adapter `options` a small copy needs (e.g. `strict: false`).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tests.datasets.loopback import Loopback


@dataclass
class Fixture:
    patch: Callable = lambda mp: None  # (monkeypatch) -> None
    options: dict = field(default_factory=dict)
    counts: tuple[int, int, int] | None = None  # expected train/val/test sizes, when fixed


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def tgz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tree(root: Path, prefix: str = "") -> dict[str, bytes]:
    return {
        prefix + p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def wav_bytes(x: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x.astype(np.int16), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tone(n: int, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return (6000 * np.sin(2 * np.pi * (200 + 20 * (seed % 7)) * t) + 300 * rng.standard_normal(n)).astype(
        np.int16
    )


# ---- natural images -----------------------------------------------------------------------------
def fashion_mnist(lb: Loopback, tmp: Path) -> Fixture:
    import datasets.fashion_mnist as fm

    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(30) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(10) % 10).astype(np.uint8),
    }
    table = {}
    for name, a in arrays.items():
        raw = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
        gz = gzip.compress(raw, mtime=0)
        lb.add("fashion_mnist", name, gz)
        table[name] = (md5(gz), sha256(raw), a.shape)

    def patch(mp):
        mp.setattr(fm, "FILES", table)
        mp.setattr(fm, "DEBIAN_DIR", tmp / "no-debian-copy")  # this machine has the real one

    return Fixture(patch, counts=(20, 10, 10))


def _cifar_batch(rng, n, label_key, classes, first=0):
    d = {
        b"batch_label": b"fixture",
        label_key.encode(): [int((first + i) % classes) for i in range(n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"f{i}.png".encode() for i in range(n)],
    }
    return pickle.dumps(d, protocol=2)


def _cifar(variant: str):
    def build(lb: Loopback, tmp: Path) -> Fixture:
        import datasets.cifar10 as cifar

        layout = cifar.official_layout(variant)
        rng = np.random.default_rng(1)
        k = layout.num_classes
        per_train = 2 * k // len(layout.train)  # two images per class
        members, train, test = {}, [], []
        for b, (f, _, _) in enumerate(layout.train):
            members[f] = _cifar_batch(rng, per_train, layout.label_key, k, b * per_train)
            train.append((f, md5(members[f]), per_train))
        for f, _, _ in layout.test:
            members[f] = _cifar_batch(rng, k, layout.label_key, k)
            test.append((f, md5(members[f]), k))
        meta_file, _, key = layout.meta
        members[meta_file] = pickle.dumps({key.encode(): [f"c{i}".encode() for i in range(k)]}, protocol=2)
        tgz = tgz_bytes({f"{layout.folder}/{n}": b for n, b in members.items()} | {"README": b"x"})
        lb.add("toronto", f"~kriz/{layout.tgz_name}", tgz)
        fixed = dataclasses.replace(
            layout,
            tgz_md5=md5(tgz),
            train=tuple(train),
            test=tuple(test),
            meta=(meta_file, md5(members[meta_file]), key),
        )

        def patch(mp):
            real = cifar.official_layout
            mp.setattr(cifar, "official_layout", lambda v: fixed if v == variant else real(v))

        return Fixture(patch, counts=(k, k, k))

    return build


def bundled(lb: Loopback, tmp: Path) -> Fixture:
    return Fixture()


# ---- MedMNIST ------------------------------------------------------------------------------------
def _medmnist(flag: str):
    def build(lb: Loopback, tmp: Path) -> Fixture:
        import datasets.medmnist as mm

        volume = flag in mm.FLAGS_3D
        channels, classes, multilabel = (mm.FLAGS_3D if volume else mm.FLAGS_2D)[flag]
        rng = np.random.default_rng(len(flag))
        n = {"train": 6, "val": 3, "test": 3}
        arrays = {}
        for s, count in n.items():
            shape = mm.expected_image_shape(count, 28, channels, volume)
            arrays[f"{s}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
            if multilabel:
                arrays[f"{s}_labels"] = rng.integers(0, 2, (count, classes)).astype(np.uint8)
            else:
                arrays[f"{s}_labels"] = (np.arange(count) % classes).reshape(-1, 1).astype(np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        url = mm.medmnist_info(flag)["url"]
        lb.add("zenodo", url.removeprefix("https://zenodo.org/"), data)

        def patch(mp):
            info = dict(mm._INFO or {})
            if not info:
                mm.medmnist_info(flag)
                info = dict(mm._INFO)
            info[flag] = {**info[flag], "MD5": md5(data), "n_samples": n}
            mp.setattr(mm, "_INFO", info)

        return Fixture(patch, counts=(6, 3, 3))

    return build


# ---- audio ---------------------------------------------------------------------------------------
def fsdd(lb: Loopback, tmp: Path) -> Fixture:
    from datasets.fsdd import FSDD_PATH, FSDD_VERSION

    top = f"free-spoken-digit-dataset-{FSDD_VERSION}"
    members = {f"{top}/README.md": b"fsdd\n", f"{top}/acquire_data/say.py": b"pass\n"}
    for d in range(10):
        for i in range(50):  # the full digit x index grid of one speaker
            members[f"{top}/recordings/{d}_jackson_{i}.wav"] = wav_bytes(tone(240, 8000, d * 50 + i), 8000)
    lb.add("github", FSDD_PATH, tgz_bytes(members))
    return Fixture(counts=(410, 40, 50))


def speech_commands(lb: Loopback, tmp: Path) -> Fixture:
    import datasets.speech_commands as sc
    from tests.datasets.test_adapters_audio import write_speech_commands

    root = tmp / "sc-src"
    write_speech_commands(root, words=("yes", "no"), per_word=3)
    (root / "README.md").write_text("speech commands\n")
    data = tgz_bytes(tree(root))
    lb.add("tensorflow", sc.SC_PATH, data)
    return Fixture(lambda mp: mp.setattr(sc, "SC_SHA256", sha256(data)), {"strict": False}, counts=(2, 2, 2))


def esc50(lb: Loopback, tmp: Path) -> Fixture:
    from datasets.esc50 import ESC50_PATH
    from tests.datasets.test_adapters_audio import write_esc50

    root = tmp / "esc-src"
    write_esc50(root, targets=(0, 1), per_fold=1, seconds=0.2)
    (root / "README.md").write_text("ESC-50\n")
    lb.add("github", ESC50_PATH, zip_bytes(tree(root, "ESC-50-master/")))
    return Fixture(options={"strict": False}, counts=(6, 2, 2))


# ---- ECG -----------------------------------------------------------------------------------------
def mitdb(lb: Loopback, tmp: Path) -> Fixture:
    import wfdb

    from datasets.mitdb import DS1, DS2, PACED

    out = tmp / "mitdb-src"
    out.mkdir(parents=True)
    rng = np.random.default_rng(3)
    names = sorted(DS1 + DS2 + PACED)
    for k, rec in enumerate(names):
        n = 360 * 6  # 6 s, one beat a second
        t = np.arange(n)
        peaks = np.arange(180, n - 180, 360)
        sig = np.zeros((n, 2))
        for p in peaks:
            sig[:, 0] += np.exp(-(((t - p) / 6.0) ** 2))
        sig[:, 1] = 0.5 * sig[:, 0]
        sig += 0.02 * rng.standard_normal(sig.shape)
        wfdb.wrsamp(
            rec,
            fs=360,
            units=["mV", "mV"],
            sig_name=["MLII", "V1"],
            p_signal=sig,
            fmt=["212", "212"],
            adc_gain=[200.0, 200.0],
            baseline=[1024, 1024],
            write_dir=str(out),
        )
        symbols = ["N" if (i + k) % 4 else "V" for i in range(len(peaks))]
        wfdb.wrann(rec, "atr", peaks, np.array(symbols), write_dir=str(out))
    (out / "RECORDS").write_text("".join(f"{r}\n" for r in names))
    files = tree(out)
    files["SHA256SUMS.txt"] = "".join(f"{sha256(b)} {n}\n" for n, b in sorted(files.items())).encode()
    for name, b in files.items():
        lb.add("physionet", f"files/mitdb/1.0.0/{name}", b)
    return Fixture()


def _ucr(name: str, classes: list[int], length: int):
    def build(lb: Loopback, tmp: Path) -> Fixture:
        import datasets.ucr as ucr
        from datasets.base import ADAPTERS
        from tests.datasets.test_adapters_ecg import write_ucr

        d = tmp / f"ucr-{name}"
        train, test = classes * 4, classes * 2
        write_ucr(d / f"{name}_TRAIN.txt", train, length, 1)
        write_ucr(d / f"{name}_TEST.txt", test, length, 2)
        (d / f"{name}_TRAIN.ts").write_text("@problemName x\n")  # the zip holds other formats too
        lb.add("ucr", ucr.UCR_PATH.format(name=name), zip_bytes(tree(d)))
        cls = next(c for c in ADAPTERS.values() if getattr(c, "ucr_name", None) == name)
        return Fixture(lambda mp: mp.setattr(cls, "counts", (len(train), len(test))))

    return build


def ptbxl(lb: Loopback, tmp: Path) -> Fixture:
    from datasets.ptbxl import PTBXL_VERSION, PTBXL_ZIP
    from tests.datasets.test_adapters_ecg import write_ptbxl

    root = tmp / "ptbxl-src"
    write_ptbxl(root)
    files = tree(root)
    sums = "".join(f"{sha256(b)} {n}\n" for n, b in sorted(files.items())).encode()
    files["SHA256SUMS.txt"] = sums
    lb.add("physionet", f"files/ptb-xl/{PTBXL_VERSION}/SHA256SUMS.txt", sums)
    top = PTBXL_ZIP.removesuffix(".zip") + "/"
    lb.add(
        "physionet",
        f"static/published-projects/ptb-xl/{PTBXL_ZIP}",
        zip_bytes({top + n: b for n, b in files.items()}),
    )
    return Fixture(options={"strict": False}, counts=(4, 1, 1))


# ---- graphs --------------------------------------------------------------------------------------
def planetoid_files(name: str, classes: int = 3, feats: int = 8, n_train: int = 6, n_test: int = 20):
    """The eight Planetoid pickles of a ring graph; ({file suffix: bytes}, expected counts)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(7)
    n_all = n_train + 500 + 10  # PyG's public split takes 500 val nodes after the train nodes
    n = n_all + n_test

    def onehot(m):
        y = np.zeros((m, classes), dtype=np.int64)
        y[np.arange(m), np.arange(m) % classes] = 1
        return y

    feat = lambda m: sp.csr_matrix((rng.random((m, feats)) < 0.4).astype(np.float32))  # noqa: E731
    graph = {i: [(i - 1) % n, (i + 1) % n] for i in range(n)}
    objs = {
        "x": feat(n_train),
        "tx": feat(n_test),
        "allx": feat(n_all),
        "y": onehot(n_train),
        "ty": onehot(n_test),
        "ally": onehot(n_all),
        "graph": graph,
    }
    files = {k: pickle.dumps(v, protocol=2) for k, v in objs.items()}
    files["test.index"] = "".join(f"{i}\n" for i in range(n_all, n)).encode()
    expected = {
        "nodes": n,
        "features": feats,
        "classes": classes,
        "split": (n_train, 500, n_test),
        "edges": 2 * n,
    }
    return files, expected


def _planetoid(adapter: str, pyg_name: str):
    def build(lb: Loopback, tmp: Path) -> Fixture:
        import datasets.planetoid as pl
        from datasets.base import ADAPTERS

        files, expected = planetoid_files(pyg_name)
        low = pyg_name.lower()
        for suffix, b in files.items():
            lb.add("github", f"{pl.PLANETOID_PATH}/ind.{low}.{suffix}", b)
        hashes = {s: (sha256(b), len(b)) for s, b in files.items()}

        def patch(mp):
            mp.setattr(ADAPTERS[adapter], "expected", expected)
            if low in pl.RAW_FILES:
                mp.setitem(pl.RAW_FILES, low, hashes)

        return Fixture(patch, counts=(6, 500, 20))

    return build


def tu_members(
    name: str, graphs: int = 12, node_labels: int | None = 3, classes: int = 2
) -> dict[str, bytes]:
    """A TU-format set (paths below `<name>/`): `graphs` rings of 4–6 nodes, node labels 0..K-1."""
    ind, a, nl = [], [], []
    start = 1
    for g in range(graphs):
        m = 4 + g % 3
        ids = list(range(start, start + m))
        ind += [g + 1] * m
        for i in range(m):
            u, v = ids[i], ids[(i + 1) % m]
            a += [(u, v), (v, u)]
        nl += [(start + i) % (node_labels or 1) for i in range(m)]
        start += m
    files = {
        f"{name}_A.txt": "".join(f"{u}, {v}\n" for u, v in a),
        f"{name}_graph_indicator.txt": "".join(f"{g}\n" for g in ind),
        f"{name}_graph_labels.txt": "".join(
            f"{[-1, 1][g % 2] if classes == 2 else g % classes + 1}\n" for g in range(graphs)
        ),
        f"{name}_README.txt": "fixture\n",
    }
    if node_labels:
        files[f"{name}_node_labels.txt"] = "".join(f"{v}\n" for v in nl)
    return {f"{name}/{k}": v.encode() for k, v in files.items()}


def _tu(adapter: str, tu_name: str, node_labels: int | None):
    def build(lb: Loopback, tmp: Path) -> Fixture:
        from datasets.base import ADAPTERS
        from datasets.tu import TU_PATH

        lb.add("tu", f"{TU_PATH}/{tu_name}.zip", zip_bytes(tu_members(tu_name, 20, node_labels)))
        return Fixture(
            lambda mp: mp.setattr(ADAPTERS[adapter], "expected", {"graphs": 20}), counts=(14, 2, 4)
        )

    return build


# ---- tabular -------------------------------------------------------------------------------------
ADULT_ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, {}"
)


def adult(lb: Loopback, tmp: Path) -> Fixture:
    import datasets.adult as ad

    data = "".join(ADULT_ROW.format("<=50K" if i % 3 else ">50K") + "\n" for i in range(30)).encode()
    test = (
        "|1x3 Cross validator\n"
        + "".join(ADULT_ROW.format("<=50K." if i % 3 else ">50K.") + "\n" for i in range(12))
    ).encode()
    zipped = zip_bytes(
        {
            "adult.data": data,
            "adult.test": test,
            "adult.names": b"| names\n",
            "Index": b"x\n",
            "old.adult.names": b"x\n",
        }
    )
    lb.add("uci", ad.ADULT_ZIP_PATH, zipped)
    files = {"adult.data": (md5(data), 30), "adult.test": (md5(test), 12)}
    return Fixture(lambda mp: mp.setattr(ad, "ADULT_FILES", files), counts=(27, 3, 12))


def covtype_bytes(rows_per_class: int = 6) -> bytes:
    lines = []
    for c in range(1, 8):
        for i in range(rows_per_class):
            nums = [2000 + 10 * c + i, 45, 10, 100, 5, 300, 200, 220, 140, 1500]
            wild = [int(j == (i % 4)) for j in range(4)]
            soil = [int(j == (c * 3 + i) % 40) for j in range(40)]
            lines.append(",".join(map(str, nums + wild + soil + [c])))
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def covertype(lb: Loopback, tmp: Path) -> Fixture:
    import datasets.covertype as ct

    gz = covtype_bytes()
    lb.add("figshare", "files/5976039", gz)
    lb.add(
        "uci", "static/public/31/covertype.zip", zip_bytes({"covtype.data.gz": gz, "covtype.info": b"x\n"})
    )
    return Fixture(lambda mp: mp.setattr(ct, "COVTYPE_SHA256", sha256(gz)), {"split": "stratified"})


_BUILT: dict[str, tuple[dict[str, bytes], Fixture]] = {}


def _memo(name: str, build):
    """Build a dataset's files once per session (writing 48 WFDB records is not free), then serve
    them from any later test's server."""

    def run(lb: Loopback, tmp: Path) -> Fixture:
        if name not in _BUILT:
            own = Loopback()
            fx = build(own, tmp)
            _BUILT[name] = (own.files, fx)
        files, fx = _BUILT[name]
        lb.files.update(files)
        return fx

    return run


def builders() -> dict[str, Callable[[Loopback, Path], Fixture]]:
    """A fixture builder for every registered dataset that full.yaml can name."""
    from datasets.medmnist import FLAGS_2D, FLAGS_3D

    out = {
        "fashion_mnist": fashion_mnist,
        "cifar10": _cifar("cifar10"),
        "cifar100": _cifar("cifar100"),
        "sklearn_digits_28": bundled,
        "breast_cancer": bundled,
        "wine": bundled,
        "fsdd": fsdd,
        "speech_commands": speech_commands,
        "esc50": esc50,
        "mitdb": mitdb,
        "ecg200": _ucr("ECG200", [-1, 1], 96),
        "ecg5000": _ucr("ECG5000", [1, 2, 3, 4, 5], 140),
        "ptbxl": ptbxl,
        "cora": _planetoid("cora", "Cora"),
        "citeseer": _planetoid("citeseer", "CiteSeer"),
        "pubmed": _planetoid("pubmed", "PubMed"),
        "mutag": _tu("mutag", "MUTAG", 7),
        "proteins": _tu("proteins", "PROTEINS", 3),
        "nci1": _tu("nci1", "NCI1", 37),
        "imdb_binary": _tu("imdb_binary", "IMDB-BINARY", None),
        "adult": adult,
        "covertype": covertype,
    }
    out.update({f: _medmnist(f) for f in (*FLAGS_2D, *FLAGS_3D)})
    return {k: _memo(k, b) for k, b in out.items()}
