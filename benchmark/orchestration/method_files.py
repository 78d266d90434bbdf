"""Load a user's method from a Python file named explicitly on the command line (`--method-file`).

The file is executed only when it is named: nothing scans folders or imports user code implicitly.
It must register at least one `Method` subclass with `@register_method` (see docs/adding_a_method.md).
Every problem is a UsageError (exit 2, one line): missing file, not a .py file, an import that fails,
no method registered, or a name that clashes with a built-in method.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from benchmark.core.errors import UsageError

# name -> resolved path of the file that registered it (so loading the same file twice is harmless)
_LOADED: dict[str, Path] = {}


def load_method_file(path: str | Path) -> list[str]:
    """Execute the file as a module and return the names of the methods it registered."""
    import methods  # noqa: F401  (built-ins first, so a clash is always detected on the user's side)
    from methods.base import METHODS, Method

    p = Path(path)
    where = f"--method-file {path}"
    if not p.exists():
        raise UsageError(f"{where}: no such file")
    if not p.is_file():
        raise UsageError(f"{where}: not a file")
    if p.suffix != ".py":
        raise UsageError(f"{where}: expected a Python file ending in .py")
    p = p.resolve()
    before = METHODS.snapshot()
    builtin = {n for n in before if _LOADED.get(n) != p}
    mod_name = "sslbench_user_method_" + hashlib.sha256(str(p).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise UsageError(f"{where}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except ValueError as e:
        sys.modules.pop(mod_name, None)
        METHODS.restore(before)
        if "registered twice" in str(e):
            raise UsageError(
                f"{where}: {e} (the name clashes with a built-in method; choose another `name`)"
            ) from None
        raise UsageError(f"{where}: importing it failed: ValueError: {e}") from None
    except SyntaxError as e:
        sys.modules.pop(mod_name, None)
        METHODS.restore(before)
        raise UsageError(f"{where}: syntax error at line {e.lineno}: {e.msg}") from None
    except KeyboardInterrupt:
        sys.modules.pop(mod_name, None)
        METHODS.restore(before)
        raise
    except BaseException as e:  # the user's code, SystemExit included: report it in one line
        sys.modules.pop(mod_name, None)
        METHODS.restore(before)
        if isinstance(e, SystemExit):
            raise UsageError(
                f"{where}: importing it called exit({e.code!r}); a method file must only define and "
                f"register methods"
            ) from None
        first = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(f"{where}: importing it failed: {type(e).__name__}: {first}") from None

    changed = [n for n in METHODS if n not in before or METHODS[n] is not before[n]]
    clashes = [n for n in changed if n in builtin]
    if clashes:
        METHODS.restore(before)
        raise UsageError(
            f"{where}: method name(s) {clashes} clash with built-in methods; choose another `name`"
        )
    if not changed:
        unregistered = [
            v.__name__
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Method) and v is not Method and v.__module__ == mod_name
        ]
        hint = f" (class(es) {unregistered} are not decorated with @register_method)" if unregistered else ""
        raise UsageError(
            f"{where}: defines no method{hint}; decorate a Method subclass with "
            f"@register_method (see docs/adding_a_method.md)"
        )
    for n in changed:
        _LOADED[n] = p
    return changed


def load_method_files(paths: list[str] | None) -> list[str]:
    names: list[str] = []
    for path in paths or []:
        names += load_method_file(path)
    return names
