"""Evaluator strategies: ways to compute the network's outputs ``f(x)``.

Each is ``f(X, a, b, W, fmt, F, seed) -> out`` (m, k): X, a, b, W are float64 carriers
already rounded to the evaluation format; out is carriers in that format. ``fmt`` is a
:class:`~harness.core.formats.Format` (per-operation rounding; ``F`` its kernel tuple) or
an :class:`~harness.core.arith.Arithmetic` (``STORAGE@ACCUM``; ``F`` its layer tuples).
An evaluator that cannot run what it is given says so. :func:`run_forward` does the
casts and the dispatch for every caller.

===========  ==================================================================
dense        numpy matmuls over the materialised layers, as a framework runs it:
             ``relu(X @ W1.T + b1) @ w2`` in float32/float64 (BLAS: its own
             summation order, possibly FMA). Native formats only.
sequential   the forward pass in Numba, neurons in sorted order: each op rounded
             (a format), or exact products accumulated per layer (an arithmetic).
compensated  the same with Neumaier summation in the working format (formats only).
prefix       ``S_k t - T_k`` through running sums: the same function, NOT the
             network's forward pass (MATH.md §3); O(log n) per point (formats only).
torch        PyTorch's ``nn.Sequential`` on CPU (``torch-cuda``: on the GPU) in the
             matching dtype (:mod:`harness.build.torch_eval`; the optional extra).
===========  ==================================================================
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..core.arith import require_per_op
from ..core.errors import HarnessError
from ..core.registry import Registry

__all__ = ["EVALUATORS", "DENSE_CHUNK_BYTES", "Evaluator", "run_forward"]


class Evaluator(Protocol):
    """An evaluator: outputs (m, k) carriers in the evaluation format (or arithmetic) from X, a,
    b, W (carriers already rounded to it), the Format or Arithmetic, its kernel tuple ``F``
    and the seed."""

    def __call__(self, X: np.ndarray, a: np.ndarray, b: np.ndarray, W: np.ndarray, fmt, F: tuple,
                 seed: int) -> np.ndarray: ...


EVALUATORS = Registry("evaluator", Evaluator)

#: Memory for one block of the dense hidden layer (rows x n): bounds dense's footprint.
DENSE_CHUNK_BYTES = 256 * 2**20


@EVALUATORS.register("dense")
def dense(X, a, b, W, fmt, F, seed):
    """numpy matmul over W1 (n x d, identical rows), b1 = -b and w2, as a user would run it."""
    require_per_op("evaluator dense", fmt)
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
    """Forward pass in sorted neuron order: every op rounded (format) or exact products accumulated per layer (S@A) (Numba)."""
    from ..core.arith import Arithmetic

    if isinstance(fmt, Arithmetic):
        from ..core.mixed import eval_mixed

        return eval_mixed(X, a, b, W, F)
    from ..core.kernels import eval_sequential

    return eval_sequential(X, a, b, W, F, seed)


@EVALUATORS.register("compensated")
def compensated(X, a, b, W, fmt, F, seed):
    """Forward pass with Neumaier compensated summation in the format (Numba)."""
    from ..core.kernels import eval_compensated

    require_per_op("evaluator compensated", fmt)
    return eval_compensated(X, a, b, W, F, seed)


@EVALUATORS.register("prefix")
def prefix(X, a, b, W, fmt, F, seed):
    """Running-sum form S_k t - T_k: same function, not the network's forward pass."""
    from ..core.kernels import eval_prefix, prefix_sums

    require_per_op("evaluator prefix", fmt)
    S, T = prefix_sums(b, W, F, seed)
    return eval_prefix(X, a, b, S, T, F, seed)


@EVALUATORS.register("torch")
def torch_cpu(X, a, b, W, fmt, F, seed):
    """PyTorch nn.Sequential on the CPU in the matching dtype (optional extra 'torch')."""
    from .torch_eval import torch_forward

    return torch_forward(X, a, b, W, fmt, "cpu")


@EVALUATORS.register("torch-cuda")
def torch_cuda(X, a, b, W, fmt, F, seed):
    """PyTorch nn.Sequential on a CUDA GPU in the matching dtype (optional extra 'torch')."""
    from .torch_eval import torch_forward

    return torch_forward(X, a, b, W, fmt, "cuda")


def run_forward(X, a, b, W, target, evaluator: str = "sequential", rounding: str = "nearest",
                seed: int = 0, weights_in_format: bool = False) -> np.ndarray:
    """f(X) for a network's carriers (a, b, W: float64, (n, k) W) in ``target``: a format
    name (per-operation rounding) or an arithmetic ``S@A`` (layer 1 in its storage, layer 2
    in its own). X, a, b and W are rounded once to their layer's storage first (a cast,
    nearest-even; exact when already in it: ``weights_in_format`` skips the weights' casts
    then). Returns (m, k) carriers of the output format.
    """
    from ..core.arith import Arithmetic, resolve

    ev = EVALUATORS.get(evaluator)
    t = resolve(target)
    if isinstance(t, Arithmetic):
        if rounding != "nearest":
            raise HarnessError(f"arithmetic {t.name}: its roundings are fixed by the hardware model "
                               f"(nearest or +rz); rounding {rounding!r} applies to per-operation formats")
        s1, s2 = t.layers[0].storage, t.layers[1].storage
        if not weights_in_format:
            a, b, W = s1.cast(a), s1.cast(b), s2.cast(W)
        return ev.func(s1.cast(X), a, b, W, t, t.kernel(), int(seed))
    F = t.kernel_spec(rounding)
    if not weights_in_format:
        a, b, W = t.cast(a), t.cast(b), t.cast(W)
    return ev.func(t.cast(X), a, b, W, t, F, int(seed))
