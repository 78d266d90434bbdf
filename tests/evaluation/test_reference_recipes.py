"""Reference recipes scored end to end and the tu_cv protocol (docs/design.md §3.11), on the real
shared data with small budgets, plus the pieces that decide what a recipe is allowed to see."""

import numpy as np
import pytest
import torch

from benchmark.evaluation.protocols import tu_cv as tu_cv_module
from benchmark.evaluation.protocols.tu_cv import C_GRID, cv_accuracies, path_accuracies
from benchmark.evaluation.reference_recipes import RECIPES, milestone_epochs
from benchmark.orchestration.jobs import Job
from benchmark.orchestration.runner import _method_supports, run_job
from methods.base import METHODS

CPU = torch.device("cpu")
RECIPE_NAMES = {"gcn_supervised", "fcn", "resnet18_medmnist", "gbdt_reference", "logreg_reference"}


def _job(method, dataset, epochs=1, protocols=("label_fraction",), options=None, hp=None, **kw):
    return Job(
        "reference",
        method,
        dataset,
        0,
        epochs,
        [1.0],
        ["linear"],
        list(protocols),
        hp or {},
        options or {},
        **kw,
    )


def _rows(rows, **match):
    return {r["metric"]: r["value"] for r in rows if all(r[k] == v for k, v in match.items())}


def test_every_recipe_method_has_its_training_function_and_declares_its_specs():
    recipes = {n for n, c in METHODS.items() if c.end_to_end}
    assert recipes == RECIPE_NAMES == set(RECIPES)
    assert all(METHODS[n].family == "reference" and not METHODS[n].trains for n in recipes)
    # the GCN recipe is for node tasks only: graph classification sets skip it
    assert _method_supports(_job("gcn_supervised", "cora"))
    assert not _method_supports(_job("gcn_supervised", "mutag"))
    assert not _method_supports(_job("fcn", "adult")) and _method_supports(_job("fcn", "ecg200"))


def test_milestones_scale_with_the_epochs():
    assert milestone_epochs([0.5, 0.75], 100) == [50, 75]
    assert milestone_epochs([0.5, 0.75], 4) == [2, 3]
    assert milestone_epochs([0.5, 0.75], 1) == []  # a 1-epoch smoke test never drops the lr


def test_gcn_recipe_scores_its_own_predictions_on_cora(data_dir, tmp_path):
    res = run_job(_job("gcn_supervised", "cora", epochs=40), data_dir, tmp_path, CPU)
    assert res.status == "done"
    # only end-to-end rows: no frozen probe is fitted on top of the recipe
    assert {(r["protocol"], r["probe"], r["fraction"]) for r in res.rows} == {
        ("label_fraction", "end_to_end", 1.0)
    }
    m = _rows(res.rows)
    assert set(m) == {"accuracy", "balanced_accuracy", "auroc"}
    assert m["accuracy"] > 0.6  # 40 epochs of the recipe; a broken graph or label wiring gives ~0.3
    assert 1 <= res.history["recipe fraction=1"]["epochs_run"] <= 40


def test_fcn_recipe_keeps_the_val_chosen_epoch(data_dir, tmp_path):
    res = run_job(_job("fcn", "ecg200", epochs=3, hp={"batch_size": 16}), data_dir, tmp_path, CPU)
    chosen = res.history["recipe fraction=1"]
    assert res.status == "done" and 1 <= chosen["best_epoch"] <= 3 and 0 <= chosen["val_accuracy"] <= 1
    assert 0 <= _rows(res.rows, probe="end_to_end")["accuracy"] <= 1


def test_logreg_reference_on_adult_chooses_c_on_val(data_dir, tmp_path):
    # GBDT runs on wine in tests/orchestration/test_reference_suite.py (Adult's grid is slow on CPU).
    job = _job("logreg_reference", "adult", max_train=1000, max_val=300, max_test=1000)
    res = run_job(job, data_dir, tmp_path, CPU)
    assert res.status == "done" and "C" in res.history["recipe fraction=1"]
    assert _rows(res.rows, probe="end_to_end")["accuracy"] > 0.78  # the majority class is 0.76


