"""Published numbers beside reproduced ones (docs/design.md §3.11): `leaderboards/<suite>/published.csv`
lists literature results by (dataset, method, protocol, metric) with a source key resolved in
`sources.csv`; `reference_markdown` puts each next to the suite's reproduced cell (mean ± std over
seeds, from the suite's long-format leaderboard CSVs) and `write_reference_readme` writes it as the
suite's README.md, which `leaderboard publish` regenerates whenever the suite's folder has a published.csv."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmark.core.errors import DataError
from benchmark.core.io import atomic_write_text
from benchmark.evaluation.protocols.tu_cv import CV_PROBE
from benchmark.evaluation.reference_recipes import END_TO_END_PROBE

PUBLISHED_COLUMNS = ["dataset", "method", "protocol", "metric", "value", "std", "source_key"]
SOURCE_COLUMNS = ["key", "citation", "where"]
# Which reproduced probe a published cell is compared with, in order of preference: a recipe's own
# predictions, else the linear probe; tu_cv rows carry their CV classifier.
PROBE_ORDER = (END_TO_END_PROBE, "linear", CV_PROBE)
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "leaderboards" / "reference"


def read_published(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """published.csv and sources.csv of `root`, checked: columns, numbers in [0, 1], known sources."""
    pub_path, src_path = root / "published.csv", root / "sources.csv"
    for p in (pub_path, src_path):
        if not p.exists():
            raise DataError(
                f"{p}: not found; a published-reference directory needs published.csv and sources.csv"
            )
    pub = pd.read_csv(pub_path, dtype={"std": float})
    src = pd.read_csv(src_path, dtype=str)
    for df, cols, p in ((pub, PUBLISHED_COLUMNS, pub_path), (src, SOURCE_COLUMNS, src_path)):
        if list(df.columns) != cols:
            raise DataError(f"{p}: columns {list(df.columns)}; expected {cols}")
    bad = pub[~pub["value"].between(0, 1)]
    if len(bad):
        raise DataError(f"{pub_path}: line {bad.index[0] + 2}: value {bad['value'].iloc[0]} not in [0, 1]")
    unknown = sorted(set(pub["source_key"]) - set(src["key"]))
    if unknown:
        raise DataError(f"{pub_path}: source_key(s) {unknown} not in {src_path.name}")
    return pub, src


def _cell(mean: float, std: float | None, scale: float = 100.0) -> str:
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean * scale:.1f}"
    return f"{mean * scale:.1f} ± {std * scale:.1f}"


def _full_label_rows(long: pd.DataFrame, dataset: str, protocol: str, metric: str) -> pd.DataFrame:
    return long[
        (long["dataset"] == dataset)
        & (long["protocol"] == protocol)
        & (long["metric"] == metric)
        & (long["fraction"].astype(float) == 1.0)
        & (long["corruption"].fillna("") == "")
    ]


def reproduced_row(long: pd.DataFrame | None, dataset: str, method: str, protocol: str, metric: str):
    """The suite's row for (dataset, method, protocol, metric) at label fraction 1, its probe chosen
    by PROBE_ORDER, or None."""
    if long is None or long.empty:
        return None
    m = _full_label_rows(long, dataset, protocol, metric)
    m = m[m["method"] == method]
    for probe in PROBE_ORDER:
        hit = m[m["probe"] == probe]
        if len(hit):
            return hit.iloc[0]
    return None


def _reproduced_text(r) -> str:
    if r is None:
        return "—"
    return f"{_cell(float(r['mean']), float(r['std']))} (n={int(r['n_seeds'])}, {r['probe']})"


def reproduced_cell(long: pd.DataFrame | None, row) -> str:
    """The suite's cell for a published row at label fraction 1: mean ± std over seeds (n)."""
    return _reproduced_text(reproduced_row(long, row.dataset, row.method, row.protocol, row.metric))


def _gap(long: pd.DataFrame | None, row) -> str:
    r = reproduced_row(long, row.dataset, row.method, row.protocol, row.metric)
    return "—" if r is None else f"{(float(r['mean']) - row.value) * 100:+.1f}"


