"""One registry class for every pluggable kind (methods, datasets, probes, protocols, OOD scorers,
corruptions, executors): register with a duplicate check, look up with the known names in the error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable, Generic, TypeVar

from benchmark.core.names import NAME_RE

T = TypeVar("T")
_MISSING = object()


class UnknownNameError(KeyError):
    """A name no registry entry has; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """Name → entry. `kind` names what is registered ("method", "dataset", …) in messages.

    `register(obj)` uses `obj.name`; `register("name")` returns a decorator (for functions).
    Registering a second, different entry under a taken name raises ValueError; the same definition
    again (same module and qualified name, as when a module is re-imported) replaces the old one.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, obj: Any = None, *, name: str | None = None):
        if isinstance(obj, str):
            return lambda target: self.register(target, name=obj)
        if obj is None:
            return lambda target: self.register(target, name=name)
        key = name if name is not None else getattr(obj, "name", None)
        if not isinstance(key, str) or not NAME_RE.match(key):
            raise ValueError(f"{self.kind} name {key!r} must be lower_snake_case")
        old = self._entries.get(key)
        if old is not None and old is not obj and _identity(old) != _identity(obj):
            raise ValueError(f"{self.kind} {key!r} registered twice")
        self._entries[key] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def snapshot(self) -> dict[str, T]:
        return dict(self._entries)

    def restore(self, snapshot: dict[str, T]) -> None:
        """Back to a `snapshot()` (a user file that failed half-way leaves nothing registered)."""
        self._entries = dict(snapshot)

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The entry called `name`; without `default`, an unknown name raises UnknownNameError."""
        if name in self._entries:
            return self._entries[name]
        if default is not _MISSING:
            return default
        raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}")

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"


def _identity(obj: Any) -> tuple[str, str] | Callable:
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return (module, qualname) if module and qualname else obj
