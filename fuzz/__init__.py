"""Fuzzing of the ingester's decoder: see ``fuzz/README.md``."""
