"""The pretraining loop does not make the host wait for the device inside an epoch (issue #32): the
loss stays on the device and is read, and checked for NaN/inf, only at sync points (epoch end, or
every `sync_every` steps). A non-finite loss still fails the job, naming the epoch and the first bad
step, and the epoch that contains it is never checkpointed, so a rerun resumes from the last good
epoch.

On CPU a host read costs nothing, so the sync-freedom test counts the calls that would wait for a
GPU (`.item()`, `float(t)`, `bool(t)`, `.tolist()`, `.cpu()`, …) while `_Trainer.step` runs."""

import collections

import pytest
import torch
from torch import nn

import methods  # noqa: F401  (registers every method)
from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training import pretrain as P
from benchmark.training.pretrain import PretrainConfig, TrainingFault, pretrain
from datasets.base import Split
from methods.base import METHODS, Method
from tests._protocol_toys import ToyA

HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")

# Methods whose training step still reads a tensor on the host, and why. The test checks that each
# of them does read (remove a method from here once its step is sync-free).
SYNCS_IN_STEP = {
    "mixmatch": "the Beta mixing weight is drawn on the host (a host scalar, no GPU wait)",
    "jepa": "block masks are drawn on the host from the CPU view generator (host scalars, no GPU wait)",
}


def _training_methods():
    return sorted(
        n for n in METHODS if getattr(METHODS[n], "trains", True) and METHODS[n].supports(ToyA.spec)
    )


class _HostReads:
    """Counts host reads of tensors made while `_Trainer.step` runs (and only then)."""

    def __init__(self, monkeypatch):
        self.calls: collections.Counter = collections.Counter()
        self.active = False
        for name in HOST_READS:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))
        real = P._Trainer.step

        def step(trainer, *args):
            self.active = True
            try:
                return real(trainer, *args)
            finally:
                self.active = False

        monkeypatch.setattr(P._Trainer, "step", step)

    def _wrap(self, name, fn):
        def counted(t, *args, **kwargs):
            if self.active:
                self.calls[name] += 1
            return fn(t, *args, **kwargs)

        return counted


def _toy_run(name):
    cls = METHODS[name]
    adapter = ToyA()
    train = adapter.splits()["train"]
    labels = train.labels.clone()
    share = None
    if getattr(cls, "semi_supervised", False):
        labels[40:] = -1  # 40 labelled samples of 400
        share = 0.25
    torch.manual_seed(0)
    encoder = cls.build_encoder(adapter.spec) if cls.builds_encoder else encoder_for(adapter)
    m = cls(encoder, adapter.spec, adapter.task)
    cfg = PretrainConfig(
        epochs=1, batch_size=32, lr=1e-3, weight_decay=0.0, seed=0, max_steps=3, labelled_share=share
    )
    pretrain(m, adapter, Split(train.inputs, labels), torch.arange(400), cfg)


