"""Reference recipes (docs/design.md §3.11): published supervised baselines trained end to end on
the job's dataset and scored on its test pool once, beside the SSL rows of the same suite.

A recipe is declared as a method (methods/reference_recipes.py: name, specs, hyper-parameters) and trained
here, registered in `RECIPES` under the method's name. Its rows carry protocol `label_fraction` and
probe `end_to_end`: the model's own predictions, no probe on top. Per label fraction the recipe
trains on exactly the probes' labelled subset; every choice (early stopping, epoch, hyper-parameters)
is made on the val pool, and test is predicted once by the chosen model."""

from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.core.errors import UsageError
from benchmark.core.registry import Registry
from benchmark.evaluation.metrics import classification_metrics, probabilities, selection_score
from benchmark.models.encoders import build_encoder
from benchmark.models.reference_nets import EncoderClassifier, FCN1d, KipfGCN
from datasets.splitting import name_seed
from methods.base import get_method_class

END_TO_END_PROBE = "end_to_end"
# A recipe maps (ctx, train-split positions of its labelled samples, hyper-parameters, seed) to
# (test-pool class probabilities, what was chosen on val).
RECIPES: Registry[Callable] = Registry("recipe")
GBDT_GRID = [
    {"learning_rate": lr, "max_leaf_nodes": leaves} for lr in (0.05, 0.1, 0.2) for leaves in (15, 31, 63)
]
LOGREG_C = [10.0**k for k in range(-3, 3)]


def recipe_hparams(ctx) -> dict:
    cls = get_method_class(ctx.job.method)
    return {**cls.base_defaults, **cls.defaults, **ctx.job.method_hparams}


def recipe_rows(ctx) -> list[dict]:
    """Train the job's recipe per label fraction and score its test predictions once."""
    if ctx.job.pretrain_on:
        raise UsageError(f"{ctx.job.method}: reference recipes train in-domain only (no transfer sources)")
    fn, hp = RECIPES[ctx.job.method], recipe_hparams(ctx)
    rows = []
    for f in ctx.job.fractions:
        train_idx = ctx.index["train"][ctx.fraction_subset(f)]
        seed = name_seed("recipe", ctx.job.method, ctx.job.dataset, ctx.job.seed, f)
        torch.manual_seed(seed)
        probs, chosen = fn(ctx, train_idx, hp, seed)
        ctx.histories[f"recipe fraction={f:g}"] = chosen
        metrics = classification_metrics(probs, ctx.labels("test"), ctx.task)
        rows += [
            {"protocol": "label_fraction", "probe": END_TO_END_PROBE, "fraction": f, "metric": k, "value": v}
            for k, v in metrics.items()
        ]
    return rows


def _loss(logits: torch.Tensor, y: torch.Tensor, task) -> torch.Tensor:
    if task.multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


# ---- Kipf & Welling GCN -----------------------------------------------------------------------
@RECIPES.register("gcn_supervised")
def gcn_supervised(ctx, train_idx, hp, seed):
    """Full-batch training, Adam, weight decay on the first layer only; stops when the val loss
    exceeds the mean of the previous `patience` epochs (Kipf & Welling's rule); the model at the
    stop predicts test."""
    dev, task = ctx.device, ctx.task
    graph = ctx.splits["train"].inputs  # a NodeSet: the shared graph and the split's node ids
    x, ei = graph.x.to(dev).float(), graph.edge_index.to(dev)
    tr_nodes = graph.nodes[train_idx].to(dev)
    tr_y = ctx.splits["train"].labels[train_idx].to(dev)
    va_nodes = ctx.splits["val"].inputs.nodes[ctx.index["val"]].to(dev)
    va_y = ctx.labels("val").to(dev)
    model = KipfGCN(x.shape[1], hp["hidden"], task.num_classes, hp["dropout"]).to(dev)
    opt = torch.optim.Adam(
        [
            {"params": model.conv1.parameters(), "weight_decay": hp["weight_decay"]},
            {"params": model.conv2.parameters(), "weight_decay": 0.0},
        ],
        lr=hp["lr"],
    )
    val_losses: list[float] = []
    epoch = 0
    for epoch in range(ctx.job.epochs):
        model.train()
        opt.zero_grad()
        _loss(model(x, ei)[tr_nodes], tr_y, task).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val_losses.append(float(_loss(model(x, ei)[va_nodes], va_y, task)))
        p = hp["patience"]
        if epoch > p and val_losses[-1] > np.mean(val_losses[-(p + 1) : -1]):
            break
    model.eval()
    with torch.no_grad():
        logits = model(x, ei)
    te_nodes = ctx.splits["test"].inputs.nodes[ctx.index["test"]].to(dev)
    return probabilities(logits[te_nodes], task).cpu(), {"epochs_run": epoch + 1, "val_loss": val_losses[-1]}


# ---- minibatch recipes (FCN, ResNet-18 (28)) ----------------------------------------------------
def _predict(ctx, model, split: str, batch: int = 512) -> torch.Tensor:
    model.eval()
    s, idx = ctx.splits[split], ctx.index[split]
    out = []
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            xb = ctx.adapter.prepare(ctx.adapter.batch(s, idx[i : i + batch]), ctx.device)
            out.append(probabilities(model(xb).float(), ctx.task).cpu())
    return torch.cat(out)


