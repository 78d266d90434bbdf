"""The fine-tune probe trains a copy: the frozen model every other probe reads is unchanged after it;
and it scores test with the weights of the epoch val chose, not with the last epoch's."""

import copy

import pytest
import torch

from benchmark.core.specs import TaskSpec
from benchmark.evaluation import finetune as ft
from benchmark.models.encoders import encoder_for
from methods.references import RandomInit
from tests._protocol_toys import ToyA


@pytest.fixture(scope="module")
def toy():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny problem: one thread is faster on a loaded 2-core machine
    adapter = ToyA()
    splits = adapter.splits()
    torch.manual_seed(0)
    method = RandomInit(encoder_for(adapter), adapter.spec, TaskSpec(4))
    yield adapter, splits, method
    torch.set_num_threads(threads)


def _run(toy, epochs):
    adapter, s, method = toy
    return ft.finetune(
        method,
        adapter,
        TaskSpec(4),
        s["train"],
        torch.arange(0, 400, 10),  # 40 labelled samples
        s["val"],
        torch.arange(60),
        s["test"],
        torch.arange(80),
        torch.device("cpu"),
        seed=0,
        epochs=epochs,
    )


def test_finetune_leaves_the_frozen_model_untouched(toy):
    method = toy[2]
    method.train()  # whatever mode the caller left it in is kept too
    before = copy.deepcopy(method.state_dict())
    res = _run(toy, epochs=2)
    after = method.state_dict()
    assert set(after) == set(before)
    for k, v in before.items():  # weights and BatchNorm running statistics alike
        assert torch.equal(v, after[k]), k
    assert method.training
    assert 0.0 <= res.metrics["accuracy"] <= 1.0


def test_finetune_scores_test_with_the_best_val_epoch_not_the_last(toy, monkeypatch):
    # Val scores scripted so that epoch 1 is best and later epochs are worse: the selected weights
    # must be epoch 1's, which differ from the last epoch's (the encoder and head keep training).
    scripted = iter([0.9, 0.1, 0.2, 0.3])
    monkeypatch.setattr(ft, "selection_score", lambda probs, y, task: next(scripted))
    snapshots = []
    real_predict = ft._predict

    def predict(m, head, adapter, split, index, device, task, batch=512):
        state = {**{f"m.{k}": v.clone() for k, v in m.state_dict().items()}}
        state.update({f"head.{k}": v.clone() for k, v in head.state_dict().items()})
        snapshots.append(state)
        return real_predict(m, head, adapter, split, index, device, task, batch)

    monkeypatch.setattr(ft, "_predict", predict)
    res = _run(toy, epochs=4)
    assert res.selected == {"epoch": 1} and res.val_score == pytest.approx(0.9)
    assert len(snapshots) == 5  # 4 val evaluations, then test once
    at_test, epoch1, last = snapshots[4], snapshots[0], snapshots[3]
    assert any(not torch.equal(epoch1[k], last[k]) for k in epoch1)  # the two candidates differ
    for k in epoch1:
        assert torch.equal(at_test[k], epoch1[k]), k
