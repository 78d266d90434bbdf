"""Training budgets derived by rule from the SSL budget, so references never get more steps."""

from __future__ import annotations

from benchmark.training.pretrain import epochs_for_steps


def supervised_budget(ssl_epochs: int, pool_size: int, labelled: int, hp: dict) -> tuple[int, int]:
    """(steps, epochs) of a label-using reference on `labelled` samples: `epochs_over_labels`
    passes over them (≥ 50 steps), never more steps than an SSL method gets on the whole pool."""
    bs = min(hp["batch_size"], pool_size)
    ssl_steps = ssl_epochs * max(1, pool_size // bs)
    bs_sub = min(hp["batch_size"], labelled)
    steps = min(ssl_steps, max(50, (labelled // bs_sub) * hp["epochs_over_labels"]))
    return steps, epochs_for_steps(steps, labelled, bs_sub)
