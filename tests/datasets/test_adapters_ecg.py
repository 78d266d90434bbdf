"""ECG adapters: MIT-BIH and ECG200 on the real files; ECG5000 and PTB-XL on fixtures written in
their official formats; views and corruptions."""

import csv
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.models.encoders import encoder_for
from datasets.base import DataError, get_adapter
from datasets.mitdb import DS1, PACED, mitdb_record_beats

CPU = torch.device("cpu")

# README table of ../shared/data, mapped to AAMI (N, S, V, F, Q): N,j→N; A,S→S; V→V; F→F; /,f,Q→Q.
MITDB_AAMI = {
    "100": [2239, 33, 1, 0, 0],  # N 2239, A 33, V 1
    "102": [99, 0, 4, 0, 2028 + 56],  # / 2028, f 56, N 99, V 4
    "103": [2082, 2, 0, 0, 0],  # N 2082, A 2
    "104": [163, 0, 2, 0, 1380 + 666 + 18],  # / 1380, f 666, N 163, Q 18, V 2
    "105": [2526, 0, 41, 0, 5],  # N 2526, V 41, Q 5
    "106": [1507, 0, 520, 0, 0],  # N 1507, V 520
    "107": [0, 0, 59, 0, 2078],  # / 2078, V 59
    "108": [1739 + 1, 4, 17, 2, 0],  # N 1739, V 17, A 4, F 2, j 1
    "208": [1586, 2, 992, 373, 2],  # N 1586, V 992, F 373, S 2, Q 2
}


def _mitdb_dir(data_dir) -> Path:
    d = data_dir / "ecg" / "mitdb"
    if not d.is_dir():
        pytest.skip("no ecg/mitdb in the shared data dir")
    return d


@pytest.fixture(scope="module")
def mitdb(data_dir):
    _mitdb_dir(data_dir)
    t = time.perf_counter()
    a = get_adapter("mitdb", data_dir=data_dir)
    a.splits()
    a.load_seconds = time.perf_counter() - t
    return a


def test_mitdb_aami_counts_per_record(data_dir):
    d = _mitdb_dir(data_dir)
    total = torch.zeros(5, dtype=torch.int64)
    for rec, expected in MITDB_AAMI.items():
        beats, labels, r = mitdb_record_beats(d / rec)
        counts = torch.bincount(labels, minlength=5)
        assert counts.tolist() == expected, rec
        assert beats.shape == (len(labels), 1, 252)
        total += counts
    assert total.tolist() == [11942, 41, 1636, 375, 6233] and int(total.sum()) == 20227


def test_mitdb_beats_are_centred_on_r_peaks(data_dir):
    beats, labels, _ = mitdb_record_beats(_mitdb_dir(data_dir) / "100")
    mean_n = beats[labels == 0, 0].mean(0)
    assert abs(int(mean_n.abs().argmax()) - 90) <= 5  # 0.25 s × 360 Hz before the peak


def test_mitdb_inter_patient_split(mitdb):
    recs = mitdb.records
    assert recs["test"] == ["100", "103", "105"]  # DS2 records present
    assert all(r in DS1 for r in recs["train"] + recs["val"]) and len(recs["val"]) == 1
    assert not any(r in PACED for r in sum(recs.values(), []))  # excluded by default
    assert sorted(recs["train"] + recs["val"]) == ["106", "108", "208"]
    s = mitdb.splits()
    for k in ("train", "val", "test"):
        expected = np.sum([MITDB_AAMI[r] for r in recs[k]], axis=0).tolist()
        assert torch.bincount(s[k].labels, minlength=5).tolist() == expected, k
        assert set(s[k].record.unique().tolist()) == {int(r) for r in recs[k]}
    assert s["train"].inputs.shape[1:] == (1, 252) and mitdb.spec.shape == (1, 252)
    assert mitdb.load_seconds < 30  # measured ~1–3 s for the 9 records: no cache needed
    enc = encoder_for(mitdb)
    assert enc(mitdb.prepare(s["test"].inputs[:4], CPU)).shape == (4, enc.out_dim)


