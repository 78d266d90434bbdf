"""What the pretraining loop keeps on the device on CUDA, checked on CPU: the split held on the device
when it fits (benchmark/training/resident.py) gives the same batches as gathering on the host, and
the view generator (on the job's device where the adapter's views draw there) is checkpointed, so
a resumed run equals an uninterrupted one."""

import pytest
import torch
from torch import nn

import methods  # noqa: F401  (registers every method)
from benchmark.core.specs import TaskSpec
from benchmark.models.encoders import encoder_for
from benchmark.training import resident as R
from benchmark.training.pretrain import PretrainConfig, pretrain, view_generator
from datasets.base import Adapter, Split
from datasets.splitting import name_seed
from methods.base import METHODS, Method
from tests._protocol_toys import ToyA

CUDA = torch.device("cuda")  # only named: the rule is a pure function of what it is given


# ---- the residency rule ---------------------------------------------------------------------------
def _toy_split():
    return ToyA().splits()["train"]  # 400 uint8 images of 8x8 and int64 labels


def test_a_split_is_held_on_cuda_when_it_fits_in_a_quarter_of_the_free_memory():
    split = _toy_split()
    need = split.inputs.numel() + split.labels.numel() * 8
    assert R.split_bytes(split) == need  # counted in the stored dtypes: one byte per uint8 pixel
    assert R.resident_on_device(ToyA(), split, CUDA, free_bytes=4 * need)
    assert not R.resident_on_device(ToyA(), split, CUDA, free_bytes=4 * need - 1)


def test_cpu_runs_and_adapters_without_a_tensor_gather_keep_the_host_path():
    split = _toy_split()
    huge = 1 << 50
    assert not R.resident_on_device(ToyA(), split, torch.device("cpu"), free_bytes=huge)

    class OwnGather(ToyA):
        def batch(self, split, index):
            return split.inputs[index].flip(-1)

    assert not R.resident_on_device(OwnGather(), split, CUDA, free_bytes=huge)

    class Listed:  # non-tensor inputs (graph sets, decoded-on-demand files)
        def __getitem__(self, index):
            return [index]

    assert not R.resident_on_device(ToyA(), Split(Listed(), split.labels), CUDA, free_bytes=huge)
    assert type(R.step_batches(ToyA(), split, torch.device("cpu"))) is R.HostBatches


def test_gathering_from_the_held_copy_gives_the_host_batch():
    adapter, split, cpu = ToyA(), _toy_split(), torch.device("cpu")
    host, held = R.HostBatches(adapter, split, cpu), R.DeviceResidentSplit(adapter, split, cpu)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randperm(400, generator=g)[:50] for _ in range(3)] + [torch.arange(7)]
    on_device = held.epoch(batches)
    assert [b.tolist() for b in on_device] == [b.tolist() for b in batches]
    for a, b in zip(batches, on_device):
        assert torch.equal(host.inputs(a), held.inputs(b))
        assert torch.equal(host.labels(a), held.labels(b))
    assert held.epoch([]) == []


class _Supervised(Method):
    name = "supervised_toy"
    family = "test"
    uses_labels = True

    def __init__(self, encoder, spec, task, **hp):
        super().__init__(encoder, spec, task, **hp)
        self.head = nn.Linear(encoder.out_dim, task.num_classes)

    def training_step(self, x, y, view):
        return nn.functional.cross_entropy(self.head(self.encoder(view(x))), y)


def _train(method_cls, resident: bool, monkeypatch, ckpt=None, epochs=2, on_epoch=None):
    epochs_copied = []
    real_epoch = R.DeviceResidentSplit.epoch

    def counted(self, batches):
        epochs_copied.append(len(batches))
        return real_epoch(self, batches)

    monkeypatch.setattr(R, "resident_on_device", lambda *a, **k: resident)
    monkeypatch.setattr(R.DeviceResidentSplit, "epoch", counted)
    adapter = ToyA()
    train = adapter.splits()["train"]
    labels = train.labels.clone()
    share = None
    if getattr(method_cls, "semi_supervised", False):
        labels[40:] = -1
        share = 0.25
    torch.manual_seed(0)
    m = method_cls(encoder_for(adapter), adapter.spec, TaskSpec(4))
    cfg = PretrainConfig(
        epochs=epochs, batch_size=50, lr=1e-3, weight_decay=0.0, seed=0, labelled_share=share
    )
    history = pretrain(m, adapter, Split(train.inputs, labels), torch.arange(400), cfg, ckpt, on_epoch)
    return m, history, epochs_copied


