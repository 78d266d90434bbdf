"""Checkpoint names: what a training run depends on, hashed, so identical runs share one file."""

from __future__ import annotations

from pathlib import Path

from benchmark.core.hashing import config_hash
from methods.base import get_method_class


def checkpoint_path(work_dir: Path, key: str, prefix: str = "", fraction: float | None = None) -> Path:
    """`<work_dir>/checkpoints/[<prefix>-]<key>[-f<fraction>].pt`."""
    name = "-".join(p for p in (prefix, key) if p) + ("" if fraction is None else f"-f{fraction:g}")
    return Path(work_dir) / "checkpoints" / f"{name}.pt"


def pretrain_key(
    method: str,
    hp: dict,
    seed: int,
    epochs: int,
    dataset: str,
    options: dict,
    max_train: int | None,
    recipes: str = "legacy",
    init: str = "random",
) -> str:
    """What an in-domain training run depends on (plus the label fraction, for label-using
    references). A transfer job whose source is a suite dataset thus loads the in-domain job's
    finished checkpoint instead of training it again (pretraining resumes a complete checkpoint
    bit-identically). Hyper-parameters are hashed with the method's defaults filled in, so a
    checkpoint trained under other defaults is never picked up as finished. Under `paper` recipes
    the method's recipe is hashed too (legacy keys are the ones they were before recipes)."""
    cls = get_method_class(method)
    hp = {**cls.base_defaults, **cls.defaults, **hp}
    key = {
        "method": method,
        "hp": hp,
        "seed": seed,
        "epochs": epochs,
        "dataset": dataset,
        "options": options,
        "max_train": max_train,
    }
    if init != "random":  # the encoder's initialization (random keys are the ones they were before it)
        key["init"] = init
    if recipes != "legacy":
        key["recipes"] = recipes
        key["recipe"] = repr(cls.recipe)
    return config_hash(key)
