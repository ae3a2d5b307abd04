"""Direction strategies: the layer-1 vector ``a`` whose projections order the points.

Each strategy is ``f(X, fmt, rng, param) -> a``: X (n, d) holds the inputs already in
the working format, the result is float64 carrier values in that format. An explicit
vector is accepted by :func:`harness.construct` directly (it is not a registry entry).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..core.registry import Registry, int_param

__all__ = ["DIRECTIONS", "RANDOM_DIRECTIONS", "min_gap"]

class Direction(Protocol):
    """A direction strategy: the vector a (d,) in the format, from the points X (carriers in
    it), the Format, a seeded Generator and the family's parameter text (None if plain)."""

    def __call__(self, X: np.ndarray, fmt, rng, param: str | None = None) -> np.ndarray: ...


DIRECTIONS = Registry("direction", Direction)

#: Strategies that draw at random, and so may be retried with a new seed on a collision.
RANDOM_DIRECTIONS = ("gaussian", "best-of")


def min_gap(z_sorted: np.ndarray) -> float:
    """Smallest difference between consecutive sorted projections (0 on a collision)."""
    if z_sorted.size < 2:
        return float("inf")
    return float(np.min(np.diff(z_sorted)))


@DIRECTIONS.register("ones")
def ones(X, fmt, rng, param=None):
    """a = (1, ..., 1), the seed document's choice (collides on equal coordinate sums)."""
    return np.ones(X.shape[1])


@DIRECTIONS.register("gaussian")
def gaussian(X, fmt, rng, param=None):
    """a ~ N(0, I_d), seeded, rounded to the working format."""
    return fmt.cast(rng.standard_normal(X.shape[1]))


@DIRECTIONS.register("best-of", param="K")
def best_of(X, fmt, rng, param):
    """Of K seeded Gaussian directions, the one whose sorted projections have the largest smallest gap."""
    from ..core.kernels import project

    k = int_param(f"direction best-of:{param} (K)", param, 1)
    F = fmt.kernel_spec()
    best, best_gap = None, -np.inf
    for _ in range(k):
        a = fmt.cast(rng.standard_normal(X.shape[1]))
        z = project(X, a, F, 0)
        gap = min_gap(np.sort(z)) if np.all(np.isfinite(z)) else -np.inf
        if gap > best_gap:
            best, best_gap = a, gap
    return best
