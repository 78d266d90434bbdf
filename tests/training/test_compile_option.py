"""`--compile MODE` (issue #32): the encoder is compiled in place for the training steps only.

The fast tests replace `torch.compile` by a recorder that returns the function unchanged, so they
check the wiring without paying for a compilation: the mode reaches torch.compile, the encoder runs
its compiled forward only while `pretrain` trains (the collapse monitor's pass runs eager), training
is otherwise the eager run (same losses, same state-dict keys, so checkpoints and resume are
unchanged), and the encoder is eager again afterwards, also when training fails. The slow test
compiles for real on the CPU."""

import pytest
import torch

import methods  # noqa: F401  (registers every method)
from benchmark.models.encoders import encoder_for
from benchmark.training import pretrain as P
from benchmark.training.pretrain import PretrainConfig, TrainingFault, compiled_encoder, pretrain
from methods.base import METHODS
from tests._protocol_toys import ToyA


class _Recorder:
    """Stands in for torch.compile: records each call's mode, returns the function as it is."""

    def __init__(self):
        self.modes = []

    def __call__(self, fn, *args, mode=None, **kwargs):
        self.modes.append(mode)
        return fn


def _run(compile_mode="off", compiled_at_epoch_end=None, epochs=2):
    """SimCLR on the toy set; `compiled_at_epoch_end` (a list) gets, after each epoch, whether the
    encoder then had a compiled forward."""
    adapter = ToyA()
    train = adapter.splits()["train"]
    torch.manual_seed(0)
    m = METHODS["simclr"](encoder_for(adapter), adapter.spec, adapter.task)
    cfg = PretrainConfig(
        epochs=epochs, batch_size=50, lr=1e-3, weight_decay=0.0, seed=0, compile=compile_mode
    )
    watch = None
    if compiled_at_epoch_end is not None:
        watch = lambda e, r: compiled_at_epoch_end.append("_compiled_call_impl" in m.encoder.__dict__)  # noqa: E731
    hist = pretrain(m, adapter, train, torch.arange(200), cfg, on_epoch=watch)
    return m, hist


@pytest.mark.parametrize("mode, passed", [("default", None), ("reduce-overhead", "reduce-overhead")])
def test_the_mode_reaches_torch_compile_and_the_run_is_the_eager_one(mode, passed, monkeypatch, one_thread):
    eager, eager_hist = _run("off")
    rec = _Recorder()
    monkeypatch.setattr(torch, "compile", rec)
    seen, monitored = [], []
    real_stats = P.collapse_stats

    def stats(method, *args):  # the collapse monitor's eval pass runs eager (no retrace)
        monitored.append("_compiled_call_impl" in method.encoder.__dict__)
        return real_stats(method, *args)

    monkeypatch.setattr(P, "collapse_stats", stats)
    m, hist = _run(mode, compiled_at_epoch_end=seen)
    assert rec.modes == [passed]  # compiled once, for the whole run
    assert seen == [True, True]  # the training steps ran the compiled forward
    assert monitored and not any(monitored)
    assert "_compiled_call_impl" not in m.encoder.__dict__  # eager again for embedding and probes
    assert list(m.state_dict()) == list(eager.state_dict())  # checkpoints keep the eager keys
    assert [r["loss"] for r in hist["epochs"]] == [r["loss"] for r in eager_hist["epochs"]]
    for a, b in zip(m.state_dict().values(), eager.state_dict().values()):
        assert torch.equal(a, b)


def test_off_compiles_nothing(monkeypatch, one_thread):
    rec = _Recorder()
    monkeypatch.setattr(torch, "compile", rec)
    m, _ = _run("off", epochs=1)
    assert rec.modes == [] and "_compiled_call_impl" not in m.encoder.__dict__


def test_a_failed_run_leaves_the_encoder_eager(monkeypatch, one_thread):
    monkeypatch.setattr(torch, "compile", _Recorder())
    adapter = ToyA()
    torch.manual_seed(0)
    m = METHODS["simclr"](encoder_for(adapter), adapter.spec, adapter.task)
    real = P._Trainer.step_on

    def bad_step(trainer, *args):
        return real(trainer, *args) * float("nan")

    monkeypatch.setattr(P._Trainer, "step_on", bad_step)
    cfg = PretrainConfig(epochs=1, batch_size=50, lr=1e-3, weight_decay=0.0, seed=0, compile="default")
    with pytest.raises(TrainingFault):
        pretrain(m, adapter, adapter.splits()["train"], torch.arange(200), cfg)
    assert "_compiled_call_impl" not in m.encoder.__dict__


def test_an_unknown_mode_is_refused():
    adapter = ToyA()
    m = METHODS["simclr"](encoder_for(adapter), adapter.spec, adapter.task)
    with pytest.raises(ValueError, match="compile must be one of"):
        with compiled_encoder(m, "fast"):
            pass


@pytest.mark.slow
def test_a_real_compilation_trains_like_eager(one_thread):
    """Inductor on the CPU (a C++ compiler is needed): same losses as eager up to float rounding."""
    _, eager = _run("off", epochs=1)
    m, compiled = _run("default", epochs=1)
    assert "_compiled_call_impl" not in m.encoder.__dict__
    a, b = eager["epochs"][0]["loss"], compiled["epochs"][0]["loss"]
    assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), (a, b)
