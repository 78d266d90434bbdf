"""Leaderboards: publish (merge, newer rows replace older), validate (a battery of malformed CSVs, each
rejected naming line + column), render (Markdown + HTML + PNG plots; sortable in headless Chromium)."""

import csv
import hashlib
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.orchestration.store import ResultStore
from benchmark.reporting.leaderboard import (
    README_END,
    README_START,
    canonical,
    merge,
    read_long,
    validate_file,
    validate_text,
)
from benchmark.reporting.tables import LONG_COLUMNS, SCHEMA_VERSION

SUITE = "tiny_lb"


def _h(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def make_store(
    path: Path,
    methods=("simclr", "byol_x", "random_init"),
    datasets=("fashion_mnist", "cifar_x"),
    seeds=(0, 1, 2),
    shift=0.0,
    extra_protocols=True,
    suite=SUITE,
) -> ResultStore:
    """A results store filled through the real store API (no training): label fractions, robustness
    (2 corruptions × severities 1–5 + clean) and OOD (3 scorers, 1 partner)."""
    store = ResultStore(path)
    for mi, m in enumerate(methods):
        for ds in datasets:
            for s in seeds:
                base = 0.55 + 0.1 * mi + 0.01 * s + shift + (0.05 if ds == "fashion_mnist" else 0.0)
                rows = []
                for probe in ("linear", "knn"):
                    for f in (0.1, 1.0):
                        for metric, off in (("accuracy", 0.0), ("balanced_accuracy", -0.01), ("auroc", 0.1)):
                            rows.append(
                                {
                                    "protocol": "label_fraction",
                                    "probe": probe,
                                    "fraction": f,
                                    "metric": metric,
                                    "value": min(1.0, base + off + 0.1 * f),
                                }
                            )
                if extra_protocols:
                    rows.append(
                        {
                            "protocol": "robustness",
                            "probe": "linear",
                            "fraction": 1.0,
                            "metric": "accuracy",
                            "value": base + 0.1,
                        }
                    )
                    for c in ("gaussian_noise", "blur"):
                        for sev in range(1, 6):
                            rows.append(
                                {
                                    "protocol": "robustness",
                                    "probe": "linear",
                                    "fraction": 1.0,
                                    "corruption": c,
                                    "severity": sev,
                                    "metric": "accuracy",
                                    "value": base + 0.1 - 0.05 * sev,
                                }
                            )
                    for scorer, off in (("msp", 0.0), ("energy", 0.02), ("mahalanobis", 0.05)):
                        rows.append(
                            {
                                "protocol": "ood",
                                "probe": scorer,
                                "fraction": 1.0,
                                "ood_partner": "mnist_x",
                                "metric": "auroc",
                                "value": min(1.0, base + off),
                            }
                        )
                        rows.append(
                            {
                                "protocol": "ood",
                                "probe": scorer,
                                "fraction": 1.0,
                                "ood_partner": "mnist_x",
                                "metric": "fpr95",
                                "value": 1 - base,
                            }
                        )
                job = {
                    "config_hash": _h(m, ds, s, shift),
                    "group_hash": _h(m, ds, shift),
                    "suite": suite,
                    "method": m,
                    "dataset": ds,
                    "domain": "natural_images",
                    "encoder": "default:image2d",
                    "pretrain_budget": "1ep",
                    "seed": s,
                    "config": {"method": m, "dataset": ds, "seed": s},
                }
                store.record(job, rows, code_version="0.1.0+abc1234")
    return store


@pytest.fixture()
def published(tmp_path, capsys):
    make_store(tmp_path / "res" / "store.sqlite").close()
    root = tmp_path / "leaderboards"
    assert (
        main(
            ["leaderboard", "publish", "--suite", SUITE, "--out", str(tmp_path / "res"), "--root", str(root)]
        )
        == 0
    )
    capsys.readouterr()
    return root


def test_publish_writes_valid_versioned_long_csvs(published, capsys):
    files = sorted((published / SUITE).glob("*.csv"))
    assert [f.stem for f in files] == ["label_fraction", "ood", "robustness"]
    for f in files:
        rows = list(csv.DictReader(open(f)))
        assert list(rows[0]) == LONG_COLUMNS
        assert {r["schema_version"] for r in rows} == {SCHEMA_VERSION} and {r["protocol"] for r in rows} == {
            f.stem
        }
        assert validate_file(f) == []
    lf = pd.read_csv(published / SUITE / "label_fraction.csv")
    assert len(lf) == 3 * 2 * 2 * 2 * 3 and set(lf["n_seeds"]) == {3}
    assert main(["leaderboard", "validate", *map(str, files)]) == 0
    assert "valid" in capsys.readouterr().err


def test_publish_merges_newer_rows_replace_same_key(published, tmp_path, capsys):
    path = published / SUITE / "label_fraction.csv"
    before = read_long(path)
    # a later store: simclr on fashion_mnist re-run with better numbers, plus a new method
    make_store(
        tmp_path / "res2" / "store.sqlite",
        methods=("simclr", "new_m"),
        datasets=("fashion_mnist",),
        shift=0.02,
        extra_protocols=False,
    ).close()
    assert (
        main(
            [
                "leaderboard",
                "publish",
                "--suite",
                SUITE,
                "--out",
                str(tmp_path / "res2"),
                "--root",
                str(published),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    after = read_long(path)
    assert validate_file(path) == []
    assert len(after) == len(before) + 2 * 2 * 3  # new_m × fashion_mnist added; replaced rows keep the count
    assert (
        "12 added, 12 replaced" in err and "replaced fashion_mnist · simclr · linear · 10% · accuracy" in err
    )
    key = ["dataset", "method", "probe", "fraction", "metric"]
    sel = (after["method"] == "simclr") & (after["dataset"] == "fashion_mnist")
    old_sel = (before["method"] == "simclr") & (before["dataset"] == "fashion_mnist")
    new_means = after[sel].set_index(key)["mean"].astype(float)
    old_means = before[old_sel].set_index(key)["mean"].astype(float)
    assert ((new_means - old_means.loc[new_means.index]) > 0.015).all()
    # rows the new store does not have (byol_x, cifar_x, other protocols) are kept as published
    untouched = before[~old_sel]
    merged = after.merge(untouched, on=list(LONG_COLUMNS), how="inner")
    assert len(merged) == len(untouched)
    assert (published / SUITE / "robustness.csv").exists()
    # publishing the same store again changes nothing
    assert (
        main(
            [
                "leaderboard",
                "publish",
                "--suite",
                SUITE,
                "--out",
                str(tmp_path / "res2"),
                "--root",
                str(published),
            ]
        )
        == 0
    )
    assert "0 added, 0 replaced" in capsys.readouterr().err
    assert read_long(path).equals(after)


def test_withdraw_removes_only_the_matching_rows(published, capsys):
    before = {f.stem: read_long(f) for f in (published / SUITE).glob("*.csv")}
    assert (
        main(
            [
                "leaderboard",
                "withdraw",
                "--suite",
                SUITE,
                "--method",
                "simclr",
                "--dataset",
                "cifar_x",
                "--pretrain-budget",
                "1ep",
                "--root",
                str(published),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "withdrawn cifar_x · simclr · linear · 10% · accuracy [1ep]" in err
    for protocol, old in before.items():
        path = published / SUITE / f"{protocol}.csv"
        new = read_long(path)
        gone = (old["method"] == "simclr") & (old["dataset"] == "cifar_x")
        assert gone.sum() > 0 and validate_file(path) == []
        assert new.reset_index(drop=True).equals(old[~gone].reset_index(drop=True))
    # nothing left to match (another budget, or the rows just withdrawn): usage error, files untouched
    for extra in (
        ["--method", "simclr", "--pretrain-budget", "20ep"],
        ["--method", "simclr", "--dataset", "cifar_x"],
    ):
        assert main(["leaderboard", "withdraw", "--suite", SUITE, *extra, "--root", str(published)]) == 2
        assert "no published rows" in capsys.readouterr().err


def test_withdrawn_results_are_not_republished_but_a_later_rerun_is(published, tmp_path, capsys, monkeypatch):
    path = published / SUITE / "label_fraction.csv"
    assert (
        main(
            [
                "leaderboard",
                "withdraw",
                "--suite",
                SUITE,
                "--method",
                "simclr",
                "--dataset",
                "cifar_x",
                "--pretrain-budget",
                "1ep",
                "--root",
                str(published),
            ]
        )
        == 0
    )
    after_withdraw = read_long(path)
    record = json.loads((published / SUITE / "withdrawn.json").read_text())
    assert [{k: v for k, v in r.items() if k != "withdrawn_at"} for r in record] == [
        {"method": "simclr", "dataset": "cifar_x", "pretrain_budget": "1ep"}
    ]
    capsys.readouterr()
    # the store still holds the withdrawn results: publishing it again must not bring them back
    assert (
        main(
            [
                "leaderboard",
                "publish",
                "--suite",
                SUITE,
                "--out",
                str(tmp_path / "res"),
                "--root",
                str(published),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "skipped  cifar_x · simclr · linear · 10% · accuracy [1ep]: withdrawn at" in err
    assert "0 added, 0 replaced" in err and read_long(path).equals(after_withdraw)
    # results that finished after the withdrawal (a re-run) are published
    monkeypatch.setattr("benchmark.orchestration.store.now_iso", lambda: "2099-01-01T00:00:00Z")
    make_store(
        tmp_path / "rerun" / "store.sqlite", methods=("simclr",), datasets=("cifar_x",), extra_protocols=False
    ).close()
    assert (
        main(
            [
                "leaderboard",
                "publish",
                "--suite",
                SUITE,
                "--out",
                str(tmp_path / "rerun"),
                "--root",
                str(published),
            ]
        )
        == 0
    )
    back = read_long(path)
    assert len(back) == len(after_withdraw) + 12 and "12 added" in capsys.readouterr().err
    # the page and the Markdown summary list what was withdrawn
    assert main(["leaderboard", "render", "--root", str(published)]) == 0
    md = (published / "site" / "leaderboard.md").read_text()
    assert re.search(
        r"Withdrawn \(not shown; `withdrawn.json`\): simclr · cifar_x · 1ep \(withdrawn \d{4}-\d\d-\d\d\)", md
    )
    assert "Withdrawn (not shown" in (published / "site" / "index.html").read_text()
    capsys.readouterr()
    # a malformed record is a clear usage error naming the file
    (published / SUITE / "withdrawn.json").write_text('[{"method": "simclr"}]')
    assert (
        main(
            [
                "leaderboard",
                "publish",
                "--suite",
                SUITE,
                "--out",
                str(tmp_path / "res"),
                "--root",
                str(published),
            ]
        )
        == 2
    )
    assert "withdrawn.json: not a list of withdrawals" in capsys.readouterr().err


def test_merge_keeps_a_newer_published_row():
    row = {c: "" for c in LONG_COLUMNS}
    row.update(
        schema_version=SCHEMA_VERSION,
        suite="s",
        domain="d",
        dataset="x",
        method="m",
        encoder="e",
        pretrain_budget="1ep",
        protocol="label_fraction",
        probe="linear",
        fraction=1.0,
        severity=0,
        metric="accuracy",
        mean=0.5,
        std="",  # one seed: no spread, no interval
        n_seeds=1,
        ci95_low="",
        ci95_high="",
        code_version="0.1.0",
        config_hash="0" * 16,
        created_at="2026-02-01T00:00:00Z",
    )
    old = canonical(pd.DataFrame([row]))
    incoming = canonical(pd.DataFrame([{**row, "mean": 0.4, "created_at": "2026-01-01T00:00:00Z"}]))
    merged, changes = merge(old, incoming)
    assert merged["mean"].tolist() == ["0.5"] and changes[0].startswith("kept")
    merged, changes = merge(incoming, old)
    assert merged["mean"].tolist() == ["0.5"] and changes[0].startswith("replaced")


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(open(path, newline="")))


def _write(path: Path, rows) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())
    return path


def _set(rows, line, col, value):
    rows[line - 1][rows[0].index(col)] = value
    return rows


def _drop(rows, col):
    i = rows[0].index(col)
    return [r[:i] + r[i + 1 :] for r in rows]


# mutation, expected fragments of the message (line, column, reason)
BATTERY = {
    "wrong_schema_version": (
        lambda r: _set(r, 3, "schema_version", "0.9"),
        ["line 3 (row 2), column 'schema_version'", "not supported"],
    ),
    "missing_column": (lambda r: _drop(r, "metric"), ["line 1 (header), column 'metric'", "missing"]),
    "bad_number": (lambda r: _set(r, 4, "mean", "0.8x"), ["line 4 (row 3), column 'mean'", "not a number"]),
    "nan_number": (lambda r: _set(r, 4, "std", "nan"), ["line 4 (row 3), column 'std'", "not a number"]),
    "bad_integer": (
        lambda r: _set(r, 2, "n_seeds", "2.5"),
        ["line 2 (row 1), column 'n_seeds'", "not an integer"],
    ),
    "duplicate_key": (lambda r: r + [list(r[5])], ["line 74 (row 73)", "duplicate key", "as line 6"]),
    "out_of_range_metric": (
        lambda r: _set(r, 2, "mean", "1.5"),
        ["line 2 (row 1), column 'mean'", "outside [0, 1]"],
    ),
    "formula_injection": (
        lambda r: _set(r, 5, "method", "=cmd|' /C calc'!A0"),
        ["line 5 (row 4), column 'method'", "formula injection"],
    ),
    "formula_at": (lambda r: _set(r, 2, "encoder", "@SUM(A1:A9)"), ["column 'encoder'", "formula injection"]),
    "formula_minus": (
        lambda r: _set(r, 2, "dataset", "-2+3+cmd|' /C calc'!A0"),
        ["column 'dataset'", "formula injection"],
    ),
    "fraction_zero": (lambda r: _set(r, 2, "fraction", "0"), ["column 'fraction'", "outside (0, 1]"]),
    "severity_range": (lambda r: _set(r, 2, "severity", "7"), ["column 'severity'", "outside 0–5"]),
    "unknown_metric": (lambda r: _set(r, 2, "metric", "top1_acc"), ["column 'metric'", "unknown metric"]),
    "metric_case": (lambda r: _set(r, 2, "metric", "Accuracy"), ["column 'metric'", "lower_snake_case"]),
    "unknown_probe": (lambda r: _set(r, 2, "probe", "svm"), ["column 'probe'", "unknown probe"]),
    "unknown_protocol": (
        lambda r: _set(r, 2, "protocol", "vibes"),
        ["column 'protocol'", "unknown protocol"],
    ),
    "bad_created_at": (lambda r: _set(r, 2, "created_at", "yesterday"), ["column 'created_at'", "ISO-8601"]),
    "ci_excludes_mean": (lambda r: _set(r, 2, "ci95_high", "0.0"), ["column 'ci95_low'", "does not contain"]),
    "short_row": (lambda r: r[:2] + [r[2][:-3]] + r[3:], ["line 3 (row 2)", "field(s), the header has"]),
    "unknown_column": (
        lambda r: [r[0] + ["extra"]] + [x + ["1"] for x in r[1:]],
        ["column 'extra'", "unknown column"],
    ),
}


@pytest.mark.parametrize("case", sorted(BATTERY))
def test_validate_rejects_malformed_csv_naming_line_and_column(case, published, tmp_path, capsys):
    mutate, needles = BATTERY[case]
    bad = _write(tmp_path / f"{case}.csv", mutate(_rows(published / SUITE / "label_fraction.csv")))
    assert main(["leaderboard", "validate", str(bad)]) == 1
    out = capsys.readouterr()
    for n in needles:
        assert n in out.out, (n, out.out)
    assert f"{bad}: INVALID" in out.err
    # publishing it as a submission is refused too, and leaves the leaderboard as it was
    before = (published / SUITE / "label_fraction.csv").read_text()
    assert (
        main(["leaderboard", "publish", "--suite", SUITE, "--from-csv", str(bad), "--root", str(published)])
        == 2
    )
    assert "submission rejected" in capsys.readouterr().err
    assert (published / SUITE / "label_fraction.csv").read_text() == before


def test_validate_accepts_every_protocols_row_shapes(published, tmp_path):
    """Rows as the robustness / OOD / transfer / fine-tune protocols write them are valid."""
    rows = _rows(published / SUITE / "label_fraction.csv")
    h = rows[0]
    variants = [
        {"protocol": "robustness", "corruption": "gaussian_noise", "severity": "3", "metric": "accuracy"},
        {
            "protocol": "robustness",
            "corruption": "gaussian_noise",
            "severity": "0",
            "metric": "ce",
            "mean": "1.2",
        },
        {"protocol": "robustness", "metric": "mce", "mean": "0.93"},
        {"protocol": "robustness", "metric": "mca"},
        {"protocol": "robustness", "metric": "relative_robustness", "mean": "0.8"},
        {
            "protocol": "ood",
            "probe": "mahalanobis",
            "ood_partner": "near:sklearn_digits_28",
            "metric": "fpr95",
        },
        {"protocol": "ood", "probe": "knn", "ood_partner": "far:synthetic_noise", "metric": "aupr_out"},
        {"protocol": "transfer", "pretrain_budget": "8ep@cifar10+stl10"},
        {"probe": "finetune", "fraction": "0.01"},
        {"metric": "majority_floor", "fraction": "0.5"},
        {"n_seeds": "1", "fraction": "0.25", "std": "", "ci95_low": "", "ci95_high": ""},  # one seed
    ]
    out = [h]
    for v in variants:
        r = list(rows[1])
        for c, val in v.items():
            r[h.index(c)] = val
        if "mean" in v:
            r[h.index("ci95_low")], r[h.index("ci95_high")] = v["mean"], v["mean"]
        out.append(r)
    f = _write(tmp_path / "shapes.csv", out)
    assert validate_file(f) == [], [p.format("shapes.csv") for p in validate_file(f)]


def test_validate_reports_every_problem_and_file_level_errors(published, tmp_path, capsys):
    rows = _rows(published / SUITE / "label_fraction.csv")
    _set(rows, 2, "mean", "abc")
    _set(rows, 3, "severity", "9")
    _set(rows, 4, "suite", "../etc")
    bad = _write(tmp_path / "many.csv", rows)
    problems = validate_file(bad)
    assert [(p.line, p.column) for p in problems] == [(2, "mean"), (3, "severity"), (4, "suite")]
    assert validate_text("") and "empty" in validate_text("")[0].message
    assert "no such file" in validate_file(tmp_path / "nope.csv")[0].message
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in validate_file(tmp_path / "bin.csv")[0].message


def test_submission_csv_merges_after_validation(published, tmp_path, capsys):
    rows = _rows(published / SUITE / "label_fraction.csv")
    sub = [rows[0]] + [list(r) for r in rows[1:4]]
    for r in sub[1:]:
        r[rows[0].index("method")] = "submitted_m"
    f = _write(tmp_path / "submission.csv", sub)
    n = len(read_long(published / SUITE / "label_fraction.csv"))
    assert (
        main(["leaderboard", "publish", "--suite", SUITE, "--from-csv", str(f), "--root", str(published)])
        == 0
    )
    assert "3 added" in capsys.readouterr().err
    assert len(read_long(published / SUITE / "label_fraction.csv")) == n + 3


@pytest.mark.parametrize("suite", ["../etc", "Quick", "a/b", "..", "x y"])
def test_suite_names_are_validated(suite, tmp_path, capsys):
    assert main(["leaderboard", "publish", "--suite", suite, "--root", str(tmp_path)]) == 2
    assert "lower_snake_case" in capsys.readouterr().err
    assert main(["leaderboard", "render", "--suite", suite, "--root", str(tmp_path)]) == 2


def test_render_writes_markdown_html_and_plots(published, tmp_path, capsys):
    (published / SUITE / "suite.yaml").write_text(
        "# why these settings\nname: tiny_lb\ndescription: <script>alert(1)</script> & co\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# Project\n\n## Leaderboards\n\n{README_START}\nold\n{README_END}\n\ntail\n")
    assert main(["leaderboard", "render", "--root", str(published), "--readme", str(readme)]) == 0
    site = published / "site"
    page = (site / "index.html").read_text()
    pngs = sorted(p.name for p in site.glob("*.png"))
    assert pngs == sorted(
        [
            f"{SUITE}_label_efficiency_cifar_x.png",
            f"{SUITE}_label_efficiency_fashion_mnist.png",
            f"{SUITE}_robustness_cifar_x.png",
            f"{SUITE}_robustness_fashion_mnist.png",
            f"{SUITE}_ood_cifar_x.png",
            f"{SUITE}_ood_fashion_mnist.png",
            f"{SUITE}_ranks_label_fraction.png",
            f"{SUITE}_ranks_robustness.png",
        ]
    )
    for name in pngs:
        assert (site / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(srcs) == pngs
    assert (
        "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    )
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network
    assert page.count('<table class="sortable">') >= 6 and "aria-sort" in page
    assert "0.1.0+abc1234" in page
    # two datasets: ranks are shown, the Friedman test is not (its blocks are datasets, never cells)
    assert "Friedman p" not in page and "skipped: they need ≥ 3 datasets as blocks" in page
    md = (site / "leaderboard.md").read_text()
    assert "### label_fraction" in md and "| simclr |" in md and "byol_x" in md
    # the full tables go to <root>/README.md, with plot paths relative to it
    full = (published / "README.md").read_text()
    assert full == md.replace(f"]({SUITE}_", f"](site/{SUITE}_")
    assert f"](site/{SUITE}_label_efficiency_fashion_mnist.png)" in full
    assert "Critical-difference diagram" not in full  # two datasets: no CD diagram (needs ≥ 3)
    assert "```yaml\n# why these settings\nname: tiny_lb" in full
    # the project README gets a short summary linked to them, never the tables
    text = readme.read_text()
    assert "old" not in text and "tail" in text and "| simclr |" not in text and "```yaml" not in text
    block = text.split(README_START)[1].split(README_END)[0]
    assert "[leaderboards/README.md](leaderboards/README.md)" in block
    row = next(line for line in block.splitlines() if line.startswith(f"| [{SUITE}]"))
    assert f"(leaderboards/README.md#suite-{SUITE})" in row and "label_fraction, ood, robustness" in row
    assert len(block.strip().splitlines()) == 2 + 2 + 1  # link line, blank, header, rule, one suite


def test_render_refuses_an_invalid_leaderboard(published, capsys):
    path = published / SUITE / "ood.csv"
    path.write_text(path.read_text().replace("mahalanobis", '=HYPERLINK("x")', 1))
    assert main(["leaderboard", "render", "--root", str(published)]) == 2
    assert "invalid leaderboard" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (Debian package `chromium`)")
def test_page_sorts_and_loads_every_plot_in_headless_chromium(published, tmp_path, capsys):
    assert main(["leaderboard", "render", "--root", str(published)]) == 0
    site = published / "site"
    probe = """<script>
window.addEventListener('load', function () {
  var t = document.querySelector('table.sortable');
  var col = 1;
  function column() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
      return r.cells[col].getAttribute('data-sort'); }); }
  function methods() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
      return r.cells[0].textContent; }); }
  var th = t.tHead.rows[0].cells[col];
  th.click(); var asc = column(), ascM = methods(), ascAria = th.getAttribute('aria-sort');
  th.click(); var desc = column(), descAria = th.getAttribute('aria-sort');
  t.tHead.rows[0].cells[0].click(); var byName = methods();
  var imgs = Array.prototype.map.call(document.images, function (i) {
      return [i.getAttribute('src'), i.complete && i.naturalWidth > 0]; });
  var pre = document.createElement('pre'); pre.id = 'probe-result';
  pre.textContent = JSON.stringify({asc: asc, ascM: ascM, desc: desc, ascAria: ascAria, descAria: descAria,
                                    byName: byName, imgs: imgs});
  document.body.appendChild(pre);
});
</script>"""
    test_page = site / "probe.html"
    test_page.write_text((site / "index.html").read_text().replace("</body>", probe + "</body>"))
    r = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            test_page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', r.stdout, re.S)
    assert m, (r.returncode, r.stderr[-2000:])
    res = json.loads(html.unescape(m.group(1)))
    asc = [float(v) for v in res["asc"] if v]
    assert len(asc) >= 3 and asc == sorted(asc) and res["ascAria"] == "ascending"
    desc = [float(v) for v in res["desc"] if v]
    assert desc == sorted(desc, reverse=True) and res["descAria"] == "descending"
    assert res["byName"] == sorted(res["byName"], key=str.lower)
    assert len(res["imgs"]) == 8 and all(ok for _, ok in res["imgs"]), res["imgs"]


def test_transfer_summary_names_the_source_of_each_cell(published):
    """The transfer summary's columns read `source → target`, from the `<epochs>ep@<source>` budget:
    a transfer cell never reads as an in-domain one, and two sources of one target stay apart."""
    import pandas as pd

    from benchmark.reporting.leaderboard import summary_pivot

    d = pd.read_csv(published / SUITE / "label_fraction.csv", keep_default_na=False)
    d = d[d["metric"] == "accuracy"].head(1)
    d = pd.concat(
        [
            d.assign(protocol="transfer", pretrain_budget="8ep@mitdb", mean=0.7),
            d.assign(protocol="transfer", pretrain_budget="8ep@ptbxl+mitdb", mean=0.6),
        ]
    )
    headers, rows = summary_pivot(d, "transfer")
    target = d["dataset"].iloc[0]
    assert [h.split(" · ")[0] for h in headers[1:]] == [f"mitdb → {target}", f"ptbxl+mitdb → {target}"]
    assert [float(t[1]) for t in rows[0][1:]] == [0.7, 0.6]


def _one_row(**kw) -> dict:
    row = {c: "" for c in LONG_COLUMNS}
    row.update(
        schema_version=SCHEMA_VERSION,
        suite="s",
        domain="d",
        dataset="x",
        method="m",
        encoder="e",
        init="random",
        pretrain_budget="1ep",
        protocol="label_fraction",
        probe="linear",
        fraction="1.0",
        severity="0",
        metric="accuracy",
        mean="0.5",
        std="",  # one seed: no spread (docs/design.md §4.3)
        n_seeds="1",
        ci95_low="",
        ci95_high="",
        code_version="0.1.0",
        config_hash="0" * 16,
        created_at="2026-02-01T00:00:00Z",
    )
    row.update(kw)
    return row


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def test_schema_1_0_files_without_dataset_version_still_validate_and_read(tmp_path):
    from benchmark.reporting.leaderboard import validate_text
    from benchmark.reporting.leaderboard.frames import read_long

    # 1.0: neither dataset_version (1.1) nor init (1.2)
    old_cols = [c for c in LONG_COLUMNS if c not in ("dataset_version", "init")]
    text = _csv([_one_row(schema_version="1.0")], old_cols)
    assert validate_text(text) == []
    (tmp_path / "old.csv").write_text(text)
    old = read_long(tmp_path / "old.csv")
    assert old["dataset_version"].tolist() == [""] and old["init"].tolist() == ["random"]
    # a 1.1 file has dataset_version, not yet init
    v11_cols = [c for c in LONG_COLUMNS if c != "init"]
    assert validate_text(_csv([_one_row(schema_version="1.1", dataset_version="v3")], v11_cols)) == []
    # a current row needs the column; with it, a release name or nothing is accepted, junk is not
    no_version = [c for c in LONG_COLUMNS if c != "dataset_version"]
    problems = validate_text(_csv([_one_row()], no_version))
    assert [(p.line, p.column) for p in problems] == [(1, "dataset_version")]
    assert validate_text(_csv([_one_row(dataset_version="1.0.0,v3")], LONG_COLUMNS)) == []
    bad = validate_text(_csv([_one_row(dataset_version="=cmd()")], LONG_COLUMNS))
    assert any(p.column == "dataset_version" for p in bad)
    assert any(
        "schema version" in p.message
        for p in validate_text(_csv([_one_row(schema_version="0.9")], LONG_COLUMNS))
    )
