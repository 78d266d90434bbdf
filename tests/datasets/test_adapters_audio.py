"""Audio adapters: FSDD on the real files; Speech Commands and ESC-50 on fixtures written in their
official layouts; views and corruptions."""

import csv
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.models.encoders import encoder_for
from datasets.audio_base import fix_length, read_wav
from datasets.base import DataError, get_adapter
from datasets.speech_commands import SC_WORDS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def fsdd(data_dir):
    if not (data_dir / "fsdd" / "recordings").is_dir():
        pytest.skip("no fsdd/ in the shared data dir")
    a = get_adapter("fsdd", data_dir=data_dir, download=False)
    a.splits()
    return a


@pytest.fixture(scope="module")
def fsdd_wave(data_dir):
    if not (data_dir / "fsdd" / "recordings").is_dir():
        pytest.skip("no fsdd/ in the shared data dir")
    a = get_adapter("fsdd", data_dir=data_dir, download=False, input="waveform")
    a.splits()
    return a


def test_fsdd_official_split_and_counts(fsdd):
    s = fsdd.splits()
    assert len(s["train"]) + len(s["val"]) == 2700 and len(s["test"]) == 300
    assert torch.bincount(s["test"].labels).tolist() == [30] * 10
    assert torch.bincount(s["val"].labels).tolist() == [27] * 10  # stratified 10 % of train
    idx = {
        k: [int(re.match(r"\d_[a-z]+_(\d+)\.wav", f).group(1)) for f in v]
        for k, v in fsdd.split_files.items()
    }
    assert all(i < 5 for i in idx["test"]) and all(i >= 5 for i in idx["train"] + idx["val"])
    assert not set(fsdd.split_files["train"]) & set(fsdd.split_files["val"])
    # digit label = the file name's first field
    labels = s["test"].labels.tolist()
    assert [int(f[0]) for f in fsdd.split_files["test"]] == labels
    assert fsdd.spec.kind == "spectrogram" and fsdd.spec.shape == (1, 64, 101)
    assert s["train"].inputs.shape[1:] == (1, 64, 101)
    x = fsdd.prepare(s["train"].inputs[:256], CPU)
    assert torch.isfinite(x).all() and abs(float(x.mean())) < 0.5
    assert encoder_for(fsdd)(x[:4]).shape == (4, encoder_for(fsdd).out_dim)


def test_fsdd_waveform_spec(fsdd_wave, data_dir):
    s = fsdd_wave.splits()
    assert fsdd_wave.spec.kind == "signal1d" and fsdd_wave.spec.shape == (1, 8000)
    assert s["test"].inputs.shape == (300, 1, 8000) and s["test"].inputs.dtype == torch.int16
    # the stored clip is the file, centre-padded/cropped to 1 s
    name = fsdd_wave.split_files["test"][0]
    raw, sr = read_wav(data_dir / "fsdd" / "recordings" / name, 8000)
    assert torch.equal(s["test"].inputs[0, 0], torch.from_numpy(fix_length(raw, 8000)))
    x = fsdd_wave.prepare(s["train"].inputs[:512], CPU)
    assert 0.5 < float(x.pow(2).mean().sqrt()) < 2.0  # scaled by the train RMS
    enc = encoder_for(fsdd_wave)
    assert enc(x[:4]).shape == (4, enc.out_dim)


def test_fix_length_centres():
    x = np.arange(1, 6, dtype=np.int16)
    assert fix_length(x, 9).tolist() == [0, 0, 1, 2, 3, 4, 5, 0, 0]
    assert fix_length(np.arange(10, dtype=np.int16), 4).tolist() == [3, 4, 5, 6]


def _link_fsdd(data_dir, tmp_path) -> Path:
    d = tmp_path / "fsdd" / "recordings"
    d.mkdir(parents=True)
    for p in (data_dir / "fsdd" / "recordings").glob("*.wav"):
        os.symlink(p, d / p.name)
    return d


