"""The one Registry: duplicate check, helpful unknown-name error, snapshot/restore."""

from __future__ import annotations

import pytest

from benchmark.core.registry import Registry, UnknownNameError


class _Thing:
    name = "thing"


def test_register_get_and_the_known_names_in_the_error():
    reg: Registry = Registry("widget")
    reg.register(_Thing)
    assert reg.get("thing") is _Thing and reg["thing"] is _Thing and "thing" in reg and len(reg) == 1
    with pytest.raises(UnknownNameError, match=r"unknown widget 'thin'; known: thing"):
        reg.get("thin")
    with pytest.raises(KeyError):  # still a KeyError for callers that catch that
        reg["nope"]
    assert reg.get("nope", None) is None


def test_a_second_different_entry_under_a_taken_name_is_refused():
    reg: Registry = Registry("widget")
    reg.register(_Thing)
    reg.register(_Thing)  # the same definition again (a re-import) is fine
    other = type("_Thing2", (), {"name": "thing"})
    with pytest.raises(ValueError, match="widget 'thing' registered twice"):
        reg.register(other)
    with pytest.raises(ValueError, match="lower_snake_case"):
        reg.register(lambda: None, name="Bad Name")


def test_decorator_by_name_and_snapshot_restore():
    reg: Registry = Registry("probe")

    @reg.register("linear")
    def linear():
        return 1

    snap = reg.snapshot()
    reg.register(lambda: 2, name="knn")
    assert list(reg) == ["linear", "knn"]
    reg.restore(snap)
    assert list(reg) == ["linear"] and reg["linear"] is linear


def test_every_pluggable_kind_uses_the_registry():
    from benchmark.evaluation.plugins import PROBES, PROTOCOLS, SCORERS
    from benchmark.orchestration.executors import EXECUTORS, POOL_EXECUTORS
    from datasets.base import ADAPTERS
    from datasets.image_corruptions import IMAGE_CORRUPTIONS
    from datasets.volume_corruptions import VOLUME_CORRUPTIONS
    from methods.base import METHODS

    for reg in (
        PROBES,
        PROTOCOLS,
        SCORERS,
        POOL_EXECUTORS,
        ADAPTERS,
        IMAGE_CORRUPTIONS,
        VOLUME_CORRUPTIONS,
        METHODS,
    ):
        assert isinstance(reg, Registry) and len(reg) > 0
    assert {"linear", "knn", "finetune"} <= set(PROBES)
    assert EXECUTORS == ("local", *POOL_EXECUTORS)  # the CLI's choices derive from the registry