def test_resnet18_medmnist_recipe_smoke(data_dir, tmp_path):
    job = _job(
        "resnet18_medmnist",
        "breastmnist",
        epochs=1,
        hp={"batch_size": 32},
        max_train=64,
        max_val=32,
        max_test=32,
    )
    res = run_job(job, data_dir, tmp_path, CPU)
    assert res.status == "done" and res.history["recipe fraction=1"]["best_epoch"] == 1
    assert set(_rows(res.rows, probe="end_to_end")) == {"accuracy", "balanced_accuracy", "auroc"}


def test_cv_accuracies_folds_and_seeds():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    separable = np.c_[y * 3.0 + rng.normal(size=60), rng.normal(size=(60, 3))]
    accs = cv_accuracies(separable, y, seed=1)
    assert accs.shape == (10,) and accs.mean() > 0.9
    noise = rng.normal(size=(60, 4))
    at1, at2 = cv_accuracies(noise, y, seed=1), cv_accuracies(noise, y, seed=2)
    assert at1.mean() < 0.8 and not np.array_equal(at1, at2)  # the seed moves the folds
    # chance on a larger, higher-dimensional noise set (where a large C would overfit)
    y200 = np.repeat([0, 1], 100)
    assert abs(cv_accuracies(rng.normal(size=(200, 64)), y200, seed=3).mean() - 0.5) < 0.1


def test_cv_selects_c_inside_the_training_part(monkeypatch):
    """The C search and the scaling see only the outer fold's training part: the held-out fold's
    features never reach them (a shifted test fold would move the scaler if they did)."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 50)
    x = np.c_[y * 2.0 + rng.normal(size=100), rng.normal(size=(100, 5))]
    seen = []
    real = tu_cv_module.select_c

    def spy(xs, ys, seed, *a, **k):
        seen.append((len(ys), xs.mean(0).copy(), xs.std(0).copy()))
        return real(xs, ys, seed, *a, **k)

    monkeypatch.setattr(tu_cv_module, "select_c", spy)
    cv_accuracies(x, y, seed=0)
    assert [n for n, _, _ in seen] == [90] * 10
    for _, mean, std in seen:  # standardised with the training part's own statistics
        assert np.allclose(mean, 0, atol=1e-9) and np.allclose(std, 1, atol=1e-9)


def test_warm_started_path_matches_separate_fits():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 150)
    x = rng.normal(size=(150, 8)) + y[:, None] * 0.4
    fit, val = np.arange(100), np.arange(100, 150)
    got = path_accuracies(x[fit], y[fit], x[val], y[val])
    want = [
        LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(x[fit], y[fit]).score(x[val], y[val])
        for c in C_GRID
    ]
    assert got == pytest.approx(want, abs=1 / 50 + 1e-9)  # at most one val sample apart


def test_tu_cv_uses_every_graph_and_skips_label_users(data_dir, tmp_path, monkeypatch):
    import benchmark.evaluation.protocols.tu_cv as tu_cv

    seen = {}

    def spy(x, y, seed, folds=10):
        seen["n"] = len(y)
        return np.array([0.5, 0.7])

    monkeypatch.setattr(tu_cv, "cv_accuracies", spy)
    res = run_job(_job("random_init", "mutag", protocols=["tu_cv"], max_train=50), data_dir, tmp_path, CPU)
    assert seen["n"] == 188  # all graphs of MUTAG, whatever the pools' caps
    got = _rows(res.rows, protocol="tu_cv", probe="cv_logreg")
    assert got == pytest.approx({"accuracy": 0.6, "accuracy_fold_std": 0.1})
    sup = run_job(_job("supervised", "mutag", protocols=["tu_cv"]), data_dir, tmp_path, CPU)
    assert sup.status == "done" and sup.rows == []
    # node tasks and other domains have no tu_cv rows
    assert run_job(_job("random_init", "cora", protocols=["tu_cv"]), data_dir, tmp_path, CPU).rows == []
