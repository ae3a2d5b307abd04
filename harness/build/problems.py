"""Generated problems: the seeded points and labels of a configuration (n, d, data, labels)."""

from __future__ import annotations

import numpy as np

from ..core.seeding import rng_for
from .construction import project_points
from .data import make_dataset, make_labels

__all__ = ["make_problem"]


def make_problem(n: int, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                 fmt="float64", rounding: str = "nearest", seed: int = 0):
    """The seeded inputs X (n, d) and labels y of a generated configuration.

    ``alternating`` labels alternate along the projection order of the direction that
    :func:`construct` tries first with the same seed, format and rounding.
    """
    from ..core.arith import split_target

    fmt_obj, arith = split_target(fmt)
    X, own = make_dataset(data, n, d, rng_for(seed, "data"))
    rank = np.zeros(X.shape[0], dtype=np.int64)
    if labels.split(":")[0] == "alternating":
        F = arith.layers[0].kernel() if arith else fmt_obj.kernel_spec(rounding)
        _, _, z = project_points(fmt_obj.cast(X), direction, fmt_obj, F, seed, arith=arith)
        rank[np.argsort(z, kind="stable")] = np.arange(z.size)
    return X, make_labels(labels, X.shape[0], rng_for(seed, "labels"), rank, true=own)
