"""Classification metrics (DESIGN §3.4): accuracy, balanced accuracy, macro one-vs-rest AUROC;
multi-label sets: mean per-label accuracy at 0.5 and mean per-label AUROC."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from benchmark.specs import TaskSpec


def _macro_auroc(y_onehot: np.ndarray, scores: np.ndarray) -> float:
    aucs = [roc_auc_score(y_onehot[:, c], scores[:, c]) for c in range(y_onehot.shape[1])
            if 0 < y_onehot[:, c].sum() < len(y_onehot)]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_metrics(probs: torch.Tensor, labels: torch.Tensor, task: TaskSpec) -> dict[str, float]:
    """`probs`: (N, C) class probabilities (softmax, or per-label sigmoid for multi-label)."""
    p = probs.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy()
    if task.multilabel:
        pred = (p >= 0.5).astype(int)
        return {"accuracy": float((pred == y).mean()),
                "balanced_accuracy": float(np.mean([balanced_accuracy_score(y[:, c], pred[:, c])
                                                    for c in range(y.shape[1])])),
                "auroc": _macro_auroc(y.astype(int), p)}
    pred = p.argmax(1)
    if task.num_classes == 2:
        auroc = float(roc_auc_score(y, p[:, 1])) if len(np.unique(y)) == 2 else float("nan")
    else:
        auroc = _macro_auroc(np.eye(task.num_classes, dtype=int)[y], p)
    return {"accuracy": float((pred == y).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "auroc": auroc}
