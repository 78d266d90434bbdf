"""The views draw their random numbers on the generator's device (datasets/draws.py), so the
pretraining loop's generator on the job's device makes a GPU batch's views without copying a number
from the host; a CPU generator still draws exactly what it drew before.

The cases (tests/datasets/view_cases.py) cover every domain's view functions: images, volumes,
signals and spectrograms, tables (SCARF) and graphs (GraphCL, GRACE)."""

import pytest
import torch

import datasets  # noqa: F401  (registers every adapter)
from datasets.base import ADAPTERS
from datasets.tu import TUAdapter
from tests._device_discipline import DrawsStayOnDevice
from tests.datasets.view_cases import fingerprint, view_cases
from tests.datasets.view_fingerprints import RECORDED

SEED = 7


@pytest.fixture(scope="module")
def cases(request):
    tabular = {"breast_cancer": datasets.base.get_adapter("breast_cancer")}
    return view_cases(tabular), request


def _case(cases, name):
    found, request = cases
    if name not in found and name.startswith("tabular/adult/"):
        data_dir = request.getfixturevalue("data_dir")
        adult = datasets.base.get_adapter("adult", data_dir=data_dir, download=False)
        found.update(view_cases({"adult": adult}))
    return found[name]


def _close(got, want, name):
    """Float fingerprints agree to 1e-4 of the output's total |value|: rounding on another CPU stays
    far inside it, a single different draw does not (it moves the position-weighted sum by whole
    values)."""
    tol = 1e-4 * want[2] + 1e-9
    assert got[3] == want[3], f"{name}: shape {got[3]} != {want[3]}"
    for i, what in enumerate(("sum", "weighted sum", "sum of |values|")):
        assert abs(got[i] - want[i]) <= tol, f"{name}: {what} {got[i]} != {want[i]}"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_a_cpu_generator_draws_what_it_drew_before(name, cases, one_thread):
    g = torch.Generator().manual_seed(SEED)
    got = fingerprint(_case(cases, name)(g), g)
    want = RECORDED[name]
    assert got["generator"] == want["generator"], f"{name}: other numbers were drawn, or in another order"
    assert set(got) == set(want)
    for part, value in want.items():
        if part == "generator":
            continue
        if isinstance(value, list) and len(value) == 4:
            _close(got[part], value, f"{name}.{part}")
        else:  # integer tensors (digest, shape) and plain values: exact
            assert got[part] == value, f"{name}.{part}"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_views_draw_on_the_generators_device_and_never_move_the_draws(name, cases):
    view = _case(cases, name)
    g = torch.Generator().manual_seed(SEED)
    with DrawsStayOnDevice() as check:
        view(g)
    assert check.draws > 0, f"{name} drew nothing from its generator"
    assert not check.violations, f"{name}: {check.violations}"


def test_the_draw_check_catches_host_draws_and_moves():
    x = torch.zeros(4)
    g = torch.Generator().manual_seed(0)
    with DrawsStayOnDevice() as check:
        torch.rand(4, generator=g, device=g.device) + x  # drawn where the generator is: fine
        (torch.rand(4, generator=g) * 2).to(x.device)  # the views' old pattern, twice over
        torch.randn(4, generator=g, device="cpu").to(x.dtype)  # a dtype cast moves nothing
    assert len(check.violations) == 2, check.violations
    assert "without device" in check.violations[0] and "moves drawn numbers" in check.violations[1]


def test_adapters_declare_where_their_views_draw():
    """Every built-in adapter's views draw on the batch's device, except the graph tasks' (GraphCL's
    index pass reads the numbers on the host). An adapter that does not say keeps the CPU generator
    it was written for."""
    host = sorted(n for n, cls in ADAPTERS.items() if not cls.views_on_device)
    assert host and all(issubclass(ADAPTERS[n], TUAdapter) for n in host), host
    assert not datasets.base.Adapter.views_on_device


def test_a_multi_domain_union_draws_where_its_first_source_does():
    from benchmark.orchestration.transfer import UnionAdapter

    a = datasets.base.get_adapter("breast_cancer")
    union = UnionAdapter([a, datasets.base.get_adapter("breast_cancer")], [torch.arange(8), torch.arange(8)])
    assert union.views_on_device is True
