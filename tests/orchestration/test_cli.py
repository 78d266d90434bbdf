import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "run_benchmark.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--suite", "nope"], "unknown suite 'nope'"),
        (["run", "--methods", "simclr,,x"], "comma-separated"),
        (["run", "--methods", "not_a_method"], "unknown method"),
        (["run", "--datasets", "cifar_1000"], "not in suite"),
        (["run", "--seeds", "0,x"], "--seeds"),
        (["run", "--device", "tpu"], "--device"),
        (["list", "things"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["report", "--suite", "../etc"], "lower_snake_case"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err


def test_usage_error_exit_code_through_the_script():
    r = cli("run", "--suite", "nope")
    assert r.returncode == 2 and "unknown suite" in r.stderr


def test_bad_suite_file_names_file_and_field(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ndatasets: [fashion_mnist]\nmethods: [simclr]\npretrain: {epochs: 0}\n")
    assert main(["run", "--suite", str(f)]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "pretrain.epochs" in err
    f.write_text(
        "name: s\ndatasets: [fashion_mnist]\nmethods: [simclr]\nmethod_hparams: {simclr: {tau: 1}}\n"
    )
    assert main(["run", "--suite", str(f)]) == 2
    assert "tau" in capsys.readouterr().err
    f.write_text("name: s\ndatasets: [fashion_mnist\n")
    assert main(["run", "--suite", str(f)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_help_and_lists(capsys, tmp_path):
    for args in (["--help"], ["run", "--help"], ["list", "--help"], ["report", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 0
    capsys.readouterr()
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "simclr" in out and "Chen et al. 2020" in out
    # one aligned row per method: family, then every spec it supports, then its paper
    lines = out.splitlines()
    paper_col = lines[0].index("paper")
    row = next(line for line in lines if line.startswith("random_init_tokens "))
    assert row.split()[1:3] == ["reference", "image2d,volume3d,signal1d,spectrogram,graph,tabular"]
    assert all(
        len(line) > paper_col and line[paper_col - 1] == " " and line[paper_col] != " " for line in lines
    )
    main(["list", "datasets", "--data-dir", str(tmp_path / "empty")])
    out = capsys.readouterr().out
    assert "fashion_mnist" in out
    assert re.search(r"^breastmnist\s+medical_2d\s+image2d\s+1x28x28\s+2\s+no\s+files missing", out, re.M)
    main(["list", "suites"])
    assert "quick" in capsys.readouterr().out


def test_list_datasets_shows_local_copies_with_official_sizes(data_dir, tmp_path, capsys):
    (tmp_path / "medmnist").mkdir()
    (tmp_path / "medmnist" / "breastmnist.npz").symlink_to(data_dir / "medmnist" / "breastmnist.npz")
    assert main(["list", "datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^breastmnist\s.*\syes\s+546/78/156\s+official$", out, re.M)
    assert re.search(r"^adrenalmnist3d\s.*\sno\s+files missing\s+official$", out, re.M)
    # adapters that depart from the published protocol say so, with a note under the table
    m = re.search(r"^esc50\s.*\sdeviates \[(\d+)\]$", out, re.M)
    assert m and re.search(rf"^\[{m.group(1)}\] esc50: one fold of the official 5-fold", out, re.M)
    assert re.search(r"^mutag\s.*deviates", out, re.M) and re.search(
        r"^tu\s.*-\s+set by option name", out, re.M
    )


def test_hf_datasets_clash_gives_clear_error(tmp_path):
    # A foreign top-level `datasets` package first on the path: our guard must say so clearly.
    fake = tmp_path / "datasets"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    code = (
        "import sys; sys.path.insert(0, %r); sys.path.insert(1, %r)\n"
        "from benchmark.orchestration.package_guard import check_datasets_package\n"
        "check_datasets_package()\n"
    ) % (str(tmp_path), str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and "shadows ours" in r.stderr
    # run_benchmark.py puts its own checkout first, so it still resolves to ours.
    r = subprocess.run(
        [sys.executable, str(ROOT / "run_benchmark.py"), "list", "datasets"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0 and "fashion_mnist" in r.stdout, r.stderr


def test_every_shipped_suite_expands_into_valid_jobs():
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.suites import available_suites, load_suite
    from benchmark.orchestration.transfer import suite_transfer_jobs

    names = available_suites()
    assert {"quick", "methods", "standard", "full"} <= set(names)
    for name in names:
        suite = load_suite(name)
        jobs = expand(suite) + suite_transfer_jobs(suite)  # names, specs and hyper-parameters checked
        assert len({j.config_hash() for j in jobs}) == len(jobs), name
