"""Config hashes: the short, stable digest that names a job, a checkpoint or a cached result."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def config_hash(cfg: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the config as sorted-key JSON (non-JSON values by `str`)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:16]
