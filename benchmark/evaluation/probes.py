"""Probes on frozen features (docs/design.md §3.3). Each takes features/labels of the labelled train subset,
the val split and the test split, selects what it selects on val only, and scores test once.

- linear: multinomial logistic regression on standardised features (full-batch L-BFGS, batched over
  the L2 grid), L2 strength chosen on val from a fixed grid;
- kNN: k = min(20, labelled-set size), cosine similarity, votes weighted by exp(sim / 0.07) (Wu et al.
  2018; DINO's protocol); of neighbours tied at the k-th similarity the lower bank indices are taken.

Both run on the device the features are on (the job's device: `JobContext.features`); labels are
moved there, and only the metrics (benchmark/evaluation/metrics.py) read results on the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.core.registry import Registry
from benchmark.core.specs import TaskSpec
from benchmark.evaluation.metrics import classification_metrics, probabilities, selection_score

L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class ProbeResult:
    metrics: dict[str, float]  # on test
    selected: dict[str, float]  # what val chose
    val_score: float
    test_probs: torch.Tensor | None = None  # kept for OOD scorers (MSP/energy use the linear head)
    test_logits: torch.Tensor | None = None


class LogRegGridObjective:
    """L2-penalised logistic loss (softmax, or per-label sigmoids for multi-label sets) of K weight
    matrices at once. Weights are (grid value, class, feature) flattened to (K, D), so both GEMMs
    take them as (K·C, d+1) without copies, and logits come out (grid, class, sample): softmax then
    reduces over a middle dimension with samples contiguous, which vectorises well on CPU."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, task: TaskSpec, l2s: list[float]):
        self.multilabel, C = task.multilabel, task.num_classes
        n, d = x.shape
        self.n, self.d, self.C, self.K, self.D, self.dt = n, d, C, len(l2s), C * (d + 1), x.dtype
        self.device = dev = x.device
        y = y.to(dev)
        self.x1 = torch.cat([x, torch.ones(n, 1, dtype=x.dtype, device=dev)], 1)  # bias = last column
        self.x1t = self.x1.t().contiguous()
        self.lam = torch.tensor(l2s, dtype=x.dtype, device=dev)
        reg = torch.ones(1, C, d + 1, dtype=x.dtype, device=dev)
        reg[..., d] = 0.0  # the bias is unpenalised
        self.reg = reg.view(1, self.D)
        if self.multilabel:
            self.target = y.to(x.dtype).t().unsqueeze(0)  # (1, C, n)
        else:
            self.target = F.one_hot(y, C).to(x.dtype).t().unsqueeze(0)
            self.y_idx = y.view(1, 1, n).expand(self.K, 1, n)

    def evaluate(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss per grid value at w (K, D), and the link outputs its gradient needs."""
        K, C, n = self.K, self.C, self.n
        logits = (w.view(K * C, self.d + 1) @ self.x1t).view(K, C, n)
        if self.multilabel:
            loss = F.binary_cross_entropy_with_logits(
                logits, self.target.expand_as(logits), reduction="none"
            ).mean((1, 2))
        else:
            logits = torch.log_softmax(logits, 1)  # log-probabilities from here on
            loss = -logits.gather(1, self.y_idx).mean((1, 2))
        wr = w * self.reg
        return loss + 0.5 * self.lam * torch.linalg.vecdot(wr, wr), logits

    def gradient(self, out: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, C = self.n, self.C
        resid = (
            (torch.sigmoid(out) - self.target) / (n * C) if self.multilabel else (out.exp() - self.target) / n
        )
        return (resid.view(self.K * C, n) @ self.x1).view(self.K, self.D) + self.lam.unsqueeze(1) * (
            w * self.reg
        )

    def heads(self, w: torch.Tensor) -> list[torch.nn.Linear]:
        w = w.view(self.K, self.C, self.d + 1)
        heads = []
        for i in range(self.K):
            head = torch.nn.Linear(self.d, self.C, dtype=self.dt, device=w.device).requires_grad_(False)
            with torch.no_grad():
                head.weight.copy_(w[i, :, : self.d])
                head.bias.copy_(w[i, :, self.d])
            heads.append(head)
        return heads


class CurvatureRing:
    """L-BFGS curvature pairs shared by the grid. A value that made no pair in a step stores
    rho = 0, which the two-loop recursion skips exactly; gamma is 0 until a value's first pair."""

    def __init__(self, history: int, K: int, D: int, dt: torch.dtype, device=None):
        self.S = torch.zeros(history, K, D, dtype=dt, device=device)
        self.Y = torch.zeros(history, K, D, dtype=dt, device=device)
        self.rho = torch.zeros(history, K, dtype=dt, device=device)
        self.gamma = torch.zeros(K, dtype=dt, device=device)
        self.history, self.filled, self.head = history, 0, 0

    def direction(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two-loop recursion's search direction q and the slope g·q (steepest descent, scaled,
        where q is not a descent direction or no pair exists yet)."""
        S, Y, rho = self.S, self.Y, self.rho
        order = [(self.head - 1 - i) % self.history for i in range(self.filled)]
        q = -g
        alphas = []
        for j in order:
            a = rho[j] * torch.linalg.vecdot(S[j], q)
            q = torch.addcmul(q, a.unsqueeze(1), Y[j], value=-1.0)
            alphas.append(a)
        first = (1.0 / g.abs().sum(1).clamp_min(1e-30)).clamp(max=1.0)
        q = q * torch.where(self.gamma > 0, self.gamma, first).unsqueeze(1)
        for j, a in zip(reversed(order), reversed(alphas)):
            q = torch.addcmul(q, (a - rho[j] * torch.linalg.vecdot(Y[j], q)).unsqueeze(1), S[j])
        # unconditionally: asking whether any value needs the fallback would make the host wait
        # for a GPU every iteration; where none does, this gives back q and g·q to the bit
        bad = torch.linalg.vecdot(g, q) >= 0
        q = torch.where(bad.unsqueeze(1), -g * first.unsqueeze(1), q)
        return q, torch.linalg.vecdot(g, q)

    def push(self, step: torch.Tensor, yv: torch.Tensor, active: torch.Tensor) -> None:
        sy = torch.linalg.vecdot(step, yv)
        upd = (sy > 1e-10) & active
        um = upd.unsqueeze(1).to(step.dtype)
        self.S[self.head] = step * um
        self.Y[self.head] = yv * um
        self.rho[self.head] = torch.where(upd, 1.0 / sy.clamp_min(1e-30), torch.zeros_like(sy))
        self.gamma = torch.where(upd, sy / torch.linalg.vecdot(yv, yv).clamp_min(1e-30), self.gamma)
        self.head = (self.head + 1) % self.history
        self.filled = min(self.filled + 1, self.history)


def backtrack(obj: LogRegGridObjective, w, q, f, out, gtp, active):
    """Armijo backtracking for every grid value at once: halve a value's step until its sufficient
    decrease holds (at most 40 halvings). Returns (steps, new losses, new link outputs, failed)."""
    t = active.to(obj.dt)
    pending = active.clone()
    f_new, out_new = f, out
    for _ in range(40):
        f_try, out_try = obj.evaluate(torch.addcmul(w, t.unsqueeze(1), q))
        accepted = pending & (f_try <= f + 1e-4 * t * gtp)
        f_new = torch.where(accepted, f_try, f_new)  # each value keeps its accepted trial point
        out_new = torch.where(accepted.view(obj.K, 1, 1), out_try, out_new)
        pending = pending & ~accepted
        if not bool(pending.any()):
            break
        t = torch.where(pending, t * 0.5, t)
    t = torch.where(pending, torch.zeros_like(t), t)  # no decrease found: that value stops
    return t, f_new, out_new, pending


def fit_logreg_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    task: TaskSpec,
    l2_grid,
    max_iter: int = 200,
    tol_grad: float = 1e-6,
    history: int = 10,
    tol_change: float = 1e-9,
) -> list[torch.nn.Linear]:
    """Logistic regression with L2 penalty l2/2·|W|², one head per value of `l2_grid`, fitted
    together: full-batch L-BFGS (two-loop recursion, `history` pairs, Armijo backtracking) batched
    over the grid, so every iteration is two GEMMs for all values; gradients are analytic.

    Batched instead of `torch.optim.LBFGS` per value: its per-iteration Python cost dominated the
    evaluation time. Up to 200 iterations: fewer left weakly regularised values short of their
    optimum and moved the val selection. Every value is carried through every iteration (a
    converged one takes zero steps), so the loop has no gathers or scatters."""
    obj = LogRegGridObjective(x, y, task, list(l2_grid))
    w = torch.zeros(obj.K, obj.D, dtype=obj.dt, device=obj.device)
    f, out = obj.evaluate(w)
    g = obj.gradient(out, w)
    ring = CurvatureRing(history, obj.K, obj.D, obj.dt, obj.device)
    active = g.abs().amax(1) > tol_grad
    for _ in range(max_iter):
        if not bool(active.any()):
            break
        q, gtp = ring.direction(g)
        q = q * active.unsqueeze(1)
        t, f_new, out_new, pending = backtrack(obj, w, q, f, out, gtp, active)
        step = t.unsqueeze(1) * q
        w = w + step
        g_new = obj.gradient(out_new, w)
        ring.push(step, g_new - g, active)
        done = (g_new.abs().amax(1) <= tol_grad) | ((f - f_new).abs() < tol_change) | pending
        f, out, g = f_new, out_new, g_new
        active = active & ~done
    return obj.heads(w)


class LinearHead:
    """Standardise with train statistics, fit multinomial logistic regression for each L2 in the
    grid, keep the one with the best val score. `logits(x)` / `probs(x)` apply it to any features."""

    def __init__(self, train_x, train_y, val_x, val_y, task: TaskSpec, l2_grid=L2_GRID):
        self.task = task
        self.mean = train_x.mean(0, keepdim=True)
        self.std = train_x.std(0, keepdim=True).nan_to_num(1.0).clamp_min(1e-6)
        tr, va = self._norm(train_x), self._norm(val_x)
        best = None
        self.val_scores: list[float] = []  # per grid value, in grid order (ties keep the first)
        for l2, head in zip(l2_grid, fit_logreg_grid(tr, train_y, task, l2_grid)):
            with torch.no_grad():
                score = selection_score(probabilities(head(va), task), val_y, task)
            self.val_scores.append(float(score))
            if best is None or score > best[0] + 1e-12:
                best = (score, l2, head)
        self.val_score, self.l2, self.head = best

    def _norm(self, x):
        # float32: on standardised features the val-selected L2 and the probe's accuracy match
        # float64 (FMNIST features, 30-3000 labels: val scores equal to ±0.003) at ~1.5x the speed
        return ((x - self.mean) / self.std).float()

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._norm(x)).float()

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return probabilities(self.logits(x), self.task)


def linear_probe(
    train_x, train_y, val_x, val_y, test_x, test_y, task: TaskSpec, l2_grid=L2_GRID
) -> ProbeResult:
    return head_result(LinearHead(train_x, train_y, val_x, val_y, task, l2_grid), test_x, test_y)


def head_result(head: LinearHead, test_x, test_y) -> ProbeResult:
    """Score an already selected linear head on test (once)."""
    logits = head.logits(test_x)
    probs = probabilities(logits, head.task)
    return ProbeResult(
        classification_metrics(probs, test_y, head.task), {"l2": head.l2}, head.val_score, probs, logits
    )


KNN_K = 20


def knn_k(bank_size: int, k: int = KNN_K) -> int:
    """The number of neighbours: never more than the labelled bank holds."""
    return max(1, min(k, bank_size))


def nearest(sim: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest similarities per row and their bank indices. Where neighbours tie at the k-th
    similarity, the lower bank indices are taken (topk's choice among ties is unspecified): such
    rows are re-selected with a stable sort; other rows keep topk's result unchanged."""
    val, idx = sim.topk(k, dim=1)
    kth = val[:, -1:]
    straddle = (sim == kth).sum(1) > (val == kth).sum(1)  # a tie crosses the k boundary
    if bool(straddle.any()):
        rows = torch.nonzero(straddle).flatten()
        order = torch.sort(sim[rows], dim=1, descending=True, stable=True).indices[:, :k]
        idx[rows] = order
        val[rows] = sim[rows].gather(1, order)
    return val, idx


def knn_scores(
    bank_x, bank_y, query_x, task: TaskSpec, k: int = KNN_K, temperature: float = 0.07, chunk: int = 2048
) -> torch.Tensor:
    """Similarity-weighted kNN class scores, normalised to sum to 1 (per label for multi-label)."""
    bank = F.normalize(bank_x.float(), dim=1)
    k = knn_k(bank.shape[0], k)
    bank_y = bank_y.to(bank.device)
    onehot = bank_y.float() if task.multilabel else F.one_hot(bank_y, task.num_classes).float()
    out = []
    for q in torch.split(F.normalize(query_x.float(), dim=1), chunk):
        sim, idx = nearest(q @ bank.t(), k)
        w = torch.exp(sim / temperature)
        votes = (w.unsqueeze(-1) * onehot[idx]).sum(1)
        out.append(votes / w.sum(1, keepdim=True))
    return torch.cat(out)


def knn_probe(
    train_x, train_y, val_x, val_y, test_x, test_y, task: TaskSpec, k: int = KNN_K, temperature: float = 0.07
) -> ProbeResult:
    val_score = selection_score(knn_scores(train_x, train_y, val_x, task, k, temperature), val_y, task)
    probs = knn_scores(train_x, train_y, test_x, task, k, temperature)
    used = knn_k(len(train_x), k)
    return ProbeResult(
        classification_metrics(probs, test_y, task), {"k": used, "temperature": temperature}, val_score, probs
    )


# Probes by name. Feature probes take (train_x, train_y, val_x, val_y, test_x, test_y, task); a probe
# marked `needs_model` (fine-tune, registered in its own module) takes (ctx, fraction).
PROBES: Registry[Callable] = Registry("probe")
PROBES.register(linear_probe, name="linear")
PROBES.register(knn_probe, name="knn")
