"""SSLBench dataset adapters, one module per family, registered by name on import.

This package shares its top-level name with Hugging Face's `datasets`; `SSLBENCH_ADAPTERS` marks it
as ours and `benchmark.orchestration.package_guard.check_datasets_package` fails clearly when the other
one wins.
"""

import importlib
import pkgutil

from datasets.base import ADAPTERS, Adapter, DataError, Split, get_adapter, register_adapter  # noqa: F401

SSLBENCH_ADAPTERS = True

# Shared helpers that register nothing (their adapter modules import them).
_SKIP = {
    "base",
    "files",
    "splitting",
    "image_views",
    "audio_base",
    "ecg_base",
    "graph_base",
    "graph_batches",
    "tabular_base",
}
for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in _SKIP and not _mod.name.startswith("_"):
        importlib.import_module(f"datasets.{_mod.name}")
