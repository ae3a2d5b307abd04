"""Shared test settings: hypothesis profile (no deadline: Numba compiles on first call)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=int(os.environ.get("HARNESS_HYPOTHESIS_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.too_slow], derandomize=True,
)
settings.load_profile("default")

from harness.core.formats import FORMATS  # noqa: E402

#: Every registered format, and the generic fp:P family at both ends of the range the
#: float64 carrier emulates exactly (P = 25 is the widest: 53 >= 2P + 2).
ALL_FORMATS = [name for name in FORMATS.names() if not name.endswith(":P")] + ["fp:5", "fp:25"]


def small_sweep(name: str, seed: int) -> str:
    """A 16-point sweep file (n 8 and 24, d 2, float64 and float16, 2 seeds; fit and solve): seconds."""
    return f"""
name = "{name}"
seed = {seed}
seeds = 2
metrics = ["fit", "solve"]

[axes]
n = [8, 24]
d = [2]
fmt = ["float64", "float16"]
"""