def test_mitdb_length_option_gives_ucr_style_beats(mitdb, data_dir):
    """`length: 96`: the same beats (same labels, same records), resampled to 96 points and
    z-normalised per beat, with ECG200's spec, so MIT-BIH can be ECG200's transfer source."""
    a = get_adapter("mitdb", data_dir=data_dir, length=96)
    s, ref = a.splits(), mitdb.splits()
    assert a.spec.shape == get_adapter("ecg200", data_dir=data_dir).spec.shape == (1, 96)
    assert abs(a.fs - 96 / 0.7) < 1e-9  # the beat still spans 0.7 s
    for k in ("train", "val", "test"):
        assert torch.equal(s[k].labels, ref[k].labels)
        x = s[k].inputs
        assert x.shape == (len(ref[k]), 1, 96)
        assert torch.allclose(x.mean(-1), torch.zeros(len(x), 1), atol=1e-5)
        assert torch.allclose(x.std(-1), torch.ones(len(x), 1), atol=1e-4)
    # end points are kept by the linear resampling (align_corners), up to the per-beat z-score
    raw = ref["test"].inputs[:5, 0]
    z = (raw - raw.mean(-1, keepdim=True)) / raw.std(-1, keepdim=True)
    assert torch.allclose(s["test"].inputs[:5, 0, [0, -1]], z[:, [0, -1]], atol=0.05)
    with pytest.raises(ValueError, match="length"):
        get_adapter("mitdb", data_dir=data_dir, length="96")


def test_mitdb_paced_option_adds_paced_records_to_train(data_dir):
    _mitdb_dir(data_dir)
    a = get_adapter("mitdb", data_dir=data_dir, paced="include")
    s = a.splits()
    assert set(PACED) & set(a.records["train"]) == {"102", "104", "107"}
    assert a.records["test"] == ["100", "103", "105"]
    n_q = sum(MITDB_AAMI[r][4] for r in a.records["train"])
    assert int((s["train"].labels == 4).sum()) == n_q


def _copy_records(src: Path, dst: Path, names):
    dst.mkdir(parents=True)
    for n in names:
        for ext in (".hea", ".dat", ".atr"):
            if (src / f"{n}{ext}").exists():
                shutil.copy(src / f"{n}{ext}", dst / f"{n}{ext}")
    (dst / "RECORDS").write_text("".join(f"{n}\n" for n in names))


def test_mitdb_truncated_record_names_the_file(data_dir, tmp_path):
    d = tmp_path / "ecg" / "mitdb"
    _copy_records(_mitdb_dir(data_dir), d, ["100", "106", "208"])
    dat = d / "100.dat"
    dat.write_bytes(dat.read_bytes()[:100000])
    with pytest.raises(DataError, match=r"100(\.hea/\.dat|\.dat|\.atr)"):
        get_adapter("mitdb", data_dir=tmp_path).splits()
    (d / "106.atr").unlink()
    with pytest.raises(DataError, match=r"\['106'\].*without their .atr"):
        get_adapter("mitdb", data_dir=tmp_path).splits()


def test_mitdb_missing_dir_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="physionet.org/content/mitdb"):
        get_adapter("mitdb", data_dir=tmp_path, download=False).splits()
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_mitdb_unlabelled_records_for_pretraining(data_dir, tmp_path, monkeypatch):
    src = data_dir / "ecg" / "mitdb_signals_only"
    if not src.is_dir():
        pytest.skip("no ecg/mitdb_signals_only")
    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    _copy_records(_mitdb_dir(data_dir), tmp_path / "ecg" / "mitdb", ["100", "106", "208"])
    _copy_records(src, tmp_path / "ecg" / "mitdb_signals_only", ["113"])
    a = get_adapter("mitdb", data_dir=tmp_path, unlabelled=True)
    a.splits()
    u = a.extra_pretrain
    # 113 has ~1,800 beats in 30 min (PhysioNet: 1,794 annotated); XQRS finds about as many
    assert 1600 < len(u) < 2000 and u.inputs.shape[1:] == (1, 252) and (u.labels == -1).all()
    assert len(list((tmp_path / "cache").glob("mitdb-unlabelled-*.pt"))) == 1
    again = get_adapter("mitdb", data_dir=tmp_path).unlabelled_split()  # from the cache
    assert torch.equal(again.inputs, u.inputs)


