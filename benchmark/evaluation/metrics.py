"""Classification metrics (docs/design.md §3.4): accuracy, balanced accuracy, macro one-vs-rest AUROC;
multi-label sets: mean per-label accuracy at 0.5 and mean per-label AUROC.

Computed directly with NumPy/SciPy rather than through scikit-learn's per-call validation: the
robustness and OOD protocols score hundreds of (corruption, severity, probe) cells per job, and
`roc_auc_score` per class cost more than the probes themselves. Values equal scikit-learn's
(tests/test_probes_metrics.py compares them on random inputs)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

from benchmark.core.specs import TaskSpec


def column_aurocs(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC area of each column of `scores` (N, K) for the binary targets `positive` (N, K): the
    Mann–Whitney U statistic with average ranks over ties, / (n_pos · n_neg). NaN for a column whose
    targets are all one class."""
    positive = positive.astype(bool)
    ranks = rankdata(scores, axis=0)  # 'average' ties, 1-based
    n_pos = positive.sum(0).astype(float)
    n_neg = positive.shape[0] - n_pos
    u = np.where(positive, ranks, 0.0).sum(0) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _macro_auroc(positive: np.ndarray, scores: np.ndarray) -> float:
    aucs = column_aurocs(positive, scores)
    aucs = aucs[~np.isnan(aucs)]
    return float(aucs.mean()) if len(aucs) else float("nan")


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y` (scikit-learn's `balanced_accuracy_score`)."""
    classes = np.unique(y)
    recalls = [(pred[y == c] == c).mean() for c in classes]
    return float(np.mean(recalls))


def classification_metrics(probs: torch.Tensor, labels: torch.Tensor, task: TaskSpec) -> dict[str, float]:
    """`probs`: (N, C) class probabilities (softmax, or per-label sigmoid for multi-label)."""
    p = probs.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy()
    if task.multilabel:
        pred = (p >= 0.5).astype(int)
        return {
            "accuracy": float((pred == y).mean()),
            "balanced_accuracy": float(
                np.mean([balanced_accuracy(y[:, c], pred[:, c]) for c in range(y.shape[1])])
            ),
            "auroc": _macro_auroc(y.astype(bool), p),
        }
    pred = p.argmax(1)
    if task.num_classes == 2:
        auroc = float(column_aurocs((y == 1)[:, None], p[:, 1:2])[0])
    else:
        auroc = _macro_auroc(np.eye(task.num_classes, dtype=bool)[y], p)
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "auroc": auroc,
    }


def probabilities(logits: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    """Class probabilities from logits: per-label sigmoids for multi-label sets, else a softmax."""
    return torch.sigmoid(logits) if task.multilabel else torch.softmax(logits, 1)


def selection_score(probs: torch.Tensor, labels: torch.Tensor, task: TaskSpec) -> float:
    """The val score every selection maximises: the task's headline metric."""
    return classification_metrics(probs, labels, task)[task.headline_metric]
