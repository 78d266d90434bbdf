"""End-to-end downloads against a real HTTP server on 127.0.0.1 (tests/datasets/loopback.py), which
serves small files in each source's official format under the official URL paths; the adapters
reach it only through the per-source base-URL override (SSLBENCH_MIRROR_<SOURCE>). For every dataset
of benchmark/suites/full.yaml: `fetch` downloads, checks and unpacks it, then the adapter loads it
with downloads forbidden. Also: a dropped connection resumes, a checksum mismatch leaves nothing
behind, a 403 falls back, and the dry-run plan of the shipped suites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from benchmark.cli import main
from benchmark.orchestration.fetch import fetch_suite
from benchmark.orchestration.suites import load_suite, parse_suite
from datasets.base import DataError, get_adapter
from datasets.files import remote, stage
from tests.datasets.official_fixtures import builders, tu_members, zip_bytes

FULL = Path(__file__).resolve().parents[2] / "benchmark" / "suites" / "full.yaml"
FULL_DATASETS = [
    d["name"] if isinstance(d, dict) else d for d in yaml.safe_load(FULL.read_text())["datasets"]
]


def _suite(name: str, options: dict) -> object:
    s = parse_suite(
        {"name": "fetch_one", "datasets": [{"name": name, "options": options}], "methods": ["simclr"]}, "t"
    )
    return s


def test_every_full_dataset_has_a_fixture():
    assert set(FULL_DATASETS) <= set(builders()), sorted(set(FULL_DATASETS) - set(builders()))


@pytest.mark.parametrize("name", FULL_DATASETS)
def test_fetch_checksum_extract_load(name, loopback, tmp_path, monkeypatch, capsys):
    fx = builders()[name](loopback, tmp_path / "src")  # the official layout, served
    fx.patch(monkeypatch)
    data = tmp_path / "data"
    assert fetch_suite(_suite(name, fx.options), data, progress=False) == 0
    adapter = get_adapter(name, data_dir=data, download=False, **fx.options)
    if adapter.remote_files():
        assert loopback.requests, "nothing was downloaded"
        assert adapter.local_copy() is not None
        assert not list(data.rglob("*.part")) and not list(data.rglob(".extract-*"))
    splits = adapter.splits()
    sizes = tuple(len(splits[k]) for k in ("train", "val", "test"))
    assert min(sizes[0], sizes[2]) > 0, sizes
    if fx.counts:
        assert sizes == fx.counts
    # a second fetch finds everything in place and downloads nothing
    before = len(loopback.requests)
    assert fetch_suite(_suite(name, fx.options), data, progress=False) == 0
    assert len(loopback.requests) == before
    assert "nothing to download" in capsys.readouterr().out


def test_physionet_urls_name_the_version_once(loopback, tmp_path, monkeypatch):
    builders()["mitdb"](loopback, tmp_path / "src")
    get_adapter("mitdb", data_dir=tmp_path / "data").fetch_files(progress=False)
    paths = loopback.fetched("physionet")
    assert len(paths) == 2 + 48 * 3 and all(p.startswith("files/mitdb/1.0.0/") for p in paths)
    assert not any("1.0.0/1.0.0" in p for p in paths)


def test_ptbxl_is_one_release_zip_not_per_file_requests(loopback, tmp_path, monkeypatch):
    builders()["ptbxl"](loopback, tmp_path / "src")
    get_adapter("ptbxl", data_dir=tmp_path / "data", strict=False).fetch_files(progress=False)
    assert len(loopback.fetched("physionet")) == 2  # the checksum list and the zip
    assert not (
        tmp_path / "data" / "ecg" / "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3.zip"
    ).exists()


def test_dropped_connection_resumes_with_a_range_request(loopback, tmp_path):
    payload = bytes(range(256)) * 4000
    loopback.add("zenodo", "records/1/files/big.npz", payload)
    loopback.faults["/zenodo/records/1/files/big.npz"] = "drop_once"
    from tests.datasets.official_fixtures import sha256

    rf = remote("big/big.npz", "zenodo", "records/1/files/big.npz", f"sha256:{sha256(payload)}")
    dest = stage(rf, tmp_path, progress=False)
    assert dest.read_bytes() == payload
    ranges = [r for p, r in loopback.requests if p.endswith("big.npz")]
    assert len(ranges) == 2 and ranges[0] is None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(payload) // 2  # asked only for the rest
    assert not list(tmp_path.rglob("*.part"))


def test_partial_file_from_an_earlier_run_is_resumed(loopback, tmp_path):
    payload = b"x" * 50000 + b"y" * 50000
    loopback.add("uci", "static/public/9/a.zip", payload)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.bin.part").write_bytes(payload[:30000])
    from tests.datasets.official_fixtures import md5

    stage(remote("t/a.bin", "uci", "static/public/9/a.zip", f"md5:{md5(payload)}"), tmp_path, progress=False)
    assert (tmp_path / "t" / "a.bin").read_bytes() == payload
    assert loopback.requests == [("/uci/static/public/9/a.zip", "bytes=30000-")]


def test_checksum_mismatch_one_clear_error_and_no_partial_file(loopback, tmp_path):
    loopback.add("zenodo", "records/1/files/x.npz", b"not the official bytes")
    rf = remote("medmnist/x.npz", "zenodo", "records/1/files/x.npz", "md5:" + "0" * 32)
    with pytest.raises(DataError) as e:
        stage(rf, tmp_path, progress=False)
    msg = str(e.value)
    assert "checksum mismatch" in msg and "md5:" + "0" * 32 in msg and "\n" not in msg
    assert msg.count("checksum mismatch") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # no file, no .part, no empty folder


def test_fallback_when_the_official_host_refuses(loopback, tmp_path, monkeypatch):
    fx = builders()["covertype"](loopback, tmp_path / "src")
    fx.patch(monkeypatch)
    loopback.faults["/figshare/files/5976039"] = 403  # figshare's usual answer
    a = get_adapter("covertype", data_dir=tmp_path / "data", **fx.options)
    a.fetch_files(progress=False)
    assert loopback.fetched("uci") == ["static/public/31/covertype.zip"]
    assert len(a.splits()["test"]) == 7
    assert not list((tmp_path / "data").rglob("*covertype.zip*"))


def test_offline_failure_names_every_location_and_leaves_no_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLBENCH_MIRROR_FIGSHARE", "http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setenv("SSLBENCH_MIRROR_UCI", "http://127.0.0.1:9/")
    with pytest.raises(DataError) as e:
        get_adapter("covertype", data_dir=tmp_path).splits()
    assert "files/5976039" in str(e.value) and "static/public/31/covertype.zip" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_fetch_exits_1_naming_every_failure(loopback, tmp_path, capsys):
    suite = parse_suite({"name": "two", "datasets": ["ecg200", "adult"], "methods": ["simclr"]}, "t")
    assert fetch_suite(suite, tmp_path, progress=False) == 1
    err = capsys.readouterr().err
    assert "ecg/ucr/ECG200/ECG200.zip" in err and "tabular/adult/adult.zip" in err and "404" in err


def test_safe_extraction_refuses_paths_outside(loopback, tmp_path):
    loopback.add(
        "tu",
        "graphkerneldatasets/EVIL.zip",
        zip_bytes({"EVIL/../../escape.txt": b"x", "EVIL/EVIL_A.txt": b"1, 2\n"}),
    )
    from datasets.files import Extract

    rf = remote(
        "g/EVIL.zip", "tu", "graphkerneldatasets/EVIL.zip", extract=Extract(into="g/EVIL", strip="EVIL")
    )
    stage(rf, tmp_path / "d", progress=False)
    assert (tmp_path / "d" / "g" / "EVIL" / "EVIL_A.txt").exists()
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "d" / "escape.txt").exists()


# ---- the plan of the shipped suites -----------------------------------------------------------
@pytest.mark.parametrize("suite", ["standard", "full"])
def test_dry_run_lists_every_file_with_url_and_size(suite, tmp_path, capsys):
    # the official hosts (no size lookup: the test must not depend on the internet; see below)
    assert (
        main(["fetch", "--suite", suite, "--data-dir", str(tmp_path), "--dry-run", "--no-size-lookup"]) == 0
    )
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines()[2:] if " <- " in ln and "(fallback)" not in ln]  # past the header
    assert lines
    for ln in lines:
        assert re.search(r"\s(missing|present|local copy)\s+(\?|[\d.]+ [kMG]?B)\s", ln), ln
        url = ln.rsplit(" <- ", 1)[1]
        assert url.startswith(("http://", "https://")), ln
        assert not re.search(r"/(\d+(\.\d+)+)/\1/", url), f"version segment repeated: {url}"
    urls = [ln.rsplit(" <- ", 1)[1] for ln in lines]
    assert "https://archive.ics.uci.edu/static/public/2/adult.zip" in urls
    assert "https://physionet.org/files/mitdb/1.0.0/100.dat" in urls
    assert not any("machine-learning-databases" in u for u in urls)
    assert re.search(r"disk needed: at least [\d.]+ [kMG]?B", out)
    if suite == "full":
        assert any(
            "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3.zip" in u for u in urls
        )
        assert any("covertype.zip" in ln for ln in out.splitlines() if "(fallback)" in ln)
        names = {ln.split()[0] for ln in lines}
        local_free = {"sklearn_digits_28", "breast_cancer", "wine"}  # bundled with scikit-learn
        assert set(FULL_DATASETS) - local_free <= names


def test_dry_run_asks_the_hosts_for_every_unrecorded_size(loopback, tmp_path, monkeypatch, capsys):
    """Every file of the full suite gets a size: recorded, or announced by its host (HTTP HEAD), here
    the loopback server serving every dataset's official files."""
    for name in FULL_DATASETS:
        builders()[name](loopback, tmp_path / "src" / name).patch(monkeypatch)
    served = {p: len(b) for p, b in loopback.files.items()}
    assert main(["fetch", "--suite", "full", "--data-dir", str(tmp_path / "data"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines()[2:] if " <- " in ln and "(fallback)" not in ln]
    assert lines and not [ln for ln in lines if re.search(r"\s\?\s", ln)]
    announced = [ln for ln in lines if re.search(r"\s~[\d.]+ [kMG]?B\s", ln)]
    assert announced and "~ size announced by the host now" in out and "of unknown size" not in out
    heads = [p for p, how in loopback.requests if how == "HEAD"]
    assert len(heads) == len(announced) and all(p in served for p in heads)
    # offline (no host answers): '?' and one line naming the hosts, still exit 0, no waiting
    for k in list(loopback.mirror_env()):
        monkeypatch.setenv(k, "http://127.0.0.1:9/")  # the discard port: connection refused
    assert main(["fetch", "--suite", "quick", "--data-dir", str(tmp_path / "none"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\s\?\s", out) and "sizes not looked up, no answer from: 127.0.0.1:9" in out


def test_quick_suite_on_the_shared_data_needs_no_download(data_dir, tmp_path, capsys):
    # a copy of the shared data (symlinks: the original stays read-only)
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in data_dir.iterdir():
        (copy / p.name).symlink_to(p)
    assert main(["fetch", "--suite", "quick", "--data-dir", str(copy), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "nothing to download" in out and not re.search(r"\smissing\s", out)
    assert "OOD partners left out: the suite marks them optional" in out
    assert "fashion_mnist" in out and "/usr/share/datasets/fashion-mnist" in out  # Debian's copy counts
    # the OOD protocol also scores partners the shared data lacks: asked for, the plan lists them
    args = ["fetch", "--suite", "quick", "--data-dir", str(copy), "--dry-run", "--no-size-lookup"]
    assert main([*args, "--ood-partners"]) == 0
    assert re.search(r"^pneumoniamnist\s+missing", capsys.readouterr().out, re.M)
    assert main([*args, "--ood-partners", "--no-ood-partners"]) == 2  # one or the other


def test_ood_partners_policy_is_checked_and_left_out_of_job_hashes(tmp_path):
    from benchmark.orchestration.jobs import expand

    base = {"name": "p", "datasets": ["breastmnist"], "methods": ["simclr"], "protocols": ["ood"]}
    required = parse_suite(base, "t")
    optional = parse_suite({**base, "ood_partners": "optional"}, "t")
    assert required.ood_partners == "required" and optional.ood_partners == "optional"
    assert [j.config_hash() for j in expand(required)] == [j.config_hash() for j in expand(optional)]
    with pytest.raises(Exception, match="ood_partners must be 'required' or 'optional', got 'maybe'"):
        parse_suite({**base, "ood_partners": "maybe"}, "t")


# ---- datasets from configuration alone ----------------------------------------------------------
def _write_tu(data_dir: Path, name: str, graphs: int = 20, node_labels: int | None = 3, classes: int = 2):
    raw = data_dir / "graphs" / "TUDataset" / name / "raw"
    raw.mkdir(parents=True)
    for k, v in tu_members(name, graphs, node_labels, classes).items():
        (raw / k.split("/", 1)[1]).write_bytes(v)


def test_generic_tu_dataset_runs_in_a_suite_from_yaml_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    _write_tu(tmp_path / "data", "ENZYMES", graphs=30, node_labels=3, classes=3)  # not registered
    suite = tmp_path / "s.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "tu_yaml",
                "datasets": [{"name": "tu", "options": {"name": "ENZYMES"}}],
                "methods": ["random_init"],
                "seeds": [0],
                "fractions": [1.0],
                "probes": ["knn"],
                "protocols": ["label_fraction"],
            }
        )
    )
    argv = [
        "run",
        "--suite",
        str(suite),
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main([*argv, "--no-progress"]) == 0
    from benchmark.orchestration.store import ResultStore

    f = ResultStore(tmp_path / "out" / "store.sqlite").frame()
    assert set(f["dataset"]) == {"tu"} and len(f) > 0
    a = get_adapter("tu", data_dir=tmp_path / "data", download=False, name="ENZYMES")
    a.splits()
    assert a.task.num_classes == 3 and a.spec.shape == (3,)


def test_generic_planetoid_by_name(tmp_path, monkeypatch):
    from tests.datasets.official_fixtures import planetoid_files

    monkeypatch.setenv("SSLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    raw = tmp_path / "graphs" / "Planetoid" / "CiteSeer" / "raw"
    raw.mkdir(parents=True)
    files, exp = planetoid_files("CiteSeer", classes=4, feats=5)
    for k, v in files.items():
        (raw / f"ind.citeseer.{k}").write_bytes(v)
    a = get_adapter("planetoid", data_dir=tmp_path, download=False, name="CiteSeer")
    s = a.splits()
    assert a.spec.shape == (5,) and a.task.num_classes == 4 and len(s["train"]) == exp["split"][0]


def test_misspelt_adapter_option_exits_2_with_one_line_before_any_job(tmp_path, capsys):
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "datasets": [{"name": "breastmnist", "options": {"sise": 64}}],
                "methods": ["simclr"],
            }
        )
    )
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown option(s) ['sise']" in err and "size" in err and "verify" in err
    assert not out.exists()  # nothing ran, not even the store was made
    assert main(["fetch", "--suite", str(suite), "--dry-run"]) == 2


def test_every_adapter_rejects_unknown_options():
    from datasets.base import ADAPTERS

    for name, cls in ADAPTERS.items():
        with pytest.raises(ValueError, match=r"unknown option\(s\) \['nonsense'\]; allowed: .*download"):
            cls(data_dir=None, nonsense=1)


def test_dataset_file_adds_a_dataset_in_one_file(tmp_path, capsys):
    from datasets.base import ADAPTERS

    f = tmp_path / "my_set.py"
    f.write_text(
        "import torch\n"
        "from datasets.base import Split, register_adapter\n"
        "from datasets.tabular_base import TabularAdapter, tabular_spec\n"
        "from benchmark.core.specs import TaskSpec\n"
        "import numpy as np\n"
        "@register_adapter\n"
        "class Toy(TabularAdapter):\n"
        "    name = 'toy_table'\n"
        "    numeric = ['a', 'b']\n"
        "    spec = tabular_spec(numeric, {})\n"
        "    task = TaskSpec(2)\n"
        "    def read_raw(self):\n"
        "        x = np.arange(80.0).reshape(40, 2); y = np.arange(40) % 2\n"
        "        i = np.arange(40)\n"
        "        idx = {'train': i[:24], 'val': i[24:32], 'test': i[32:]}\n"
        "        return x, np.zeros((40, 0), dtype=np.int64), y, idx\n"
    )
    suite = tmp_path / "toy.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "datasets": ["toy_table"],
                "methods": ["random_init"],
                "seeds": [0],
                "fractions": [1.0],
                "probes": ["knn"],
            }
        )
    )
    before = ADAPTERS.snapshot()
    try:
        argv = ["run", "--suite", str(suite), "--out", str(tmp_path / "out"), "--no-progress"]
        assert main([*argv, "--dataset-file", str(f)]) == 0
        assert (tmp_path / "out" / "label_fraction.csv").exists()
    finally:
        ADAPTERS.restore(before)
    bad = tmp_path / "nothing.py"
    bad.write_text("x = 1\n")
    assert main(["run", "--suite", str(suite), "--dataset-file", str(bad)]) == 2
    assert "defines no dataset" in capsys.readouterr().err


