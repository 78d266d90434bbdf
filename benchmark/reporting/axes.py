"""Rows of the rendered tables under the encoder and init axes (docs/design.md §4): when a suite sweeps
them, one row per (method, encoder, init), named `method · encoder · init`; otherwise a row is a
method, as it always was. The long CSVs keep `encoder` and `init` as key columns either way."""

from __future__ import annotations

import pandas as pd

AXIS_SEP = " · "


def base_method(label: str) -> str:
    """The method of a row label ('simclr · resnet18 · imagenet' → 'simclr')."""
    return str(label).split(AXIS_SEP, 1)[0]


def axis_label(method: str, encoder: str, init: str) -> str:
    """'simclr', 'resnet18:image2d', 'imagenet' → 'simclr · resnet18 · imagenet'."""
    return AXIS_SEP.join((method, str(encoder).split(":", 1)[0], str(init or "random")))


def swept(long: pd.DataFrame) -> bool:
    """Whether some method has more than one (encoder, init) on one dataset and protocol."""
    if long.empty or "encoder" not in long:
        return False
    d = long.assign(init=long["init"] if "init" in long else "random")
    n = d.groupby(["protocol", "dataset", "method"])[["encoder", "init"]].apply(
        lambda g: len(g.drop_duplicates())
    )
    return bool((n > 1).any())


def axis_rows(long: pd.DataFrame) -> pd.DataFrame:
    """`long` with each row's method named by its encoder and init when the axes are swept."""
    if not swept(long):
        return long
    init = long["init"] if "init" in long else ["random"] * len(long)
    return long.assign(method=[axis_label(m, e, i) for m, e, i in zip(long["method"], long["encoder"], init)])


def reference_order(labels, references: tuple[str, ...], always: bool = False) -> list[str]:
    """SSL rows alphabetically, then the reference rows in `references` order (each reference's
    encoder / init rows alphabetically); `always`: a reference that did not run still gets its row."""
    labels = set(labels)
    ssl = sorted(m for m in labels if base_method(m) not in references)
    refs: list[str] = []
    for r in references:
        mine = sorted(m for m in labels if base_method(m) == r)
        refs += mine or ([r] if always else [])
    return ssl + refs
