"""The one rule for registry, suite, dataset and method names."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def is_name(value: object) -> bool:
    """True for a lower_snake_case name (a letter first, then letters, digits or underscores)."""
    return isinstance(value, str) and bool(NAME_RE.match(value))
