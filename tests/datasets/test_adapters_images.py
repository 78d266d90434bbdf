"""Natural-image adapters (CIFAR-10/100 on fixtures in the official pickle format, sklearn digits)
and the 2D image corruptions every image2d adapter registers."""

import dataclasses
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

import datasets.cifar10 as cifar
from benchmark.models.encoders import encoder_for
from datasets.base import ADAPTERS, DataError, get_adapter
from datasets.digits import digits_split, load_digits_uint8
from datasets.image_corruptions import IMAGE_CORRUPTIONS, hashed_normal, hashed_uniform
from datasets.image_views import random_grayscale, saturation_jitter, simclr_rgb_view

CPU = torch.device("cpu")
CORRUPTIONS = {"gaussian_noise", "shot_noise", "gaussian_blur", "contrast", "brightness", "jpeg", "pixelate"}


# ---- CIFAR fixture in the official "python version" format ------------------------------------
def _batch(rng, n, label_key="labels", classes=10, py2_keys=True):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, classes, n)]
    d = {
        "batch_label": "fixture",
        label_key: labels,
        "data": data,
        "filenames": [f"f{i}.png" for i in range(n)],
    }
    if py2_keys:  # the official files were pickled by Python 2: str keys load as bytes
        d = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in d.items()}
    return d, data, labels


