"""The labelled rows a semi-supervised step is given (`Method.batch_rows`, issue #32): the pretraining
loop finds them in its host copy of the labels, so on a GPU the step sizes its labelled and
unlabelled parts without reading `y` back. A step given them must equal, to the bit, the step that
reads them from `y` (what CPU runs did before), and the loop must give each step its own batch's."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from benchmark.core.specs import InputSpec, TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import Split
from methods.base import METHODS, LabelledRows, labelled_mask
from tests._protocol_toys import ToyA
from tests.methods.test_methods_smoke import SPECS, _build

SEMI = ["fixmatch", "mean_teacher", "mixmatch"]


def test_rows_are_the_labelled_and_unlabelled_indices_in_order():
    rows = LabelledRows.of(torch.tensor([2, -1, 0, -1, 1]))
    assert rows.labelled.tolist() == [0, 2, 4] and rows.unlabelled.tolist() == [1, 3]
    assert rows.count == 3
    multilabel = torch.tensor([[1, 0], [-1, -1], [0, 0]])
    assert LabelledRows.of(multilabel).labelled.tolist() == [0, 2]
    assert labelled_mask(multilabel).tolist() == [True, False, True]


def test_a_step_reads_its_rows_from_y_when_the_loop_gave_none_or_another_batchs():
    m = _build("mixmatch", SPECS["tabular"], TaskSpec(3))
    y = torch.tensor([0, -1, 2, -1])
    assert m.labelled_rows(y).labelled.tolist() == [0, 2]
    m.batch_rows = LabelledRows.of(torch.tensor([-1, 1, 1, -1, -1, -1]))  # six rows: not this batch
    assert m.labelled_rows(y).labelled.tolist() == [0, 2]
    mine = LabelledRows.of(y.clone())
    m.batch_rows = mine
    assert m.labelled_rows(y) is mine


class _NodeEncoder(nn.Module):
    """An encoder of non-tensor batches (as graph batches are), so MixMatch mixes features."""

    out_dim = 8

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(7, self.out_dim)

    def forward(self, b):
        return self.lin(b.x)


def _one_step(name, x, y, multilabel, given_rows, graph=False):
    task = TaskSpec(3, multilabel=multilabel)
    torch.manual_seed(0)
    if graph:
        m = METHODS[name](_NodeEncoder(), InputSpec("tabular", (7,)), task).train()
    else:
        m = _build(name, SPECS["tabular"], task).train()
    if given_rows:
        m.batch_rows = LabelledRows.of(y.clone())  # the loop's: from its own copy of the labels
    g = torch.Generator().manual_seed(1)

    def view(t, policy=None):
        if graph:
            return SimpleNamespace(x=t.x + 0.1 * torch.randn(t.x.shape, generator=g))
        return t + 0.1 * torch.randn(t.shape, generator=g)

    torch.manual_seed(2)  # MixMatch's λ and permutation come from the global generator
    loss = m.training_step(x, y, view)
    loss.backward()
    return loss.detach(), {k: p.grad for k, p in m.named_parameters() if p.grad is not None}


LABELS = {
    "some": torch.tensor([0, -1, 2, -1, -1, 1, 2, -1]),
    "none": torch.full((8,), -1),
    "all": torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]),
    "multilabel": torch.tensor([[1, 0, 1], *[[-1] * 3] * 3, [0, 1, 1], [0, 0, 1], *[[-1] * 3] * 2]),
}


@pytest.mark.parametrize("labels", list(LABELS))
@pytest.mark.parametrize("name", SEMI)
def test_a_step_given_the_hosts_rows_equals_the_step_that_reads_them(name, labels):
    y = LABELS[labels]
    x = torch.randn(8, 7, generator=torch.Generator().manual_seed(3))
    read_loss, read_grads = _one_step(name, x, y, labels == "multilabel", given_rows=False)
    given_loss, given_grads = _one_step(name, x, y, labels == "multilabel", given_rows=True)
    assert torch.equal(read_loss, given_loss)
    assert read_grads.keys() == given_grads.keys() and read_grads
    for k in read_grads:
        assert torch.equal(read_grads[k], given_grads[k]), k


@pytest.mark.parametrize("labels", ["some", "none", "all"])
def test_mixmatch_on_non_tensor_batches_mixes_features_the_same_either_way(labels):
    y = LABELS[labels]
    b = SimpleNamespace(x=torch.randn(8, 7, generator=torch.Generator().manual_seed(3)))
    read = _one_step("mixmatch", b, y, False, given_rows=False, graph=True)
    given = _one_step("mixmatch", b, y, False, given_rows=True, graph=True)
    assert torch.equal(read[0], given[0]) and torch.isfinite(read[0])
    for k in read[1]:
        assert torch.equal(read[1][k], given[1][k]), k


class _Spy(METHODS["mixmatch"]):
    """MixMatch that records, at each step, the rows it was given and the labels it got."""

    name = "mixmatch_spy"

    def __init__(self, *a, fail_at=None, **k):
        super().__init__(*a, **k)
        self.seen, self.fail_at = [], fail_at

    def training_step(self, x, y, view):
        self.seen.append((self.batch_rows, y.clone()))
        if len(self.seen) == self.fail_at:
            raise RuntimeError("step failed")
        return super().training_step(x, y, view)


def _spy_run(fail_at=None):
    adapter = ToyA()
    train = adapter.splits()["train"]
    labels = train.labels.clone()
    labels[40:] = -1
    torch.manual_seed(0)
    m = _Spy(encoder_for(adapter), adapter.spec, adapter.task, fail_at=fail_at)
    cfg = PretrainConfig(epochs=2, batch_size=32, lr=1e-3, weight_decay=0.0, seed=0, labelled_share=0.25)
    try:
        pretrain(m, adapter, Split(train.inputs, labels), torch.arange(400), cfg)
    except RuntimeError:
        pass
    return m


def test_the_loop_gives_each_step_the_rows_of_its_own_batch_and_takes_them_back(one_thread):
    m = _spy_run()
    assert len(m.seen) == 2 * (400 // 32)
    for rows, y in m.seen:
        assert rows is not None
        assert torch.equal(rows.labelled, labelled_mask(y).nonzero().flatten())
        assert torch.equal(rows.unlabelled, (~labelled_mask(y)).nonzero().flatten())
    assert {rows.count for rows, _ in m.seen} != {8}  # the pool's part holds labelled samples too
    assert m.batch_rows is None
    assert _spy_run(fail_at=3).batch_rows is None  # a failed step does not leave its rows behind
