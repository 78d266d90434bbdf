"""Security: weights-only torch.load, no eval/exec/pickle of untrusted files, names validated against
path traversal, downloads only from official sources, method files run only when named."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.core.io import safe_torch_load
from benchmark.orchestration.suites import UsageError, load_suite, parse_suite

ROOT = Path(__file__).resolve().parents[2]


def _sources():
    files = [ROOT / "run_benchmark.py"]
    for pkg in ("benchmark", "datasets", "methods"):
        files += sorted((ROOT / pkg).rglob("*.py"))
    return {str(f.relative_to(ROOT)): f.read_text() for f in files}


def _code_lines(src: str):
    for n, line in enumerate(src.splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.strip() and not code.strip().startswith(('"', "'")):
            yield n, code


def test_torch_load_is_weights_only_everywhere():
    hits = [(f, n) for f, src in _sources().items() for n, code in _code_lines(src) if "torch.load(" in code]
    assert [f for f, _ in hits] == ["benchmark/core/io.py"], hits
    io_src = (ROOT / "benchmark/core/io.py").read_text()
    assert re.search(r"torch\.load\([^)]*weights_only=True", io_src)


def test_weights_only_load_refuses_arbitrary_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    f = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, f)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        safe_torch_load(f)


# (file, pattern) pairs that are allowed, with why
ALLOWED = {
    (
        "datasets/cifar10.py",
        "pickle.Unpickler",
    ),  # array-only unpickler: resolves numpy array constructors only
    ("datasets/cifar10.py", "import pickle"),
    (
        "benchmark/orchestration/user_files.py",
        "exec_module",
    ),  # --method-file / --dataset-file: runs only the file named on the command line
    ("datasets/medmnist.py", "exec_module"),  # the installed medmnist package's own info.py (metadata)
}
DANGEROUS = [
    r"\bpickle\.loads?\(",
    r"pickle\.Unpickler",
    r"^\s*import pickle",
    r"\bcPickle\b",
    r"\bdill\b",
    r"(?<![\.\w])eval\(",
    r"(?<![\.\w])exec\(",
    r"exec_module",
    r"\bmarshal\.loads?\(",
    r"yaml\.load\(",
    r"yaml\.unsafe_load",
    r"allow_pickle\s*=\s*True",
    r"\bshelve\.",
    r"__import__\(",
    r"os\.system\(",
    r"shell\s*=\s*True",
    r"joblib\.load\(",
    r"pd\.read_pickle",
]


def test_no_eval_exec_or_pickle_of_untrusted_files():
    found = set()
    for f, src in _sources().items():
        for n, code in _code_lines(src):
            for pat in DANGEROUS:
                m = re.search(pat, code)
                if m:
                    found.add((f, m.group(0).strip().rstrip("(")))
    allowed = {(f, p.rstrip("(")) for f, p in ALLOWED}
    assert found <= allowed, sorted(found - allowed)
    # CIFAR's unpickler resolves nothing but an explicit allowlist
    cifar = (ROOT / "datasets/cifar10.py").read_text()
    assert "def find_class" in cifar and "refusing to load global" in cifar


def test_cifar_unpickler_refuses_foreign_globals(tmp_path):
    import pickle

    from datasets.base import DataError
    from datasets.cifar10 import load_pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    f = tmp_path / "data_batch_1"
    f.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="refusing to load global"):
        load_pickle(f)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--suite", "../../etc/passwd"],
        ["run", "--suite", "..%2f..%2fetc"],
        ["run", "--suite", "/etc/passwd"],
        ["run", "--suite", "../../etc/passwd.txt"],
        ["report", "--suite", "../../etc/passwd"],
        ["report", "--suite", "quick/../../x"],
        ["leaderboard", "publish", "--suite", "../../etc", "--from-csv", "x.csv"],
        ["leaderboard", "publish", "--suite", "a/b"],
        ["leaderboard", "render", "--suite", "../x"],
        ["compare", "x", "--against", "simclr", "--suite", "../../etc/passwd"],
    ],
)
def test_path_traversal_names_are_usage_errors(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not any(tmp_path.iterdir())  # nothing written


def test_dataset_and_suite_names_in_files_are_validated(tmp_path):
    base = {"name": "s", "datasets": ["fashion_mnist"], "methods": ["simclr"]}
    for bad in (
        {**base, "name": "../x"},
        {**base, "datasets": ["../../etc/passwd"]},
        {**base, "datasets": [{"name": "a/b"}]},
        {**base, "methods": ["../evil"]},
    ):
        with pytest.raises(UsageError):
            parse_suite(bad, "s.yaml")
    with pytest.raises(UsageError):
        load_suite("../../etc/passwd")
    from datasets.base import get_adapter

    with pytest.raises(KeyError):
        get_adapter("../../etc/passwd")
    from benchmark.reporting.leaderboard import validate_text
    from benchmark.reporting.tables import LONG_COLUMNS

    row = dict.fromkeys(LONG_COLUMNS, "x")
    row["suite"] = "../../etc"
    text = ",".join(LONG_COLUMNS) + "\n" + ",".join(row[c] for c in LONG_COLUMNS) + "\n"
    assert any(p.column == "suite" for p in validate_text(text))


def test_downloads_only_from_official_sources(tmp_path, monkeypatch):
    import urllib.request

    from datasets import files
    from datasets.base import DataError

    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: fetched.append(url) or 1 / 0)
    for url in (
        "https://evil.example.com/fashion-mnist.gz",
        "http://www.cs.toronto.edu.evil.com/~kriz/x",
        "file:///etc/passwd",
        "ftp://zenodo.org/records/1",
        "https://zenodo.org.evil/records/1",
        "https://www.cs.toronto.edu/~kriz/../../etc/passwd",
        "https://github.com/attacker/ESC-50/x.zip",
    ):
        with pytest.raises(DataError, match="refusing to download"):
            files.download(url, tmp_path / "f")
    assert fetched == [] and not (tmp_path / "f").exists()


def test_every_adapter_url_constant_is_an_official_source():
    import torchvision.datasets as tvd

    from datasets import adult, esc50, fashion_mnist, fsdd, speech_commands, ucr
    from datasets.files import check_official_url
    from datasets.medmnist import medmnist_info

    urls = [
        fashion_mnist.MIRROR + "train-images-idx3-ubyte.gz",
        tvd.CIFAR10.url,
        tvd.CIFAR100.url,
        fsdd.FSDD_URL,
        speech_commands.SC_URL,
        esc50.ESC50_URL,
        ucr.UCR_URL.format(name="ECG200"),
        adult.ADULT_URL,
    ]
    urls += [v for k, v in medmnist_info("breastmnist").items() if k.startswith("url")]
    for url in urls:
        assert check_official_url(url) == url
    # and every URL any adapter would fetch from, fallbacks included
    from datasets.base import ADAPTERS

    for name, cls in ADAPTERS.items():
        opts = {"name": "X"} if name in ("tu", "planetoid") else {}
        for rf in cls(data_dir=None, **opts).remote_files():
            for u in rf.urls():
                assert check_official_url(u) == u


def test_a_mirror_is_allowed_only_when_named_and_only_for_its_source(monkeypatch):
    from datasets.base import DataError
    from datasets.files import check_official_url

    url = "http://127.0.0.1:8000/phys/files/mitdb/1.0.0/100.dat"
    with pytest.raises(DataError, match="refusing to download"):
        check_official_url(url)
    monkeypatch.setenv("SSLBENCH_MIRROR_PHYSIONET", "http://127.0.0.1:8000/phys/")
    assert check_official_url(url) == url
    with pytest.raises(DataError, match="refusing to download"):  # not a PhysioNet path
        check_official_url("http://127.0.0.1:8000/phys/../etc/passwd")


def test_method_files_run_only_when_named(tmp_path):
    # A method file lying in the working directory (or anywhere) is never imported implicitly.
    marker = tmp_path / "ran.txt"
    (tmp_path / "sneaky_method.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "sneaky.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    r = subprocess.run(
        [sys.executable, str(ROOT / "run_benchmark.py"), "list", "methods"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    # `list` takes no method files: refused, not run
    assert main(["list", "methods", "--method-file", str(tmp_path / "sneaky_method.py")]) == 2
    assert not marker.exists()
