"""The encoder and init axes of a suite (docs/design.md §2.1): expansion into jobs, config hashes that
stay what they were without the axes, one-line rejections before any job, skip reasons, the `init`
key column in the store, the tables and the leaderboard (schema 1.1; 1.0 files read as random), and,
slow, the CPU slice of the study suite end to end on BreastMNIST."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
import torch
import yaml

from benchmark.cli import main
from benchmark.core.specs import InputSpec
from benchmark.models.encoders import build_encoder
from benchmark.orchestration.jobs import axis_skip_reason, expand, init_label
from benchmark.orchestration.runner import job_record, pending_jobs
from benchmark.orchestration.store import ResultStore
from benchmark.orchestration.suites import load_suite, parse_suite
from benchmark.orchestration.transfer import suite_transfer_jobs
from benchmark.reporting.leaderboard.frames import read_long
from benchmark.reporting.leaderboard.schema import validate_file, validate_text
from benchmark.reporting.tables import KEY, LONG_COLUMNS, SCHEMA_VERSION, write_tables
from datasets.base import ADAPTERS

ROOT = Path(__file__).resolve().parents[2]
GRAY = InputSpec("image2d", (1, 28, 28))


def small_state(tmp_path: Path) -> Path:
    """A state dict of BreastMNIST's small encoder, saved as a user's own weights would be."""
    torch.manual_seed(7)
    path = tmp_path / "my weights.pt"
    torch.save(build_encoder(GRAY, "small").state_dict(), path)
    return path


def suite(**extra) -> dict:
    return {
        "name": "axes",
        "datasets": [{"name": "breastmnist", "epochs": 1}],
        "methods": ["simclr", "random_init", "supervised", "mae"],
        "seeds": [0, 1],
        "fractions": [0.1, 1.0],
        **extra,
    }


def test_two_encoders_and_two_inits_expand_to_the_right_jobs(tmp_path):
    path = str(small_state(tmp_path))
    jobs = expand(parse_suite(suite(encoders=["small", "resnet18"], init=["random", path]), "axes"))
    grid = {(j.method, j.dataset_options.get("encoder"), j.init, j.seed) for j in jobs}
    assert len(grid) == len(jobs)
    # every method that takes the suite's encoder: 2 encoders × 2 inits × 2 seeds
    for m in ("simclr", "random_init", "supervised"):
        assert {g[1:] for g in grid if g[0] == m} == {
            (e, i, s) for e in (None, "resnet18") for i in ("random", path) for s in (0, 1)
        }
    # MAE builds its own token transformer: once per init, whatever the encoder axis lists
    assert {g[1:] for g in grid if g[0] == "mae"} == {(None, i, s) for i in ("random", path) for s in (0, 1)}
    assert len(jobs) == 3 * 8 + 4
    # a job at the defaults keeps the hash it had before the axes; the others differ from it
    plain = {(j.method, j.seed): j.config_hash() for j in expand(parse_suite(suite(), "axes"))}
    for j in jobs:
        default = j.init == "random" and "encoder" not in j.dataset_options
        assert (j.config_hash() == plain[(j.method, j.seed)]) == default, j.label()
        assert ("init" in j.config()) == (j.init != "random")
    # `encoders: [resnet18]` is the same job as the adapter option `encoder: resnet18` always was
    opt = suite(datasets=[{"name": "breastmnist", "epochs": 1, "options": {"encoder": "resnet18"}}])
    axis = suite(encoders=["resnet18"])
    hashes = [
        {j.config_hash() for j in expand(parse_suite(x, "a")) if j.method != "mae"} for x in (opt, axis)
    ]
    assert hashes[0] == hashes[1]  # MAE ignores the encoder axis (its own transformer)


def test_a_dataset_overrides_the_suite_axes_and_transfer_sources_train_the_axis_encoder():
    s = suite(
        datasets=[
            {"name": "breastmnist", "epochs": 1},
            {"name": "pneumoniamnist", "encoders": ["small"], "init": ["random"]},
        ],
        methods=["simclr"],
        encoders=["small", "resnet18"],
        init=["random", "imagenet"],
        transfer=[{"pretrain_on": "pneumoniamnist", "evaluate_on": ["breastmnist"]}],
    )
    parsed = parse_suite(s, "axes")
    jobs = expand(parsed)
    assert len([j for j in jobs if j.dataset == "breastmnist"]) == 2 * 2 * 2
    assert len([j for j in jobs if j.dataset == "pneumoniamnist"]) == 2  # small × random × 2 seeds
    transfer = suite_transfer_jobs(parsed)
    assert len(transfer) == 8  # the target's axes
    for j in transfer:
        assert j.pretrain_on[0]["options"].get("encoder") == j.dataset_options.get("encoder")
    assert len({j.config_hash() for j in jobs + transfer}) == len(jobs) + len(transfer)


@pytest.mark.parametrize(
    "extra,needle",
    [
        (
            {"encoders": ["resnet19"]},
            "dataset breastmnist: unknown encoder 'resnet19'; known: small, resnet18",
        ),
        ({"init": ["imagenett"]}, "dataset breastmnist: unknown init 'imagenett'; expected random, imagenet"),
        ({"init": ["random", "no/such/file.pt"]}, "init 'no/such/file.pt': no such file"),
        ({"encoders": ["small", "default"]}, "names the small default encoder twice"),
        ({"encoders": ["resnet18", "resnet18"]}, "'encoders' lists 'resnet18' more than once"),
        ({"encoders": "resnet18", "init": []}, "'init' must be a non-empty list"),
        (
            {"datasets": [{"name": "adult", "epochs": 1}], "encoders": ["resnet50"]},
            "dataset adult: encoder 'resnet50' has no builder for its spec 'tabular'",
        ),
        (
            {
                "datasets": [{"name": "breastmnist", "options": {"encoder": "resnet18"}}],
                "encoders": ["small"],
            },
            "options.encoder and an 'encoders' axis are both set",
        ),
    ],
)
def test_unknown_encoder_or_init_exits_2_in_one_line_before_any_job(tmp_path, capsys, extra, needle):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(suite(**extra)))
    out = tmp_path / "out"
    assert main(["run", "--suite", str(f), "--out", str(out), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (out / "store.sqlite").exists()  # no job started


def test_inits_an_encoder_cannot_take_are_skipped_with_the_reason(tmp_path):
    path = str(small_state(tmp_path))
    s = suite(methods=["simclr", "mae"], encoders=["small", "resnet18"], init=["random", "imagenet", path])
    jobs = expand(parse_suite(s, "axes"))
    reasons = {(j.method, j.dataset_options.get("encoder"), j.init): axis_skip_reason(j) for j in jobs}
    assert reasons[("simclr", None, "random")] is None
    assert reasons[("simclr", "resnet18", "imagenet")] is None
    assert reasons[("simclr", None, path)] is None  # the small encoder's own state dict
    assert (
        "encoder 'small' on spec 'image2d' has no ImageNet weights" in reasons[("simclr", None, "imagenet")]
    )
    assert "encoder 'tokens'" in reasons[("mae", None, "imagenet")]
    assert "not a state dict of encoder resnet18" in reasons[("simclr", "resnet18", path)]
    assert "not a state dict of encoder small" in reasons[("mae", None, path)]

    class NoStore:
        def done_hashes(self):
            return set()

    lines: list[str] = []
    runnable, summary = pending_jobs(jobs, NoStore(), log=lines.append)
    # simclr: small × {random, path}, resnet18 × {random, imagenet}; mae: random; × 2 seeds
    assert len(runnable) == (4 + 1) * 2
    assert len(summary["unsupported"]) == len(jobs) - len(runnable) == len(lines)
    assert all(line.startswith("SKIP ") for line in lines)
    # 1-D ResNets take no ImageNet weights either
    ecg = suite(datasets=[{"name": "ecg200", "epochs": 1}], methods=["simclr"], encoders=["resnet18"])
    (j, *_) = expand(parse_suite({**ecg, "init": ["imagenet"]}, "axes"))
    assert "on spec 'signal1d' has no ImageNet weights" in axis_skip_reason(j)
    assert init_label(path) == "file:my_weights.pt" and init_label("imagenet") == "imagenet"


def fake_rows(job, base: float) -> list[dict]:
    return [
        {
            "protocol": "label_fraction",
            "probe": p,
            "fraction": f,
            "metric": "accuracy",
            "value": base + f / 4,
        }
        for p in ("linear", "knn")
        for f in job.fractions
    ]


def test_store_tables_and_leaderboard_carry_both_axes(tmp_path):
    path = str(small_state(tmp_path))
    s = parse_suite(
        suite(methods=["simclr", "random_init"], encoders=["small", "resnet18"], init=["random", path]),
        "axes",
    )
    store = ResultStore(tmp_path / "store.sqlite")
    jobs = expand(s)
    for i, j in enumerate(jobs):
        rec = job_record(j, ADAPTERS[j.dataset])
        store.record(rec, fake_rows(j, 0.5 + 0.01 * (i % 8) + 0.002 * j.seed), code_version="0.1.0")
    written = write_tables(store, tmp_path, "axes")
    rows = list(csv.DictReader(open(written["label_fraction.csv"])))
    assert list(rows[0]) == LONG_COLUMNS and "init" in KEY
    assert {r["schema_version"] for r in rows} == {SCHEMA_VERSION}
    combos = {(r["method"], r["encoder"], r["init"]) for r in rows}
    assert combos == {
        (m, e, i)
        for m in ("simclr", "random_init")
        for e in ("default:image2d", "resnet18:image2d")
        for i in ("random", "file:my_weights.pt")
    }
    assert {r["n_seeds"] for r in rows} == {"2"}  # seeds pooled per (method, encoder, init), never across
    assert not validate_text(Path(written["label_fraction.csv"]).read_text(), "axes", "label_fraction")
    md = Path(written["label_fraction.md"]).read_text()
    table_rows = [
        line
        for line in md.splitlines()
        if line.startswith("| simclr ·") or line.startswith("| random_init ·")
    ]
    assert len(table_rows) == 8
    assert "| simclr · resnet18 · file:my_weights.pt |" in md and "| random_init · default · random |" in md
    assert md.index("| simclr ·") < md.index("| random_init ·")  # reference rows last
    # the leaderboard page pivots the same way
    from benchmark.reporting.leaderboard.pages import render

    board = tmp_path / "leaderboards"
    (board / "axes").mkdir(parents=True)
    (board / "axes" / "label_fraction.csv").write_text(Path(written["label_fraction.csv"]).read_text())
    render(board)
    page = (board / "README.md").read_text()
    assert "simclr · resnet18 · file:my_weights.pt" in page and "random_init · default · random" in page


# Two rows of a leaderboard CSV as schema 1.0 wrote them (no dataset_version, no init column).
SCHEMA_1_0_CSV = (
    "schema_version,suite,domain,dataset,method,encoder,pretrain_budget,protocol,probe,fraction,corruption,"
    "severity,ood_partner,metric,mean,std,n_seeds,ci95_low,ci95_high,code_version,config_hash,created_at\n"
    "1.0,quick,audio,fsdd,random_init,default:spectrogram,10ep,label_fraction,knn,0.01,,0,,accuracy,"
    "0.1555,0.0335,3,0.0722,0.2389,0.1.0+04bc50b,ba5711f30e4f5ebf,2026-11-26T14:52:59Z\n"
    "1.0,quick,audio,fsdd,simclr,default:spectrogram,10ep,label_fraction,knn,0.01,,0,,accuracy,"
    "0.2111,0.0412,3,0.1088,0.3134,0.1.0+04bc50b,0c5711f30e4f5ebe,2026-11-26T14:53:09Z\n"
)


def test_schema_1_0_files_and_stores_read_as_random_init(tmp_path):
    old = tmp_path / "label_fraction.csv"
    old.write_text(SCHEMA_1_0_CSV)
    assert not validate_file(old, "quick", "label_fraction")
    d = read_long(old)
    # rows keep the version they were published with; init reads as random
    assert set(d["init"]) == {"random"} and set(d["schema_version"]) == {"1.0"} != {SCHEMA_VERSION}
    text = old.read_text().splitlines()
    # a current row in a file without init is named
    bad = "\n".join([text[0], text[1].replace("1.0,", f"{SCHEMA_VERSION},", 1)]) + "\n"
    assert any(p.column == "init" for p in validate_text(bad))
    bad11 = "\n".join([text[0], text[1].replace("1.0,", "1.1,", 1)]) + "\n"
    assert [p.column for p in validate_text(bad11)] == ["dataset_version"]
    # a store written before the init axis gets the column, its jobs random
    db = tmp_path / "old.sqlite"
    c = sqlite3.connect(db)
    c.executescript(
        "CREATE TABLE jobs (config_hash TEXT PRIMARY KEY, group_hash TEXT NOT NULL, suite TEXT NOT NULL, "
        "method TEXT NOT NULL, dataset TEXT NOT NULL, domain TEXT NOT NULL, encoder TEXT NOT NULL, "
        "pretrain_budget TEXT NOT NULL, seed INTEGER NOT NULL, config_json TEXT NOT NULL, "
        "status TEXT NOT NULL, error TEXT, code_version TEXT NOT NULL, created_at TEXT NOT NULL, "
        "wall_s REAL, history_json TEXT);"
        "INSERT INTO jobs VALUES ('h1','g1','s','simclr','breastmnist','medical_2d','default:image2d',"
        "'1ep',0,'{}','done',NULL,'0.1.0','2026-01-01T00:00:00Z',1.0,NULL);"
    )
    c.close()
    store = ResultStore(db)
    assert store.jobs()[0]["init"] == "random"
    (job,) = expand(
        parse_suite(suite(methods=["simclr"], seeds=[0], init=["imagenet"], encoders=["resnet18"]), "s")
    )
    store.record(job_record(job, ADAPTERS["breastmnist"]), fake_rows(job, 0.6))
    assert {j["init"] for j in store.jobs()} == {"random", "imagenet"}


def test_list_encoders_shows_encoders_and_inits_per_spec(capsys):
    assert main(["list", "encoders"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("breastmnist "))
    assert "small, resnet18, resnet50, vit_tiny" in line and "imagenet (resnet18/resnet50)" in line
    adult = next(x for x in out.splitlines() if x.startswith("adult "))
    assert "tabular" in adult and "resnet18" not in adult and "imagenet" not in adult
    assert "tokens" in out


def test_study_suite_is_the_study_grid():
    s = load_suite("medmnist_study")
    ssl = [m for m in s.methods if m not in ("random_init", "supervised")]
    assert len(ssl) == 8 and {"random_init", "supervised"} <= set(s.methods)
    assert len(s.datasets) == 11 and all(d.name.endswith("mnist") for d in s.datasets)
    assert s.fractions == [0.01, 0.1, 1.0] and s.init == ["random", "imagenet"]
    assert s.encoders == ["resnet18", "resnet50"]
    assert {"ood", "label_fraction"} <= set(s.protocols) and s.transfer
    jobs = expand(s)
    assert len(jobs) == 11 * 10 * 2 * 2 * len(s.seeds)
    assert all(axis_skip_reason(j) is None for j in jobs[:: len(s.seeds)])  # every cell can run


@pytest.fixture
def imagenet_cache(tmp_path, monkeypatch):
    """A stand-in ResNet-18 'ImageNet' checkpoint under the name torchvision's weights API caches it
    as: torchvision then loads it without a download."""
    from torchvision.models import resnet18

    torch.manual_seed(123)
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(resnet18(weights=None).state_dict(), ckpt / "resnet18-f37072fd.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.mark.slow  # ~3-5 min on a loaded 2-core box: two ResNet-18 pretrainings
def test_cpu_slice_runs_end_to_end_with_one_row_per_method_encoder_init(
    data_dir, tmp_path, capsys, imagenet_cache
):
    path = small_state(tmp_path)
    s = yaml.safe_load((ROOT / "benchmark" / "suites" / "medmnist_study_cpu.yaml").read_text())
    s["init"] = ["random", "imagenet", str(path)]  # offline: the cached stand-in and a saved state dict
    f = tmp_path / "slice.yaml"
    f.write_text(yaml.safe_dump(s))
    out = tmp_path / "out"
    code = main(["run", "--suite", str(f), "--out", str(out), "--data-dir", str(data_dir), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    # small × imagenet and resnet18 × the small encoder's state dict cannot run: skipped, with reasons
    skips = [x for x in (captured.out + captured.err).splitlines() if x.startswith("SKIP ")]
    assert len(skips) == 4, skips
    rows = list(csv.DictReader(open(out / "label_fraction.csv")))
    combos = {(r["method"], r["encoder"], r["init"]) for r in rows}
    expected = {
        (m, e, i)
        for m in ("simclr", "random_init")
        for e, i in (
            ("default:image2d", "random"),
            ("default:image2d", "file:my_weights.pt"),
            ("resnet18:image2d", "random"),
            ("resnet18:image2d", "imagenet"),
        )
    }
    assert combos == expected
    md = (out / "label_fraction.md").read_text()
    for m, e, i in expected:
        assert md.count(f"| {m} · {e.split(':')[0]} · {i} |") == 1, (m, e, i)
