"""Shared test settings: hypothesis profile (no deadline: Numba compiles on first call)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=int(os.environ.get("HARNESS_HYPOTHESIS_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.too_slow], derandomize=True,
)
settings.load_profile("default")
