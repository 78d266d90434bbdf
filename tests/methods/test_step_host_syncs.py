"""A method's training step makes the host wait for the device nowhere (issue #32), checked on a
CPU-only machine with the `meta` device standing in for the GPU.

On CUDA the host waits for the GPU's queue to drain when it reads a device value (`.item()`,
`float()`, `if t.any()`), when an op's output size depends on device data (`nonzero`, boolean
indexing) and when it copies a tensor made on the host into the device from pageable memory (a
`torch.arange(n).to(z.device)` target, a mask drawn on the host). On CPU all three are free and
invisible; with the model and the batch on `meta` each one is an op this mode sees. A host-drawn
tensor may still go to the device through `benchmark.core.host_copy.to_device`, whose copy is
non-blocking (from page-locked memory on CUDA)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from benchmark.core.host_copy import constant, pin_batch, to_device
from benchmark.core.specs import TaskSpec
from methods._semi import labelled_mask, masked_supervised_term, supervised_term
from methods.base import METHODS, LabelledRows
from methods.simclr import nt_xent_loss
from tests.methods.test_methods_smoke import EXPECTED, SPECS, _build

aten = torch.ops.aten
DATA_DEPENDENT = {aten.nonzero.default, aten.masked_select.default, aten._unique2.default}
# Methods whose step still makes the host wait, each with why (the test checks that they do).
SYNCS_KNOWN: dict[str, str] = {}


class HostSync(Exception):
    pass


class HostWaits(TorchDispatchMode):
    """Records each op that makes the host wait for the device; stops at one whose result the host
    must read (the meta device has no values to give)."""

    def __init__(self):
        super().__init__()
        self.waits: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        on_device = [t for t in tensors if t.device.type == "meta"]
        if func is aten._local_scalar_dense.default and on_device:
            self.waits.append("a host read of a device value (.item(), float(), bool())")
            raise HostSync(self.waits[-1])
        if func in DATA_DEPENDENT and on_device:
            self.waits.append(f"{func} (its output size is read on the host)")
            raise HostSync(self.waits[-1])
        if func is aten.index.Tensor and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool and i.device.type == "meta"
            for i in (args[1] if len(args) > 1 else [])
        ):
            self.waits.append("boolean indexing of a device tensor (a nonzero)")
            raise HostSync(self.waits[-1])
        out = func(*args, **kwargs)
        if func in (aten._to_copy.default, aten.copy_.default) and not kwargs.get("non_blocking", False):
            src = args[1] if func is aten.copy_.default else args[0]
            dst = args[0] if func is aten.copy_.default else out
            if src.device.type == "cpu" and dst.device.type == "meta" and src.dim() > 0:
                self.waits.append(f"a blocking copy of a host tensor {tuple(src.shape)} to the device")
        return out


def step_waits(name: str, kind: str, host_rows: bool = True) -> list[str]:
    """What makes the host wait in one step of `name` on `kind`; `host_rows`: a semi-supervised
    method is given its labelled rows from the host's labels, as the pretraining loop does."""
    spec, cls = SPECS[kind], METHODS[name]
    torch.manual_seed(0)
    m = _build(name, spec, TaskSpec(3)).train().to("meta")
    x = torch.randn(6, *spec.shape, device="meta")
    host_y = torch.tensor([0, -1, 2, -1, -1, 1] if cls.semi_supervised else [0, 1, 2, 0, 1, 2])
    y = host_y.to("meta")
    if cls.semi_supervised and host_rows:
        m.batch_rows = LabelledRows.of(host_y, "meta")
    view = lambda t, policy=None: t + 0.1 * torch.randn_like(t)  # noqa: E731
    mode = HostWaits()
    try:
        with mode:
            loss = m.training_step(x, y if cls.uses_labels else None, view)
            loss.backward()
            m.on_step_end(1, 10)
    except HostSync:
        pass
    return mode.waits


TRAINED = sorted(EXPECTED - {"random_init", "random_init_tokens"})


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("name", TRAINED)
def test_a_training_step_never_makes_the_host_wait(name, kind):
    if kind not in METHODS[name].supported_specs:
        pytest.skip(f"{name} does not take {kind}")
    waits = step_waits(name, kind)
    if name in SYNCS_KNOWN:
        assert waits, f"{name} no longer syncs: drop it from SYNCS_KNOWN"
    else:
        assert waits == [], f"{name} on {kind}: {waits}"


@pytest.mark.parametrize("kind", ["image2d", "tabular"])
def test_mixmatch_without_the_hosts_rows_reads_the_mask_from_the_device(kind):
    # a direct call (no `batch_rows`) finds the labelled rows with a nonzero on the device: the wait
    # the pretraining loop's host rows avoid, and one this check must see
    assert step_waits("mixmatch", kind, host_rows=False)[0].startswith("aten.nonzero")


def test_the_check_sees_a_host_made_target_copied_to_the_device():
    # SimCLR's targets once came from torch.arange on the host, copied to the device every step
    z = torch.randn(8, 4, device="meta")
    mode = HostWaits()
    with mode:
        targets = torch.arange(4).to(z.device)
    assert mode.waits == ["a blocking copy of a host tensor (4,) to the device"]
    assert targets.device.type == "meta"
    with HostWaits() as clean:
        nt_xent_loss(z[:4], z[4:], 0.5)
    assert clean.waits == []


def test_the_check_sees_a_host_read_and_boolean_indexing():
    x = torch.randn(6, device="meta")
    mode = HostWaits()
    with pytest.raises(HostSync), mode:
        x[x > 0].sum()
    assert mode.waits[0].startswith("boolean indexing")
    mode = HostWaits()
    with pytest.raises(HostSync), mode:
        float(x.sum())
    assert mode.waits == ["a host read of a device value (.item(), float(), bool())"]


def test_host_copy_helpers_queue_the_copy_and_make_a_constant_once():
    with HostWaits() as mode:
        t = to_device(torch.arange(3), "meta")
    assert mode.waits == [] and t.device.type == "meta"
    x = torch.arange(3)
    assert to_device(x, "cpu") is x and pin_batch(x, "cpu") is x  # nothing to copy on the CPU
    luma = constant((0.299, 0.587, 0.114), "cpu")
    assert luma is constant((0.299, 0.587, 0.114), torch.device("cpu"))
    assert torch.equal(luma, torch.tensor([0.299, 0.587, 0.114]))
    assert constant((1, 2), "cpu", torch.float64).dtype == torch.float64


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_masked_supervised_term_is_the_mean_over_labelled_rows(multilabel):
    # what FixMatch and Mean Teacher use on a GPU, against the CPU's selection of the labelled rows
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=g, requires_grad=True)
    if multilabel:
        y = torch.tensor([[1, 0, 1], [-1, -1, -1], [0, 1, 0], [-1, -1, -1], [1, 1, 0], [0, 0, 1]])
    else:
        y = torch.tensor([2, -1, 0, -1, 1, 1])
    lab = labelled_mask(y)
    masked = masked_supervised_term(logits, y, lab, multilabel)
    selected = supervised_term(logits, y, multilabel)
    torch.testing.assert_close(masked, selected)
    (g_masked,) = torch.autograd.grad(masked, logits)
    (g_selected,) = torch.autograd.grad(selected, logits)
    torch.testing.assert_close(g_masked, g_selected)
    assert g_masked[~lab].abs().sum() == 0  # unlabelled rows' dummy targets carry no gradient
    none = torch.full_like(y, -1)
    zero = masked_supervised_term(logits, none, labelled_mask(none), multilabel)
    assert zero.item() == 0 and zero.requires_grad