def label_free(method: str) -> bool:
    """A self-supervised method that trains without labels (not a reference, not semi-supervised)."""
    from methods.base import METHODS

    if method not in METHODS:
        return False
    cls = METHODS.get(method)
    return cls.trains and not cls.semi_supervised and cls.family != "reference"


def _best(rows: list) -> str:
    rows = [r for r in rows if r is not None]
    if not rows:
        return "—"
    top = max(rows, key=lambda r: float(r["mean"]))
    return f"{top['method']} {_reproduced_text(top)}"


def best_of_suite(published: pd.DataFrame, long: pd.DataFrame | None) -> list[str]:
    """Per dataset of published.csv, under the protocol its published rows use (tu_cv where they do),
    accuracy at 100 % labels: the best label-free SSL method of the suite, random-init, supervised
    and the best end-to-end recipe, each mean ± std (n)."""
    lines = [
        "| dataset | protocol | best label-free SSL | random_init | supervised | best recipe (end to end) |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(published["dataset"]):
        protos = set(published.loc[published["dataset"] == dataset, "protocol"])
        protocol = "tu_cv" if "tu_cv" in protos else "label_fraction"
        ssl, recipes = [], []
        if long is not None and not long.empty:
            methods = sorted(set(_full_label_rows(long, dataset, protocol, "accuracy")["method"]))
            ssl = [reproduced_row(long, dataset, m, protocol, "accuracy") for m in methods if label_free(m)]
            lf = _full_label_rows(long, dataset, "label_fraction", "accuracy")
            recipes = [r for _, r in lf[lf["probe"] == END_TO_END_PROBE].iterrows()]
        rand = reproduced_row(long, dataset, "random_init", protocol, "accuracy")
        sup = reproduced_row(long, dataset, "supervised", "label_fraction", "accuracy")
        lines.append(
            f"| {dataset} | {protocol} | {_best(ssl)} | {_reproduced_text(rand)} "
            f"| {_reproduced_text(sup)} | {_best(recipes)} |"
        )
    return lines


def reference_markdown(published: pd.DataFrame, sources: pd.DataFrame, long: pd.DataFrame | None) -> str:
    lines = [
        "# Reference suite: published vs reproduced",
        "",
        "Generated by `leaderboard publish` from published.csv, sources.csv and the",
        "suite's leaderboard CSVs. Numbers are percentages; reproduced cells are mean ± std over seeds",
        "(for tu_cv: of each seed's 10-fold mean). Methods absent from the suite show —.",
        "",
        "| dataset | method | protocol | metric | published | reproduced | gap (points) | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in published.itertuples(index=False):
        lines.append(
            f"| {r.dataset} | {r.method} | {r.protocol} | {r.metric} | {_cell(r.value, r.std)} "
            f"| {reproduced_cell(long, r)} | {_gap(long, r)} | [{r.source_key}](#{r.source_key}) |"
        )
    lines += [
        "",
        "## The suite's best per dataset",
        "",
        "Accuracy at 100 % labels, mean ± std over seeds (n): the best label-free SSL method (its own",
        "row above when the literature reports it), the untrained encoder, the same encoder trained with",
        "labels (linear probe), and the best published recipe trained end to end. TU sets under tu_cv;",
        "`supervised` has no tu_cv row (its training graphs would sit in the held-out folds).",
        "",
        *best_of_suite(published, long),
    ]
    lines += ["", "## Sources", ""]
    for s in sources.itertuples(index=False):
        lines.append(f'- <a id="{s.key}"></a>**{s.key}**: {s.citation}. {s.where}.')
    return "\n".join(lines) + "\n"


def write_reference_readme(root: Path = REFERENCE_DIR) -> Path:
    from benchmark.reporting.leaderboard.frames import read_long
    from benchmark.reporting.leaderboard.schema import leaderboard_csvs

    published, sources = read_published(root)
    frames = [read_long(p) for p in leaderboard_csvs(root)]
    long = pd.concat(frames, ignore_index=True) if frames else None
    return atomic_write_text(root / "README.md", reference_markdown(published, sources, long))
