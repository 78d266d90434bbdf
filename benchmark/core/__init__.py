"""The vocabulary every layer shares: input specs, errors, names, the registry, hashing and file io.
`datasets/` and `methods/` import from here (and `benchmark.models`), never from the layers above."""
