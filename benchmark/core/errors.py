"""The two errors the command line maps to exit codes: usage (2) and data (1)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command line or suite file; the CLI prints the message and exits 2."""


class DataError(Exception):
    """A data file is missing, truncated, corrupt or of the wrong shape. The message names the file,
    what was expected and how to fix it. The CLI maps it to exit code 1."""
