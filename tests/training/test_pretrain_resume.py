"""An interrupted pretraining run resumes where it stopped. Equal final weights cannot tell resuming
from retraining (a rerun from epoch 0 is deterministic too), so this checks the work done: after
the interruption only the remaining epochs' steps run, the history recorded before it is kept, and
the step counter continues."""

import pytest
import torch
from torch import nn

from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import PretrainConfig, pretrain
from methods.base import Method
from tests._protocol_toys import ToyA

EPOCHS, BATCH = 4, 50  # 400 samples: 8 steps per epoch


class _Counting(Method):
    name = "counting"
    family = "test"

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.proj = nn.Linear(encoder.out_dim, 16)
        self.calls = 0

    def training_step(self, x, y, view):
        self.calls += 1
        z1, z2 = self.proj(self.encoder(view(x))), self.proj(self.encoder(view(x)))
        return (z1 - z2).pow(2).mean() - 0.01 * z1.std(0).mean()


class _Stop(Exception):
    pass


def _run(ckpt, on_epoch=None):
    adapter = ToyA()
    split = adapter.splits()["train"]
    torch.manual_seed(0)
    m = _Counting(encoder_for(adapter), adapter.spec, TaskSpec(4))
    cfg = PretrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=1e-3, weight_decay=0.0, seed=0)
    history = pretrain(m, adapter, split, torch.arange(400), cfg, checkpoint=ckpt, on_epoch=on_epoch)
    return m, history


def test_resume_trains_only_the_remaining_epochs_and_keeps_the_history(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ckpt = tmp_path / "pretrain.pt"
        seen = []

        def stop_after_two(epoch, record):
            seen.append((epoch, dict(record)))
            if epoch == 2:
                raise _Stop

        with pytest.raises(_Stop):
            _run(ckpt, stop_after_two)
        assert ckpt.exists() and [e for e, _ in seen] == [1, 2]
        before = [r for _, r in seen]

        resumed_epochs = []
        m, history = _run(ckpt, lambda epoch, record: resumed_epochs.append(epoch))
        steps_per_epoch = 400 // BATCH
        assert m.calls == (EPOCHS - 2) * steps_per_epoch  # only epochs 3 and 4 ran
        assert resumed_epochs == [3, 4]
        assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3, 4]
        assert history["epochs"][:2] == before  # the records from before the interruption, as they were
        assert history["steps"] == EPOCHS * steps_per_epoch

        # a finished run resumed again trains nothing and returns the same history
        m2, again = _run(ckpt)
        assert m2.calls == 0 and again["epochs"] == history["epochs"]

        # and the resumed weights are those of an uninterrupted run
        full, _ = _run(None)
        for k, v in full.state_dict().items():
            assert torch.equal(v, m.state_dict()[k]), k
    finally:
        torch.set_num_threads(threads)
