"""Methods whose loss depends on training progress (DINO's teacher-temperature warm-up, Mean Teacher's
and MixMatch's consistency ramps, SwAV's queue start) read it in `on_step_start`, so the first step
after a resume sees the progress an uninterrupted run sees there, and the resumed run ends with the
same weights."""

import pytest
import torch

import methods  # noqa: F401  (registers every method)
from benchmark.models.encoders import encoder_for
from benchmark.training.pretrain import PretrainConfig, pretrain
from datasets.base import Split
from methods.base import METHODS
from tests._protocol_toys import ToyA

# hyper-parameters that make each method's progress matter within a 2-epoch toy run
PROGRESS_HP = {
    "dino": {"warmup_frac": 0.9},
    "mean_teacher": {"rampup_frac": 1.0},
    "mixmatch": {"rampup_frac": 1.0},
    "swav": {"queue_size": 64, "queue_start_frac": 0.6},
}


class _Stop(Exception):
    pass


def _run(name, ckpt, stop_after=None):
    cls = METHODS[name]
    adapter = ToyA()
    train = adapter.splits()["train"]
    labels, share = train.labels.clone(), None
    if getattr(cls, "semi_supervised", False):
        labels[40:] = -1
        share = 0.25
    torch.manual_seed(0)
    m = cls(encoder_for(adapter), adapter.spec, adapter.task, **PROGRESS_HP[name])
    seen = []
    real = m.training_step

    def recording(x, y, view):
        seen.append((m._step, m._total))
        return real(x, y, view)

    m.training_step = recording

    def on_epoch(epoch, record):
        if epoch == stop_after:
            raise _Stop

    cfg = PretrainConfig(epochs=2, batch_size=50, lr=1e-3, weight_decay=0.0, seed=0, labelled_share=share)
    try:
        pretrain(
            m,
            adapter,
            Split(train.inputs, labels),
            torch.arange(400),
            cfg,
            checkpoint=ckpt,
            on_epoch=on_epoch,
        )
    except _Stop:
        pass
    return m, seen


@pytest.mark.parametrize("name", sorted(PROGRESS_HP))
def test_resumed_run_reads_the_same_progress_and_ends_with_the_same_weights(name, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        full, full_seen = _run(name, None)
        ckpt = tmp_path / "pretrain.pt"
        _, first = _run(name, ckpt, stop_after=1)
        resumed, rest = _run(name, ckpt)
    finally:
        torch.set_num_threads(threads)
    assert first + rest == full_seen
    assert rest[0][0] == len(first) > 0  # the first resumed step knows how many steps came before
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
