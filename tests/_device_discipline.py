"""Checks, runnable on a CPU-only machine, for code that must stay on the device of its inputs.

On CPU every tensor is on the one device, so a draw or an allocation on the wrong device cannot fail
here; these modes watch what the code asks for instead (every torch call passes through a
`TorchFunctionMode`) and record each request that would put data on, or copy it to, another device
on a GPU:

- `DrawsStayOnDevice` (views): a draw from a generator must name the generator's device (a factory
  without `device=` draws on the CPU, and with a CUDA generator fails), a random op on a tensor must
  find the tensor on the generator's device, and a tensor computed from drawn numbers must never be
  moved (`.to(device)`, `.cpu()`, `.cuda()`): with the generator on the data's device there is nothing
  to move, and a move is where a host-drawn number would be copied to the GPU.
- `AllocatesOnInputDevice` (probes, OOD scorers): every tensor factory names a device, and nothing
  is copied to the host (`.cpu()`, `.numpy()`, `.tolist()`, `.to("cpu")`).
- `OnHost` (labels): a tensor that stands for one left on the host while the features are on the
  GPU. An op that mixes it with a non-scalar tensor of the features is recorded (CUDA would refuse
  it); `.to(device)` gives a plain tensor, i.e. moves it to the features.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

MOVES = {torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda}
HOST_COPIES = {torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.tolist}
FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.tensor,
    torch.as_tensor,
    torch.arange,
    torch.linspace,
    torch.eye,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
}


def _name(func) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))


def _moves_device(func, args, kwargs) -> bool:
    """Whether a call of `.to` / `.cpu` / `.cuda` asks for a device (a dtype-only `.to` does not)."""
    if func is not torch.Tensor.to:
        return True
    if kwargs.get("device") is not None:
        return True
    return any(isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:])


class DrawsStayOnDevice(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.violations: list[str] = []
        self.draws = 0
        self._drawn: dict[int, torch.Tensor] = {}  # id → tensor computed from drawn numbers

    def _is_drawn(self, t) -> bool:
        return isinstance(t, torch.Tensor) and self._drawn.get(id(t)) is t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        gen = kwargs.get("generator")
        if gen is None:
            gen = next((a for a in args if isinstance(a, torch.Generator)), None)
        inputs, _ = tree_flatten((args, kwargs))
        if gen is not None:
            self.draws += 1
            first = args[0] if args and isinstance(args[0], torch.Tensor) else kwargs.get("input")
            if isinstance(first, torch.Tensor):
                if first.device != gen.device:
                    self.violations.append(
                        f"{_name(func)} on a {first.device} tensor, generator on {gen.device}"
                    )
            elif kwargs.get("device") is None or torch.device(kwargs["device"]) != gen.device:
                self.violations.append(f"{_name(func)} draws without device={gen.device}")
        elif func in MOVES and self._is_drawn(args[0]) and _moves_device(func, args, kwargs):
            self.violations.append(f"{_name(func)} moves drawn numbers {tuple(args[0].shape)}")
        out = func(*args, **kwargs)
        if gen is not None or any(self._is_drawn(t) for t in inputs):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self._drawn[id(t)] = t
        return out


class AllocatesOnInputDevice(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.violations: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            self.violations.append(f"{_name(func)} without a device")
        elif func in HOST_COPIES:
            self.violations.append(f"{_name(func)} copies to the host")
        elif func is torch.Tensor.to and ("cpu" in args[1:] or kwargs.get("device") == "cpu"):
            self.violations.append(".to('cpu') copies to the host")
        return func(*args, **kwargs)


class OnHost(torch.Tensor):
    mixed: list[str] = []  # the ops that mixed a host tensor with the features' (cleared by tests)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to and _moves_device(func, args, kwargs):
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).as_subclass(torch.Tensor)
        flat, _ = tree_flatten((args, kwargs))
        if any(isinstance(t, torch.Tensor) and not isinstance(t, OnHost) and t.dim() > 0 for t in flat):
            cls.mixed.append(_name(func))
        return super().__torch_function__(func, types, args, kwargs)
