"""Re-export for user method files written against `benchmark.specs` (docs/adding_a_method.md);
the specs live in `benchmark.core.specs`."""

from benchmark.core.specs import SPEC_KINDS, InputSpec, TaskSpec  # noqa: F401
