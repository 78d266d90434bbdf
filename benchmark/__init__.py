"""SSLBench: the runner and everything that evaluates (docs/design.md §1)."""

__version__ = "0.1.0"
