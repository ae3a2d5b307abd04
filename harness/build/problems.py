"""Generated problems: the seeded points and labels of a configuration (n, d, data, labels)."""

from __future__ import annotations

import numpy as np

from ..core.seeding import rng_for
from ..core.validation import check_memory
from .construction import project_points
from .data import make_dataset, make_labels

__all__ = ["make_problem", "problem_bytes"]


def problem_bytes(n: int, d: int, data: str = "uniform", labels: str = "binary") -> float:
    """Bytes a generated problem and its network need at least (an estimate from below: X in
    float64 and its working copy, the labels and weights, O(n) work arrays)."""
    from .data import LABELS

    k = 1
    entry = LABELS.get(labels)
    if entry.name == "classes" and str(entry.param).isdigit():  # a bad K: the generator names it
        k = int(entry.param)
    return float(n) * d * 8 * 2 + float(n) * k * 8 * 3 + float(n) * 8 * 16


def make_problem(n: int, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                 fmt="float64", rounding: str = "nearest", seed: int = 0):
    """The seeded inputs X (n, d) and labels y of a generated configuration.

    ``alternating`` labels alternate along the projection order of the direction that
    :func:`construct` tries first with the same seed, format and rounding.
    """
    from ..core.arith import split_target

    fmt_obj, arith = split_target(fmt)
    check_memory(problem_bytes(n, d, data, labels), f"n = {n:,}, d = {d:,}, labels {labels}")
    X, own = make_dataset(data, n, d, rng_for(seed, "data"))
    rank = np.zeros(X.shape[0], dtype=np.int64)
    if labels.split(":")[0] == "alternating":
        F = arith.layers[0].kernel() if arith else fmt_obj.kernel_spec(rounding)
        _, _, z = project_points(fmt_obj.cast(X), direction, fmt_obj, F, seed, arith=arith)
        rank[np.argsort(z, kind="stable")] = np.arange(z.size)
    return X, make_labels(labels, X.shape[0], rng_for(seed, "labels"), rank, true=own)
