"""The collapse rule of docs/design.md §3.10 on the monitor's stats (collapse_stats)."""

import pytest
import torch

from benchmark.training.pretrain import (
    CollapseFault,
    collapse_reason,
    collapse_stats,
    raise_if_collapsed,
    rankme,
)


def test_issue_case_is_collapsed_healthy_runs_are_not():
    # lr 1000: RankMe 1.63 of 128 dimensions with a per-dimension std of 0.0023 finished as "done"
    assert "rankme 1.63 < 2" in collapse_reason({"embedding_std": 0.0023, "rankme": 1.63, "dim": 128})
    # the lowest RankMe of a healthy label-free run in the quick suite is ~14 (SimCLR, 128-d)
    assert collapse_reason({"embedding_std": 0.026, "rankme": 13.7, "dim": 128}) is None
    # complete collapse is caught by the std alone, whatever the rank says
    assert "std" in collapse_reason({"embedding_std": 5e-5, "rankme": 30.0, "dim": 128})


def test_floor_grows_with_the_dimension_and_label_trained_encoders_are_exempt():
    assert collapse_reason({"embedding_std": 0.01, "rankme": 4.0, "dim": 512}) == (
        "rankme 4.00 < 5.12 (of 512 dimensions)"
    )
    assert collapse_reason({"embedding_std": 0.01, "rankme": 4.0, "dim": 128}) is None
    # supervised on a binary task at 1 % labels: RankMe ≈ 2 is neural collapse, not a failure
    assert collapse_reason({"embedding_std": 0.077, "rankme": 1.99, "dim": 128}, uses_labels=True) is None
    assert collapse_reason({"embedding_std": 5e-5, "rankme": 1.0, "dim": 128}, uses_labels=True)
    # epochs the monitor skipped carry no stats; checkpoints from before `dim` was recorded keep the std rule
    assert collapse_reason({"loss": 1.0}) is None
    assert collapse_reason({"embedding_std": 0.01, "rankme": 1.2}) is None


def test_raise_if_collapsed_keeps_the_stats_for_the_store():
    history = {"epochs": [{"epoch": 3, "loss": 4.8, "embedding_std": 0.0023, "rankme": 1.63, "dim": 128}]}
    with pytest.raises(CollapseFault, match="representation collapsed: rankme 1.63") as e:
        raise_if_collapsed(history)
    assert e.value.stats == {
        "epoch": 3,
        "embedding_std": 0.0023,
        "rankme": 1.63,
        "dim": 128,
        "reason": "rankme 1.63 < 2 (of 128 dimensions)",
    }
    raise_if_collapsed({"epochs": []})  # nothing trained, nothing to judge


def test_rankme_of_rank_one_and_isotropic_embeddings():
    g = torch.Generator().manual_seed(0)
    assert rankme(torch.randn(256, 1, generator=g) @ torch.randn(1, 64, generator=g)) < 1.01
    assert rankme(torch.randn(4096, 64, generator=g)) > 55


class _FixedEmbeddings(torch.nn.Module):
    """A 'method' whose embeddings are given: what the monitor sees, without training anything."""

    def __init__(self, z):
        super().__init__()
        self.z = z

    def embed(self, index):
        return self.z[index]


class _IndexAdapter:
    def batch(self, split, index):
        return index

    def prepare(self, x, device):
        return x


def test_monitor_centres_before_rankme_so_a_shared_offset_is_not_collapse():
    # a mean-pooled token encoder: a large offset every sample shares, plus variation in many
    # directions (MAE/JEPA on ECG200 looked like this and were flagged at epoch 1)
    g = torch.Generator().manual_seed(0)
    offset = 500 * torch.randn(1, 128, generator=g)
    spread = torch.randn(512, 128, generator=g)
    index = torch.arange(512)
    stats = collapse_stats(_FixedEmbeddings(offset + spread), _IndexAdapter(), None, index, "cpu")
    assert rankme(offset + spread) < 2 < stats["rankme"]
    assert collapse_reason(stats) is None
    # the same offset with variation along one direction only is still dimensional collapse
    line = torch.randn(512, 1, generator=g) @ torch.randn(1, 128, generator=g)
    stats = collapse_stats(_FixedEmbeddings(offset + line), _IndexAdapter(), None, index, "cpu")
    assert "rankme" in collapse_reason(stats)
    # and one point for every sample is complete collapse, whatever centring does to the rank
    stats = collapse_stats(_FixedEmbeddings(offset.expand(512, -1)), _IndexAdapter(), None, index, "cpu")
    assert "std" in collapse_reason(stats)
