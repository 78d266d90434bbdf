"""How the pretraining loop composes batches for semi-supervised methods (`labelled_share`)."""

import torch
from torch import nn

from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import PretrainConfig, pretrain
from methods.base import Method
from tests._protocol_toys import ToyA


class _Recorder(Method):
    name = "recorder"
    family = "semi_supervised"
    uses_labels = True
    semi_supervised = True

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)
        self.seen: list[torch.Tensor] = []

    def training_step(self, x, y, view):
        self.seen.append(y.clone())
        logits = self.head(self.encoder(view(x)))
        if not (y >= 0).any():
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits[y >= 0], y[y >= 0])


class _Stop(Exception):
    pass


def _stop_after(n):
    def on_epoch(epoch, record):
        if epoch == n:
            raise _Stop

    return on_epoch


def _run(share, tmp_path=None, epochs=3, on_epoch=None):
    adapter = ToyA()
    train = adapter.splits()["train"]
    masked = train.labels.clone()
    masked[20:] = -1  # 20 labelled samples of 400
    from datasets.base import Split

    split = Split(train.inputs, masked)
    torch.manual_seed(0)
    m = _Recorder(encoder_for(adapter), adapter.spec, TaskSpec(4))
    cfg = PretrainConfig(
        epochs=epochs, batch_size=32, lr=1e-3, weight_decay=0.0, seed=0, labelled_share=share
    )
    ckpt = None if tmp_path is None else tmp_path / "semi.pt"
    pretrain(m, adapter, split, torch.arange(400), cfg, checkpoint=ckpt, on_epoch=on_epoch)
    return m


def test_labelled_share_puts_that_many_labelled_samples_in_every_batch():
    m = _run(0.25)
    assert len(m.seen) == 3 * (400 // 32)
    for y in m.seen:
        assert len(y) == 32
        assert (y[:8] >= 0).all()  # 25 % of 32 from the labelled stream
    # every labelled sample comes round equally often (permutations, not independent draws)
    # and without the share a batch holds about the label fraction (5 %) only
    plain = _run(None)
    assert sum(int((y >= 0).sum()) for y in plain.seen) < 0.2 * sum(int((y >= 0).sum()) for y in m.seen)


def test_labelled_share_run_resumes_bit_identically(tmp_path):
    import pytest

    full = _run(0.25, epochs=3)
    with pytest.raises(_Stop):  # interrupted after epoch 2 (its checkpoint is written) ...
        _run(0.25, tmp_path, epochs=3, on_epoch=_stop_after(2))
    resumed = _run(0.25, tmp_path, epochs=3)  # ... and continued from it
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
