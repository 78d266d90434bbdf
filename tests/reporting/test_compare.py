"""`compare` end to end with the tutorial's method, taken from docs/adding_a_method.md into a temporary
folder (no edit to the repo), against baselines already in the store, which must not be re-run."""

import math
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from scipy import stats

from benchmark.cli import main
from benchmark.orchestration.jobs import expand
from benchmark.orchestration.runner import run_jobs
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import load_suite
from benchmark.reporting.compare import outcome, paired_diff, win_tie_loss

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding_a_method.md"
SUITE_YAML = """name: tiny_compare
datasets:
  - name: fashion_mnist
    max_train: 600
    max_val: 200
    max_test: 300
methods: [simclr, random_init]
seeds: [0, 1]
fractions: [0.1, 1.0]
probes: [knn]
protocols: [label_fraction]
pretrain:
  epochs: 1
  batch_size: 64
"""


def tutorial_blocks() -> list[str]:
    text = DOC.read_text()
    marker = text.index("<!-- example-method: my_align_uniform.py")
    return re.findall(r"```python\n(.*?)```", text[marker:], re.S)


def extract_method(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "my_align_uniform.py"
    f.write_text(tutorial_blocks()[0])
    return f


def jobs_table(store_path: Path) -> dict:
    con = sqlite3.connect(store_path)
    rows = con.execute("SELECT config_hash, method, seed, status, created_at FROM jobs").fetchall()
    con.close()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(autouse=True)
def isolated_method_registry():
    """Methods loaded from user files in one test do not leak into the next."""
    from benchmark.orchestration import method_files
    from methods.base import METHODS

    registry, loaded = METHODS.snapshot(), dict(method_files._LOADED)
    yield
    METHODS.restore(registry)
    method_files._LOADED.clear()
    method_files._LOADED.update(loaded)


@pytest.fixture(scope="module")
def baselines(fmnist_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("compare")
    suite_file = work / "tiny_compare.yaml"
    suite_file.write_text(SUITE_YAML)
    out = work / "results"
    data = work / "data"
    data.mkdir()
    store = ResultStore(out / "store.sqlite")
    summary = run_jobs(
        expand(load_suite(str(suite_file))),
        store,
        data,
        out,
        torch.device("cpu"),
        log=lambda m: None,
        show_progress=False,
    )
    store.close()
    assert summary["ran"] == 4 and not summary["failed"]
    return work, suite_file, out, data


def test_tutorial_loss_snippet_runs(tmp_path):
    from methods.base import METHODS

    method_file = extract_method(tmp_path)
    registry = METHODS.snapshot()
    sys.path.insert(0, str(method_file.parent))
    try:
        exec(compile(tutorial_blocks()[1], "tutorial-check", "exec"), {})  # raises if an assert fails
    finally:
        sys.path.remove(str(method_file.parent))
        sys.modules.pop("my_align_uniform", None)
        METHODS.restore(registry)


def test_compare_tutorial_method_against_stored_baselines(baselines, tmp_path, capsys):
    work, suite_file, out, data = baselines
    method_file = extract_method(tmp_path / "user")
    before = jobs_table(out / "store.sqlite")
    assert len(before) == 4 and {m for m, *_ in before.values()} == {"simclr", "random_init"}
    cmd = [
        sys.executable,
        str(ROOT / "run_benchmark.py"),
        "compare",
        "my_align_uniform",
        "--against",
        "simclr,random_init",
        "--suite",
        str(suite_file),
        "--method-file",
        str(method_file),
        "--out",
        str(out),
        "--data-dir",
        str(data),
        "--device",
        "cpu",
        "--no-progress",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)  # outside the repo
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ran 2, skipped 0" in r.stderr and "4 stored baseline job(s) reused" in r.stderr
    # the store `leaderboard publish` reads is untouched (same rows, same timestamps); the new
    # method's 2 seeds went to the compare store next to it
    assert jobs_table(out / "store.sqlite") == before
    after = jobs_table(out / "compare" / "store.sqlite")
    assert sorted((v[0], v[1], v[2]) for v in after.values()) == [
        ("my_align_uniform", 0, "done"),
        ("my_align_uniform", 1, "done"),
    ]

    delta = pd.read_csv(out / "compare_my_align_uniform.csv", keep_default_na=False)
    # 2 baselines × 1 probe × 2 fractions × 3 metrics
    assert len(delta) == 12 and set(delta["baseline"]) == {"simclr", "random_init"}
    assert set(delta["n_pairs"]) == {2} and set(delta["outcome"]) <= {"win", "tie", "loss"}
    # recompute one cell independently from the per-seed store rows
    frame = pd.concat([ResultStore(out / d / "store.sqlite").frame("tiny_compare") for d in (".", "compare")])
    cell = (frame["probe"] == "knn") & (frame["fraction"] == 1.0) & (frame["metric"] == "accuracy")
    new = frame[cell & (frame["method"] == "my_align_uniform")].sort_values("seed")["value"].to_numpy()
    base = frame[cell & (frame["method"] == "simclr")].sort_values("seed")["value"].to_numpy()
    row = delta[
        (delta["probe"] == "knn")
        & (delta["fraction"] == 1.0)
        & (delta["metric"] == "accuracy")
        & (delta["baseline"] == "simclr")
    ].iloc[0]
    assert row["diff_mean"] == pytest.approx((new - base).mean())
    if (new - base).std() > 0:
        ci = stats.ttest_rel(new, base).confidence_interval(0.95)
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((ci.low, ci.high))
    md = (out / "compare_my_align_uniform.md").read_text()
    assert "## label_fraction" in md and "W / T / L" in md and md in r.stdout
    wtl = pd.read_csv(out / "compare_my_align_uniform_summary.csv", keep_default_na=False)
    assert len(wtl) == 12 and ((wtl["wins"] + wtl["ties"] + wtl["losses"]) == 1).all()

    # a second compare (in this process) re-runs nothing at all and gives the same table
    assert main(cmd[2:]) == 0
    assert "ran 0, skipped 2" in capsys.readouterr().err
    assert jobs_table(out / "compare" / "store.sqlite") == after
    assert jobs_table(out / "store.sqlite") == before
    assert pd.read_csv(out / "compare_my_align_uniform.csv", keep_default_na=False).equals(delta)


def test_missing_baselines_give_a_clear_error_and_run_nothing(baselines, capsys):
    work, suite_file, out, data = baselines
    before = jobs_table(out / "store.sqlite")
    code = main(
        [
            "compare",
            "simclr",
            "--against",
            "random_init,supervised",
            "--suite",
            str(suite_file),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "supervised (seeds 0,1)" in err and "run_benchmark.py run" in err and "--run-baselines" in err
    assert jobs_table(out / "store.sqlite") == before
    assert (
        main(["compare", "simclr", "--against", "simclr", "--suite", str(suite_file), "--out", str(out)]) == 2
    )
    assert "both the new method and a baseline" in capsys.readouterr().err
    assert (
        main(
            [
                "compare",
                "simclr",
                "--against",
                "random_init",
                "--suite",
                str(suite_file),
                "--out",
                str(work / "nowhere"),
            ]
        )
        == 2
    )
    assert "baseline results missing" in capsys.readouterr().err
    assert main(["compare", "x", "--against", "simclr", "--suite", str(suite_file)]) == 2
    err = capsys.readouterr().err
    assert "compare: unknown method 'x'; define it in a file and pass --method-file" in err
    assert "--methods" not in err
    assert not (work / "nowhere" / "store.sqlite").exists()


def test_compare_against_published_rows_needs_no_baseline_run(baselines, tmp_path, capsys):
    work, suite_file, out, data = baselines
    root = tmp_path / "leaderboards"
    assert main(["leaderboard", "publish", "--out", str(out), "--root", str(root)]) == 0
    fresh = tmp_path / "fresh"  # a results dir without any baseline
    method_file = extract_method(tmp_path / "user")
    args = ["my_align_uniform", "--against", "simclr,random_init", "--suite", str(suite_file)]
    args += ["--method-file", str(method_file), "--out", str(fresh), "--data-dir", str(data)]
    args += ["--root", str(root), "--device", "cpu", "--no-progress"]
    capsys.readouterr()
    assert main(["compare", *args]) == 0
    err = capsys.readouterr().err
    assert "comparing with the published rows" in err and "ran 2, skipped 0" in err
    assert not (fresh / "store.sqlite").exists()  # nothing for publish to pick up by accident
    delta = pd.read_csv(fresh / "compare_my_align_uniform.csv", keep_default_na=False)
    assert len(delta) == 12 and set(delta["n_pairs"]) == {2}
    published = pd.read_csv(root / "tiny_compare" / "label_fraction.csv", keep_default_na=False)
    new = ResultStore(fresh / "compare" / "store.sqlite").frame("tiny_compare")
    row = delta[
        (delta["fraction"] == 1.0) & (delta["metric"] == "accuracy") & (delta["baseline"] == "simclr")
    ]
    pub = published[
        (published["method"] == "simclr")
        & (published["fraction"] == 1.0)
        & (published["metric"] == "accuracy")
    ].iloc[0]
    mine = new[(new["fraction"] == 1.0) & (new["metric"] == "accuracy")]["value"]
    assert row["baseline_mean"].iloc[0] == pytest.approx(pub["mean"])
    assert row["diff_mean"].iloc[0] == pytest.approx(mine.mean() - pub["mean"])
    # the same seeds as the published rows: the paired result from the store has the same mean difference
    assert main(["compare", *args, "--out", str(out), "--root", str(tmp_path / "none")]) == 0
    paired = pd.read_csv(out / "compare_my_align_uniform.csv", keep_default_na=False)
    assert paired["diff_mean"].to_numpy() == pytest.approx(delta["diff_mean"].to_numpy())
    md = (fresh / "compare_my_align_uniform.md").read_text()
    assert "Welch" in md


BAD_FILES = {
    "missing": (None, "no such file"),
    "nomethod.py": ("X = 1\n", "defines no method"),
    "undecorated.py": (
        "from methods.base import Method\nclass Foo(Method):\n    name = 'foo_x'\n",
        "not decorated with @register_method",
    ),
    "clash.py": (
        "from methods.base import Method, register_method\n@register_method\n"
        "class Mine(Method):\n    name = 'simclr'\n",
        "clash",
    ),
    "clash_same_qualname.py": (
        "from methods.base import Method, register_method\n@register_method\n"
        "class SimCLR(Method):\n    name = 'simclr'\n",
        "clash",
    ),
    "syntax.py": ("def f(:\n", "syntax error at line 1"),
    "raises.py": ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    "notpy.txt": ("x", "ending in .py"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_method_file_errors_are_one_line_usage_errors(name, tmp_path, capsys):
    from methods.base import METHODS

    content, needle = BAD_FILES[name]
    f = tmp_path / name
    if content is not None:
        f.write_text(content)
    registry = METHODS.snapshot()
    assert main(["run", "--method-file", str(f), "--methods", "simclr"]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert dict(METHODS) == registry  # nothing left behind, built-ins intact


def test_method_file_needs_the_local_executor(tmp_path, capsys):
    import benchmark.cli as cli

    f = extract_method(tmp_path)
    real = cli.build_parser

    def with_executor():  # whichever executors `run` offers, a non-local one must be refused
        p = real()
        for a in p._subparsers._group_actions[0].choices["run"]._actions:
            if "--executor" in a.option_strings:
                return p
        p._subparsers._group_actions[0].choices["run"].add_argument("--executor", default="local")
        return p

    cli.build_parser = with_executor
    try:
        assert (
            main(["run", "--executor", "process", "--method-file", str(f), "--methods", "my_align_uniform"])
            == 2
        )
    finally:
        cli.build_parser = real
    assert "--executor local" in capsys.readouterr().err


def test_method_file_registers_only_when_named(tmp_path):
    from benchmark.orchestration.method_files import load_method_file
    from methods.base import METHODS

    f = extract_method(tmp_path)
    names = load_method_file(f)
    assert names == ["my_align_uniform"] and METHODS["my_align_uniform"].family == "contrastive"
    assert load_method_file(f) == ["my_align_uniform"]  # loading the same file again is harmless
    # a different file claiming the same name is a clash
    other = tmp_path / "other" / "my_align_uniform.py"
    extract_method(other.parent)
    from benchmark.orchestration.suites import UsageError

    with pytest.raises(UsageError, match="clash"):
        load_method_file(other)


def test_welch_difference_against_published_aggregates():
    from benchmark.reporting.compare import welch_diff

    new, base = [0.80, 0.82, 0.84], [0.70, 0.75, 0.71]
    sd = float(pd.Series(base).std())
    mean, se, n, lo, hi = welch_diff(new, sum(base) / 3, sd, 3)
    ref = stats.ttest_ind(new, base, equal_var=False).confidence_interval(0.95)
    assert n == 3 and mean == pytest.approx(sum(new) / 3 - sum(base) / 3)
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert math.isnan(welch_diff([0.8], 0.7, 0.01, 3)[3])  # one NEW seed: no interval, a tie
    assert welch_diff([0.8, 0.8], 0.7, 0.0, 3)[3:] == pytest.approx((0.1, 0.1))  # no spread on either side


def test_paired_difference_statistics():
    new, base = [0.80, 0.90, 0.85], [0.70, 0.80, 0.82]
    mean, std, n, lo, hi = paired_diff(new, base)
    ref = stats.ttest_rel(new, base).confidence_interval(0.95)
    assert n == 3 and mean == pytest.approx(0.0766666, abs=1e-6)
    assert (lo, hi) == pytest.approx((ref.low, ref.high))
    assert outcome("accuracy", lo, hi) == ("win" if lo > 0 else "tie")
    assert outcome("accuracy", 0.01, 0.02) == "win" and outcome("accuracy", -0.02, -0.01) == "loss"
    assert outcome("fpr95", -0.02, -0.01) == "win"  # lower is better
    assert outcome("accuracy", -0.01, 0.02) == "tie"
    m1 = paired_diff([0.9], [0.8])
    assert m1[2] == 1 and math.isnan(m1[3]) and outcome("accuracy", m1[3], m1[4]) == "tie"


def test_win_tie_loss_counts_across_datasets():
    rows = []
    for ds, res in (("a", "win"), ("b", "loss"), ("c", "tie"), ("d", "win")):
        rows.append(
            {
                "suite": "s",
                "protocol": "label_fraction",
                "dataset": ds,
                "probe": "linear",
                "fraction": 1.0,
                "corruption": "",
                "severity": 0,
                "ood_partner": "",
                "metric": "accuracy",
                "new_method": "n",
                "baseline": "simclr",
                "outcome": res,
            }
        )
    wtl = win_tie_loss(pd.DataFrame(rows))
    assert len(wtl) == 1
    r = wtl.iloc[0]
    assert (r["wins"], r["ties"], r["losses"], r["n_datasets"]) == (2, 1, 1, 4)


def test_deltas_pair_transfer_rows_by_source_and_never_compare_the_floor():
    from benchmark.reporting.compare import delta_table, reference_deltas

    rows = []
    for method, off in (("new_m", 0.1), ("random_init", 0.0), ("supervised", 0.3)):
        for src, base in (("a", 0.5), ("b", 0.7)):
            for seed in (0, 1):
                cell = {
                    "suite": "s",
                    "protocol": "transfer",
                    "dataset": "d",
                    "probe": "linear",
                    "fraction": 1.0,
                    "corruption": "",
                    "severity": 0,
                    "ood_partner": "",
                    "method": method,
                    "encoder": "default:image2d",
                    "pretrain_budget": f"5ep@{src}",
                    "seed": seed,
                    "created_at": "2026-01-01T00:00:00Z",
                    "config_hash": f"{method}{src}{seed}",
                }
                rows.append({**cell, "metric": "accuracy", "value": base + off + 0.01 * seed})
                rows.append({**cell, "metric": "majority_floor", "value": 0.2})
    frame = pd.DataFrame(rows)
    delta = delta_table(frame, "s", "new_m", ["random_init"])
    assert set(delta["metric"]) == {"accuracy"}
    assert sorted(delta["pretrain_source"]) == ["a", "b"] and set(delta["n_pairs"]) == {2}
    assert delta["diff_mean"].tolist() == pytest.approx([0.1, 0.1])
    ref = reference_deltas(frame, "s")
    pairs = set(zip(ref["new_method"], ref["baseline"], ref["pretrain_source"]))
    assert pairs == {
        (m, b, s)
        for m, b in (("new_m", "random_init"), ("new_m", "supervised"), ("supervised", "random_init"))
        for s in ("a", "b")
    }
