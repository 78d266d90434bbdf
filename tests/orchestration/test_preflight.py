"""Pre-flight: every problem of a run found before its first job, one console line each, exit 2 for
usage and 1 for data; a job that fails at run time gets one console line and its traceback in
<out>/logs/."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.orchestration.preflight import suite_problems
from benchmark.orchestration.suites import available_suites, load_suite, parse_suite
from tests._protocol_toys import registered

TOY_SUITE = """name: toy_pf
datasets:
  - name: toy_blobs_a
methods: [random_init]
seeds: [0]
fractions: [1.0]
probes: [knn]
pretrain: {epochs: 1, batch_size: 64}
"""


@pytest.fixture
def toys():
    with registered():
        yield


def lines(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if line]


def run(tmp_path, suite_text, *extra, out=None):
    f = tmp_path / "suite.yaml"
    f.write_text(suite_text)
    out = out or tmp_path / "out"
    return main(
        ["run", "--suite", str(f), "--out", str(out), "--no-progress", "--device", "cpu", *extra]
    ), out


def test_misspelt_keys_and_options_each_one_line_before_any_job(tmp_path, capsys):
    suite = """name: typos
datasets:
  - name: breastmnist
    options: {sizee: 64}
    method_hparams: {simclr: {lrr: 0.1}}
  - name: ecg200
    method_epochs: {simclrr: 3}
methods: [simclr]
method_hparams: {simclrr: {lr: 0.1}}
method_epochs: {simclrr: 5}
seeds: [0]
"""
    rc, out = run(tmp_path, suite)
    err = lines(capsys.readouterr().err)
    assert rc == 2
    assert len(err) == 5, err
    assert all(line.startswith("error: suite ") and "Traceback" not in line for line in err)
    joined = "\n".join(err)
    assert "method_hparams.simclrr: unknown method 'simclrr' (did you mean 'simclr'?)" in joined
    assert "method_epochs.simclrr: unknown method 'simclrr'" in joined
    assert "datasets[1] (ecg200).method_epochs.simclrr: unknown method" in joined
    assert "datasets[0] (breastmnist).options: breastmnist: unknown option(s) ['sizee']" in joined
    assert "datasets[0] (breastmnist).method_hparams.simclr: unknown hyper-parameter(s) ['lrr']" in joined
    assert not out.exists()  # nothing written, not even the output directory


def test_truncated_dataset_is_one_data_error_and_no_job_runs(data_dir, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "medmnist").mkdir(parents=True)
    good = (data_dir / "medmnist" / "breastmnist.npz").read_bytes()
    (data / "medmnist" / "breastmnist.npz").write_bytes(good[: len(good) // 3])
    suite = TOY_SUITE.replace("toy_blobs_a", "breastmnist").replace("name: toy_pf", "name: trunc")
    rc, out = run(tmp_path, suite, "--data-dir", str(data))
    err = lines(capsys.readouterr().err)
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith("data error: breastmnist: ") and "breastmnist.npz" in err[0] and "MD5" in err[0]
    assert not (out / "store.sqlite").exists()


def test_missing_files_one_line_per_dataset(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    suite = """name: missing
datasets:
  - {name: breastmnist, options: {download: false}}
  - {name: ecg200, options: {download: false}}
