"""Generated problems: the seeded points and labels of a configuration (n, d, data, labels)."""

from __future__ import annotations

import numpy as np

from ..core.seeding import rng_for
from ..core.validation import check_memory
from .construction import project_points
from .data import make_dataset, make_labels

__all__ = ["make_problem", "problem_bytes", "streams", "STREAM_MIN_BYTES"]


#: A generated X larger than this is streamed (``stream=None``), when its generator can be.
STREAM_MIN_BYTES = 512 * 2**20


def streams(n: int, d: int, data: str, stream: bool | None = None) -> bool:
    """Whether make_problem streams this problem: ``stream`` True/False, or None for X over
    STREAM_MIN_BYTES with a generator of harness.build.data.BLOCKWISE. True for another
    generator is an error naming the ones that stream."""
    from .data import BLOCKWISE, DATA, blockwise

    if stream is None:
        return DATA.get(data).name in BLOCKWISE and 8.0 * n * d > STREAM_MIN_BYTES
    if stream:
        blockwise(data)
    return bool(stream)


def problem_bytes(n: int, d: int, data: str = "uniform", labels: str = "binary", streamed: bool = False) -> float:
    """Bytes a generated problem and its network need (an estimate, for refusing what cannot fit:
    X in float64 and its working copy, or two blocks of rows when streamed; the labels and
    weights; O(n) work arrays, counted generously in memory and as measured when streamed)."""
    from .data import LABELS
    from .streams import BLOCK_BYTES

    k = 1
    entry = LABELS.get(labels)
    if entry.name == "classes" and str(entry.param).isdigit():  # a bad K: the generator names it
        k = int(entry.param)
    if streamed:  # measured: 5.5 GiB peak for a fit of 10^8 points (k = 1), ~59 bytes a point
        return 2.0 * BLOCK_BYTES + float(n) * k * 8 * 3 + float(n) * 8 * 7
    return float(n) * d * 8 * 2 + float(n) * k * 8 * 3 + float(n) * 8 * 16


def make_problem(n: int, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                 fmt="float64", rounding: str = "nearest", seed: int = 0, stream: bool | None = False):
    """The seeded inputs X (n, d) and labels y of a generated configuration.

    ``stream``: X as a :class:`~harness.build.streams.GeneratedSource` (the same rows, block by
    block, never held whole) when True, as an array when False, and when None whichever
    :func:`streams` picks (a streamed X for generated data over STREAM_MIN_BYTES).

    ``alternating`` labels alternate along the projection order of the direction that
    :func:`construct` tries first with the same seed, format and rounding.
    """
    from ..core.arith import split_target

    fmt_obj, arith = split_target(fmt)
    streamed = streams(n, d, data, stream)
    check_memory(problem_bytes(n, d, data, labels, streamed), f"n = {n:,}, d = {d:,}, labels {labels}")
    if streamed:
        from .streams import GeneratedSource

        X, own = GeneratedSource(data, n, d, lambda: rng_for(seed, "data")), None
    else:
        X, own = make_dataset(data, n, d, rng_for(seed, "data"))
    rank = np.zeros(X.shape[0], dtype=np.int64)
    if labels.split(":")[0] == "alternating":
        F = arith.layers[0].kernel() if arith else fmt_obj.kernel_spec(rounding)
        Xf = X.in_format(fmt_obj) if streamed else fmt_obj.cast(X)
        _, _, z = project_points(Xf, direction, fmt_obj, F, seed, arith=arith)
        rank[np.argsort(z, kind="stable")] = np.arange(z.size)
    return X, make_labels(labels, X.shape[0], rng_for(seed, "labels"), rank, true=own)
