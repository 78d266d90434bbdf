"""Tabular adapters: real UCI Adult from ../shared/data, scikit-learn's bundled sets, and
covertype through scikit-learn's cache format (a fixture written here; no internet)."""

import shutil

import numpy as np
import pytest
import torch

from datasets.adult import ADULT_CATEGORICAL, ADULT_NUMERIC
from datasets.base import DataError, get_adapter

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def adult(data_dir):
    return get_adapter("adult", data_dir=data_dir, download=False)


def _counts(split):
    return torch.bincount(split.labels).tolist()


# ---- official counts and encoding -----------------------------------------------------------
def test_adult_official_split_and_label_counts(adult):
    s = adult.splits()
    assert len(s["train"]) + len(s["val"]) == 32561 and len(s["test"]) == 16281
    assert len(s["val"]) == 3256  # stratified 10 % of adult.data
    tr, va = _counts(s["train"]), _counts(s["val"])
    assert [a + b for a, b in zip(tr, va)] == [24720, 7841]
    assert _counts(s["test"]) == [12435, 3846]
    assert abs(va[1] / sum(va) - 7841 / 32561) < 0.002
    width = len(ADULT_NUMERIC) + sum(len(v) + 1 for v in ADULT_CATEGORICAL.values())
    assert adult.spec.shape == (width,) == tuple(s["train"].inputs.shape[1:])
    assert adult.spec.extras["categorical_cardinalities"][-1] == 42  # 41 countries + missing