methods: [random_init]
seeds: [0]
"""
    rc, out = run(tmp_path, suite, "--data-dir", str(empty))
    err = lines(capsys.readouterr().err)
    assert rc == 1 and len(err) == 2, err
    # each line starts with the dataset's name (the adapter's own spelling where its message has one)
    assert err[0].startswith("data error: breastmnist: ") and err[1].lower().startswith(
        "data error: ecg200: "
    )
    assert not (out / "store.sqlite").exists()


def test_data_dir_env_pointing_nowhere_is_refused_and_not_created(tmp_path, capsys, monkeypatch):
    nowhere = tmp_path / "no" / "such" / "dir"
    monkeypatch.setenv("SSLBENCH_DATA_DIR", str(nowhere))
    rc, _ = run(tmp_path, TOY_SUITE.replace("toy_blobs_a", "breastmnist"))
    err = lines(capsys.readouterr().err)
    assert rc == 2 and len(err) == 1 and f"SSLBENCH_DATA_DIR={nowhere}: not a directory" in err[0], err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("kind", ["file", "below a file", "unwritable"])
def test_unwritable_out_is_one_usage_line(kind, toys, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": afile, "below a file": afile / "sub", "unwritable": Path("/proc/sslbench-out")}[kind]
    if kind == "unwritable" and not Path("/proc/self").exists():
        pytest.skip("needs /proc (Linux) for a directory nobody can write, root included")
    rc, _ = run(tmp_path, TOY_SUITE, out=out)
    err = lines(capsys.readouterr().err)
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: --out {out}: "), err


def test_failed_job_one_console_line_traceback_in_its_log(toys, tmp_path, capsys):
    mf = tmp_path / "boom.py"
    mf.write_text(
        "from methods.base import Method, register_method\n\n\n"
        "@register_method\nclass PfBoom(Method):\n    name = 'pf_boom'\n    family = 'test'\n\n"
        "    def training_step(self, x, y, view):\n        raise RuntimeError('boom in training_step')\n"
    )
    from methods.base import METHODS

    try:
        suite = TOY_SUITE.replace("[random_init]", "[random_init, pf_boom]")
        rc, out = run(tmp_path, suite, "--method-file", str(mf))
    finally:
        METHODS.unregister("pf_boom")
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if "pf_boom" in line]
    assert len(failed) == 1, err
    assert failed[0].startswith("FAILED pf_boom × toy_blobs_a × seed 0: RuntimeError: boom in training_step")
    log = Path(failed[0].split("(traceback: ")[1].rstrip(")"))
    assert log.parent == out / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "boom in training_step" in text
    c = sqlite3.connect(out / "store.sqlite")
    assert dict(c.execute("SELECT method, status FROM jobs")) == {"random_init": "done", "pf_boom": "failed"}
    assert (out / "suite.yaml").read_text().startswith("name: toy_pf")  # the config that ran, for publish


def test_preflight_loads_each_dataset_once_and_warns_about_partners(toys, tmp_path, capsys):
    suite = TOY_SUITE.replace("probes: [knn]", "probes: [knn]\nprotocols: [label_fraction, ood]")
    rc, out = run(tmp_path, suite)
    err = capsys.readouterr().err
    assert rc == 0, err
    # toy_blobs_a's partners: toy_blobs_b (same spec: loaded), toy_wide (another shape: skipped by design)
    assert "pre-flight: 2 dataset(s) loaded and checked" in err
    assert "warning" not in err


def test_ood_partner_without_files_is_one_warning(data_dir, tmp_path, monkeypatch):
    import urllib.request

    from benchmark.orchestration.jobs import Job
    from benchmark.orchestration.preflight import preflight

    def offline(*a, **k):
        raise OSError("offline (test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # partners are fetched like in a job: not here
    data = tmp_path / "data"
    (data / "medmnist").mkdir(parents=True)
    shutil.copy(data_dir / "medmnist" / "breastmnist.npz", data / "medmnist")
    job = Job("s", "random_init", "breastmnist", 0, 1, [1.0], ["knn"], ["ood"], {}, {"download": False})
    report = preflight([job], str(data), tmp_path / "out")
    assert report.exit_code == 0 and report.checked >= 2  # breastmnist and the bundled sklearn digits
    assert len(report.warnings) == 1 and report.warnings[0].startswith("OOD partner(s) without local files")
    assert "pneumoniamnist" in report.warnings[0] and "fashion_mnist" not in report.warnings[0]


def test_methods_filter_takes_suite_members_and_method_file_methods():
    from benchmark.orchestration.preflight import method_filter_problems
    from benchmark.orchestration.suites import load_suite

    quick = load_suite("quick")
    assert method_filter_problems(quick, ["simclr", "supervised"]) == []
    assert method_filter_problems(quick, ["my_method"], extra=["my_method"]) == []  # --method-file
    (line,) = method_filter_problems(quick, ["byol", "simclr"])
    assert line.startswith("--methods: byol not in suite 'quick' (it has simclr, random_init, supervised)")


@pytest.mark.parametrize("name", available_suites())
def test_every_shipped_suite_passes_the_name_and_key_checks(name):
    assert suite_problems(load_suite(name)) == []


def test_recipe_fields_are_hyper_parameters_a_suite_may_set():
    base = {"name": "s", "datasets": ["ecg200"], "methods": ["simclr"], "seeds": [0]}
    ok = {**base, "method_hparams": {"simclr": {"optimizer": "sgd", "lr_multiplier": 2.0}}}
    assert suite_problems(parse_suite(ok, "s.yaml")) == []
    bad = {**base, "method_hparams": {"simclr": {"lr_multiplyer": 2.0}}}
    (problem,) = suite_problems(parse_suite(bad, "s.yaml"))
    assert "unknown hyper-parameter(s) ['lr_multiplyer']" in problem and "lr_multiplier" in problem
