"""Load a user's dataset adapter from a Python file named explicitly on the command line
(`--dataset-file`), the way `--method-file` loads a method (benchmark/orchestration/method_files.py).

The file must register at least one `datasets.base.Adapter` subclass with `@register_adapter`
(docs/design.md §1.2); its suite entries then use it by name like a built-in dataset. A TUDataset or
Planetoid graph needs no file at all: `{name: tu, options: {name: ENZYMES}}` or
`{name: planetoid, options: {name: CiteSeer}}` in the suite. Every problem is a UsageError (exit 2,
one line): missing file, not a .py file, an import that fails, no adapter registered, or a name
that clashes with a built-in dataset.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.orchestration.user_files import PluginKind, load_plugin_file

_LOADED: dict[str, Path] = {}


def load_dataset_file(path: str | Path) -> list[str]:
    """Execute the file as a module and return the names of the datasets it registered."""
    import datasets  # noqa: F401  (built-ins first, so a clash is detected on the user's side)
    from datasets.base import ADAPTERS, Adapter

    kind = PluginKind(
        "--dataset-file",
        "dataset",
        ADAPTERS,
        Adapter,
        "@register_adapter",
        "docs/design.md §1.2",
        "sslbench_user_dataset_",
    )
    return load_plugin_file(path, kind, _LOADED)


def load_dataset_files(paths: list[str] | None) -> list[str]:
    names: list[str] = []
    for path in paths or []:
        names += load_dataset_file(path)
    return names