# ---------------------------------------------------------------------------------------------
def test_ecg200_official_counts(data_dir):
    if not (data_dir / "ecg" / "ucr" / "ECG200").is_dir():
        pytest.skip("no ECG200")
    a = get_adapter("ecg200", data_dir=data_dir, download=False)
    s = a.splits()
    assert len(s["train"]) + len(s["val"]) == 100 and len(s["test"]) == 100 and len(s["val"]) == 10
    assert a.original_labels == [-1.0, 1.0]
    train_all = torch.cat([s["train"].labels, s["val"].labels])
    assert torch.bincount(train_all).tolist() == [31, 69]  # −1: 31, 1: 69
    assert torch.bincount(s["test"].labels).tolist() == [36, 64]
    x = s["test"].inputs
    assert x.shape == (100, 1, 96)
    assert torch.allclose(x.mean(-1), torch.zeros(100, 1), atol=1e-5)
    assert torch.allclose(x.std(-1), torch.ones(100, 1), atol=1e-4)
    b = get_adapter("ecg200", data_dir=data_dir, download=False, length=252)
    assert b.spec.shape == (1, 252) and b.splits()["test"].inputs.shape == (100, 1, 252)


def write_ucr(path: Path, labels, length, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for y in labels:
            vals = np.sin(np.linspace(0, 2 * np.pi * y, length)) + 0.1 * rng.standard_normal(length)
            f.write("  " + "  ".join(f"{v:.7e}" for v in [float(y), *vals]) + "\n")


@pytest.fixture(scope="module")
def ecg5000_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucr")
    d = root / "ecg" / "ucr" / "ECG5000"
    rng = np.random.default_rng(0)
    write_ucr(
        d / "ECG5000_TRAIN.txt", rng.choice([1, 2, 3, 4, 5], 500, p=[0.58, 0.35, 0.02, 0.04, 0.01]), 140, 1
    )
    test_labels = np.concatenate([np.arange(1, 6), rng.choice([1, 2, 3, 4, 5], 4495)])
    write_ucr(d / "ECG5000_TEST.txt", test_labels, 140, 2)
    return root


def test_ecg5000_fixture_in_ucr_format(ecg5000_dir):
    a = get_adapter("ecg5000", data_dir=ecg5000_dir, download=False)
    s = a.splits()
    assert len(s["train"]) + len(s["val"]) == 500 and len(s["test"]) == 4500
    assert a.original_labels == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sorted(set(s["test"].labels.tolist())) == [0, 1, 2, 3, 4]
    raw = np.loadtxt(ecg5000_dir / "ecg" / "ucr" / "ECG5000" / "ECG5000_TEST.txt")
    assert s["test"].labels.tolist() == (raw[:, 0] - 1).astype(int).tolist()
    assert s["test"].inputs.shape == (4500, 1, 140)


def test_ucr_truncated_ragged_and_foreign_files(ecg5000_dir, tmp_path):
    src = ecg5000_dir / "ecg" / "ucr" / "ECG5000"
    d = tmp_path / "ecg" / "ucr" / "ECG5000"
    shutil.copytree(src, d)
    test = d / "ECG5000_TEST.txt"
    lines = test.read_text().splitlines()
    test.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataError, match=r"ECG5000_TEST.txt: 4499 series; expected 4500"):
        get_adapter("ecg5000", data_dir=tmp_path, download=False).splits()
    test.write_text("\n".join(lines[:-1] + [lines[-1][:200]]) + "\n")  # last line cut mid-series
    with pytest.raises(DataError, match=r"ECG5000_TEST.txt:4500: .*values; line 1 has 140"):
        get_adapter("ecg5000", data_dir=tmp_path, download=False).splits()
    write_ucr(test, [7] + [1] * 4499, 140, 3)
    with pytest.raises(DataError, match=r"ECG5000_TEST.txt: labels \[7.0\] do not occur"):
        get_adapter("ecg5000", data_dir=tmp_path, download=False).splits()
    with pytest.raises(DataError, match="ECG200_TRAIN.txt / ECG200_TEST.txt not found"):
        get_adapter("ecg200", data_dir=tmp_path, download=False).splits()


