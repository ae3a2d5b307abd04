"""Which training points to evaluate when evaluating all of them costs too much.

The forward pass at training point i touches neurons 1..i, so evaluating all n points
costs ~n^2/2 operations. Up to ``EVAL_BUDGET`` (n^2 <= budget) every point is
evaluated; above it, a seeded sample of ``budget // n`` points (at least
``MIN_SAMPLE``) plus both neighbours of each of the ``SMALLEST_GAPS`` smallest gaps,
where cancellation and collisions strike first. Callers record that it was a sample
and its size.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EVAL_BUDGET", "MIN_SAMPLE", "SMALLEST_GAPS", "eval_positions", "sample_size", "smallest"]

#: Forward-pass work (points x neurons) evaluated in full: ~1-2 s of Numba here.
EVAL_BUDGET = 4 * 10**8
#: Fewest sampled points, however large n.
MIN_SAMPLE = 64
#: Smallest gaps whose two neighbours are always evaluated.
SMALLEST_GAPS = 16


def sample_size(n: int, budget: int = EVAL_BUDGET) -> int:
    """Points :func:`eval_positions` draws at random for n neurons (n itself when all are evaluated;
    the smallest gaps' neighbours come on top, up to 2 * SMALLEST_GAPS of them)."""
    return n if n * n <= budget else min(n, max(MIN_SAMPLE, budget // n))


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest values, ties in index order: ``np.argsort(values,
    kind="stable")[:k]`` without sorting all of them (a partition, then a sort of the few
    candidates), so O(n) at 10^8."""
    values = np.asarray(values)
    if k >= values.size or k <= 0:
        return np.argsort(values, kind="stable")[:max(k, 0)]
    kth = np.partition(values, k - 1)[k - 1]
    if np.isnan(kth):  # fewer than k numbers: NaNs sort last, in index order
        return np.argsort(values, kind="stable")[:k]
    cand = np.flatnonzero(values <= kth)
    return cand[np.argsort(values[cand], kind="stable")][:k]


def eval_positions(z, seed: int, budget: int = EVAL_BUDGET, limit: int | None = None):
    """(sorted neuron positions to evaluate, whether it is a sample).

    ``limit`` restricts the choice to the first ``limit`` positions (the prefix a
    reference covers).
    """
    from ..core.seeding import rng_for

    z = np.asarray(z, np.float64)
    n = z.size if limit is None else min(int(limit), z.size)
    m = sample_size(n, budget)
    if m == n and n * n <= budget:
        return np.arange(n), False
    rng = rng_for(seed, "sample")
    pos = set(rng.choice(n, size=m, replace=False).tolist())
    gaps = np.diff(z[:n])
    for g in smallest(gaps, SMALLEST_GAPS):
        pos.update((int(g), int(g) + 1))
    return np.array(sorted(pos)), True
