"""Load a user's method from a Python file named explicitly on the command line (`--method-file`).

The file is executed only when it is named: nothing scans folders or imports user code implicitly.
It must register at least one `Method` subclass with `@register_method` (see docs/adding_a_method.md).
Every problem is a UsageError (exit 2, one line): missing file, not a .py file, an import that fails,
no method registered, or a name that clashes with a built-in method.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.orchestration.user_files import PluginKind, load_plugin_file

# name -> resolved path of the file that registered it (so loading the same file twice is harmless)
_LOADED: dict[str, Path] = {}


def load_method_file(path: str | Path) -> list[str]:
    """Execute the file as a module and return the names of the methods it registered."""
    import methods  # noqa: F401  (built-ins first, so a clash is always detected on the user's side)
    from methods.base import METHODS, Method

    kind = PluginKind(
        "--method-file",
        "method",
        METHODS,
        Method,
        "@register_method",
        "docs/adding_a_method.md",
        "sslbench_user_method_",
    )
    return load_plugin_file(path, kind, _LOADED)


def load_method_files(paths: list[str] | None) -> list[str]:
    names: list[str] = []
    for path in paths or []:
        names += load_method_file(path)
    return names
