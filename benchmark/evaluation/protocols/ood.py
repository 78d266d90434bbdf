"""OOD detection (docs/design.md §3.6). In-distribution: the job's capped test split. OOD: the test splits of
the partner datasets the adapter declares (`ood_partners = {"near": [...], "far": [...]}`), each
capped (class-stratified, fixed per partner) to the size of the ID test pool, plus a synthetic far
partner — structured noise in the ID data's own raw format
(`benchmark.evaluation.ood_scorers.synthetic_noise_inputs`) —
so that every tensor-input adapter has at least one. A partner whose input spec differs from the
job's (kind or shape) is skipped with a logged reason; one whose files are missing likewise.

Every scorer of `benchmark.evaluation.ood_scorers.SCORERS` is fitted on the labelled train pool at
the largest label fraction (MSP and energy read the val-selected linear head fitted there) and scores
ID and OOD features; rows: protocol `ood`, probe = scorer, ood_partner = `near:<name>` / `far:<name>`,
metrics auroc, fpr95, aupr_in, aupr_out.
"""

from __future__ import annotations

import torch

from benchmark.evaluation.fractions import stratified_subset
from benchmark.evaluation.ood_scorers import ood_metrics, score_all, synthetic_noise_inputs
from benchmark.evaluation.protocols.common import eval_fraction, log, register_protocol
from datasets.base import Split, get_adapter
from datasets.splitting import name_seed

SYNTHETIC = "synthetic_noise"
# Partners found unavailable in this process, by (name, data dir) → why: not retried for every job
# (a failed load can cost a download attempt and a walk of the data dir; ~0.5 s per job for
# AdrenalMNIST3D's five missing partners) and logged once. Every job still records the partners it
# left out (`ctx.histories["ood_missing"]`): the run summary and ood.md list them as missing.
_UNAVAILABLE: dict[tuple[str, str], str] = {}


def _missing(ctx, partner: str, reason: str) -> None:
    ctx.histories.setdefault("ood_missing", {})[partner] = reason


def mark_unavailable(name: str, data_dir, reason: str = "unavailable at pre-flight") -> None:
    """Skip partner `name` under `data_dir` for the rest of the process without trying it again (the
    run's pre-flight found it unusable and has said so once); every job still records it as missing."""
    _UNAVAILABLE[(name, str(data_dir))] = reason


def partner_sets(ctx, fraction) -> list[tuple[str, torch.Tensor]]:
    """[(`near:<name>` | `far:<name>`, OOD features)] for the job's model at `fraction`."""
    out = []
    n_id = len(ctx.index["test"])
    spec = ctx.adapter.spec
    for group in ("near", "far"):
        for name in ctx.adapter.ood_partners.get(group, []):
            if name == ctx.job.dataset:
                log.warning("ood: %s lists itself as a partner; skipped", name)
                continue
            try:
                partner = get_adapter(name, data_dir=ctx.adapter.data_dir)
            except KeyError:
                log.warning(
                    "ood: partner %r of %s is not a registered dataset; skipped", name, ctx.job.dataset
                )
                continue
            if partner.spec.kind != spec.kind or tuple(partner.spec.shape) != tuple(spec.shape):
                log.warning(
                    "ood: partner %s has spec %s%s, %s has %s%s; skipped (no resizing offered)",
                    name,
                    partner.spec.kind,
                    tuple(partner.spec.shape),
                    ctx.job.dataset,
                    spec.kind,
                    tuple(spec.shape),
                )
                continue
            key = (name, str(ctx.adapter.data_dir))
            if key in _UNAVAILABLE:
                _missing(ctx, f"{group}:{name}", _UNAVAILABLE[key])
                continue
            try:
                test = partner.splits()["test"]
            except Exception as e:  # missing files, no network, a broken partner: never fails the ID job
                first = str(e).split(". ")[0]  # the adapter's full message (where to put files) is long
                reason = f"{type(e).__name__}: {first if len(first) <= 200 else first[:197] + '...'}"
                _UNAVAILABLE[key] = reason
                _missing(ctx, f"{group}:{name}", reason)
                log.warning("ood: partner %s unavailable (%s); skipped", name, reason)
                continue
            idx = stratified_subset(test.labels, n_id, name, "test")
            feats = _embed(ctx, fraction, partner, test, idx, name)
            out.append((f"{group}:{name}", feats))
    inputs = ctx.splits["test"].inputs
    if isinstance(inputs, torch.Tensor):
        ref = inputs[ctx.index["test"]]
        noise = synthetic_noise_inputs(ref, n_id, spec.kind, name_seed(SYNTHETIC, ctx.job.dataset))
        split = Split(noise, torch.zeros(n_id, dtype=torch.long))
        out.append(
            (
                f"far:{SYNTHETIC}",
                _embed(
                    ctx, fraction, ctx.adapter, split, torch.arange(n_id), f"{SYNTHETIC}:{ctx.job.dataset}"
                ),
            )
        )
    else:
        log.warning("ood: %s inputs are not a tensor; no synthetic noise partner", ctx.job.dataset)
    return out


def _embed(ctx, fraction, adapter, split, idx, dataset_key):
    return ctx.cached_features(fraction, split, idx, dataset=dataset_key, adapter=adapter)


@register_protocol("ood")
def ood(ctx) -> list[dict]:
    f = eval_fraction(ctx)
    sub = ctx.fraction_subset(f)
    train_x, train_y = ctx.features("train", f)[sub], ctx.labels("train")[sub]
    head = ctx.linear_head(f)  # the label-fraction table's head at this fraction
    id_x = ctx.features("test", f)
    partners = partner_sets(ctx, f)
    if not partners:
        log.warning("ood: %s has no usable OOD partner; no OOD rows", ctx.job.dataset)
        return []
    sets = {"id": (id_x, head.logits(id_x))}
    sets.update({name: (x, head.logits(x)) for name, x in partners})
    scores = score_all(train_x, train_y, ctx.task, sets)
    rows = []
    for scorer, by_set in scores.items():
        for name, _ in partners:
            for metric, value in ood_metrics(by_set["id"], by_set[name]).items():
                rows.append(
                    {
                        "protocol": "ood",
                        "probe": scorer,
                        "fraction": f,
                        "corruption": "",
                        "severity": 0,
                        "ood_partner": name,
                        "metric": metric,
                        "value": value,
                    }
                )
    return rows
