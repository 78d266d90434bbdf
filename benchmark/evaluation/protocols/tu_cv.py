"""TU graph classification as the graph-SSL literature evaluates it (InfoGraph, GraphCL, GraphMAE):
10-fold stratified cross-validation on the frozen embeddings of every graph of the dataset (train,
val and test of the adapter's split together), a logistic regression per fold whose C (grid 1e-3 …
1e3, as those papers search) is chosen by an inner stratified 5-fold CV on that fold's training
part, accuracy on the held-out fold. Features are standardised with the statistics of the outer
fold's training part. Rows: `accuracy`, the mean over the 10 folds, and `accuracy_fold_std`, their
(population) std as those papers report it. The fold assignment is seeded by (dataset, seed), so
seeds differ in both the pretraining and the folds (docs/design.md §3.11).

Speed: each inner fold fits the C grid as one regularisation path (ascending C, lbfgs warm-started
from the previous solution), so a fit at C = 1e3 starts next to its optimum instead of from zero;
one MUTAG job's CV takes seconds on one core, PROTEINS about ten."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from benchmark.evaluation.protocols.common import log, register_protocol
from datasets.splitting import name_seed
from methods.base import get_method_class

FOLDS = 10
INNER_FOLDS = 5
C_GRID = tuple(10.0**k for k in range(-3, 4))
CV_PROBE = "cv_logreg"
PATH_MAX_ITER = 300  # per step of the warm-started path
REFIT_MAX_ITER = 2000


def path_accuracies(x_fit, y_fit, x_val, y_val, grid=C_GRID) -> np.ndarray:
    """Val accuracy at each C of `grid` (ascending), fitted as one warm-started path."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(warm_start=True, max_iter=PATH_MAX_ITER)
    out = []
    with warnings.catch_warnings():
        # Large C on separable folds stops at the iteration cap; the path's next step continues
        # from there, and the selection only needs the val accuracy.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in grid:
            clf.set_params(C=c)
            clf.fit(x_fit, y_fit)
            out.append(float(clf.score(x_val, y_val)))
    return np.asarray(out)


def select_c(x, y, seed: int, grid=C_GRID, inner: int = INNER_FOLDS) -> float:
    """The C with the best mean val accuracy over an inner stratified k-fold CV of (x, y); ties go
    to the smaller C (the stronger regularisation)."""
    from sklearn.model_selection import StratifiedKFold

    k = int(min(inner, np.bincount(y).min()))
    total = np.zeros(len(grid))
    for fit, val in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        total += path_accuracies(x[fit], y[fit], x[val], y[val], grid)
    return float(grid[int(np.argmax(total))])


def cv_accuracies(x: np.ndarray, y: np.ndarray, seed: int, folds: int = FOLDS) -> np.ndarray:
    """Held-out accuracy of each outer fold; the scaling and C come from the fold's training part only."""
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    rs = seed % 2**32
    out = []
    # The fits are small (a few hundred graphs): BLAS threads only contend with each other and with
    # the other jobs of a pool, which made the CV several times slower on 2 busy cores.
    with threadpool_limits(limits=1):
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=rs).split(x, y):
            out.append(_outer_fold_accuracy(x[tr], y[tr], x[te], y[te], rs))
    return np.asarray(out)


def _outer_fold_accuracy(x_tr, y_tr, x_te, y_te, seed: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    c = select_c(x_tr, y_tr, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=c, max_iter=REFIT_MAX_ITER).fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


@register_protocol("tu_cv")
def tu_cv(ctx) -> list[dict]:
    spec = ctx.adapter.spec
    if spec.kind != "graph" or spec.extras.get("task") != "graph" or ctx.task.multilabel:
        return []  # graph classification only; other datasets of a suite skip it
    cls = get_method_class(ctx.job.method)
    if cls.uses_labels or cls.semi_supervised:
        # Its training labels sit inside the CV folds: the held-out fold would not be held out.
        log.info("tu_cv: skipping %s (trained with labels of graphs the folds hold out)", ctx.job.method)
        return []
    feats, labels = [], []
    for name in ("train", "val", "test"):
        split = ctx.splits[name]
        feats.append(ctx.cached_features(None, split, torch.arange(len(split)), split_name=name))
        labels.append(split.labels)
    x = torch.cat(feats).double().cpu().numpy()  # scikit-learn's folds run on the host
    y = torch.cat(labels).numpy()
    accs = cv_accuracies(x, y, name_seed("tu_cv", ctx.job.dataset, ctx.job.seed))
    base = {"protocol": "tu_cv", "probe": CV_PROBE, "fraction": 1.0}
    return [
        {**base, "metric": "accuracy", "value": float(accs.mean())},
        {**base, "metric": "accuracy_fold_std", "value": float(accs.std())},
    ]
