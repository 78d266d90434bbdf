"""Guard against the `datasets` name clash with Hugging Face's package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def check_datasets_package() -> None:
    """Raise ImportError with the fix when `import datasets` is not SSLBench's adapters package."""
    import datasets

    if getattr(datasets, "SSLBENCH_ADAPTERS", False):
        return
    where = getattr(datasets, "__file__", None) or list(getattr(datasets, "__path__", []))
    raise ImportError(
        f"'import datasets' resolved to {where}, not SSLBench's adapters in {REPO_ROOT / 'datasets'}: "
        f"another package named 'datasets' (Hugging Face's) shadows ours. Run SSLBench from its "
        f"checkout (python run_benchmark.py ..., make test) in its own venv, or put {REPO_ROOT} first "
        f"on PYTHONPATH."
    )
