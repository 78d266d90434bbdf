"""Bad input, fuzzed (hypothesis, 1,000 cases each): suite YAML, CLI arguments and leaderboard CSVs.
Every input either works or exits 2 (usage) / 1 (data) with one clear line; nothing raises. The CLI
runs in-process and `run` always meets a missing --data-dir, so no case ever trains."""

import contextlib
import csv
import io
import itertools
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.cli import main
from benchmark.reporting.leaderboard import validate_text
from benchmark.reporting.tables import LONG_COLUMNS

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
NO_DATA = "/nonexistent/sslbench-fuzz-data"
_counter = itertools.count()


def _call(argv):
    """main(argv) in-process: (exit code, stdout, stderr); any exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _one_clear_line(rc, err):
    assert rc in (1, 2), (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: " if rc == 2 else ("error: ", "data error: ")), err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    old = os.getcwd()
    os.chdir(d)  # relative defaults (results/, leaderboards/) land here, never in the checkout
    yield d
    os.chdir(old)


# ------------------------------------------------------------------------------------- suite YAML
names = st.sampled_from(
    [
        "fashion_mnist",
        "digits",
        "simclr",
        "byol",
        "random_init",
        "nope",
        "../etc/passwd",
        "Bad Name",
        "",
        "a" * 300,
        "ok_name",
        "cora",
        "adult",
        "mutag",
    ]
)
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12), names
)
scalars_or_lists = st.one_of(junk, st.lists(junk, max_size=4))
dataset_entry = st.one_of(
    names,
    junk,
    st.fixed_dictionaries(
        {"name": st.one_of(names, junk)},
        optional={
            "options": st.one_of(st.dictionaries(st.text(max_size=6), junk, max_size=3), junk),
            "max_train": junk,
            "max_val": junk,
            "max_test": junk,
            "extra": junk,
        },
    ),
)
suite_dict = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(names, junk),
        "description": junk,
        "datasets": st.one_of(st.lists(dataset_entry, max_size=3), junk),
        "methods": st.one_of(st.lists(st.one_of(names, junk), max_size=3), junk),
        "method_hparams": st.one_of(
            st.dictionaries(
                names,
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(["lr", "batch_size", "tau", "weight_decay", "x"]), junk, max_size=2
                    ),
                    junk,
                ),
                max_size=2,
            ),
            junk,
        ),
        "seeds": scalars_or_lists,
        "fractions": scalars_or_lists,
        "probes": st.one_of(st.lists(st.sampled_from(["linear", "knn", "svm", ""]), max_size=3), junk),
        "protocols": st.one_of(
            st.lists(st.sampled_from(["label_fraction", "robustness", "ood", "nope"]), max_size=3), junk
        ),
        "pretrain": st.one_of(
            st.dictionaries(st.sampled_from(["epochs", "batch_size", "lr"]), junk, max_size=3), junk
        ),
        "resources": st.one_of(
            st.dictionaries(
                st.sampled_from(["cpus_per_job", "gpus_per_job", "mem_gb", "x"]), junk, max_size=2
            ),
            junk,
        ),
        "transfer": st.one_of(
            st.lists(
                st.one_of(
                    st.fixed_dictionaries({"pretrain_on": scalars_or_lists, "evaluate_on": scalars_or_lists}),
                    junk,
                ),
                max_size=2,
            ),
            junk,
        ),
        "unknown_field": junk,
    },
)
suite_text = st.one_of(
    suite_dict.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "name: [",
            "{a: b",
            "- - -",
            "!!python/object:os.system ls",
            "a: &x [*x]",
            "\t:\n",
            "name: x\ndatasets: !!binary aGVsbG8=",
            "? [a]\n: b\n",
        ]
    ),
)


@FUZZ
@given(text=suite_text)
def test_fuzzed_suite_yaml_never_crashes(workdir, text):
    f = Path(workdir) / f"suite_{next(_counter) % 50}.yaml"
    f.write_bytes(text.encode("utf-8", "surrogatepass"))
    rc, _, err = _call(["run", "--suite", str(f), "--data-dir", NO_DATA, "--no-progress"])
    _one_clear_line(rc, err)


# ---------------------------------------------------------------------------------- CLI arguments
flags = st.sampled_from(
    [
        "run",
        "list",
        "report",
        "compare",
        "leaderboard",
        "publish",
        "validate",
        "render",
        "methods",
        "datasets",
        "suites",
        "--suite",
        "--methods",
        "--datasets",
        "--seeds",
        "--device",
        "--out",
        "--amp",
        "--executor",
        "--workers",
        "--pretrain-on",
        "--evaluate-on",
        "--method-file",
        "--against",
        "--from-csv",
        "--root",
        "--site",
        "--no-progress",
        "--data-dir",
        "--run-baselines",
        "--rerun-new",
        "--readme",
        "--threads-per-job",
        "--cpus-per-job",
        "--slurm-cluster",
        "-x",
        "--",
    ]
)
values = st.one_of(
    st.sampled_from(
        [
            "quick",
            "methods",
            "simclr",
            "simclr,byol",
            "0,1",
            "-1",
            "x",
            "",
            ",",
            "cpu",
            "cuda:7",
            "tpu",
            "bf16",
            "process",
            "ray",
            "slurm",
            "local",
            "../../etc/passwd",
            "a.yaml",
            "fashion_mnist",
            "nope.py",
            "1e3",
            "0",
            "99999999999999999999",
            "\x00",
            "é",
            "a\nb",
        ]
    ),
    st.text(max_size=15).filter(lambda s: not s.startswith("-")),
)
argv_strategy = st.tuples(
    st.sampled_from(["run", "list", "report", "compare", "leaderboard", "bogus"]),
    st.lists(st.one_of(flags, values), max_size=8),
)


@FUZZ
@given(args=argv_strategy)
def test_fuzzed_cli_arguments_never_crash(workdir, args):
    head, rest = args
    argv = [head] + rest
    if head in ("run", "compare"):
        argv += ["--data-dir", NO_DATA]  # last one wins: nothing can start training
    try:
        rc, out, err = _call(argv)
    except SystemExit as e:  # only --help style exits are allowed, and they are code 0
        assert e.code == 0, argv
        return
    if rc == 0:
        assert head in ("list", "leaderboard"), (argv, err)
        return
    if head == "leaderboard" and "validate" in argv and rc == 1:
        return  # validate lists every problem of every file (one per line) and exits 1
    _one_clear_line(rc, err)


# ------------------------------------------------------------------------------- leaderboard CSVs
VALID = {
    "schema_version": "1.0",
    "suite": "s",
    "domain": "natural_images",
    "dataset": "fashion_mnist",
    "method": "simclr",
    "encoder": "default:image2d",
    "pretrain_budget": "8ep",
    "protocol": "label_fraction",
    "probe": "knn",
    "fraction": "0.1",
    "corruption": "",
    "severity": "0",
    "ood_partner": "",
    "metric": "accuracy",
    "mean": "0.5",
    "std": "0.1",
    "n_seeds": "3",
    "ci95_low": "0.4",
    "ci95_high": "0.6",
    "code_version": "0.1.0+abc1234",
    "config_hash": "0123456789abcdef",
    "created_at": "2026-01-31T12:00:00Z",
}
bad_cells = st.one_of(
    st.sampled_from(
        [
            "",
            "=HYPERLINK(1)",
            "+1",
            "-0.5",
            "@x",
            "nan",
            "inf",
            "-inf",
            "1e309",
            "../x",
            "0x10",
            " 1",
            "1.0",
            "2",
            "s",
            "other",
            "a\nb",
            "\x00",
            "linear",
            "robustness",
            "auroc",
            "gaussian_noise",
            "far:synthetic_noise",
            "2026-13-01T00:00:00Z",
            "1,2",
            '"',
        ]
    ),
    st.text(max_size=10),
)
row = st.fixed_dictionaries({}, optional={c: bad_cells for c in LONG_COLUMNS}).map(lambda d: {**VALID, **d})
header = st.one_of(
    st.just(LONG_COLUMNS),
    st.permutations(LONG_COLUMNS),
    st.lists(st.sampled_from(LONG_COLUMNS + ["extra", ""]), max_size=25),
)


def _csv(cols, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


csv_text = st.one_of(
    st.builds(_csv, header, st.lists(row, max_size=4)),
    st.text(max_size=300),
    st.builds(
        lambda a, b: a + b,
        st.builds(_csv, st.just(LONG_COLUMNS), st.lists(row, max_size=2)),
        st.text(max_size=30),
    ),
)


@FUZZ
@given(text=csv_text)
def test_fuzzed_leaderboard_csv_never_crashes(workdir, text):
    problems = validate_text(text, "s")  # never raises
    f = Path(workdir) / "board.csv"
    f.write_bytes(text.encode("utf-8", "surrogatepass"))
    rc, out, err = _call(["leaderboard", "validate", str(f)])
    assert rc in (0, 1)
    root = tempfile.mkdtemp(dir=workdir, prefix="lb")
    rc2, _, err2 = _call(["leaderboard", "publish", "--suite", "s", "--from-csv", str(f), "--root", root])
    if rc2 == 0:
        assert not problems and rc == 0, (text, err2)  # only a valid file is ever published
        assert all(not validate_text(p.read_text(), "s") for p in Path(root, "s").glob("*.csv"))
    else:
        assert problems or rc == 1 or "no data rows" in err2, (text, err2)
        _one_clear_line(rc2, err2)
