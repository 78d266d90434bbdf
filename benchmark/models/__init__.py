"""Encoders for every input spec (conv, MLP, graph, 1-D, token encoders); built from a dataset's
spec by the orchestration, never by adapters."""
