"""Direction strategies: the layer-1 vector ``a`` whose projections order the points.

Each strategy is ``f(X, fmt, rng, param, project) -> a``: X (n, d) holds the inputs already
in the working format, the result is float64 carrier values in that format. ``project(a)``
computes the projections exactly as the construction will (its rounding mode,
stochastic-rounding stream and arithmetic), so a strategy that scores directions by their
projections scores what the construction gets (None: per-operation round-to-nearest). An explicit
vector is accepted by :func:`harness.construct` directly (it is not a registry entry).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..core.registry import Registry, int_param
from .streams import take_rows

__all__ = ["DIRECTIONS", "RANDOM_DIRECTIONS", "ROW_BLIND_DIRECTIONS", "min_gap", "relative_gap", "MAXIMIN_EVALS", "MAXIMIN_GAPS"]

class Direction(Protocol):
    """A direction strategy: the vector a (d,) in the format, from the points X (carriers in
    it), the Format, a seeded Generator, the family's parameter text (None if plain) and the
    construction's projection ``project(a) -> z`` (None: round to nearest in the format)."""

    def __call__(self, X: np.ndarray, fmt, rng, param: str | None = None, project=None) -> np.ndarray: ...


DIRECTIONS = Registry("direction", Direction)

#: Strategies that draw at random, and so may be retried with a new seed on a collision.
RANDOM_DIRECTIONS = ("gaussian", "best-of", "maximin")
#: Strategies that read no row of X (only its d): the construction leaves X's finiteness to the
#: projections for these (a row that is not finite has a projection that is not finite).
ROW_BLIND_DIRECTIONS = ("ones", "gaussian")


def min_gap(z_sorted: np.ndarray) -> float:
    """Smallest difference between consecutive sorted projections (0 on a collision)."""
    if z_sorted.size < 2:
        return float("inf")
    return float(np.min(np.diff(z_sorted)))


def relative_gap(z: np.ndarray) -> float:
    """Smallest gap between sorted projections over their range (scale-free; -inf when a
    projection is not finite, 0 on a collision, inf for fewer than 2 points)."""
    if not np.all(np.isfinite(z)):
        return -np.inf
    zs = np.sort(z)
    if zs.size < 2:
        return float("inf")
    span = zs[-1] - zs[0]
    return float(np.min(np.diff(zs)) / span) if span > 0 else 0.0


def _projector(X, fmt, project):
    """The construction's projection, or per-operation round-to-nearest in the format."""
    if project is not None:
        return project
    from ..core.kernels import project as kernel_project

    F = fmt.kernel_spec()
    return lambda a: kernel_project(X, a, F, 0)


@DIRECTIONS.register("ones")
def ones(X, fmt, rng, param=None, project=None):
    """a = (1, ..., 1), the seed document's choice (collides on equal coordinate sums)."""
    return np.ones(X.shape[1])


@DIRECTIONS.register("gaussian")
def gaussian(X, fmt, rng, param=None, project=None):
    """a ~ N(0, I_d), seeded, rounded to the working format."""
    return fmt.cast(rng.standard_normal(X.shape[1]))


@DIRECTIONS.register("best-of", param="K")
def best_of(X, fmt, rng, param, project=None):
    """Of K seeded Gaussian directions, the one whose sorted projections (as the construction
    computes them) have the largest smallest gap."""
    k = int_param(f"direction best-of:{param} (K)", param, 1, MAX_TRIES)
    proj = _projector(X, fmt, project)
    best, best_gap = None, -np.inf
    for _ in range(k):
        a = fmt.cast(rng.standard_normal(X.shape[1]))
        z = proj(a)
        gap = min_gap(np.sort(z)) if np.all(np.isfinite(z)) else -np.inf
        if gap > best_gap:
            best, best_gap = a, gap
    return best


#: best-of / maximin: at most this many directions tried (each is a projection and a sort of all n).
MAX_TRIES = 4096
#: maximin: projections computed (each one projection and one sort) at most this many times.
MAXIMIN_EVALS = 64
#: maximin: the ascent raises the log of this many smallest gaps together (a smoothed minimum).
MAXIMIN_GAPS = 4


@DIRECTIONS.register("maximin", param="K")
def maximin(X, fmt, rng, param, project=None):
    """best-of:K, then a maximin ascent: raise the smallest gap between sorted projections
    relative to their range (:func:`relative_gap`), computed in the format.

    Each step moves a along the gradient of ``sum log(gap_k) - m log(range)`` over the m =
    MAXIMIN_GAPS smallest gaps (the pairs fixed by the current order), by a step that
    doubles after an accepted move and halves after a rejected one. A move is kept only
    if the relative gap in the format grows, so the result is never worse than best-of:K;
    at most MAXIMIN_EVALS projections in all. Elementwise numpy only (no BLAS), so the
    direction is the same on every machine.
    """
    int_param(f"direction maximin:{param} (K)", param, 1)
    a = best_of(X, fmt, rng, param, project)
    proj = _projector(X, fmt, project)
    n = X.shape[0]
    z = proj(a)
    score = relative_gap(z)
    if n < 3 or not np.isfinite(score) or score <= 0:
        return a
    step, evals = 0.25, 1
    while evals < MAXIMIN_EVALS and step > 2.0 ** -24:
        order = np.argsort(z, kind="stable")
        gaps = np.diff(z[order])
        m = min(MAXIMIN_GAPS, gaps.size)
        small = np.argsort(gaps, kind="stable")[:m]
        # the rows used, in one gather (a streamed X reads them in one pass): the extremes, then
        # each small gap's upper and lower row
        pairs = np.column_stack([order[small + 1], order[small]]).ravel()
        R = take_rows(X, np.r_[order[-1], order[0], pairs])
        wide = R[0] - R[1]
        span = np.sum(a * wide)
        grad = -m * wide / span
        for t in range(small.size):
            v = R[2 + 2 * t] - R[3 + 2 * t]
            # the gap as float64 sees it; floored at a rounding of the range (the format's order may
            # disagree with float64's on a pair that close)
            grad = grad + v / max(abs(np.sum(a * v)), np.finfo(float).eps * abs(span))
        gnorm = np.sqrt(np.sum(grad * grad))
        if not np.isfinite(gnorm) or gnorm == 0:
            break
        cand = fmt.cast(a + (step * np.sqrt(np.sum(a * a)) / gnorm) * grad)
        zc = proj(cand)
        evals += 1
        sc = relative_gap(zc)
        if sc > score:
            a, z, score, step = cand, zc, sc, min(2 * step, 1.0)
        else:
            step /= 2
    return a
