"""The fine-tune probe (docs/design.md §3.3): a copy of the pretrained encoder plus a fresh linear head,
trained end-to-end with cross-entropy (BCE for multi-label sets) on the labelled subset; after each
epoch the val score is measured, the best epoch's weights are kept, and test is scored once with them.

Kept cheap on CPU and optional (list `finetune` in a suite's `probes`): at most FT_MAX_TRAIN labelled
samples (a class-stratified subset of the fraction's subset, fixed per dataset/fraction/seed), val
capped at FT_MAX_VAL for selection, FT_EPOCHS rounds (a round is one pass over the subset, or
FT_MIN_STEPS steps when the subset is smaller than that: a 1 % subset would otherwise get a handful
of steps), AdamW (head 1e-3, encoder 1e-4), no augmentation. The selected "epoch" is the round.
The fine-tuned copy is discarded; the frozen model the other probes read is untouched.
"""

from __future__ import annotations

import copy
import inspect

import torch
import torch.nn.functional as F

from benchmark.evaluation.fractions import stratified_subset
from benchmark.evaluation.metrics import classification_metrics, probabilities, selection_score
from benchmark.evaluation.probes import PROBES, ProbeResult
from benchmark.training.pretrain import adamw
from datasets.splitting import name_seed

FT_EPOCHS = 5
FT_MAX_TRAIN = 2000
FT_MAX_VAL = 1000
FT_BATCH = 64
FT_MIN_STEPS = 40  # a round is one pass over the subset or this many steps, whichever is more
FT_LR_HEAD = 1e-3
FT_LR_ENCODER = 1e-4


def _features_fn(method):
    """The method's `embed`, without its no-grad decorator, so gradients reach the encoder."""
    raw = inspect.unwrap(type(method).embed)
    return lambda x: raw(method, x)


def _predict(method, head, adapter, split, index, device, task, batch=512):
    method.eval()
    feats = _features_fn(method)
    out = []
    with torch.no_grad():
        for idx in torch.split(index, batch):
            out.append(head(feats(adapter.prepare(adapter.batch(split, idx), device)).float()).float().cpu())
    return probabilities(torch.cat(out), task)


def finetune(
    method,
    adapter,
    task,
    train_split,
    train_idx,
    val_split,
    val_idx,
    test_split,
    test_idx,
    device,
    seed: int,
    epochs: int = FT_EPOCHS,
) -> ProbeResult:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    m = copy.deepcopy(method).to(device)
    feats = _features_fn(m)
    with torch.no_grad():
        m.eval()
        dim = feats(adapter.prepare(adapter.batch(train_split, train_idx[:2]), device)).shape[1]
    head = torch.nn.Linear(dim, task.num_classes).to(device)
    opt = adamw(
        [{"params": m.parameters(), "lr": FT_LR_ENCODER}, {"params": head.parameters(), "lr": FT_LR_HEAD}],
        FT_LR_HEAD,
        1e-4,
        device,
    )
    labels = train_split.labels
    val_y = val_split.labels[val_idx]
    bs = min(FT_BATCH, len(train_idx))
    steps_per_epoch = max(1, len(train_idx) // bs)  # ragged last batch dropped (BatchNorm)
    steps_per_round = max(steps_per_epoch, FT_MIN_STEPS)
    stream: list[torch.Tensor] = []
    best = None
    for epoch in range(1, epochs + 1):
        m.train()
        head.train()
        for _ in range(steps_per_round):
            if not stream:
                order = train_idx[torch.randperm(len(train_idx), generator=g)]
                stream = list(torch.split(order, bs))[:steps_per_epoch]
            idx = stream.pop(0)
            x = adapter.prepare(adapter.batch(train_split, idx), device)
            y = labels[idx].to(device)
            logits = head(feats(x).float())
            loss = (
                F.binary_cross_entropy_with_logits(logits, y.float())
                if task.multilabel
                else F.cross_entropy(logits, y)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = selection_score(_predict(m, head, adapter, val_split, val_idx, device, task), val_y, task)
        if best is None or score > best[0] + 1e-12:
            best = (score, epoch, copy.deepcopy(m.state_dict()), copy.deepcopy(head.state_dict()))
    score, epoch, m_state, h_state = best
    m.load_state_dict(m_state)
    head.load_state_dict(h_state)
    probs = _predict(m, head, adapter, test_split, test_idx, device, task)
    return ProbeResult(
        classification_metrics(probs, test_split.labels[test_idx], task), {"epoch": epoch}, score, probs
    )


def finetune_probe(ctx, fraction: float) -> ProbeResult:
    """Fine-tune the job's model at `fraction` on the fraction's labelled subset (capped)."""
    pool = ctx.index["train"][ctx.fraction_subset(fraction)]
    sub_labels = ctx.splits["train"].labels[pool]
    if len(pool) > FT_MAX_TRAIN:
        pool = pool[
            stratified_subset(
                sub_labels, FT_MAX_TRAIN, ctx.job.dataset, "finetune", f"{fraction:g}", ctx.job.seed
            )
        ]
    val_idx = ctx.index["val"]
    if len(val_idx) > FT_MAX_VAL:
        val_idx = val_idx[stratified_subset(ctx.labels("val"), FT_MAX_VAL, ctx.job.dataset, "finetune_val")]
    s = ctx.splits
    return finetune(
        ctx.model(fraction),
        ctx.adapter,
        ctx.task,
        s["train"],
        pool,
        s["val"],
        val_idx,
        s["test"],
        ctx.index["test"],
        ctx.device,
        name_seed("finetune", ctx.job.dataset, f"{fraction:g}", ctx.job.seed),
    )


finetune_probe.needs_model = True


PROBES.register(finetune_probe, name="finetune")
