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
        (["run"], "run needs --suite"),
        (["run", "--suite", "quick", "--methods", "simclr,,x"], "comma-separated"),
        (["run", "--suite", "quick", "--methods", "not_a_method"], "not in suite 'quick'"),
        (["run", "--suite", "quick", "--methods", "byol"], "byol not in suite 'quick' (it has simclr"),
        (["run", "--suite", "quick", "--datasets", "cifar_1000"], "not in suite"),
        (["run", "--suite", "quick", "--seeds", "0,x"], "--seeds"),
        (["run", "--suite", "quick", "--device", "tpu"], "--device"),
        (["report"], "report needs --suite"),
        (["compare", "x", "--against", "simclr"], "compare needs --suite"),
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
    err = capsys.readouterr().err
    assert "not valid YAML (line 3, column 1: expected ',' or ']'" in err and len(err.splitlines()) == 1
    f.write_text("name: s\ndatasets: [fashion_mnist]\nmethods: [simclr]\n  seeds: [0]\n")
    assert main(["run", "--suite", str(f)]) == 2
    assert "not valid YAML (line 4, column 3: expected <block end>" in capsys.readouterr().err


@pytest.mark.parametrize(
    "field,value",
    [
        ("datasets", "[ecg200, breastmnist, ecg200]"),
        ("methods", "[simclr, random_init, simclr]"),
        ("seeds", "[0, 1, 0]"),
        ("fractions", "[0.1, 1.0, 1]"),
        ("probes", "[knn, knn]"),
        ("protocols", "[label_fraction, label_fraction]"),
    ],
)
def test_duplicate_suite_entries_are_refused(field, value, tmp_path, capsys):
    base = {"datasets": "[ecg200]", "methods": "[simclr]", "seeds": "[0]"}
    base[field] = value
    f = tmp_path / "dup.yaml"
    f.write_text("name: dup\n" + "".join(f"{k}: {v}\n" for k, v in base.items()))
    assert main(["run", "--suite", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"'{field}' lists" in err and "more than once" in err and len(err.splitlines()) == 1, err


def test_duplicate_transfer_items_are_refused(tmp_path, capsys):
    f = tmp_path / "dup.yaml"
    item = "{pretrain_on: fashion_mnist, evaluate_on: [breastmnist]}"
    f.write_text(f"name: dup\ndatasets: [breastmnist]\nmethods: [simclr]\ntransfer: [{item}, {item}]\n")
    assert main(["run", "--suite", str(f)]) == 2
    assert "transfer[1] repeats an earlier transfer item" in capsys.readouterr().err


def test_method_file_calling_exit_is_a_usage_error(tmp_path, capsys):
    f = tmp_path / "quits.py"
    f.write_text("import sys\nsys.exit(0)\n")
    assert main(["run", "--suite", "quick", "--method-file", str(f)]) == 2
    err = capsys.readouterr().err
    assert "importing it called exit(0)" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", ["run", "compare"])
def test_missing_method_file_names_the_file(command, tmp_path, capsys):
    args = ["--suite", "quick", "--method-file", str(tmp_path / "nope.py")]
    argv = (
        ["run", *args, "--methods", "nope"]
        if command == "run"
        else ["compare", "nope", "--against", "simclr", *args]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--method-file {tmp_path / 'nope.py'}: no such file" in err and "unknown method" not in err


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
    out = capsys.readouterr().out
    assert "quick" in out and re.search(r"^smoke\s+First run", out, re.M)


def test_list_datasets_prints_no_warnings(tmp_path):
    r = cli("list", "datasets", "--data-dir", str(tmp_path))
    assert r.returncode == 0 and "Warning" not in r.stderr and "warn" not in r.stderr, r.stderr


def test_list_datasets_shows_local_copies_with_official_sizes(data_dir, tmp_path, capsys):
    (tmp_path / "medmnist").mkdir()
    (tmp_path / "medmnist" / "breastmnist.npz").symlink_to(data_dir / "medmnist" / "breastmnist.npz")
    assert main(["list", "datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^breastmnist\s.*\syes\s+546/78/156\s+official$", out, re.M)
    assert re.search(r"^adrenalmnist3d\s.*\sno\s+files missing\s+official$", out, re.M)
    # adapters that depart from the published protocol say so, with a note under the table; ESC-50
    # follows its 5-fold CV (option fold; a suite's `folds` runs all five)
    assert re.search(r"^esc50\s.*\sofficial$", out, re.M)
    m = re.search(r"^mutag\s.*\sdeviates \[(\d+)\]$", out, re.M)
    assert m and re.search(rf"^\[{m.group(1)}\] .*mutag.*: TUDataset has no official split", out, re.M)
    assert re.search(r"^tu\s.*-\s+set by option name", out, re.M)


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


# ---- report / publish / validate / render read what run wrote -------------------------------------
TOY_SUITE = """name: toy_cli
datasets:
  - name: toy_blobs_a
methods: [random_init, toy_constant]
seeds: [0, 1]
fractions: [1.0]
probes: [knn]
pretrain: {epochs: 1, batch_size: 64}
"""


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from tests._protocol_toys import registered

    work = tmp_path_factory.mktemp("cli")
    (work / "suites").mkdir()
    suite = work / "suites" / "toy_cli.yaml"
    suite.write_text(TOY_SUITE)
    out = work / "out"
    with registered():
        assert (
            main(["run", "--suite", str(suite), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
        )
        yield work, suite, out


def _toy_store_run(tmp_path):
    """The `run` argv of the toy suite into tmp_path/out, and a reader of its store's job stamps
    (method+seed -> when it was recorded and how long it took), which change only when a job runs."""
    import sqlite3

    suite = tmp_path / "toy_cli.yaml"
    suite.write_text(TOY_SUITE)
    out = tmp_path / "out"

    def stamps():
        with sqlite3.connect(out / "store.sqlite") as c:
            return dict(c.execute("SELECT method || seed, created_at || wall_s FROM jobs"))

    return ["run", "--suite", str(suite), "--out", str(out), "--no-progress", "--device", "cpu"], stamps


def test_rerun_runs_the_selected_stored_jobs_again_and_replaces_only_theirs(tmp_path, capsys):
    """After a recipe change the store still holds the old results under the same config hash: a
    plain `run` skips them, `run --rerun --methods M` runs M's jobs again and leaves the rest."""
    from tests._protocol_toys import registered

    argv, stamps = _toy_store_run(tmp_path)
    with registered():
        assert main(argv) == 0
        first = stamps()
        assert main(argv) == 0
        assert "4 of 4 job(s) already in the store" in capsys.readouterr().err
        assert stamps() == first
        assert main([*argv, "--rerun", "--methods", "toy_constant"]) == 0
        assert "already in the store" not in capsys.readouterr().err
    again = stamps()
    assert set(again) == set(first)
    assert [k for k in first if again[k] != first[k]] == ["toy_constant0", "toy_constant1"]


def test_a_stored_job_whose_method_recipe_changed_runs_again(tmp_path, capsys, monkeypatch):
    """The config hash names the suite's choices, not the method's recipe: a job stored before its
    method's recipe changed is found by its recorded training fingerprint and run again."""
    from methods.base import METHODS
    from tests._protocol_toys import registered

    argv, stamps = _toy_store_run(tmp_path)
    with registered():
        assert main(argv) == 0
        first = stamps()
        toy = METHODS["toy_constant"]
        monkeypatch.setattr(toy, "defaults", {**toy.defaults, "a_new_default": 1})
        capsys.readouterr()
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert (
            "2 stored job(s) ran under an earlier recipe of their method (toy_constant on toy_blobs_a)" in err
        )
        again = stamps()
        assert main(argv) == 0  # now current: nothing runs
        assert "4 of 4 job(s) already in the store" in capsys.readouterr().err
    assert [k for k in first if again[k] != first[k]] == ["toy_constant0", "toy_constant1"]
    assert stamps() == again


def test_report_takes_a_suite_file_or_reads_the_suite_from_the_store(toy_run, capsys):
    work, suite, out = toy_run
    (out / "label_fraction.md").unlink()
    assert main(["report", "--out", str(out)]) == 0
    assert "suite toy_cli: wrote" in capsys.readouterr().err and (out / "label_fraction.md").exists()
    assert main(["report", "--suite", str(suite), "--out", str(out)]) == 0
    assert "suite toy_cli: wrote" in capsys.readouterr().err
    # with a file and no --out, the results dir is results/<the file's suite name>, as for run
    assert main(["report", "--suite", str(suite)]) == 2
    assert f"no results store at {Path('results') / 'toy_cli' / 'store.sqlite'}" in capsys.readouterr().err


def test_publish_a_custom_suite_writes_its_config_and_validate_takes_the_dir(toy_run, tmp_path, capsys):
    work, suite, out = toy_run
    root = tmp_path / "lb"
    assert main(["leaderboard", "publish", "--out", str(out), "--root", str(root)]) == 0
    assert (root / "toy_cli" / "suite.yaml").read_text() == TOY_SUITE
    capsys.readouterr()
    assert main(["leaderboard", "validate", str(root / "toy_cli")]) == 0
    err = capsys.readouterr().err
    assert f"{root / 'toy_cli' / 'label_fraction.csv'}: valid" in err
    (root / "empty").mkdir()
    assert main(["leaderboard", "validate", str(root / "empty")]) == 2
    assert "a directory without leaderboard CSVs" in capsys.readouterr().err


def test_publish_writes_the_published_vs_reproduced_page_where_the_suite_has_published_numbers(
    toy_run, tmp_path, capsys
):
    work, suite, out = toy_run
    root = tmp_path / "lb"
    (root / "toy_cli").mkdir(parents=True)
    (root / "toy_cli" / "published.csv").write_text(
        "dataset,method,protocol,metric,value,std,source_key\n"
        "toy_blobs_a,random_init,label_fraction,accuracy,0.4321,,toy2026\n"
    )
    (root / "toy_cli" / "sources.csv").write_text("key,citation,where\ntoy2026,A. Toy 2026,Table 1\n")
    assert main(["leaderboard", "publish", "--out", str(out), "--root", str(root)]) == 0
    page = (root / "toy_cli" / "README.md").read_text()
    assert "| toy_blobs_a | random_init |" in page and "43.2" in page and "toy2026" in page
    capsys.readouterr()
    lb = tmp_path / "plain"  # a suite without published numbers gets no such page
    assert main(["leaderboard", "publish", "--out", str(out), "--root", str(lb)]) == 0
    assert not (lb / "toy_cli" / "README.md").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["leaderboard", "publish", "--root", "{file}"],
        ["leaderboard", "render", "--root", "{lb}", "--site", "{file}"],
        ["leaderboard", "render", "--root", "{file}"],
        ["report", "--out", "{file}"],
    ],
)
def test_unwritable_outputs_are_one_line(argv, toy_run, tmp_path, capsys):
    work, suite, out = toy_run
    lb = tmp_path / "lb"
    assert main(["leaderboard", "publish", "--out", str(out), "--root", str(lb)]) == 0
    capsys.readouterr()
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = [a.format(file=afile, lb=lb) for a in argv]
    if argv[:2] == ["leaderboard", "publish"]:
        argv += ["--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(afile) in err and "Traceback" not in err, err


def test_resumed_job_says_from_which_epoch(tmp_path, capsys):
    import torch

    from benchmark.orchestration.runner import run_jobs
    from benchmark.orchestration.store import ResultStore
    from benchmark.training import pretrain as pretrain_module
    from tests._protocol_toys import registered, toy_job

    job = toy_job(method="simclr", epochs=3, probes=("knn",), fractions=(1.0,))
    real = pretrain_module._Trainer.step

    def dies_in_epoch_2(self, idx, step, epoch, *rest):
        if epoch == 1:
            raise KeyboardInterrupt  # killed after epoch 1 was checkpointed
        return real(self, idx, step, epoch, *rest)

    logs = []
    cpu = torch.device("cpu")
    with registered():
        store = ResultStore(tmp_path / "store.sqlite")
        pretrain_module._Trainer.step = dies_in_epoch_2
        try:
            with pytest.raises(KeyboardInterrupt):
                run_jobs([job], store, None, tmp_path, cpu, log=logs.append, show_progress=False)
        finally:
            pretrain_module._Trainer.step = real
        summary = run_jobs([job], store, None, tmp_path, cpu, log=logs.append, show_progress=False)
    assert summary["ran"] == 1 and not summary["failed"]
    assert [m for m in logs if "resuming" in m] == [
        f"{job.label()}: resuming from epoch 1 of 3 (checkpoint in {tmp_path})"
    ]


# ---- the documentation states what the code does ------------------------------------------------
def test_suites_doc_names_every_key_option_and_shipped_suite():
    from benchmark.orchestration.suites import (
        ALLOWED_DATASET,
        ALLOWED_PRETRAIN,
        ALLOWED_TOP,
        RESOURCE_KEYS,
        available_suites,
    )
    from datasets.base import ADAPTERS

    doc = (ROOT / "docs" / "suites.md").read_text()
    keys = (ALLOWED_TOP - {"pretrain", "robustness"}) | ALLOWED_DATASET | RESOURCE_KEYS
    keys |= {f"pretrain.{k}" for k in ALLOWED_PRETRAIN} | {"robustness.max_test"}
    assert not [k for k in sorted(keys) if f"`{k}`" not in doc and k not in doc]
    options = {o for a in ADAPTERS.values() for o in a.accepted_options()}
    assert not [o for o in sorted(options) if f"`{o}`" not in doc]
    assert not [s for s in available_suites() if f"| `{s}` |" not in doc]


def test_readme_front_door_and_its_links():
    text = (ROOT / "README.md").read_text()
    assert text.startswith(
        "# SSLBench\n\n```bash\n"
        "make bench   # creates .venv if missing, installs, runs the quick suite and prints its table\n"
        "make test    # same set-up, then runs the test suite (pytest)\n```\n"
    )
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert heads[:2] == ["What it is", "Your first run"]
    assert "run --suite smoke" in text.split("## Your first run")[1].split("##")[0]
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target
    assert len(text.splitlines()) < 250  # the long material lives in docs/ and leaderboards/


def test_performance_doc_counts_the_quick_suite_jobs_the_code_makes():
    from benchmark.orchestration.jobs import expand
    from benchmark.orchestration.suites import load_suite
    from benchmark.orchestration.transfer import suite_transfer_jobs

    quick = load_suite("quick")
    n_in, n_tr = len(expand(quick)), len(suite_transfer_jobs(quick))
    doc = " ".join((ROOT / "docs" / "performance.md").read_text().split())
    assert f"runs {n_in + n_tr} jobs ({n_in} in-domain + {n_tr} for its three transfer pairs" in doc
    assert len(quick.transfer) == 3