# ---------------------------------------------------------------------------------------------
SCP_ROWS = [  # code, diagnostic, diagnostic_class (as in scp_statements.csv; first column unnamed)
    ("NORM", "1.0", "NORM"),
    ("IMI", "1.0", "MI"),
    ("NDT", "1.0", "STTC"),
    ("LAFB", "1.0", "CD"),
    ("LVH", "1.0", "HYP"),
    ("SR", "", ""),  # SR is a rhythm statement: no superclass
]
PTB_RECORDS = [  # ecg_id, strat_fold, scp_codes
    (1, 3, {"NORM": 100.0, "SR": 0.0}),
    (2, 5, {"IMI": 80.0, "LVH": 50.0}),
    (3, 1, {"NDT": 100.0}),
    (4, 9, {"LAFB": 100.0, "NORM": 0.0}),
    (5, 10, {"IMI": 15.0, "NDT": 50.0}),
    (6, 10, {"SR": 0.0}),
    (7, 2, {"LVH": 100.0}),
]


def write_ptbxl(root: Path) -> None:
    """PTB-XL's layout: ptbxl_database.csv, scp_statements.csv, records100/00000/<id>_lr.{hea,dat}
    written by wfdb.wrsamp (12 leads, 100 Hz, 10 s, format 16)."""
    import wfdb

    rng = np.random.default_rng(0)
    leads = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    (root / "records100" / "00000").mkdir(parents=True)
    rows = []
    for ecg_id, fold, codes in PTB_RECORDS:
        sig = 0.5 * np.sin(np.linspace(0, 20 * np.pi, 1000))[:, None] * (1 + np.arange(12)) / 6
        sig = sig + 0.05 * rng.standard_normal((1000, 12)) + 0.3
        wfdb.wrsamp(
            f"{ecg_id:05d}_lr",
            fs=100,
            units=["mV"] * 12,
            sig_name=leads,
            p_signal=sig,
            fmt=["16"] * 12,
            adc_gain=[1000.0] * 12,
            baseline=[0] * 12,
            write_dir=str(root / "records100" / "00000"),
        )
        rows.append(
            {
                "ecg_id": ecg_id,
                "patient_id": 100.0 + ecg_id,
                "age": 60.0,
                "sex": 0,
                "scp_codes": repr(codes),
                "strat_fold": fold,
                "filename_lr": f"records100/00000/{ecg_id:05d}_lr",
                "filename_hr": f"records500/00000/{ecg_id:05d}_hr",
            }
        )
    with open(root / "ptbxl_database.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(root / "scp_statements.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["", "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"]
        )
        for code, diag, cls in SCP_ROWS:
            w.writerow([code, code.lower(), diag, "", "", cls, ""])


