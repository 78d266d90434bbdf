"""Importing PyTorch Geometric without its import-time noise."""

from __future__ import annotations

import warnings


def import_pyg() -> None:
    """Import torch_geometric once with torch's `torch.jit.script is deprecated` FutureWarning
    silenced: PyG scripts a few helpers at import time, and the warning (about PyG's code, not
    ours) otherwise lands in the output of `list datasets` and every graph run. Call it before the
    first `from torch_geometric… import …` of a code path; later imports are cached."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
        import torch_geometric  # noqa: F401
