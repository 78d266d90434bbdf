"""TU graph classification as the graph-SSL literature evaluates it (InfoGraph, GraphCL, GraphMAE):
10-fold stratified cross-validation on the frozen embeddings of every graph of the dataset (train,
val and test of the adapter's split together), a standardised logistic regression per fold whose C
is chosen by an inner stratified 5-fold CV on that fold's training part, accuracy on the held-out
fold. Rows: `accuracy`, the mean over the 10 folds, and `accuracy_fold_std`, their (population)
std as those papers report it. The fold assignment is seeded by (dataset, seed), so seeds differ
in both the pretraining and the folds (docs/design.md §3.11)."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.evaluation.protocols.common import log, register_protocol
from datasets.splitting import name_seed
from methods.base import get_method_class

FOLDS = 10
INNER_FOLDS = 5
C_GRID = [10.0**k for k in range(-3, 4)]
CV_PROBE = "cv_logreg"


def cv_accuracies(x: np.ndarray, y: np.ndarray, seed: int, folds: int = FOLDS) -> np.ndarray:
    """Held-out accuracy of each outer fold; C is selected inside the fold's training part only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rs = seed % 2**32
    out = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=rs).split(x, y):
        inner_k = int(min(INNER_FOLDS, np.bincount(y[tr]).min()))
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
            {"logisticregression__C": C_GRID},
            cv=StratifiedKFold(inner_k, shuffle=True, random_state=rs),
            scoring="accuracy",
        )
        search.fit(x[tr], y[tr])
        out.append(float(search.score(x[te], y[te])))
    return np.asarray(out)


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
    x = torch.cat(feats).double().numpy()
    y = torch.cat(labels).numpy()
    accs = cv_accuracies(x, y, name_seed("tu_cv", ctx.job.dataset, ctx.job.seed))
    base = {"protocol": "tu_cv", "probe": CV_PROBE, "fraction": 1.0}
    return [
        {**base, "metric": "accuracy", "value": float(accs.mean())},
        {**base, "metric": "accuracy_fold_std", "value": float(accs.std())},
    ]
