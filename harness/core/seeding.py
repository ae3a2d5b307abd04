"""Every seed the harness derives, in one place (numpy ``SeedSequence`` throughout).

A user gives one integer seed. From it come independent, reproducible streams:

=====================  =======================================================================
``rng_for(s, use)``    a Generator per use of a construction's seed: ``direction`` (with the
                       retry ``attempt``), ``bias``, ``solve``, ``data``, ``labels``, ``sample``;
                       locality's ``holdout`` split, ``teacher`` labels and ``perturbations``
``solve_seed(s)``      the integer that keys the kernels' stochastic-rounding streams
                       (:func:`harness.core.rounding.stream`)
``trial_seed(b, i)``   the i-th trial of a failure-point search (the same at every n)
``point_seed(b, key)`` a sweep point's seed from the sweep seed and the point's key: independent
                       of the order of points, the number of workers and the backend
=====================  =======================================================================

The constants below are part of every stored result: changing one changes every row.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["STREAMS", "SEED_MAX", "check_seed", "rng_for", "solve_seed", "trial_seed", "point_seed"]

#: The uses of one construction seed; the number is the SeedSequence's second word.
STREAMS = {"direction": 1, "bias": 2, "solve": 3, "data": 4, "labels": 5, "sample": 6,
           "holdout": 8, "teacher": 9, "perturbations": 10}
#: Second word of a failure-search trial's SeedSequence (disjoint from STREAMS).
_TRIAL_WORD = 7


#: Seeds are whole numbers in [0, SEED_MAX): they travel through int64 kernels and Parquet columns.
SEED_MAX = 2**63


def check_seed(seed, what: str = "seed") -> int:
    """``seed`` as an int, or a HarnessError naming it (negative, too large, not whole)."""
    from .errors import HarnessError

    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise HarnessError(f"{what} must be a whole number in [0, 2^63), got {seed!r}")
    if not 0 <= int(seed) < SEED_MAX:
        raise HarnessError(f"{what} must be a whole number in [0, 2^63), got {int(seed)}")
    return int(seed)


def rng_for(seed: int, stream: str, attempt: int = 0) -> np.random.Generator:
    """Independent, reproducible generator for one use of the seed (numpy SeedSequence)."""
    seed = check_seed(seed)
    return np.random.default_rng(np.random.SeedSequence([int(seed), STREAMS[stream], int(attempt)]))


def solve_seed(seed: int) -> int:
    """Seed of the stochastic-rounding streams used by kernels for this construction."""
    return int(rng_for(seed, "solve").integers(0, 2**63 - 1))


def trial_seed(base: int, index: int) -> int:
    """Seed of the index-th trial of a failure-point search (the same at every n)."""
    return int(np.random.SeedSequence([check_seed(base), _TRIAL_WORD, int(index)]).generate_state(1)[0])


def point_seed(sweep_seed: int, key: str) -> int:
    """A sweep point's seed: SeedSequence of (sweep seed, the first 128 bits of the key's SHA-256)."""
    words = np.frombuffer(hashlib.sha256(key.encode()).digest()[:16], dtype=np.uint32).tolist()
    return int(np.random.SeedSequence([check_seed(sweep_seed, "sweep seed"), *words]).generate_state(1, dtype=np.uint32)[0])