def test_strict_run_refuses_missing_partners_before_any_job(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "strict_ood",
                "datasets": ["breast_cancer"],
                "methods": ["random_init"],
                "protocols": ["ood"],
            }
        )
    )
    # breast_cancer's partner is bundled too: nothing missing, strict is satisfied
    from benchmark.orchestration.fetch import missing_locally

    assert missing_locally(load_suite(str(suite)), tmp_path) == []
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "strict_ood",
                "datasets": ["fashion_mnist"],
                "methods": ["random_init"],
                "protocols": ["ood"],
            }
        )
    )
    out = tmp_path / "out"
    argv = ["run", "--suite", str(suite), "--data-dir", str(tmp_path), "--out", str(out), "--strict"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "breastmnist (OOD partner of fashion_mnist)" in err and "fetch" in err
    assert not out.exists()
    # a suite that marks its partners optional (the quick suite) does not need them under --strict
    from benchmark.orchestration.jobs import expand

    jobs = expand(load_suite(str(suite)))
    assert "breastmnist" in [n for n, _ in missing_locally(jobs, tmp_path)]
    assert missing_locally(jobs, tmp_path, ood_partners=False) == []


def test_needs_cover_partners_with_the_same_spec_and_transfer_items(tmp_path):
    from benchmark.orchestration.fetch import suite_needs

    suite = load_suite("quick")
    needs = {n.label: n.roles for n in suite_needs(suite, tmp_path)}
    assert "pneumoniamnist" in needs and "OOD partner of fashion_mnist" in needs["pneumoniamnist"]
    assert 'mitdb {"length": 96}' in needs and needs['mitdb {"length": 96}'] == ["transfer source"]
    assert any(k.startswith("mutag") and "transfer target" in v for k, v in needs.items())
    assert not any(k.startswith("cifar") for k in needs)


def test_a_dataset_listed_twice_is_a_usage_error(tmp_path, capsys):
    suite = tmp_path / "twice.yaml"
    entries = [{"name": "tu", "options": {"name": "ENZYMES"}}, {"name": "tu", "options": {"name": "DD"}}]
    suite.write_text(yaml.safe_dump({"name": "twice", "datasets": entries, "methods": ["random_init"]}))
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'datasets' lists 'tu' more than once" in err and err.count("\n") == 1