def write_cifar10_fixture(root, per_batch=4, n_test=6, seed=0):
    """cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta; returns the layout
    (MD5s of these files), the raw arrays and labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    official = cifar.official_layout("cifar10")
    train, arrays, labels = [], [], []
    for fname, _, _ in official.train:
        d, data, lab = _batch(rng, per_batch)
        (folder / fname).write_bytes(pickle.dumps(d, protocol=2))
        arrays.append(data)
        labels += lab
        train.append((fname, hashlib.md5((folder / fname).read_bytes()).hexdigest(), per_batch))
    d, test_data, test_labels = _batch(rng, n_test)
    (folder / "test_batch").write_bytes(pickle.dumps(d, protocol=2))
    meta = {
        b"label_names": [
            n.encode()
            for n in (
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            )
        ],
        b"num_cases_per_batch": per_batch,
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    md5 = lambda f: hashlib.md5((folder / f).read_bytes()).hexdigest()  # noqa: E731
    layout = dataclasses.replace(
        official,
        train=tuple(train),
        test=(("test_batch", md5("test_batch"), n_test),),
        meta=("batches.meta", md5("batches.meta"), "label_names"),
    )
    return layout, np.concatenate(arrays), np.array(labels), test_data, np.array(test_labels)


def test_cifar_fixture_parsed_channels_first(tmp_path):
    layout, data, labels, test_data, test_labels = write_cifar10_fixture(tmp_path)
    x_tr, y_tr, x_te, y_te, names = cifar.read_cifar_dir(tmp_path / "cifar-10-batches-py", layout)
    assert x_tr.shape == (20, 3, 32, 32) and x_tr.dtype == np.uint8 and x_te.shape == (6, 3, 32, 32)
    assert y_tr.tolist() == labels.tolist() and y_te.tolist() == test_labels.tolist()
    # row layout: 1024 red, 1024 green, 1024 blue values, each 32 rows of 32
    assert (
        x_tr[5, 1, 2, 3] == data[5, 1024 + 2 * 32 + 3] and x_te[1, 2, 31, 0] == test_data[1, 2048 + 31 * 32]
    )
    assert names[0] == "airplane" and names[-1] == "truck"


def test_cifar_adapter_on_fixture(tmp_path, monkeypatch):
    layout, _, labels, _, test_labels = write_cifar10_fixture(tmp_path)
    monkeypatch.setattr(cifar, "official_layout", lambda variant: layout)
    a = get_adapter("cifar10", data_dir=tmp_path, download=False)
    s = a.splits()
    assert len(s["train"]) + len(s["val"]) == 20 and len(s["test"]) == 6
    assert s["train"].inputs.dtype == torch.uint8 and tuple(s["train"].inputs.shape[1:]) == (3, 32, 32)
    assert sorted(s["train"].labels.tolist() + s["val"].labels.tolist()) == sorted(labels.tolist())
    assert s["test"].labels.tolist() == test_labels.tolist()
    assert a.task.class_names[1] == "automobile" and a.domain == "natural_images"
    x = a.prepare(s["test"].inputs, CPU)
    v = a.views(x, torch.Generator().manual_seed(0))
    assert v.shape == x.shape and torch.equal(v, a.views(x, torch.Generator().manual_seed(0)))
    assert set(a.corruptions()) == CORRUPTIONS
    assert encoder_for(a)(x).shape[0] == 6


def test_cifar_official_md5_rejects_other_files(tmp_path):
    write_cifar10_fixture(tmp_path)
    with pytest.raises(
        DataError,
        match=r"data_batch_1: MD5 does not match torchvision's published "
        r"c99cafc152244af753f735de768cd75f",
    ):
        get_adapter("cifar10", data_dir=tmp_path, download=False).splits()


def test_cifar_truncated_wrong_shape_and_foreign_pickles(tmp_path):
    layout, *_ = write_cifar10_fixture(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    raw = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"data_batch_2: MD5"):
        cifar.read_cifar_dir(folder, layout)
    with pytest.raises(DataError, match=r"data_batch_2: not a readable CIFAR python batch"):
        cifar.read_batch(folder / "data_batch_2", 4, "labels", 10)
    d, *_ = _batch(np.random.default_rng(1), 3)
    (folder / "short").write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(
        DataError, match=r"short: 'data' is ndarray uint8 of shape \(3, 3072\); expected uint8 \(4, 3072\)"
    ):
        cifar.read_batch(folder / "short", 4, "labels", 10)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "evil").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match=r"evil: .*refusing to load global builtins\.print"):
        cifar.read_batch(folder / "evil", 4, "labels", 10)


def test_cifar_offline_error_names_files_and_url(tmp_path):
    with pytest.raises(DataError, match=r"data_batch_1.*cifar-10-batches-py.*cifar-10-python\.tar\.gz"):
        get_adapter("cifar10", data_dir=tmp_path, download=False).splits()


def test_cifar_fetch_extracts_only_expected_members(tmp_path, monkeypatch):
    src = tmp_path / "src"
    layout, *_ = write_cifar10_fixture(src)
    tgz = tmp_path / "data" / layout.tgz_name
    tgz.parent.mkdir()
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"bad"))
    layout = dataclasses.replace(
        layout, tgz_md5=hashlib.md5(tgz.read_bytes()).hexdigest(), url="http://invalid.example/never-fetched"
    )
    monkeypatch.setattr(cifar, "official_layout", lambda variant: layout)
    s = get_adapter("cifar10", data_dir=tmp_path / "data").splits()  # the local tarball, no network
    assert len(s["test"]) == 6
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "cifar-10-batches-py").iterdir()) == sorted(
        [
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        ]
    )


def test_cifar100_layout_and_partners():
    layout = cifar.official_layout("cifar100")
    assert (
        layout.folder == "cifar-100-python"
        and layout.label_key == "fine_labels"
        and layout.num_classes == 100
    )
    assert [(f, n) for f, _, n in layout.train] == [("train", 50000)]
    assert ADAPTERS["cifar10"].ood_partners["near"] == ["cifar100"]
    assert ADAPTERS["cifar100"].spec == ADAPTERS["cifar10"].spec


# ---- sklearn digits -----------------------------------------------------------------------------------
def test_digits_stratified_70_10_20_split():
    a = get_adapter("sklearn_digits")
    s = a.splits()
    assert a.spec.shape == (1, 8, 8) and s["train"].inputs.dtype == torch.uint8
    assert [len(s[k]) for k in ("train", "val", "test")] == [1259, 179, 359]  # 70.1 / 10.0 / 20.0 %
    _, y = load_digits_uint8()
    per_class = torch.bincount(y).tolist()
    idx = digits_split(y)
    test_c = [int(round(0.2 * n)) for n in per_class]
    assert torch.bincount(y[idx["test"]]).tolist() == test_c
    assert torch.bincount(y[idx["val"]]).tolist() == [
        int(round(0.125 * (n - t))) for n, t in zip(per_class, test_c)
    ]
    everything = torch.cat([idx["train"], idx["val"], idx["test"]])
    assert torch.equal(torch.sort(everything).values, torch.arange(1797))  # disjoint and complete
    assert torch.equal(digits_split(y)["test"], idx["test"])  # fixed by the name-derived seed
    x = a.prepare(s["test"].inputs, CPU)
    assert 0 <= x.min() and x.max() == 1.0


def test_digits_28_same_split_resized():
    small, big = get_adapter("sklearn_digits").splits(), get_adapter("sklearn_digits_28").splits()
    assert ADAPTERS["sklearn_digits_28"].spec.shape == (1, 28, 28)
    assert tuple(big["train"].inputs.shape[1:]) == (1, 28, 28)
    for k in ("train", "val", "test"):
        assert torch.equal(small[k].labels, big[k].labels)
    down = torch.nn.functional.interpolate(big["test"].inputs[:20].float(), size=(8, 8), mode="area")
    assert (down - small["test"].inputs[:20].float()).abs().mean() < 25  # same digits, resized
    assert "sklearn_digits_28" in ADAPTERS["fashion_mnist"].ood_partners["near"]
    with pytest.raises(ValueError, match="size"):
        get_adapter("sklearn_digits", size=2)


def test_digits_views_and_corruptions():
    a = get_adapter("sklearn_digits")
    x = a.prepare(a.splits()["train"].inputs[:64], CPU)
    v = a.views(x, torch.Generator().manual_seed(3))
    assert v.shape == x.shape and torch.equal(v, a.views(x, torch.Generator().manual_seed(3)))
    for name, fn in a.corruptions().items():
        assert fn(x, torch.arange(64), 5).shape == x.shape, name
    assert encoder_for(a)(x).shape == (64, encoder_for(a).out_dim)


# ---- 2D corruptions --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gray(data_dir):
    a = get_adapter("breastmnist", data_dir=data_dir, download=False)
    return a.prepare(a.splits()["test"].inputs[:16], CPU)


def _rgb(n=8, size=32):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])  # smooth gradients
    imgs = base.unsqueeze(0).repeat(n, 1, 1, 1) * torch.linspace(0.5, 1, n).view(n, 1, 1, 1)
    imgs[:, :, 8:16, 8:20] = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)  # a red box
    return imgs.contiguous()


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_image_corruptions_deterministic_and_graded(kind, request):
    x = request.getfixturevalue("gray") if kind == "gray" else _rgb()
    n = x.shape[0]
    idx = torch.arange(500, 500 + n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    assert set(IMAGE_CORRUPTIONS) == CORRUPTIONS
    for name, fn in IMAGE_CORRUPTIONS.items():
        dist = []
        for s in range(1, 6):
            y = fn(x, idx, s)
            assert y.shape == x.shape and y.dtype == x.dtype and 0 <= y.min() and y.max() <= 1, name
            assert torch.equal(fn(x, idx, s), y), name
            assert torch.allclose(fn(x[perm], idx[perm], s), y[perm], atol=1e-6), name  # batch-independent
            assert torch.allclose(fn(x[2:3], idx[2:3], s), y[2:3], atol=1e-6), name
            dist.append(float((y - x).abs().mean()))
            if name == "pixelate":  # blocks: at most int(H·c) distinct rows and columns
                h = x.shape[-1]
                rows = (y[:, :, 1:] != y[:, :, :-1]).any(1).any(-1).sum(1) + 1
                assert int(rows.max()) <= int(h * [0.95, 0.9, 0.85, 0.75, 0.65][s - 1]), (s, rows)
        if name == "pixelate":  # the pixel distance of nearest-neighbour blocks is not monotone
            continue
        assert dist[0] > 0 and dist[-1] > 1.2 * dist[0], (name, dist)
        assert all(b >= 0.9 * a for a, b in zip(dist, dist[1:])), (name, dist)  # monotone-ish
        for bad in (0, 6, 2.0, True):
            with pytest.raises(ValueError, match="severity"):
                fn(x, idx, bad)
    noisy = IMAGE_CORRUPTIONS["gaussian_noise"]
    assert not torch.allclose(noisy(x, idx, 3), noisy(x, idx + 1, 3))  # per-sample noise


def test_brightness_keeps_hue_on_rgb():
    x = _rgb() * 0.5
    y = IMAGE_CORRUPTIONS["brightness"](x, torch.arange(8), 2)
    box_x, box_y = x[:, :, 10, 10], y[:, :, 10, 10]
    assert torch.allclose(box_y / box_y.amax(1, keepdim=True), box_x / box_x.amax(1, keepdim=True), atol=1e-5)
    assert torch.allclose(box_y.amax(1), box_x.amax(1) + 0.1, atol=1e-5)


def test_hashed_noise_statistics():
    u = hashed_uniform(torch.arange(200), 500, "t", 1)
    z = hashed_normal(torch.arange(200), 500, "t", 1)
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.std()) - 0.2887) < 0.01
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    assert float(torch.corrcoef(z[:50]).sub(torch.eye(50)).abs().max()) < 0.25


def test_fashion_mnist_registers_corruptions_and_partners():
    a = get_adapter("fashion_mnist")
    assert set(a.corruptions()) == CORRUPTIONS
    for group in ("near", "far"):
        for p in a.ood_partners[group]:
            assert ADAPTERS[p].spec == a.spec
    from benchmark.models.encoders import ResNet18Encoder2d, encoder_for

    assert isinstance(encoder_for(get_adapter("fashion_mnist", encoder="resnet18")), ResNet18Encoder2d)


def test_rgb_view_ops_batched_and_seeded():
    x = _rgb()
    v = simclr_rgb_view(x, torch.Generator().manual_seed(0))
    assert v.shape == x.shape and torch.equal(v, simclr_rgb_view(x, torch.Generator().manual_seed(0)))
    g = random_grayscale(x, torch.Generator().manual_seed(0), p=1.0)
    assert torch.allclose(g[:, 0], g[:, 1]) and torch.allclose(g[:, 1], g[:, 2])
    s = saturation_jitter(x, torch.Generator().manual_seed(0), saturation=0.0, p=1.0)
    assert torch.allclose(s, x, atol=1e-6)