def test_ptbxl_fixture_superdiagnostic_multilabel(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    write_ptbxl(tmp_path / "ecg" / "ptbxl")
    a = get_adapter("ptbxl", data_dir=tmp_path, download=False, strict=False)
    s = a.splits()
    assert a.task.multilabel and a.task.class_names == ("NORM", "MI", "STTC", "CD", "HYP")
    assert a.spec.shape == (12, 1000)
    # record 6 (SR only) has no superclass and is dropped; folds 1–8 train, 9 val, 10 test
    assert [len(s[k]) for k in ("train", "val", "test")] == [4, 1, 1]
    assert s["train"].labels.tolist() == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]
    assert s["val"].labels.tolist() == [[1, 0, 0, 1, 0]]
    assert s["test"].labels.tolist() == [[0, 1, 1, 0, 0]]
    x = s["train"].inputs
    assert x.shape == (4, 12, 1000) and torch.allclose(x.std(-1), torch.ones(4, 12), atol=1e-3)
    assert len(list((tmp_path / "cache").glob("ptbxl-*.pt"))) == 1
    assert torch.equal(
        get_adapter("ptbxl", data_dir=tmp_path, download=False, strict=False).splits()["train"].inputs, x
    )  # the cached tensor
    with pytest.raises(DataError, match="ptbxl_database.csv: 7 records; expected the 21,799"):
        get_adapter("ptbxl", data_dir=tmp_path, download=False).splits()
    enc = encoder_for(a)
    assert enc(a.prepare(x, CPU)).shape == (4, enc.out_dim)
    corr = a.corruptions()
    assert "lead_dropout" in corr
    y = corr["lead_dropout"](a.prepare(x, CPU), torch.arange(4), 5)
    dropped = y.abs().sum(-1) == 0
    assert dropped.any() and (~dropped).any(1).all()  # some leads dropped, never all


def test_ptbxl_corrupt_record_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "ecg" / "ptbxl"
    write_ptbxl(root)
    dat = root / "records100" / "00000" / "00003_lr.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(DataError, match="00003_lr"):
        get_adapter("ptbxl", data_dir=tmp_path, download=False, strict=False).splits()
    (root / "records100" / "00000" / "00007_lr.hea").unlink()
    with pytest.raises(DataError, match="00007_lr.hea"):
        get_adapter("ptbxl", data_dir=tmp_path, download=False, strict=False).splits()


# ---------------------------------------------------------------------------------------------
def test_ecg_views_batched_and_deterministic(mitdb):
    x = mitdb.prepare(mitdb.splits()["test"].inputs[:64], CPU)
    v1 = mitdb.views(x, torch.Generator().manual_seed(0))
    v2 = mitdb.views(x, torch.Generator().manual_seed(0))
    v3 = mitdb.views(x, torch.Generator().manual_seed(1))
    assert v1.shape == x.shape and torch.equal(v1, v2) and not torch.equal(v1, v3)
    assert torch.isfinite(v1).all() and (v1 - x).flatten(1).abs().mean(1).std() > 0


def test_ecg_corruptions_deterministic_and_monotone(mitdb):
    corr = mitdb.corruptions()
    assert set(corr) == {"baseline_wander", "powerline", "emg_noise", "amplitude_scaling", "segment_dropout"}
    idx = torch.arange(100, 164)
    x = mitdb.prepare(mitdb.splits()["test"].inputs[idx], CPU)
    for name, fn in corr.items():
        dist = []
        for sev in range(1, 6):
            y = fn(x, idx, sev)
            assert y.shape == x.shape and torch.isfinite(y).all(), name
            assert torch.allclose(fn(x[5:9].clone(), idx[5:9], sev), y[5:9], atol=1e-6), name
            dist.append(float((y - x).pow(2).mean().sqrt()))
        assert all(b >= a - 1e-6 for a, b in zip(dist, dist[1:])), (name, dist)
        assert dist[-1] > 2 * dist[0] > 0, (name, dist)
    # a different severity or sample index draws different noise
    e = corr["emg_noise"]
    assert not torch.equal(e(x, idx, 2) - x * 0, e(x, idx + 1, 2))


def test_gpu_encoder_option_builds_a_1d_resnet(mitdb, data_dir):
    a = get_adapter("mitdb", data_dir=data_dir, encoder="resnet18")
    enc = encoder_for(a)
    x = mitdb.prepare(mitdb.splits()["test"].inputs[:3], CPU)
    assert type(enc).__name__ == "ResNet18Encoder1d" and enc(x).shape == (3, 512) and enc.out_dim == 512
    assert sum(p.numel() for p in enc.parameters()) > 3_000_000
    assert type(encoder_for(mitdb)).__name__ == "ConvEncoder"
    with pytest.raises(ValueError):
        encoder_for(get_adapter("mitdb", data_dir=data_dir, encoder="nope"))
