import torch

from benchmark.evaluation.fractions import label_fraction_subset, stratified_subset


def _labels():
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.full((n,), c) for c, n in enumerate([500, 300, 120, 7, 1])])[
        torch.randperm(928, generator=g)
    ]


def test_subsets_are_identical_for_every_caller_and_differ_by_seed():
    y = _labels()
    a = label_fraction_subset(y, 0.1, "fashion_mnist", 0)
    b = label_fraction_subset(y.clone(), 0.1, "fashion_mnist", 0)
    assert torch.equal(a, b)
    assert not torch.equal(a, label_fraction_subset(y, 0.1, "fashion_mnist", 1))
    assert not torch.equal(a, label_fraction_subset(y, 0.1, "breastmnist", 0))


def test_subsets_are_stratified_with_one_per_class():
    y = _labels()
    for f in (0.01, 0.1):
        sub = label_fraction_subset(y, f, "d", 2)
        counts = torch.bincount(y[sub], minlength=5)
        full = torch.bincount(y, minlength=5)
        assert (counts >= 1).all(), counts
        for c in range(5):
            assert counts[c] == max(1, round(f * int(full[c])))
        assert len(torch.unique(sub)) == len(sub)
    assert torch.equal(label_fraction_subset(y, 1.0, "d", 0), torch.arange(len(y)))


def test_pool_cap_keeps_proportions():
    y = _labels()
    sub = stratified_subset(y, 200, "d", "train")
    counts = torch.bincount(y[sub], minlength=5)
    assert abs(len(sub) - 200) <= 5
    assert abs(int(counts[0]) - round(200 * 500 / 928)) <= 1
    assert torch.equal(sub, stratified_subset(y, 200, "d", "train"))
