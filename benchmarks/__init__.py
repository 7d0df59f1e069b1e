"""Benchmarks of descope-keys (run with ``nox -s bench``)."""
