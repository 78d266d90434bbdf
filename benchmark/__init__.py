"""SSLBench: the runner and everything that evaluates (DESIGN §1)."""
__version__ = "0.1.0"
