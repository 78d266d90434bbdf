"""Embeddings, metrics, probes, OOD scorers and the protocols that combine them."""