@pytest.mark.parametrize("name", _training_methods())
def test_training_step_reads_nothing_on_the_host(name, monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reads = _HostReads(monkeypatch)
        _toy_run(name)
    finally:
        torch.set_num_threads(threads)
    if name in SYNCS_IN_STEP:
        assert reads.calls, f"{name} no longer reads on the host: remove it from SYNCS_IN_STEP"
    else:
        assert not reads.calls, f"{name}'s training step reads tensors on the host: {dict(reads.calls)}"


def test_the_sync_list_names_registered_methods():
    assert set(SYNCS_IN_STEP) <= set(_training_methods())


# ---- a non-finite loss still fails the job, and its epoch is never checkpointed ------------------
EPOCHS, BATCH = 3, 50  # 400 samples: 8 steps per epoch


class _GoesNaN(Method):
    """A healthy loss until global step `bad_step`, NaN there; later steps run on whatever the
    optimiser made of it. With `strict`, a step on non-finite weights raises (as an SVD would)."""

    name = "goes_nan"
    family = "test"

    def __init__(self, encoder, spec, task, bad_step=None, strict=False, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.proj = nn.Linear(encoder.out_dim, 8)
        self.bad_step, self.strict, self.calls = bad_step, strict, 0

    def training_step(self, x, y, view):
        if self.strict and not all(torch.isfinite(p).all() for p in self.parameters()):
            raise RuntimeError("the algorithm failed to converge")
        z1, z2 = self.proj(self.encoder(view(x))), self.proj(self.encoder(view(x)))
        loss = (z1 - z2).pow(2).mean() - 0.01 * z1.std(0).mean()
        bad = self.calls == self.bad_step
        self.calls += 1
        return loss * float("nan") if bad else loss


def _run(ckpt, bad_step=None, sync_every=None, strict=False, epochs=EPOCHS):
    adapter = ToyA()
    split = adapter.splits()["train"]
    torch.manual_seed(0)
    m = _GoesNaN(encoder_for(adapter), adapter.spec, TaskSpec(4), bad_step=bad_step, strict=strict)
    cfg = PretrainConfig(
        epochs=epochs, batch_size=BATCH, lr=1e-3, weight_decay=0.0, seed=0, sync_every=sync_every
    )
    history = pretrain(m, adapter, split, torch.arange(400), cfg, checkpoint=ckpt)
    return m, history


def test_mid_epoch_nan_fails_the_job_and_keeps_the_previous_checkpoint(tmp_path, one_thread):
    ckpt = tmp_path / "pretrain.pt"
    with pytest.raises(TrainingFault, match=r"^non-finite loss nan at epoch 1 step 11$"):
        _run(ckpt, bad_step=11)  # epoch 1 (0-based) holds steps 8..15
    state = torch.load(ckpt, weights_only=False)
    assert state["epoch"] == 1 and state["history"]["steps"] == 8
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())

    # the checkpoint is epoch 1 of a healthy run: a rerun (the fault gone) resumes from it and ends
    # bit-identical to an uninterrupted healthy run
    resumed, history = _run(ckpt)
    full, full_history = _run(None)
    assert resumed.calls == (EPOCHS - 1) * 8  # only epochs 2 and 3 ran
    assert [r["loss"] for r in history["epochs"]] == [r["loss"] for r in full_history["epochs"]]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_sync_every_stops_at_the_first_sync_point_after_the_bad_step(tmp_path, one_thread):
    with pytest.raises(TrainingFault, match=r"^non-finite loss nan at epoch 1 step 9$"):
        m, _ = _run(None, bad_step=9, sync_every=4)
    # the default checks at epoch end (16 steps run); every 4 steps it stops after step 11 (12 run)
    runs = {}
    for every in (None, 4):
        adapter = ToyA()
        torch.manual_seed(0)
        m = _GoesNaN(encoder_for(adapter), adapter.spec, TaskSpec(4), bad_step=9)
        cfg = PretrainConfig(
            epochs=EPOCHS, batch_size=BATCH, lr=1e-3, weight_decay=0.0, seed=0, sync_every=every
        )
        with pytest.raises(TrainingFault):
            pretrain(m, adapter, adapter.splits()["train"], torch.arange(400), cfg)
        runs[every] = m.calls
    assert runs == {None: 16, 4: 12}
    with pytest.raises(ValueError, match="sync_every"):
        _run(None, sync_every=0)


def test_a_step_that_breaks_after_an_unchecked_nan_reports_the_nan(tmp_path, one_thread):
    ckpt = tmp_path / "pretrain.pt"
    with pytest.raises(TrainingFault, match=r"^non-finite loss nan at epoch 0 step 2$") as e:
        _run(ckpt, bad_step=2, strict=True)
    assert isinstance(e.value.__cause__, RuntimeError)  # the later error is kept as the cause
    assert not ckpt.exists()


def test_recorded_epoch_loss_is_the_mean_of_the_step_losses_as_floats(one_thread):
    """The device-side log returns what `float(loss)` gave per step, so the epoch mean is the
    same Python sum as before (bit-identical histories on CPU)."""
    seen = []
    real = P._Trainer.step

    def spy(trainer, *args):
        loss = real(trainer, *args)
        seen.append(float(loss))
        return loss

    orig, P._Trainer.step = P._Trainer.step, spy
    try:
        _, history = _run(None, epochs=2)
    finally:
        P._Trainer.step = orig
    assert [r["loss"] for r in history["epochs"]] == [sum(seen[:8]) / 8, sum(seen[8:]) / 8]
