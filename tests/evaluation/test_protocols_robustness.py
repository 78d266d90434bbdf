"""Robustness protocol honesty: rows per (corruption, severity), each corrupted copy embedded once
(EmbeddingCache counters), determinism, mCE = 1 for the supervised row itself and a hand-computed
CE, and selection that never reads test (garbage test split → same selected hyper-parameters)."""

import pandas as pd
import pytest
import torch
from _protocol_toys import SIGMAS, gaussian_noise, registered, toy_ctx, toy_job

from benchmark.evaluation.protocols import PROTOCOLS
from benchmark.evaluation.protocols.robustness import SEVERITIES, add_corruption_errors
from datasets.base import Split


@pytest.fixture(scope="module", autouse=True)
def toys():
    with registered():
        yield


def test_rows_cache_and_determinism(tmp_path):
    job = toy_job("random_init", protocols=["label_fraction", "robustness"])
    ctx = toy_ctx(job, tmp_path)
    lf = PROTOCOLS["label_fraction"](ctx)
    rows = PROTOCOLS["robustness"](ctx)
    # random_init: one model for every fraction → train/val/test clean embedded once (3 misses, the
    # label-fraction protocol's later reads are hits), then 1 corruption × 5 severities
    assert ctx.cache.misses == 3 + 5
    cells = {(r["probe"], r["corruption"], r["severity"]) for r in rows if r["metric"] == "accuracy"}
    assert cells == {
        (p, c, s)
        for p in ("linear", "knn")
        for c, s in [("", 0)] + [("gaussian_noise", s) for s in SEVERITIES]
    }
    assert {r["fraction"] for r in rows} == {1.0}
    by = {(r["probe"], r["corruption"], r["severity"], r["metric"]): r["value"] for r in rows}
    for p in ("linear", "knn"):
        accs = [by[(p, "gaussian_noise", s, "accuracy")] for s in SEVERITIES]
        assert by[(p, "", 0, "mca")] == pytest.approx(sum(accs) / 5)
        assert by[(p, "", 0, "relative_robustness")] == pytest.approx(
            sum(accs) / 5 / by[(p, "", 0, "accuracy")]
        )
        assert accs[-1] < by[(p, "", 0, "accuracy")]  # σ = 0.8 noise on [0, 1] images hurts
    # clean robustness cell = the label-fraction result at the same fraction and probe
    lf_acc = {r["probe"]: r["value"] for r in lf if r["fraction"] == 1.0 and r["metric"] == "accuracy"}
    assert by[("linear", "", 0, "accuracy")] == pytest.approx(lf_acc["linear"])
    assert by[("knn", "", 0, "accuracy")] == pytest.approx(lf_acc["knn"])
    # a second context on the same work dir: everything is a cache hit, rows identical
    ctx2 = toy_ctx(job, tmp_path)
    rows2 = PROTOCOLS["robustness"](ctx2)
    # (+2: the shared linear head reads train and val itself when this context first fits it)
    assert ctx2.cache.misses == 0 and ctx2.cache.hits == 3 + 5 + 2
    assert len(ctx2.linear_heads) == 1  # one head fitted, reused by the linear predictor
    assert rows2 == rows
    # same job config, other weights (e.g. the method's defaults changed since the cache was written):
    # the cached features are not reused, and features equal a fresh embedding of the new weights
    ctx3 = toy_ctx(job, tmp_path)
    with torch.no_grad():
        next(ctx3.model(None).parameters()).mul_(-1.5)
    feats = ctx3.features("train", None)
    assert ctx3.cache.misses == 1 and ctx3.cache.hits == 0
    assert not torch.allclose(feats, ctx2.features("train", None))
    assert torch.equal(ctx3.features("train", None), feats) and ctx3.cache.hits == 1


def test_toy_corruption_is_deterministic_and_monotone():
    x = torch.rand(6, 1, 8, 8)
    idx = torch.arange(100, 106)
    for s in SEVERITIES:
        assert torch.equal(gaussian_noise(x, idx, s), gaussian_noise(x.clone(), idx, s))
    mse = [float((gaussian_noise(x, idx, s) - x).pow(2).mean()) for s in SEVERITIES]
    assert mse == sorted(mse) and len(SIGMAS) == 5


def _frame(method_errs: dict[str, dict[str, list[float]]], seed=0):
    rows = []
    for m, by_c in method_errs.items():
        for c, errs in by_c.items():
            for s, e in zip(SEVERITIES, errs):
                rows.append(
                    {
                        "suite": "x",
                        "dataset": "d",
                        "seed": seed,
                        "method": m,
                        "probe": "linear",
                        "fraction": 1.0,
                        "protocol": "robustness",
                        "corruption": c,
                        "severity": s,
                        "ood_partner": "",
                        "metric": "accuracy",
                        "value": 1 - e,
                    }
                )
    return pd.DataFrame(rows)


def test_mce_supervised_is_one_and_hand_computed():
    errs = {
        "supervised": {"noise": [0.1, 0.2, 0.3, 0.4, 0.5], "blur": [0.1, 0.1, 0.1, 0.1, 0.1]},
        "ssl": {"noise": [0.2, 0.2, 0.2, 0.2, 0.2], "blur": [0.05, 0.05, 0.1, 0.1, 0.2]},
    }
    out = add_corruption_errors(_frame(errs))
    get = lambda m, metric, c="": out[(out.method == m) & (out.metric == metric) & (out.corruption == c)][
        "value"
    ].item()  # noqa: E731
    assert get("supervised", "mce") == pytest.approx(1.0)
    assert get("supervised", "ce", "noise") == pytest.approx(1.0)
    assert get("ssl", "ce", "noise") == pytest.approx(1.0 / 1.5)  # Σ 0.2·5 / Σ (0.1…0.5)
    assert get("ssl", "ce", "blur") == pytest.approx(0.5 / 0.5)
    assert get("ssl", "mce") == pytest.approx((1.0 / 1.5 + 1.0) / 2)


