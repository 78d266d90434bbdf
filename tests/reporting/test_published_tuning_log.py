"""Every published suite has a tuning log (docs/protocol.md): a suite without a `tuning:` block gets
the header alone when it is published, and the page says how many trials stand behind the settings
and on which datasets they selected."""

import csv

import pandas as pd

from benchmark.orchestration.tuning import TUNING_COLUMNS
from benchmark.reporting.leaderboard.pages import _suite_intro
from benchmark.reporting.leaderboard.publish import TUNING_FILE, publish_empty_tuning_log, tuning_summary

UNTUNED = "name: toy\ndatasets: [ecg200]\nmethods: [simclr]\nseeds: [0]\n"
TUNED = UNTUNED + (
    "tuning:\n  seeds: [100]\n  fraction: 0.1\n  trials: 2\n  space: {default: [{}, {lr_multiplier: 2.0}]}\n"
)


def _intro(root):
    md: list[str] = []
    df = pd.DataFrame({"code_version": ["0.1.0+abc"], "created_at": ["2026-12-05T00:00:00Z"]})
    _suite_intro(root, "toy", df, [], md)
    return [m for m in md if m.startswith("Tuning")]


def test_an_untuned_suite_publishes_an_empty_log_and_says_so(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    assert "tuning" in publish_empty_tuning_log(UNTUNED, d)
    with open(d / TUNING_FILE, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == TUNING_COLUMNS and list(reader) == []
    assert _intro(tmp_path) == [
        f"Tuning (`{TUNING_FILE}`): none; the suite makes no per-method choice, every method runs "
        "its recipe's defaults."
    ]


def test_a_tuned_suite_never_gets_an_empty_log_and_an_existing_log_is_kept(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    assert publish_empty_tuning_log(TUNED, d) == {} and not (d / TUNING_FILE).exists()
    assert tuning_summary(d) is None and _intro(tmp_path) == []
    (d / TUNING_FILE).write_text("kept\n")
    assert publish_empty_tuning_log(UNTUNED, d) == {} and (d / TUNING_FILE).read_text() == "kept\n"


def test_the_page_names_the_tuned_and_the_part_way_datasets(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    rows = [
        {"dataset": "ecg200", "method": "simclr", "trial": 0, "selected": "False"},
        {"dataset": "ecg200", "method": "simclr", "trial": 1, "selected": "True"},
        {"dataset": "adult", "method": "simclr", "trial": 0, "selected": "False"},
    ]
    with open(d / TUNING_FILE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=TUNING_COLUMNS, restval="")
        w.writeheader()
        w.writerows(rows)
    (line,) = _intro(tmp_path)
    assert "3 trial(s); settings selected on ecg200" in line
    assert "part-way, so every method at its defaults, on adult" in line


def test_a_log_newer_than_the_published_rows_is_not_claimed_for_them(tmp_path):
    d = tmp_path / "toy"
    d.mkdir()
    (d / "suite.yaml").write_text(UNTUNED)  # the rows came from a config without a tuning block
    with open(d / TUNING_FILE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=TUNING_COLUMNS, restval="")
        w.writeheader()
        w.writerow({"dataset": "ecg200", "method": "simclr", "trial": 0, "selected": "True"})
    (line,) = _intro(tmp_path)
    assert "1 trial(s) logged for the suite's current file" in line and "use none of its selections" in line
    (d / "suite.yaml").write_text(TUNED)
    (line,) = _intro(tmp_path)
    assert "settings selected on ecg200" in line
