"""Counting, on a real GPU, the times a training step makes the host wait for it (a diagnostic).

With `SSLBENCH_SYNC_DEBUG=1` in the environment, a CUDA run's pretraining loop turns on
`torch.cuda.set_sync_debug_mode("warn")` for the length of each step (not at the loop's own sync
points) and records in each epoch's history how many synchronizing operations the steps ran
(`host_syncs`) and where (`host_sync_sites`: the Python lines, most frequent first). The CPU test
(tests/methods/test_step_host_syncs.py) checks the steps on a stand-in device; this is the same
question asked of the device itself, views, gathers and optimiser included. Off, nothing changes.
"""

from __future__ import annotations

import collections
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

ENV = "SSLBENCH_SYNC_DEBUG"
SYNC_WARNING = "called a synchronizing CUDA operation"  # what torch warns in "warn" mode
TOP_SITES = 5
_ROOT = Path(__file__).resolve().parents[2]


def _site(filename: str, lineno: int) -> str:
    path = Path(filename)
    try:
        path = path.resolve().relative_to(_ROOT)
    except ValueError:
        pass
    return f"{path}:{lineno}"


class StepSyncs:
    """Counts the synchronizing operations inside `step()` blocks while `on`; `epoch_record()`
    hands over the epoch's count and sites and starts the next epoch at zero."""

    def __init__(self, on: bool):
        self.on = on
        self.count = 0
        self.sites: collections.Counter = collections.Counter()

    @classmethod
    def for_device(cls, device: torch.device | str) -> StepSyncs:
        return cls(os.environ.get(ENV) == "1" and torch.device(device).type == "cuda")

    @contextmanager
    def step(self) -> Iterator[None]:
        if not self.on:
            yield
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            before = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("warn")
            try:
                yield
            finally:
                torch.cuda.set_sync_debug_mode(before)
        for w in caught:
            if SYNC_WARNING in str(w.message):
                self.count += 1
                self.sites[_site(w.filename, w.lineno)] += 1
            else:  # the step's other warnings go on as if nothing had listened
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def epoch_record(self) -> dict:
        if not self.on:
            return {}
        record = {"host_syncs": self.count, "host_sync_sites": dict(self.sites.most_common(TOP_SITES))}
        self.count, self.sites = 0, collections.Counter()
        return record
