"""Run a user's Python file named explicitly on the command line (`--method-file`, `--dataset-file`)
and check it registered what it should.

The file is executed only when it is named: nothing scans folders or imports user code implicitly.
Every problem is a UsageError (exit 2, one line): missing file, not a .py file, an import that fails,
nothing registered, or a name that clashes with a built-in entry. A failed file leaves the registry
as it was.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmark.core.errors import UsageError


@dataclass(frozen=True)
class PluginKind:
    flag: str  # "--method-file"
    what: str  # "method"
    registry: object  # benchmark.core.registry.Registry
    base: type  # the class a registered entry subclasses
    decorator: str  # "@register_method"
    doc: str  # where the how-to is
    module_prefix: str


def load_plugin_file(path: str | Path, kind: PluginKind, loaded: dict[str, Path]) -> list[str]:
    """Execute the file as a module; return the names it registered. `loaded` maps each name to the
    file that registered it, so loading the same file twice is harmless."""
    reg = kind.registry
    p = Path(path)
    where = f"{kind.flag} {path}"
    if not p.exists():
        raise UsageError(f"{where}: no such file")
    if not p.is_file():
        raise UsageError(f"{where}: not a file")
    if p.suffix != ".py":
        raise UsageError(f"{where}: expected a Python file ending in .py")
    p = p.resolve()
    before = reg.snapshot()
    builtin = {n for n in before if loaded.get(n) != p}
    mod_name = kind.module_prefix + hashlib.sha256(str(p).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise UsageError(f"{where}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except ValueError as e:
        sys.modules.pop(mod_name, None)
        reg.restore(before)
        if "registered twice" in str(e):
            raise UsageError(
                f"{where}: {e} (the name clashes with a built-in {kind.what}; choose another `name`)"
            ) from None
        raise UsageError(f"{where}: importing it failed: ValueError: {e}") from None
    except SyntaxError as e:
        sys.modules.pop(mod_name, None)
        reg.restore(before)
        raise UsageError(f"{where}: syntax error at line {e.lineno}: {e.msg}") from None
    except KeyboardInterrupt:
        sys.modules.pop(mod_name, None)
        reg.restore(before)
        raise
    except BaseException as e:  # the user's code, SystemExit included: report it in one line
        sys.modules.pop(mod_name, None)
        reg.restore(before)
        if isinstance(e, SystemExit):
            raise UsageError(
                f"{where}: importing it called exit({e.code!r}); a {kind.what} file must only define and "
                f"register {kind.what}s"
            ) from None
        first = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(f"{where}: importing it failed: {type(e).__name__}: {first}") from None

    changed = [n for n in reg if n not in before or reg[n] is not before[n]]
    clashes = [n for n in changed if n in builtin]
    if clashes:
        reg.restore(before)
        raise UsageError(
            f"{where}: {kind.what} name(s) {clashes} clash with built-in {kind.what}s; choose another `name`"
        )
    if not changed:
        unregistered = [
            v.__name__
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, kind.base)
            and v is not kind.base
            and v.__module__ == mod_name
        ]
        hint = f" (class(es) {unregistered} are not decorated with {kind.decorator})" if unregistered else ""
        raise UsageError(
            f"{where}: defines no {kind.what}{hint}; decorate a {kind.base.__name__} subclass with "
            f"{kind.decorator} (see {kind.doc})"
        )
    for n in changed:
        loaded[n] = p
    return changed
