"""Evaluator strategies: ways to compute the network's outputs ``f(x)``.

Each is ``f(X, a, b, W, fmt, F, seed) -> out`` (m, k): X, a, b, W are float64 carriers
already rounded to the evaluation format; out is carriers in that format.

===========  ==================================================================
dense        numpy matmuls over the materialised layers, as a framework runs it:
             ``relu(X @ W1.T + b1) @ w2`` in float32/float64 (BLAS: its own
             summation order, possibly FMA). Native formats only.
sequential   the forward pass in Numba, each op rounded, neurons in sorted order.
compensated  the same with Neumaier summation in the working format.
prefix       ``S_k t - T_k`` through running sums: the same function, NOT the
             network's forward pass (MATH.md §3); O(log n) per point.
===========  ==================================================================
"""

from __future__ import annotations

import numpy as np

from .registry import Registry

__all__ = ["EVALUATORS", "DENSE_CHUNK_BYTES"]

EVALUATORS = Registry("evaluator")

#: Memory for one block of the dense hidden layer (rows x n): bounds dense's footprint.
DENSE_CHUNK_BYTES = 256 * 2**20


@EVALUATORS.register("dense")
def dense(X, a, b, W, fmt, F, seed):
    """numpy matmul over W1 (n x d, identical rows), b1 = -b and w2, as a user would run it."""
    fmt.require_native("evaluator dense", F)
    dt = fmt.storage_dtype()
    n = b.size
    W1 = np.repeat(np.asarray(a, dt)[None, :], n, axis=0)
    b1 = -np.asarray(b, dt)
    w2 = np.asarray(W, dt)
    Xd = np.asarray(X, dt)
    out = np.empty((X.shape[0], W.shape[1]), dtype=dt)
    rows = max(1, DENSE_CHUNK_BYTES // max(1, n * dt.itemsize))
    for s in range(0, X.shape[0], rows):
        H = Xd[s:s + rows] @ W1.T + b1
        np.maximum(H, dt.type(0), out=H)
        out[s:s + rows] = H @ w2
    return out.astype(np.float64)


@EVALUATORS.register("sequential")
def sequential(X, a, b, W, fmt, F, seed):
    """Forward pass, every op rounded in the format, neurons summed in sorted order (Numba)."""
    from .kernels import eval_sequential

    return eval_sequential(X, a, b, W, F, seed)


@EVALUATORS.register("compensated")
def compensated(X, a, b, W, fmt, F, seed):
    """Forward pass with Neumaier compensated summation in the format (Numba)."""
    from .kernels import eval_compensated

    return eval_compensated(X, a, b, W, F, seed)


@EVALUATORS.register("prefix")
def prefix(X, a, b, W, fmt, F, seed):
    """Running-sum form S_k t - T_k: same function, not the network's forward pass."""
    from .kernels import eval_prefix, prefix_sums

    S, T = prefix_sums(b, W, F, seed)
    return eval_prefix(X, a, b, S, T, F, seed)
