"""Every built-in probe, protocol and OOD scorer, registered: import the registries from here.

A registry is filled when its plugins' modules are imported; this module imports them all, so a
reader of `PROBES` here always sees the fine-tune probe and every protocol.
"""

from __future__ import annotations

from benchmark.evaluation import (
    finetune,  # noqa: F401  (registers the fine-tune probe)
    protocols,  # noqa: F401  (registers every protocol)
)
from benchmark.evaluation.ood_scorers import SCORERS
from benchmark.evaluation.probes import PROBES
from benchmark.evaluation.protocols.common import PROTOCOLS

__all__ = ["PROBES", "PROTOCOLS", "SCORERS"]
