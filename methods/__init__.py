"""SSL methods, one file each, registered by name. Importing this package registers them all."""

import importlib
import pkgutil

from methods.base import METHODS, Method, get_method_class, register_method  # noqa: F401

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "base" and not _mod.name.startswith("_"):
        importlib.import_module(f"methods.{_mod.name}")
