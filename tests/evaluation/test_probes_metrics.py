import pytest
import torch

from benchmark.core.specs import TaskSpec
from benchmark.evaluation.metrics import classification_metrics
from benchmark.evaluation.probes import knn_probe, linear_probe


def _blobs(n, seed, sep=4.0, classes=3, dim=16):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * sep
    y = torch.arange(n) % classes
    return centres[y] + torch.randn(n, dim, generator=g), y


def test_metrics_hand_computed():
    task = TaskSpec(2)
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = torch.tensor([0, 1, 1, 1])
    m = classification_metrics(probs, y, task)
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == (1.0 + 2 / 3) / 2
    # positives scored 0.8, 0.4, 0.7 vs the negative 0.1: every pair ordered correctly
    assert m["auroc"] == 1.0


def test_probes_separate_blobs_and_select_on_val():
    task = TaskSpec(3)
    tr, va, te = _blobs(300, 0), _blobs(150, 1), _blobs(300, 2)
    lin = linear_probe(*tr, *va, *te, task)
    knn = knn_probe(*tr, *va, *te, task)
    assert lin.metrics["accuracy"] > 0.97 and knn.metrics["accuracy"] > 0.97
    assert lin.selected["l2"] in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def test_shuffled_labels_give_chance():
    # Labels independent of features: both probes must sit at chance (1/3). Tolerance: 3 standard
    # errors of a binomial proportion on 1,500 test samples is ±0.037; we allow 0.06.
    task = TaskSpec(3)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3000, 16, generator=g)
    y = torch.randint(0, 3, (3000,), generator=g)
    res_l = linear_probe(x[:1000], y[:1000], x[1000:1500], y[1000:1500], x[1500:], y[1500:], task)
    res_k = knn_probe(x[:1000], y[:1000], x[1000:1500], y[1000:1500], x[1500:], y[1500:], task)
    for r in (res_l, res_k):
        assert abs(r.metrics["accuracy"] - 1 / 3) < 0.06
        assert abs(r.metrics["auroc"] - 0.5) < 0.06


def test_metrics_equal_scikit_learn_on_random_inputs_with_ties():
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    g = torch.Generator().manual_seed(3)
    for classes in (2, 5):
        task = TaskSpec(classes)
        # rounded probabilities: many ties, the case average ranks must get right
        probs = torch.softmax(torch.randn(400, classes, generator=g), 1).mul(20).round().div(20)
        y = torch.randint(0, classes, (400,), generator=g)
        m = classification_metrics(probs, y, task)
        p, yn = probs.double().numpy(), y.numpy()
        ref_auc = (
            roc_auc_score(yn, p[:, 1])
            if classes == 2
            else np.mean([roc_auc_score(yn == c, p[:, c]) for c in range(classes)])
        )
        assert m["auroc"] == pytest.approx(ref_auc, abs=1e-12)
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(yn, p.argmax(1)), abs=1e-12)
    # multi-label: mean per-label AUROC and balanced accuracy at 0.5
    task = TaskSpec(4, multilabel=True)
    probs = torch.rand(300, 4, generator=g).mul(10).round().div(10)
    y = (torch.rand(300, 4, generator=g) < 0.3).long()
    m = classification_metrics(probs, y, task)
    p, yn = probs.double().numpy(), y.numpy()
    assert m["auroc"] == pytest.approx(
        np.mean([roc_auc_score(yn[:, c], p[:, c]) for c in range(4)]), abs=1e-12
    )
    assert m["balanced_accuracy"] == pytest.approx(
        np.mean([balanced_accuracy_score(yn[:, c], (p[:, c] >= 0.5).astype(int)) for c in range(4)]),
        abs=1e-12,
    )


def _objective(head, x, y, task, l2):
    import torch.nn.functional as F

    with torch.no_grad():
        logits = head(x)
        loss = (
            F.binary_cross_entropy_with_logits(logits, y.float())
            if task.multilabel
            else F.cross_entropy(logits, y)
        )
        return float(loss + 0.5 * l2 * head.weight.pow(2).sum())


@pytest.mark.parametrize("multilabel", [False, True])
def test_batched_logreg_reaches_the_optimum_of_each_grid_value(multilabel):
    # The grid-batched L-BFGS must minimise each value's own objective: compared with
    # torch.optim.LBFGS (strong Wolfe) run per value to convergence (1000 iterations).
    import torch.nn.functional as F

    from benchmark.evaluation.probes import fit_logreg_grid

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 12, generator=g)
    w_true = torch.randn(12, 4, generator=g)
    logits = x @ w_true
    if multilabel:
        task, y = TaskSpec(4, multilabel=True), (logits + torch.randn(200, 4, generator=g) > 0).long()
    else:
        task, y = TaskSpec(4), torch.distributions.Categorical(logits=logits).sample()
    grid = (1e-3, 1e-2, 1e-1, 1.0)
    heads = fit_logreg_grid(x, y, task, grid, max_iter=300)
    for l2, head in zip(grid, heads):
        ref = torch.nn.Linear(12, 4)
        torch.nn.init.zeros_(ref.weight)
        torch.nn.init.zeros_(ref.bias)
        opt = torch.optim.LBFGS(
            ref.parameters(),
            max_iter=1000,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
        )

        def closure():
            opt.zero_grad()
            out = ref(x)
            loss = (
                F.binary_cross_entropy_with_logits(out, y.float()) if multilabel else F.cross_entropy(out, y)
            )
            loss = loss + 0.5 * l2 * ref.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        assert _objective(head, x, y, task, l2) == pytest.approx(_objective(ref, x, y, task, l2), abs=1e-5)
        assert torch.allclose(head.weight, ref.weight, atol=2e-3), l2
    # Stronger penalty → smaller weights (each grid value really is its own problem).
    norms = [float(h.weight.norm()) for h in heads]
    assert norms == sorted(norms, reverse=True)