@pytest.mark.parametrize("method", ["simclr", "supervised_toy", "fixmatch", "mixmatch"])
def test_a_run_on_a_held_split_equals_the_host_run(method, monkeypatch, one_thread):
    cls = _Supervised if method == "supervised_toy" else METHODS[method]
    host, host_hist, copies = _train(cls, False, monkeypatch)
    assert copies == []
    held, held_hist, copies = _train(cls, True, monkeypatch)
    assert copies == [8, 8]  # the epoch's indices go to the device once per epoch
    assert [r["loss"] for r in held_hist["epochs"]] == [r["loss"] for r in host_hist["epochs"]]
    for k, v in host.state_dict().items():
        assert torch.equal(v, held.state_dict()[k]), k


# ---- the view generator and the checkpoint --------------------------------------------------------
def test_off_cuda_the_view_generator_is_the_seeded_cpu_generator_whatever_the_adapter_says():
    want = torch.Generator().manual_seed(name_seed("view", 5)).get_state()
    for on_device in (False, True):
        adapter = type("A", (ToyA,), {"views_on_device": on_device})()
        for device in ("cpu", "mps", "meta"):  # only CUDA gets a generator of its own
            g = view_generator(adapter, torch.device(device), 5)
            assert g.device.type == "cpu" and torch.equal(g.get_state(), want)


class _Stop(Exception):
    pass


def _stop_after(n):
    def on_epoch(epoch, record):
        if epoch == n:
            raise _Stop

    return on_epoch


def test_the_checkpoint_holds_the_view_generator_and_a_resumed_run_equals_an_uninterrupted_one(
    tmp_path, monkeypatch, one_thread
):
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Stop):
        _train(METHODS["simclr"], False, monkeypatch, ckpt, epochs=3, on_epoch=_stop_after(1))
    state = torch.load(ckpt, weights_only=True)
    assert state["g_view_device"] == "cpu" and "cuda_rng" not in state
    fresh = view_generator(ToyA(), torch.device("cpu"), 0).get_state()
    assert not torch.equal(state["g_view"], fresh)  # the state after epoch 1's views, not the seed's
    resumed, _, _ = _train(METHODS["simclr"], False, monkeypatch, ckpt, epochs=3)
    full, _, _ = _train(METHODS["simclr"], False, monkeypatch, None, epochs=3)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_a_checkpoint_from_another_kind_of_device_resumes_with_a_reseeded_view_generator(
    tmp_path, monkeypatch, one_thread
):
    """A CUDA generator's state cannot seed a CPU one: the run goes on from the saved epoch with a
    view generator seeded by (seed, epoch), the same on every such resume."""
    ckpt = tmp_path / "run.pt"
    with pytest.raises(_Stop):
        _train(METHODS["simclr"], False, monkeypatch, ckpt, epochs=2, on_epoch=_stop_after(1))
    state = torch.load(ckpt, weights_only=True)
    state["g_view_device"], state["g_view"] = "cuda", torch.zeros(16, dtype=torch.uint8)
    torch.save(state, ckpt)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(ckpt.read_bytes())
    a, hist_a, _ = _train(METHODS["simclr"], False, monkeypatch, ckpt, epochs=2)
    b, _, _ = _train(METHODS["simclr"], False, monkeypatch, copy, epochs=2)
    full, _, _ = _train(METHODS["simclr"], False, monkeypatch, None, epochs=2)
    assert [r["epoch"] for r in hist_a["epochs"]] == [1, 2]
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not all(torch.equal(v, full.state_dict()[k]) for k, v in a.state_dict().items())


def test_the_default_adapter_contract_keeps_a_cpu_generator():
    assert Adapter.views_on_device is False
