"""The tuning protocol (docs/protocol.md) as the code enforces it: tuning seeds are never reported,
every trained method gets the same number of trials, trials are scored on val without reading test,
the selection is the best mean val score, and a suite's per-method choices must be backed by its
tuning log."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.core.errors import UsageError
from benchmark.orchestration.jobs import expand
from benchmark.orchestration.suites import SUITES_DIR, available_suites, load_suite, parse_suite
from benchmark.orchestration.tuning import (
    selection_yaml,
    setting_text,
    tuning_table,
    tuning_trials,
    unbacked_choices,
)

SUITE = {
    "name": "toy",
    "datasets": [{"name": "breast_cancer", "epochs": 2, "method_hparams": {"simclr": {"lr": 0.5}}}],
    "methods": ["simclr", "byol", "random_init"],
    "seeds": [0, 1],
    "fractions": [0.1, 1.0],
    "probes": ["linear", "knn"],
    "tuning": {
        "seeds": [100, 101],
        "fraction": 0.1,
        "trials": 2,
        "space": {"default": [{}, {"lr": 0.01, "epochs": 3}], "byol": [{}, {"momentum": 0.99}]},
    },
}


def _suite(**over):
    return parse_suite({**SUITE, **over}, "toy.yaml")


@pytest.mark.parametrize(
    "tuning,needle",
    [
        ({**SUITE["tuning"], "seeds": [1, 100]}, "tuning.seeds [1] are also in 'seeds'"),
        ({**SUITE["tuning"], "space": {"default": [{}]}}, "has 1 setting(s); every method gets exactly"),
        ({**SUITE["tuning"], "space": {"default": [{}, {}]}}, "lists a setting twice"),
        ({**SUITE["tuning"], "fraction": 0}, "tuning.fraction must be a number in (0, 1]"),
        ({**SUITE["tuning"], "budget": 3}, "tuning: unknown field(s) ['budget']"),
        ({**SUITE["tuning"], "space": {"default": [{}, {"epochs": 0}]}}, "epochs must be ≥ 1"),
    ],
)
def test_a_tuning_block_that_breaks_the_protocol_is_a_usage_error(tuning, needle):
    with pytest.raises(UsageError, match=None) as e:
        _suite(tuning=tuning)
    assert needle in str(e.value) and "toy.yaml" in str(e.value)


def test_trials_drop_the_suites_choices_use_tuning_seeds_and_score_val_only():
    suite = _suite()
    trials = tuning_trials(suite)
    # random-init trains nothing, so it has no trials; the others have exactly `trials` each
    assert sorted((t.method, t.index) for t in trials) == [
        ("byol", 0),
        ("byol", 1),
        ("simclr", 0),
        ("simclr", 1),
    ]
    by = {(t.method, t.index): t for t in trials}
    for t in trials:
        assert [j.seed for j in t.jobs] == [100, 101]
        for j in t.jobs:
            assert j.protocols == ["val_selection"] and j.fractions == [0.1] and j.probes == ["linear"]
    # the suite's own lr 0.5 for SimCLR is dropped: candidate 0 is the method's defaults
    assert "lr" not in by[("simclr", 0)].jobs[0].method_hparams
    assert by[("simclr", 1)].jobs[0].method_hparams["lr"] == 0.01 and by[("simclr", 1)].jobs[0].epochs == 3
    assert by[("byol", 1)].jobs[0].method_hparams["momentum"] == 0.99 and by[("byol", 1)].jobs[0].epochs == 2
    # no tuning job shares a config (hence a stored result) with a reported job
    reported = {j.config_hash() for j in expand(suite)}
    assert not reported & {j.config_hash() for t in trials for j in t.jobs}


class _Store:
    def __init__(self, scores, collapsed=()):
        self.scores = scores
        self.collapsed = collapsed

    def jobs(self):
        return [{"config_hash": h, "status": "done"} for h in self.scores] + [
            {"config_hash": h, "status": "collapsed"} for h in self.collapsed
        ]

    def frame(self, suite):
        return pd.DataFrame(
            [
                {"config_hash": h, "protocol": "val_selection", "metric": "val_score", "value": v}
                for h, v in self.scores.items()
            ]
        )


def test_selection_is_the_best_mean_over_the_tuning_seeds_ties_to_the_earlier_trial():
    suite = _suite()
    trials = tuning_trials(suite)
    by = {(t.method, t.index): t for t in trials}
    scores = {}

    def put(method, index, values):
        for j, v in zip(by[(method, index)].jobs, values):
            if v is not None:
                scores[j.config_hash()] = v

    put("simclr", 0, [0.80, 0.70])  # mean 0.75
    put("simclr", 1, [0.70, 0.80])  # mean 0.75 up to float rounding: a tie, the earlier trial is kept
    put("byol", 0, [0.50, 0.52])
    put("byol", 1, [0.99, None])  # best seed, but its second seed has not run yet
    rows = tuning_table(suite, trials, _Store(scores))
    # the dataset's tuning is unfinished: every trial is logged, none is selected yet
    assert not any(r["selected"] for r in rows)
    row = next(r for r in rows if (r["method"], r["trial"]) == ("byol", 1))
    assert row["n_seeds"] == 1 and row["val_scores"] == "0.990000" and row["seeds"] == "100"
    assert row["status"] == "done"
    # the missing seed collapsed: the dataset is finished, that trial is logged with its status and
    # is not selectable (every trial is judged on the same seeds)
    collapsed = by[("byol", 1)].jobs[1].config_hash()
    rows = tuning_table(suite, trials, _Store(scores, [collapsed]))
    row = next(r for r in rows if (r["method"], r["trial"]) == ("byol", 1))
    assert row["status"] == "done;collapsed" and not row["selected"]
    assert {(r["method"], r["trial"]) for r in rows if r["selected"]} == {("simclr", 0), ("byol", 0)}

    put("byol", 1, [0.99, 0.40])  # mean 0.695 beats 0.51
    rows = tuning_table(suite, trials, _Store(scores))
    assert {(r["method"], r["trial"]) for r in rows if r["selected"]} == {("simclr", 0), ("byol", 1)}
    assert 'byol: {"momentum": 0.99}' in selection_yaml(suite, rows)


def test_a_suite_choice_the_tuning_log_does_not_back_is_listed():
    suite = _suite()
    log = [
        {"dataset": "breast_cancer", "method": "simclr", "setting": setting_text({}), "selected": "True"},
        {
            "dataset": "breast_cancer",
            "method": "byol",
            "setting": setting_text({"momentum": 0.99}),
            "selected": "True",
        },
    ]
    problems = unbacked_choices(suite, log)
    # SimCLR's lr 0.5 was not selected; BYOL's selected momentum is missing from the suite
    assert len(problems) == 2
    assert 'breast_cancer × simclr: the suite sets {"lr": 0.5}, tuning selected {}' in problems
    assert any(p.startswith("breast_cancer × byol: the suite sets {}") for p in problems)
    backed = parse_suite(
        {
            **SUITE,
            "datasets": [
                {"name": "breast_cancer", "epochs": 2, "method_hparams": {"byol": {"momentum": 0.99}}}
            ],
        },
        "toy.yaml",
    )
    assert unbacked_choices(backed, log) == []
    assert unbacked_choices(backed, []) == [
        'breast_cancer × byol: {"momentum": 0.99} was not selected by a tuning run'
    ]


def test_val_selection_never_reads_test(monkeypatch, tmp_path):
    """A tuning job runs end to end with every read of test labels or test features failing."""
    import torch

    from benchmark.orchestration.job_context import JobContext
    from benchmark.orchestration.runner import run_job

    real_labels, real_features = JobContext.labels, JobContext.features

    def labels(self, split):
        assert split != "test", "a tuning job read the test labels"
        return real_labels(self, split)

    def features(self, split, *a, **k):
        assert split != "test", "a tuning job embedded the test split"
        return real_features(self, split, *a, **k)

    monkeypatch.setattr(JobContext, "labels", labels)
    monkeypatch.setattr(JobContext, "features", features)
    job = tuning_trials(_suite())[0].jobs[0]
    res = run_job(job, None, tmp_path, torch.device("cpu"))
    assert res.status == "done"
    assert [(r["protocol"], r["metric"]) for r in res.rows] == [("val_selection", "val_score")]
    assert 0.0 <= res.rows[0]["value"] <= 1.0


@pytest.mark.slow
def test_tune_command_writes_the_log_and_run_refuses_tuning_seeds(tmp_path, capsys):
    import yaml

    cfg = {
        **SUITE,
        "methods": ["simclr", "random_init"],
        "tuning": {**SUITE["tuning"], "space": {"default": [{}, {"lr": 0.01}]}},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "tune"
    assert (
        main(
            [
                "tune",
                "--suite",
                str(path),
                "--out",
                str(out),
                "--no-progress",
                "--publish",
                "--root",
                str(tmp_path / "lb"),
            ]
        )
        == 0
    )
    with open(out / "tuning.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["trial"], r["n_seeds"]) for r in rows] == [
        ("simclr", "0", "2"),
        ("simclr", "1", "2"),
    ]
    assert sum(r["selected"] == "True" for r in rows) == 1
    assert (tmp_path / "lb" / "toy" / "tuning.csv").read_text() == (out / "tuning.csv").read_text()
    capsys.readouterr()
    assert main(["run", "--suite", str(path), "--seeds", "0,101", "--out", str(tmp_path / "r")]) == 2
    assert "--seeds [101]: tuning seeds of suite 'toy' are never reported" in capsys.readouterr().err


@pytest.mark.parametrize("name", available_suites())
def test_every_shipped_suite_choice_is_backed_by_its_published_tuning_log(name):
    # a suite without a tuning block (or without a published log) may make no per-method choice;
    # the reference recipes' own schedules are not choices
    from pathlib import Path

    suite = load_suite(name)
    log_path = Path(SUITES_DIR).parent.parent / "leaderboards" / name / "tuning.csv"
    rows = list(csv.DictReader(open(log_path))) if log_path.exists() else []
    assert unbacked_choices(suite, rows) == []
