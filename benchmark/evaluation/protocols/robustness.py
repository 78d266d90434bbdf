"""Robustness (docs/design.md §3.5). For each corruption the adapter registers and each severity 1–5, the
capped test split (at most MAX_CORRUPTED_TEST samples of it) is corrupted deterministically (once per
split in a process: `CorruptedInputs` shares the corrupted batches between the jobs of a dataset) and
embedded once (the embedding cache is keyed by
model, dataset, split, corruption and severity); the linear and kNN probes, fitted on clean train
features at the largest label fraction and selected on clean val, score every corrupted copy.

Per job rows (protocol `robustness`): accuracy / balanced accuracy / AUROC of the clean test split
(corruption '', severity 0) and of every (corruption, severity); `mca` (mean over corruptions and
severities of the headline metric) and `relative_robustness` = mCA / clean. The corruption error
CE_c = Σ_s err(method, c, s) / Σ_s err(supervised, c, s) and mCE = mean_c CE_c need the supervised
row of the same run, so `add_corruption_errors` derives them from stored rows at table time.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import pandas as pd
import torch

from benchmark.evaluation.fractions import stratified_subset
from benchmark.evaluation.metrics import classification_metrics
from benchmark.evaluation.protocols.common import (
    eval_fraction,
    headline_metric,
    log,
    predictors,
    register_protocol,
)

SEVERITIES = (1, 2, 3, 4, 5)
# Corrupted copies are embedded for at most this many test samples (a class-stratified subset of the
# capped test pool, fixed per dataset; clean accuracy for relative robustness uses the same subset):
# 7 image corruptions × 5 severities of a 5,000-sample test pool cost more than pretraining on CPU.
MAX_CORRUPTED_TEST = 1000
FEATURE_PROBES = ("linear", "knn")
REFERENCE = "supervised"


@register_protocol("robustness")
def robustness(ctx) -> list[dict]:
    corruptions = ctx.adapter.corruptions()
    if not corruptions:
        log.warning("robustness: %s registers no corruptions; no robustness rows", ctx.job.dataset)
        return []
    f = eval_fraction(ctx)
    sub = ctx.fraction_subset(f)
    train_x, train_y = ctx.features("train", f)[sub], ctx.labels("train")[sub]
    val_x, val_y = ctx.features("val", f), ctx.labels("val")
    pos = _test_positions(ctx)
    test_y = ctx.labels("test")[pos]
    probes = [p for p in ctx.job.probes if p in FEATURE_PROBES] or ["linear"]
    preds = predictors(ctx, probes, train_x, train_y, val_x, val_y)
    head = headline_metric(ctx.task)

    cells = {("", 0): ctx.features("test", f)[pos]}
    for name in sorted(corruptions):
        fn = corruptions[name]
        for s in SEVERITIES:
            cells[(name, s)] = _corrupted_features(
                ctx, f, pos, name, s, CORRUPTED_INPUTS.transform(ctx.splits["test"], name, s, fn)
            )
    rows = []
    for probe, predict in preds.items():
        per_cell = {}
        for (c, s), feats in cells.items():
            m = classification_metrics(predict(feats), test_y, ctx.task)
            per_cell[(c, s)] = m[head]
            for metric, value in m.items():
                rows.append(_row(probe, f, c, s, metric, value))
        corrupted = [v for k, v in per_cell.items() if k != ("", 0)]
        mca = sum(corrupted) / len(corrupted)
        clean = per_cell[("", 0)]
        rows.append(_row(probe, f, "", 0, "mca", mca))
        rows.append(_row(probe, f, "", 0, "relative_robustness", mca / clean if clean > 0 else float("nan")))
    return rows


def _test_positions(ctx) -> torch.Tensor:
    n = len(ctx.index["test"])
    cap = (
        getattr(ctx.job, "robustness_max_test", None) or MAX_CORRUPTED_TEST
    )  # suite `robustness: {max_test: N}`
    if n <= cap:
        return torch.arange(n)
    return stratified_subset(ctx.labels("test"), cap, ctx.job.dataset, "robustness")


def _corrupted_features(ctx, fraction, pos, corruption, severity, transform):
    """Embedded once per (model, dataset, split, corruption, severity [, subset]) via the cache; the
    transform gets each prepared batch with the samples' indices in the split."""
    if len(pos) == len(ctx.index["test"]):
        return ctx.features("test", fraction, corruption=corruption, severity=severity, transform=transform)
    idx = ctx.index["test"][pos]
    return ctx.cached_features(
        fraction,
        ctx.splits["test"],
        idx,
        subset="robustness",
        corruption=corruption,
        severity=severity,
        transform=transform,
    )


