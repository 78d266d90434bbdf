"""The GPU sync diagnostic (`SSLBENCH_SYNC_DEBUG=1`, benchmark/training/step_syncs.py): it counts the
synchronizing operations torch reports inside training steps, per epoch and by source line, and
is off, changing nothing, unless asked for on a CUDA run. torch's CUDA switch is replaced here by a
recorder, and a step that syncs stands in for one by raising torch's warning."""

import warnings

import pytest
import torch
from torch import nn

from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training import pretrain as P
from benchmark.training import step_syncs as S
from benchmark.training.pretrain import PretrainConfig, pretrain
from methods.base import Method
from tests._protocol_toys import ToyA


@pytest.fixture
def cuda_mode(monkeypatch):
    """torch.cuda's sync debug switch, recorded instead of set (no GPU here)."""
    modes = [0]
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: modes[-1])
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", lambda m: modes.append({"warn": 1}.get(m, m)))
    return modes


def _sync():
    warnings.warn(S.SYNC_WARNING, UserWarning)


def test_it_is_on_only_for_a_cuda_run_that_asks(monkeypatch):
    monkeypatch.delenv(S.ENV, raising=False)
    assert not S.StepSyncs.for_device("cuda").on
    monkeypatch.setenv(S.ENV, "1")
    assert S.StepSyncs.for_device(torch.device("cuda")).on
    assert not S.StepSyncs.for_device("cpu").on
    off = S.StepSyncs.for_device("cpu")
    with pytest.warns(UserWarning, match=S.SYNC_WARNING), off.step():
        _sync()  # not listened to: it reaches the caller like any warning
    assert off.count == 0 and off.epoch_record() == {}


def test_a_step_counts_its_syncs_by_line_and_passes_other_warnings_on(cuda_mode):
    watch = S.StepSyncs(True)
    with pytest.warns(DeprecationWarning, match="an ordinary warning"):
        with watch.step():
            assert cuda_mode[-1] == 1  # "warn" for the length of the step
            for _ in range(3):
                _sync()
            warnings.warn("an ordinary warning", DeprecationWarning)
    assert cuda_mode[-1] == 0  # and back to what it was
    line = _sync.__code__.co_firstlineno + 1
    assert watch.epoch_record() == {
        "host_syncs": 3,
        "host_sync_sites": {f"tests/training/test_step_syncs.py:{line}": 3},
    }
    assert watch.epoch_record() == {"host_syncs": 0, "host_sync_sites": {}}  # a new epoch from zero
    with pytest.raises(RuntimeError), watch.step():
        raise RuntimeError("a failed step")
    assert cuda_mode[-1] == 0


class _SyncsEveryOtherStep(Method):
    name = "syncs_every_other_step"
    family = "test"

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.proj, self.calls = nn.Linear(encoder.out_dim, 4), 0

    def training_step(self, x, y, view):
        self.calls += 1
        if self.calls % 2:
            _sync()
        return (self.proj(self.encoder(view(x))) - self.proj(self.encoder(view(x)))).pow(2).mean()


def _run(monkeypatch, on: bool):
    monkeypatch.setattr(P.StepSyncs, "for_device", classmethod(lambda cls, device: cls(on)))
    adapter = ToyA()
    torch.manual_seed(0)
    m = _SyncsEveryOtherStep(encoder_for(adapter), adapter.spec, TaskSpec(4))
    cfg = PretrainConfig(epochs=2, batch_size=50, lr=1e-3, weight_decay=0.0, seed=0)
    return pretrain(m, adapter, adapter.splits()["train"], torch.arange(400), cfg)


def test_each_epoch_of_a_run_records_its_steps_syncs(monkeypatch, cuda_mode, one_thread):
    on = _run(monkeypatch, True)
    assert [e["host_syncs"] for e in on["epochs"]] == [4, 4]  # 8 steps an epoch, every other one syncs
    assert all(list(e["host_sync_sites"].values()) == [4] for e in on["epochs"])
    with pytest.warns(UserWarning, match=S.SYNC_WARNING):
        off = _run(monkeypatch, False)
    assert all("host_syncs" not in e for e in off["epochs"])
    assert [e["loss"] for e in off["epochs"]] == [e["loss"] for e in on["epochs"]]
