"""Hypothesis profiles for the fuzz tests: a fixed, derandomized budget unless asked otherwise.

``HYPOTHESIS_PROFILE=fuzz`` runs many more examples locally. Nothing is
written to disk (no example database), so runs are reproducible and CI
leaves no files behind.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,  # each test bounds every call itself, with a margin for load
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    parent=settings.get_profile("ci"),
    max_examples=5_000,
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