def test_adult_standardisation_fitted_on_train_only(adult):
    s = adult.splits()
    n = len(ADULT_NUMERIC)
    num = s["train"].inputs[:, :n].double()
    assert torch.allclose(num.mean(0), torch.zeros(n, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(num.std(0), torch.ones(n, dtype=torch.float64), atol=1e-3)
    test_mean = s["test"].inputs[:, :n].double().mean(0)
    assert not torch.allclose(test_mean, torch.zeros(n, dtype=torch.float64), atol=1e-4)
    for split in s.values():  # every categorical group is a valid one-hot
        for a, b in adult._groups():
            assert torch.equal(split.inputs[:, a:b].sum(1), torch.ones(len(split)))


def test_adult_missing_values_use_the_missing_category(adult):
    s = adult.splits()
    x = torch.cat([s["train"].inputs, s["val"].inputs])
    groups = dict(zip(ADULT_CATEGORICAL, adult._groups()))
    # '?' counts in adult.data (workclass, occupation, native-country)
    assert [int(x[:, groups[c][0]].sum()) for c in ("workclass", "occupation", "native-country")] == [
        1836,
        1843,
        583,
    ]
    assert int(x[:, groups["education"][0]].sum()) == 0


@pytest.mark.parametrize(
    "name,sizes,counts",
    [
        ("breast_cancer", (399, 57, 113), (212, 357)),
        ("wine", (124, 18, 36), (59, 71, 48)),
    ],
)
def test_sklearn_bundled_stratified_70_10_20(name, sizes, counts):
    a = get_adapter(name)
    s = a.splits()
    assert tuple(len(s[k]) for k in ("train", "val", "test")) == sizes
    total = torch.stack([torch.bincount(s[k].labels, minlength=len(counts)) for k in s]).sum(0)
    assert tuple(total.tolist()) == counts
    for k in s:  # each split keeps every class
        assert (torch.bincount(s[k].labels, minlength=len(counts)) > 0).all()
    assert torch.equal(get_adapter(name).splits()["test"].inputs, s["test"].inputs)  # name-seeded
    assert set(a.corruptions()) == {"gaussian_noise", "missing_values"}  # no categorical features


# ---- data integrity --------------------------------------------------------------------------
def _copy_adult(data_dir, tmp_path):
    d = tmp_path / "tabular" / "adult"
    shutil.copytree(data_dir / "tabular" / "adult", d)
    return d


def test_adult_wrong_column_count_names_file_and_line(data_dir, tmp_path):
    d = _copy_adult(data_dir, tmp_path)
    lines = (d / "adult.data").read_text().splitlines()
    lines[99] = lines[99].rsplit(",", 2)[0]  # drop two columns on line 100
    (d / "adult.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"adult\.data: line 100 has 13 comma-separated columns; expected 15"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()


def test_adult_truncated_bad_label_unknown_category_checksum(data_dir, tmp_path):
    d = _copy_adult(data_dir, tmp_path)
    good = (d / "adult.test").read_text()
    lines = good.splitlines()
    (d / "adult.test").write_text("\n".join(lines[:5001]) + "\n")
    with pytest.raises(DataError, match=r"adult\.test: 5000 data rows; expected 16281"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()
    bad = list(lines)
    bad[3] = bad[3].replace("<=50K.", "maybe.").replace(">50K.", "maybe.")
    (d / "adult.test").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"adult\.test: line 4: label 'maybe\.'"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()
    bad = list(lines)
    bad[1] = bad[1].replace("Private", "Pirate", 1)
    (d / "adult.test").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"line 2: workclass='Pirate' is not in the adult\.names schema"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()
    bad = list(lines)
    bad[1] = bad[1].replace("25,", "26,", 1)  # well-formed but altered
    (d / "adult.test").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"adult\.test: parses, but its content differs .*MD5"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()


def test_adult_missing_offline(tmp_path):
    with pytest.raises(DataError, match=r"adult\.data.*not found"):
        get_adapter("adult", data_dir=tmp_path, download=False).splits()


# ---- covertype via scikit-learn's cache format -----------------------------------------------
def _write_covtype_cache(root, n=700, seed=0):
    import joblib

    rng = np.random.default_rng(seed)
    X = np.zeros((n, 54))
    X[:, :10] = rng.normal(100, 20, (n, 10)).round()
    X[np.arange(n), 10 + rng.integers(0, 4, n)] = 1
    X[np.arange(n), 14 + rng.integers(0, 40, n)] = 1
    y = (np.arange(n) % 7 + 1).astype(np.int32)
    d = root / "tabular" / "covertype"
    d.mkdir(parents=True)
    joblib.dump(X, d / "samples_py3", compress=3)  # what fetch_covtype writes (compress=9)
    joblib.dump(y, d / "targets_py3", compress=3)
    return X, y


def test_covertype_reads_sklearn_cache(tmp_path):
    X, y = _write_covtype_cache(tmp_path)
    a = get_adapter("covertype", data_dir=tmp_path, download=False, split="stratified")
    s = a.splits()
    assert sum(len(v) for v in s.values()) == 700 and a.spec.shape == (10 + 5 + 41,)
    x = torch.cat([s[k].inputs for k in s])
    wild, soil = a._groups()
    assert torch.equal(x[:, wild[0] : wild[1]].sum(1), torch.ones(700))
    assert x[:, wild[0]].sum() == 0 and x[:, soil[0]].sum() == 0  # no missing categories here
    labels = torch.cat([s[k].labels for k in s])
    assert torch.bincount(labels).tolist() == np.bincount(y - 1).tolist()
    # the official split needs the full archive: a 700-row cache is refused, not silently used
    with pytest.raises(DataError, match=r"samples_py3: 700 rows; the official split needs all 581012"):
        get_adapter("covertype", data_dir=tmp_path, download=False).splits()


def test_covertype_corrupt_cache(tmp_path):
    _write_covtype_cache(tmp_path)
    (tmp_path / "tabular" / "covertype" / "samples_py3").write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match=r"covertype: cannot load scikit-learn's covertype cache"):
        get_adapter("covertype", data_dir=tmp_path, download=False, split="stratified").splits()


# ---- views and corruptions -------------------------------------------------------------------
def test_scarf_views_batched_deterministic_from_train_marginals(adult):
    s = adult.splits()
    x = adult.prepare(adult.batch(s["test"], torch.arange(256)), CPU)
    v1 = adult.views(x, torch.Generator().manual_seed(0))
    v2 = adult.views(x, torch.Generator().manual_seed(0))
    v3 = adult.views(x, torch.Generator().manual_seed(1))
    assert v1.shape == x.shape and torch.equal(v1, v2) and not torch.equal(v1, v3)
    n = len(ADULT_NUMERIC)
    for a, b in adult._groups():  # replaced categorical values are whole one-hots
        assert torch.equal(v1[:, a:b].sum(1), torch.ones(256))
        assert torch.equal(v1[:, a:b], v1[:, a:b].round())
    changed = [(v1[:, a:b] != x[:, a:b]).any(1).float().mean() for a, b in adult._groups()]
    assert 0.3 < float(torch.stack(changed).mean()) < 0.6  # 60 % resampled, some by equal values
    # without the gaussian noise, every numeric value comes from the train column (SCARF marginal)
    adult.view_noise = 0.0
    try:
        v = adult.views(x, torch.Generator().manual_seed(0))
    finally:
        del adult.view_noise
    train = s["train"].inputs
    for j in range(n):
        from_train = torch.isin(v[:, j], train[:, j])
        assert (from_train | (v[:, j] == x[:, j])).all()
    fnlwgt = ADULT_NUMERIC.index("fnlwgt")  # near-continuous: a replacement almost always differs
    assert 0.5 < (v[:, fnlwgt] != x[:, fnlwgt]).float().mean() < 0.7  # ≈ 60 % replaced


def test_scarf_view_equals_the_per_column_definition(adult):
    """The feature-level implementation (numeric gathers + one-hot scatter of donor codes + a mask
    GEMM) gives exactly SCARF's per-column definition: column c of row i is column c of the donor
    row of c's feature when that feature is masked, else x[i, c]; then noise on numeric columns."""
    train = adult.splits()["train"].inputs
    x = adult.prepare(adult.batch(adult.splits()["test"], torch.arange(300)), CPU)
    g = torch.Generator().manual_seed(5)
    got = adult.views(x, torch.Generator().manual_seed(5))
    mask = torch.rand(300, adult.n_features, generator=g) < adult.scarf_rate
    donors = torch.randint(0, len(train), (300, adult.n_features), generator=g)
    n = len(ADULT_NUMERIC)
    feat = list(range(n)) + [n + j for j, (a, b) in enumerate(adult._groups()) for _ in range(a, b)]
    want = x.clone()
    for c, f in enumerate(feat):
        want[mask[:, f], c] = train[donors[mask[:, f], f], c]
    want[:, :n] += adult.view_noise * torch.randn(300, n, generator=g)
    assert torch.equal(got, want)


def test_tabular_corruptions_deterministic_monotone_batch_independent(adult):
    s = adult.splits()["test"]
    idx = torch.arange(300)
    x = adult.prepare(adult.batch(s, idx), CPU)
    sub = torch.tensor([5, 17, 250])
    cors = adult.corruptions()
    assert set(cors) == {"gaussian_noise", "missing_values", "category_swap"}
    n = len(ADULT_NUMERIC)
    for name, fn in cors.items():
        prev = -1.0
        for sev in range(1, 6):
            out = fn(x, idx, sev)
            assert torch.equal(out, fn(x, idx, sev))
            assert torch.equal(out[sub], fn(x[sub], idx[sub], sev))  # per-sample, not per-batch
            for a, b in adult._groups():
                assert torch.equal(out[:, a:b].sum(1), torch.ones(300))
            amount = float((out - x).abs().sum())
            assert amount > prev, (name, sev)
            prev = amount
    # missing values are filled exactly as '?' is at load time: numeric → 0 (train mean), category → slot 0
    out = cors["missing_values"](x, idx, 5)
    filled = (out[:, :n] == 0) & (x[:, :n] != 0)
    assert 0.35 < filled.float().mean() < 0.65
    a, b = adult._groups()[0]
    went_missing = (out[:, a] == 1) & (x[:, a] == 0)
    assert 0.35 < went_missing.float().mean() < 0.65
    swapped = cors["category_swap"](x, idx, 3)
    for a, b in adult._groups()[:-1]:
        moved = (swapped[:, a:b] != x[:, a:b]).any(1)
        assert not (swapped[moved, a] == 1).any()  # swaps land on real categories
    with pytest.raises(ValueError):
        cors["gaussian_noise"](x, idx, 0)


# ---- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_pipeline_end_to_end_adult(data_dir, tmp_path, one_thread):
    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.runner import run_job

    for method in ("simclr", "random_init"):
        job = Job(
            suite="test",
            method=method,
            dataset="adult",
            seed=0,
            epochs=2,
            fractions=[0.1, 1.0],
            probes=["linear", "knn"],
            protocols=["label_fraction"],
            method_hparams={"batch_size": 128},
            dataset_options={"download": False},
            max_train=2000,
            max_val=500,
            max_test=2000,
        )
        res = run_job(job, data_dir, tmp_path / method, CPU)
        assert res.status == "done", res.error
        acc = {(r["probe"], r["fraction"]): r["value"] for r in res.rows if r["metric"] == "accuracy"}
        assert set(acc) == {("linear", 0.1), ("linear", 1.0), ("knn", 0.1), ("knn", 1.0)}
        assert acc[("linear", 1.0)] > 0.76, (method, acc)  # above the 76 % majority class


def test_ood_partners_registered_with_the_same_spec(adult, data_dir):
    from datasets.base import ADAPTERS

    for name in ("adult", "covertype", "breast_cancer", "wine"):
        for partner in ADAPTERS[name].ood_partners["near"] + ADAPTERS[name].ood_partners["far"]:
            assert partner in ADAPTERS and partner != name
            assert ADAPTERS[partner].spec == ADAPTERS[name].spec
    base = adult.splits()["test"].inputs
    shuf = get_adapter("adult_shuffled", data_dir=data_dir, download=False).splits()["test"].inputs
    assert shuf.shape == base.shape and not torch.equal(shuf, base)
    assert torch.allclose(shuf.sum(0), base.sum(0), atol=1e-2)  # marginals kept
    for a, b in adult._groups():
        assert torch.equal(shuf[:, a:b].sum(1), torch.ones(len(shuf)))  # one-hots stay valid