def milestone_epochs(milestones, epochs: int) -> list[int]:
    """The epochs after which the lr drops ×0.1: round(fraction · epochs) for each milestone fraction,
    so a shorter schedule keeps the published shape (50 and 75 of 100; 2 and 3 of 4)."""
    return sorted({round(m * epochs) for m in milestones if 0 < round(m * epochs) < epochs})


def train_and_select(ctx, model, train_idx, hp, seed, select: str, milestones=()) -> tuple:
    """Adam on minibatches of the labelled samples for the job's epochs (lr ×0.1 at each milestone
    fraction of them); after every epoch the val pool is scored and the epoch with the highest val
    `select` metric (ties: lower val loss, then the earlier epoch) is kept and predicts test."""
    task, dev, epochs = ctx.task, ctx.device, ctx.job.epochs
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    steps = milestone_epochs(milestones, epochs)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, steps, 0.1)
    g = torch.Generator().manual_seed(seed)
    tr = ctx.splits["train"]
    bs = min(hp["batch_size"], len(train_idx))
    va_y = ctx.labels("val")
    best = (-math.inf, -math.inf)
    best_state, best_epoch = None, -1
    for epoch in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            if len(idx) < 2:  # BatchNorm needs more than one sample
                continue
            xb = ctx.adapter.prepare(ctx.adapter.batch(tr, idx), dev)
            loss = _loss(model(xb), tr.labels[idx].to(dev), task)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        probs = _predict(ctx, model, "val")
        val_loss = float(
            F.binary_cross_entropy(probs, va_y.float())
            if task.multilabel
            else F.nll_loss(probs.clamp_min(1e-12).log(), va_y)
        )
        score = (classification_metrics(probs, va_y, task)[select], -val_loss)
        if score > best:
            best, best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    chosen = {"best_epoch": best_epoch + 1, f"val_{select}": best[0], "val_loss": -best[1]}
    return _predict(ctx, model, "test"), chosen


@RECIPES.register("fcn")
def fcn(ctx, train_idx, hp, seed):
    model = FCN1d(ctx.adapter.spec.shape[0], ctx.task.num_classes)
    return train_and_select(ctx, model, train_idx, hp, seed, ctx.task.headline_metric)


@RECIPES.register("resnet18_medmnist")
def resnet18_medmnist(ctx, train_idx, hp, seed):
    """MedMNIST v2's ResNet-18 (28): the named `resnet18` encoder (3×3 stride-1 stem, no max-pool)
    plus a linear head, no augmentation, the model selected on val AUC."""
    model = EncoderClassifier(build_encoder(ctx.adapter.spec, "resnet18"), ctx.task.num_classes)
    return train_and_select(ctx, model, train_idx, hp, seed, "auroc", hp["milestones"])


# ---- scikit-learn references for tables --------------------------------------------------------
def _arrays(ctx, split: str, idx: torch.Tensor) -> np.ndarray:
    x = ctx.adapter.prepare(ctx.adapter.batch(ctx.splits[split], idx), torch.device("cpu"))
    return x.numpy()


def _fit_on_val(ctx, train_idx, make, grid) -> tuple[torch.Tensor, dict]:
    """Fit `make(**setting)` for every setting on the labelled samples, keep the one with the best
    val headline metric (first on ties), predict test with it."""
    if ctx.task.multilabel:
        raise UsageError(f"{ctx.job.method}: the scikit-learn references take single-label tables only")
    xtr, ytr = _arrays(ctx, "train", train_idx), ctx.splits["train"].labels[train_idx].numpy()
    xva, yva = _arrays(ctx, "val", ctx.index["val"]), ctx.labels("val")
    best, best_model, best_setting = -math.inf, None, None
    for setting in grid:
        model = make(**setting).fit(xtr, ytr)
        score = selection_score(_full_probs(model, xva, ctx.task.num_classes), yva, ctx.task)
        if score > best:
            best, best_model, best_setting = score, model, setting
    probs = _full_probs(best_model, _arrays(ctx, "test", ctx.index["test"]), ctx.task.num_classes)
    return probs, {**best_setting, f"val_{ctx.task.headline_metric}": best}


def _full_probs(model, x: np.ndarray, num_classes: int) -> torch.Tensor:
    """Class probabilities in the task's class order (a class absent from a small subset gets 0)."""
    out = np.zeros((len(x), num_classes))
    out[:, model.classes_.astype(int)] = model.predict_proba(x)
    return torch.from_numpy(out)


@RECIPES.register("gbdt_reference")
def gbdt_reference(ctx, train_idx, hp, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    def make(**s):
        return HistGradientBoostingClassifier(
            max_iter=200, early_stopping=False, random_state=seed % 2**32, **s
        )

    return _fit_on_val(ctx, train_idx, make, GBDT_GRID)


@RECIPES.register("logreg_reference")
def logreg_reference(ctx, train_idx, hp, seed):
    from sklearn.linear_model import LogisticRegression

    def make(C):
        return LogisticRegression(C=C, max_iter=2000)

    return _fit_on_val(ctx, train_idx, make, [{"C": c} for c in LOGREG_C])