def test_mce_needs_the_supervised_row_of_the_same_seed():
    f = pd.concat(
        [_frame({"supervised": {"noise": [0.1] * 5}}, seed=0), _frame({"ssl": {"noise": [0.2] * 5}}, seed=1)]
    )
    out = add_corruption_errors(f)
    assert out[out.metric == "mce"]["method"].tolist() == ["supervised"]


def test_selection_never_reads_test(tmp_path):
    # Replace the test split by garbage: every selected hyper-parameter and val score is unchanged
    # (linear L2, kNN settings, fine-tune epoch), while the test metrics do change.
    def run(garbage):
        ctx = toy_ctx(
            toy_job("random_init", probes=["linear", "knn", "finetune"], fractions=[1.0]),
            tmp_path / ("g" if garbage else "c"),
        )
        if garbage:
            t = ctx.splits["test"]
            g = torch.Generator().manual_seed(1)
            ctx.splits["test"] = Split(
                torch.randint(0, 256, t.inputs.shape, generator=g, dtype=torch.uint8),
                t.labels[torch.randperm(len(t), generator=g)],
            )
        PROTOCOLS["label_fraction"](ctx)
        return {k: (v.selected, v.val_score, v.metrics["accuracy"]) for k, v in ctx.probe_results.items()}

    clean, garbage = run(False), run(True)
    assert set(clean) == {("linear", 1.0), ("knn", 1.0), ("finetune", 1.0)}
    for k in clean:
        assert clean[k][0] == garbage[k][0] and clean[k][1] == garbage[k][1], k
        assert clean[k][2] != garbage[k][2], k
    assert clean[("linear", 1.0)][2] > 0.9  # the toy classes are easy for a random conv encoder


def test_corrupted_subset_cap(tmp_path, monkeypatch):
    # A test pool above the cap: corrupted copies of a fixed stratified subset, still embedded once.
    import benchmark.evaluation.protocols.robustness as rob

    monkeypatch.setattr(rob, "MAX_CORRUPTED_TEST", 100)
    ctx = toy_ctx(toy_job("random_init", probes=["knn"], protocols=["robustness"], fractions=[1.0]), tmp_path)
    rows = PROTOCOLS["robustness"](ctx)
    assert ctx.cache.misses == 3 + 5
    pos = rob._test_positions(ctx)
    assert len(pos) == 100 and torch.bincount(ctx.labels("test")[pos]).tolist() == [25] * 4
    clean = [r["value"] for r in rows if r["metric"] == "accuracy" and r["severity"] == 0][0]
    assert clean * 100 == pytest.approx(round(clean * 100))  # accuracy over exactly 100 samples
    ctx2 = toy_ctx(ctx.job, tmp_path)
    assert PROTOCOLS["robustness"](ctx2) == rows and ctx2.cache.misses == 0


def test_corrupted_inputs_shared_across_jobs(tmp_path, monkeypatch):
    # A corrupted copy depends on (samples, corruption, severity), not on the model: the second job
    # on the same split reuses the first one's corrupted batches (the corruption is not re-run) and
    # gets the same rows it would get with the cache off; another split never sees them.
    import _protocol_toys

    import benchmark.evaluation.protocols.robustness as rob

    calls = []

    def counted(x, idx, severity):
        calls.append(severity)
        return _protocol_toys.gaussian_noise(x, idx, severity)

    monkeypatch.setattr(_protocol_toys.ToyA, "corruptions", lambda self: {"gaussian_noise": counted})
    from benchmark.orchestration.job_context import JobContext
    from datasets.base import get_adapter

    def ctx_for(job, data_dir, work):  # data apart from the work dir, as in a real run
        ctx = JobContext(
            job, get_adapter(job.dataset, data_dir=tmp_path / data_dir), torch.device("cpu"), tmp_path / work
        )
        ctx.train_models()
        return ctx

    rob.CORRUPTED_INPUTS.clear()
    hits0, misses0 = rob.CORRUPTED_INPUTS.hits, rob.CORRUPTED_INPUTS.misses
    job = toy_job("random_init", probes=["knn"], protocols=["robustness"], fractions=[1.0])
    rows = PROTOCOLS["robustness"](ctx_for(job, "data", "w0"))
    first = len(calls)
    assert first >= 5 and rob.CORRUPTED_INPUTS.misses - misses0 == first
    job1 = toy_job("random_init", seed=1, probes=["knn"], protocols=["robustness"], fractions=[1.0])
    ctx1 = ctx_for(job1, "data", "w1")
    rows1 = PROTOCOLS["robustness"](ctx1)
    assert len(calls) == first and rob.CORRUPTED_INPUTS.hits - hits0 == first  # served from memory
    monkeypatch.setattr(rob.CORRUPTED_INPUTS, "max_bytes", 0)  # off: recomputed, same rows
    ctx1_off = ctx_for(job1, "data", "w2")
    assert PROTOCOLS["robustness"](ctx1_off) == rows1 and len(calls) == 2 * first
    monkeypatch.setattr(rob.CORRUPTED_INPUTS, "max_bytes", 1 << 30)
    # a different split object (another data dir): the cache is cleared, not consulted
    ctx2 = ctx_for(job, "data2", "w3")
    assert ctx2.splits["test"].inputs is not ctx1.splits["test"].inputs
    assert PROTOCOLS["robustness"](ctx2) == rows and len(calls) == 3 * first
    assert rob.CORRUPTED_INPUTS.owner is ctx2.splits["test"].inputs