def test_fsdd_corrupt_missing_and_wrong_shape_files(data_dir, tmp_path):
    import soundfile as sf

    if not (data_dir / "fsdd" / "recordings").is_dir():
        pytest.skip("no fsdd/")
    d = _link_fsdd(data_dir, tmp_path)
    target = d / "0_george_0.wav"
    good = target.read_bytes()
    target.unlink()
    with pytest.raises(DataError, match=r"1 recording\(s\) missing.*0_george_0.wav"):
        get_adapter("fsdd", data_dir=tmp_path, download=False).splits()
    target.write_bytes(good[:30])  # truncated inside the header
    with pytest.raises(DataError, match="0_george_0.wav.*not a readable WAV"):
        get_adapter("fsdd", data_dir=tmp_path, download=False).splits()
    sf.write(target, np.zeros((800, 2), dtype=np.int16), 8000, subtype="PCM_16")
    with pytest.raises(DataError, match="0_george_0.wav: 2 channels; expected mono"):
        get_adapter("fsdd", data_dir=tmp_path, download=False).splits()
    sf.write(target, np.zeros(800, dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(DataError, match="0_george_0.wav: sample rate 16000 Hz; expected 8000"):
        get_adapter("fsdd", data_dir=tmp_path, download=False).splits()


def test_fsdd_offline_error_names_expected_files(tmp_path):
    with pytest.raises(DataError, match=r"fsdd/recordings.*\{digit\}_\{speaker\}_\{index\}.wav"):
        get_adapter("fsdd", data_dir=tmp_path, download=False).splits()


# ---------------------------------------------------------------------------------------------
def _tone(freq, sr, n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return (8000 * np.sin(2 * np.pi * freq * t) + 300 * rng.standard_normal(n)).astype(np.int16)


def write_speech_commands(root: Path, words=("yes", "no", "cat", "zero"), per_word=5) -> dict:
    """The official v0.02 layout: <word>/<speaker>_nohash_<n>.wav, validation_list.txt,
    testing_list.txt, _background_noise_/*.wav. Returns the expected split per relative path."""
    import soundfile as sf

    root.mkdir(parents=True)
    expected = {}
    for wi, w in enumerate(words):
        (root / w).mkdir()
        for k in range(per_word):
            rel = f"{w}/{k:08x}_nohash_0.wav"
            n = 16000 if k % 2 else 12000  # real clips are ≤ 1 s
            sf.write(root / rel, _tone(200 + 100 * wi, 16000, n, k), 16000, subtype="PCM_16")
            expected[rel] = "test" if k == 0 else "val" if k == 1 else "train"
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r, s in expected.items() if s == "test"))
    (root / "validation_list.txt").write_text("".join(f"{r}\n" for r, s in expected.items() if s == "val"))
    (root / "_background_noise_").mkdir()
    sf.write(
        root / "_background_noise_" / "white_noise.wav",
        _tone(50, 16000, 16000 * 30, 9),
        16000,
        subtype="PCM_16",
    )
    return expected


def test_speech_commands_fixture_official_lists(tmp_path):
    expected = write_speech_commands(tmp_path / "speech_commands" / "speech_commands_v0.02")
    a = get_adapter("speech_commands", data_dir=tmp_path, download=False, strict=False)
    s = a.splits()
    for split in ("train", "val", "test"):
        assert sorted(a.split_files[split]) == sorted(r for r, v in expected.items() if v == split)
        assert s[split].labels.tolist() == [SC_WORDS.index(r.split("/")[0]) for r in a.split_files[split]]
    assert [len(s[k]) for k in ("train", "val", "test")] == [12, 4, 4]
    assert s["train"].inputs.shape[1:] == (1, 64, 101) and a.task.num_classes == 35
    with pytest.raises(DataError, match="expected the official"):
        get_adapter("speech_commands", data_dir=tmp_path, download=False).splits()


def test_speech_commands_12_class_variant(tmp_path):
    write_speech_commands(tmp_path / "speech_commands_v0.02")
    a = get_adapter(
        "speech_commands", data_dir=tmp_path, download=False, strict=False, classes=12, input="waveform"
    )
    s = a.splits()
    assert a.task.num_classes == 12 and a.spec.shape == (1, 16000)
    tr = s["train"].labels
    assert set(tr.tolist()) == {0, 1, 10, 11}  # yes, no, _unknown_ (cat, zero), _silence_
    assert int((tr == 10).sum()) == 6
    n_sil = sum(int((s[k].labels == 11).sum()) for k in s)
    assert n_sil == 30  # 30 s of background noise → 30 one-second crops over the three splits


def test_speech_commands_list_naming_missing_file(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    write_speech_commands(root)
    with open(root / "testing_list.txt", "a") as f:
        f.write("yes/deadbeef_nohash_0.wav\n")
    with pytest.raises(DataError, match=r"testing_list.txt lists yes/deadbeef_nohash_0.wav"):
        get_adapter("speech_commands", data_dir=tmp_path, download=False, strict=False).splits()


def write_esc50(root: Path, targets=(0, 1, 41), per_fold=2, seconds=0.5) -> list[dict]:
    """ESC-50's layout: meta/esc50.csv and audio/{fold}-{src}-{take}-{target}.wav, 44.1 kHz."""
    import soundfile as sf

    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    cats = {0: "dog", 1: "rooster", 41: "chainsaw"}
    esc10 = {0, 1, 41}
    rows = []
    for t in targets:
        for fold in range(1, 6):
            for k in range(per_fold):
                src = 1000 * fold + 100 * t + k  # as officially, a source recording is in one fold
                fn = f"{fold}-{src}-A-{t}.wav"
                sf.write(
                    root / "audio" / fn,
                    _tone(300 + 40 * t, 44100, int(44100 * seconds), k),
                    44100,
                    subtype="PCM_16",
                )
                rows.append(
                    {
                        "filename": fn,
                        "fold": fold,
                        "target": t,
                        "category": cats[t],
                        "esc10": str(t in esc10),
                        "src_file": str(src),
                        "take": "A",
                    }
                )
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def test_esc50_fixture_folds_and_resampling(tmp_path):
    rows = write_esc50(tmp_path / "ESC-50")
    a = get_adapter("esc50", data_dir=tmp_path, download=False, strict=False)
    s = a.splits()
    # the official CV: test = fold 5, train = the other four folds less a val of whole source
    # recordings (per class ⌈8/8⌉ = 1 of its 8 training clips)
    assert [len(s[k]) for k in ("train", "val", "test")] == [21, 3, 6]
    assert sorted(s["val"].labels.tolist()) == [0, 1, 41]
    assert a.spec.shape == (1, 64, 501) and s["test"].inputs.shape[1:] == (1, 64, 501)
    assert sorted(s["test"].labels.tolist()) == [0, 0, 1, 1, 41, 41]
    assert a.task.class_names[41] == "chainsaw"
    b = get_adapter("esc50", data_dir=tmp_path, download=False, strict=False, fold=1, input="waveform")
    sb = b.splits()
    assert [len(sb[k]) for k in ("train", "val", "test")] == [21, 3, 6]
    assert sb["test"].inputs.shape[1:] == (1, 80000)  # 5 s at 16 kHz (resampled from 44.1 kHz)
    # the 0.5 s clip sits in the middle of the zero-padded 5 s window
    w = sb["test"].inputs[0, 0].float()
    assert w[:30000].abs().max() == 0 and w[38000:42000].abs().max() > 1000
    c = get_adapter("esc50", data_dir=tmp_path, download=False, strict=False, esc10=True)
    assert set(c.splits()["train"].labels.tolist()) == {0, 1, 2} and c.task.num_classes == 3
    with pytest.raises(DataError, match="esc50.csv: 30 rows; expected the official 2000"):
        get_adapter("esc50", data_dir=tmp_path, download=False).splits()
    (tmp_path / "ESC-50" / "audio" / rows[0]["filename"]).write_bytes(b"RIFF\x00\x00")
    with pytest.raises(DataError, match=rows[0]["filename"]):
        get_adapter("esc50", data_dir=tmp_path, download=False, strict=False).splits()


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["fsdd", "fsdd_wave"])
def test_views_batched_and_deterministic(which, request):
    a = request.getfixturevalue(which)
    x = a.prepare(a.splits()["test"].inputs[:32], CPU)
    v1 = a.views(x, torch.Generator().manual_seed(0))
    v2 = a.views(x, torch.Generator().manual_seed(0))
    v3 = a.views(x, torch.Generator().manual_seed(1))
    assert v1.shape == x.shape and torch.equal(v1, v2) and not torch.equal(v1, v3)
    assert torch.isfinite(v1).all() and not torch.equal(v1, x)
    # one call augments each sample differently (per-sample parameters, drawn batched)
    d = (v1 - x).flatten(1).abs().mean(1)
    assert d.std() > 0


def _envelope(x):
    """Waveforms are compared by their 25 ms amplitude envelope (a sample-wise distance saturates
    for any shift of an oscillating signal); spectrograms directly."""
    return torch.nn.functional.avg_pool1d(x.abs(), 200) if x.dim() == 3 else x


@pytest.mark.parametrize("which", ["fsdd", "fsdd_wave"])
def test_corruptions_deterministic_and_monotone(which, request):
    a = request.getfixturevalue(which)
    corr = a.corruptions()
    expected = {"gaussian_noise", "time_shift", "gain", "low_pass"} | (
        {"clipping"} if which == "fsdd_wave" else set()
    )
    assert set(corr) == expected
    idx = torch.arange(40, 72)
    x = a.prepare(a.splits()["test"].inputs[idx], CPU)
    for name, fn in corr.items():
        dist = []
        for sev in range(1, 6):
            y = fn(x, idx, sev)
            assert y.shape == x.shape and torch.isfinite(y).all(), name
            # deterministic per sample: the same rows inside another batch get the same corruption
            y_sub = fn(x[8:16].clone(), idx[8:16], sev)
            assert torch.allclose(y[8:16], y_sub, atol=1e-5), name
            assert torch.equal(fn(x, idx, sev), y), name
            dist.append(float((_envelope(y) - _envelope(x)).pow(2).mean().sqrt()))
        # non-decreasing (1 % slack: a shift larger than the utterance stops adding distance)
        assert all(b >= 0.99 * a_ - 1e-6 for a_, b in zip(dist, dist[1:])), (name, dist)
        assert dist[-1] > 1.5 * dist[0] and dist[0] > 0, (name, dist)
    if which == "fsdd_wave":  # the shift itself grows exactly with severity: 5/10/20/30/40 % of 1 s
        z = torch.zeros(1, 1, 8000)
        z[..., 4000] = 1.0
        moved = [int(corr["time_shift"](z, torch.tensor([3]), s)[0, 0].argmax()) - 4000 for s in range(1, 6)]
        assert [abs(m) for m in moved] == [400, 800, 1600, 2400, 3200] and len({m > 0 for m in moved}) == 1
    with pytest.raises(ValueError):
        corr["gain"](x, idx, 6)


def test_logmel_gain_matches_waveform_gain(fsdd, fsdd_wave):
    """The spectrogram-domain gain is the exact image of a waveform gain (up to the float16 store)."""
    idx = torch.arange(8)
    w = fsdd_wave.splits()["test"].inputs[idx, 0].float() / 32768.0
    db_mean, db_std = fsdd.stats()
    mel_gain = fsdd.corruptions()["gain"](fsdd.prepare(fsdd.splits()["test"].inputs[idx], CPU), idx, 3)
    wave_gain = fsdd_wave.corruptions()["gain"](w.unsqueeze(1), idx, 3)[:, 0]
    p = fsdd.mel_power(wave_gain)
    ref = (10 * torch.log10(p.clamp_min(1e-10)) - db_mean) / db_std
    assert (mel_gain[:, 0] - ref).abs().max() < 0.01


def test_esc50_follows_the_official_five_fold_cv(tmp_path, monkeypatch):
    """Each fold k tests on exactly fold k and trains on the other four; val is whole source
    recordings of those four folds; over the five folds every clip is tested exactly once."""
    import datasets.esc50 as esc50_module

    rows = write_esc50(tmp_path / "ESC-50", targets=(0, 1), per_fold=3, seconds=0.05)
    src_of = {r["filename"]: int(r["src_file"]) for r in rows}
    fold_of = {int(r["src_file"]): r["fold"] for r in rows}

    def clips(paths, expected_sr, length, target_sr=None):  # the source id instead of the audio
        return torch.tensor([[src_of[Path(p).name]] for p in paths], dtype=torch.int16)

    monkeypatch.setattr(esc50_module, "read_clips", clips)
    tested = []
    for k in (1, 2, 3, 4, 5):
        a = get_adapter("esc50", data_dir=tmp_path, download=False, strict=False, fold=k)
        w = {s: set(v[0][:, 0].tolist()) for s, v in a.load_waveforms().items()}
        assert {fold_of[s] for s in w["test"]} == {k}
        assert {fold_of[s] for s in w["train"] | w["val"]} == {1, 2, 3, 4, 5} - {k}
        assert not w["train"] & w["val"] and len(w["val"]) == 2 * 2  # ⌈12/8⌉ = 2 recordings per class
        tested += sorted(w["test"])
        again = get_adapter("esc50", data_dir=tmp_path, download=False, strict=False, fold=k)
        assert {s: set(v[0][:, 0].tolist()) for s, v in again.load_waveforms().items()} == w  # fixed
    assert sorted(tested) == sorted(src_of.values())
    with pytest.raises(ValueError, match="fold must be one of the official folds 1..5, got 6"):
        get_adapter("esc50", data_dir=tmp_path, fold=6)
