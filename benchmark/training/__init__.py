"""The pretraining loop, its budgets, checkpoints and distributed pieces."""