class CorruptedInputs:
    """The corrupted, prepared test batches of the split in use, kept in memory (LRU, at most
    `max_bytes`) and shared by the jobs that evaluate it. A corrupted copy depends only on the
    samples, the corruption and the severity (docs/design.md §3.5), not on the model, so the nine jobs of a
    dataset in the quick suite (3 methods × 3 seeds) corrupt it once: measured on 2 cores, corrupting
    AdrenalMNIST3D's 298 test volumes 4 × 5 times took as long as embedding them (1.4 s per job).

    Entries belong to one split object (the adapter's cached splits are the same objects from job
    to job); a batch from another split clears the cache, so a different dataset, or a split replaced
    in place, can never be served a stale copy, and memory holds one dataset's copies at a time."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.owner = None
        self.entries: OrderedDict[tuple, object] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self.owner, self.nbytes = None, 0
        self.entries.clear()

    def transform(self, split, corruption: str, severity: int, fn):
        """`transform(x, idx)` for `embed_split`: the cached corrupted batch, or `fn(x, idx, severity)`."""

        def apply(x, idx):
            if self.max_bytes <= 0:
                return fn(x, idx, severity)
            if self.owner is not split.inputs:
                self.clear()
                self.owner = split.inputs  # held, so its identity cannot be reused while entries live
            key = (
                corruption,
                severity,
                str(getattr(x, "device", "")),
                hashlib.sha1(idx.cpu().numpy().tobytes()).hexdigest(),
            )
            if key in self.entries:
                self.entries.move_to_end(key)
                self.hits += 1
                return self.entries[key]
            self.misses += 1
            out = fn(x, idx, severity)
            size = _nbytes(out)
            if size <= self.max_bytes:
                self.entries[key] = out
                self.nbytes += size
                while self.nbytes > self.max_bytes:
                    self.nbytes -= _nbytes(self.entries.popitem(last=False)[1])
            return out

        return apply


def _nbytes(obj) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(o) for o in obj.values())
    if hasattr(obj, "to_dict"):  # a torch_geometric Batch
        return _nbytes(obj.to_dict())
    return 0


# SSLBENCH_CORRUPTION_CACHE_MB=0 turns it off. 768 MB holds AdrenalMNIST3D's 20 corrupted copies of
# 300 volumes (4 × 5 × 26 MB) within the quick suite's 4 GB budget.
CORRUPTED_INPUTS = CorruptedInputs(int(float(os.environ.get("SSLBENCH_CORRUPTION_CACHE_MB", "768")) * 2**20))


def _row(probe, fraction, corruption, severity, metric, value) -> dict:
    return {
        "protocol": "robustness",
        "probe": probe,
        "fraction": fraction,
        "corruption": corruption,
        "severity": severity,
        "ood_partner": "",
        "metric": metric,
        "value": float(value),
    }


def add_corruption_errors(
    frame: pd.DataFrame, metric_for: dict[str, str] | None = None, reference: str = REFERENCE
) -> pd.DataFrame:
    """Append per-seed `ce` rows (one per corruption, severity 0) and one `mce` row per job, computed
    against the supervised row of the same run: same suite, dataset, seed, probe and fraction. The
    error is 1 − the headline metric (`metric_for[dataset]`, accuracy by default; AUROC for
    multi-label sets). A job without a matching supervised cell for every severity gets no CE."""
    if frame.empty:
        return frame
    rob = frame[frame["protocol"] == "robustness"]
    if rob.empty:
        return frame
    new = []
    # with encoder / init axes, a method is compared with the reference of its own init and encoder
    # (MAE / JEPA's token encoder: with the reference's when it ran on one encoder only)
    keys = ["suite", "dataset", "seed", "probe", "fraction"] + (["init"] if "init" in rob else [])
    by_encoder = "encoder" in rob
    for key, g in rob.groupby(keys, dropna=False):
        metric = (metric_for or {}).get(key[1], "accuracy")
        refs = g[g["method"] == reference]
        if refs.empty:
            continue
        for _, gm in g.groupby(["method", "encoder"] if by_encoder else ["method"]):
            ref = refs
            if by_encoder and refs["encoder"].nunique() > 1:
                ref = refs[refs["encoder"] == gm["encoder"].iloc[0]]
                if ref.empty:
                    continue
            ce = {}
            for c in sorted(set(gm["corruption"]) - {""}):
                err_m, err_r = _sum_err(gm, c, metric), _sum_err(ref, c, metric)
                if err_m is not None and err_r is not None:
                    ce[c] = err_m / err_r if err_r > 0 else float("nan")
            if not ce:
                continue
            base = gm.iloc[0].to_dict()
            for c, v in ce.items():
                new.append(
                    {**base, "corruption": c, "severity": 0, "ood_partner": "", "metric": "ce", "value": v}
                )
            new.append(
                {
                    **base,
                    "corruption": "",
                    "severity": 0,
                    "ood_partner": "",
                    "metric": "mce",
                    "value": sum(ce.values()) / len(ce),
                }
            )
    return pd.concat([frame, pd.DataFrame(new)], ignore_index=True) if new else frame


def _sum_err(g: pd.DataFrame, corruption: str, metric: str) -> float | None:
    cells = g[(g["corruption"] == corruption) & (g["metric"] == metric) & (g["severity"] > 0)]
    if sorted(cells["severity"]) != list(SEVERITIES):
        return None
    return float((1 - cells["value"]).sum())
