"""Solver strategies for the triangular system ``M w = y``.

Each solver is ``f(z, b, Y, fmt, F, seed) -> W`` with z, b, Y (n, k) float64 carriers
in the working format and W carriers in it too.

============  ===========  ==========  =============================================
name          time         memory      what
============  ===========  ==========  =============================================
recurrence    O(n k)       O(n k)      running slope/intercept sums (MATH.md §3)
backsub       O(n^2 k)     O(n k)      substitution, M's entries made on the fly
lapack        O(n^2 k)     O(n^2)      SciPy ``solve_triangular`` on the dense M,
                                       native float64/float32 only, n^2 * itemsize
                                       <= ``LAPACK_MAX_BYTES``
exact         grows ~n^2   grows       exact rationals, rounded once to the format,
                                       n <= ``EXACT_MAX_N``
============  ===========  ==========  =============================================
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from numba import njit

from ..core.arith import require_per_op
from ..core.errors import HarnessError
from ..core.kernels import hardware_rounded, step_f64
from ..core.registry import Registry
from .biases import finish_knots, first_knot, fixed_theta, knot_f64

__all__ = ["SOLVERS", "LAPACK_MAX_BYTES", "EXACT_MAX_N", "knots_and_recurrence"]

class Solver(Protocol):
    """A solver: ``W`` (n, k) carriers in the working format, from z, b, Y (carriers already
    in it), the :class:`~harness.core.formats.Format`, its kernel tuple ``F`` and the
    stochastic-rounding seed."""

    def __call__(self, z: np.ndarray, b: np.ndarray, Y: np.ndarray, fmt, F: tuple, seed: int) -> np.ndarray: ...


SOLVERS = Registry("solver", Solver)

#: Largest dense matrix `lapack` will build: 4 GiB (n ~ 23,000 in float64), a sixth of
#: this machine's 24 GiB, leaving room for the copy solve_triangular may make.
LAPACK_MAX_BYTES = 4 * 2**30

#: Exact rational solves grow denominators by ~p bits per neuron, so cost ~n^2:
#: n = 2,000 takes ~2 s here; 5,000 ~15 s.
EXACT_MAX_N = 5000


@SOLVERS.register("recurrence")
def recurrence(z, b, Y, fmt, F, seed):
    """O(n) forward recurrence over running sums, each op rounded (or sums held in the accumulator of an S@A) (Numba)."""
    from ..core.arith import Arithmetic

    if isinstance(fmt, Arithmetic):
        from ..core.mixed import solve_recurrence_mixed

        return solve_recurrence_mixed(z, b, Y, F)
    from ..core.kernels import solve_recurrence

    return solve_recurrence(z, b, Y, F, seed, np.empty(Y.shape))


@SOLVERS.register("backsub")
def backsub(z, b, Y, fmt, F, seed):
    """Classic substitution, M's entries computed on the fly, O(n) memory (Numba)."""
    from ..core.kernels import solve_backsub

    require_per_op("solver backsub", fmt)

    return solve_backsub(z, b, Y, F, seed)


@SOLVERS.register("lapack")
def lapack(z, b, Y, fmt, F, seed):
    """SciPy solve_triangular (LAPACK xTRTRS) on the dense matrix: the reference a user would write."""
    from scipy.linalg import solve_triangular

    require_per_op("solver lapack", fmt)
    fmt.require_native("solver lapack", F)
    dtype = fmt.storage_dtype()
    n = z.size
    need = n * n * dtype.itemsize
    if need > LAPACK_MAX_BYTES:
        raise HarnessError(f"solver lapack would need a dense {n} x {n} {fmt.name} matrix "
                           f"({need / 2**30:.1f} GiB > the {LAPACK_MAX_BYTES / 2**30:.0f} GiB limit); "
                           "use recurrence (O(n)) or backsub (O(n) memory)")
    from ..linalg.dense import dense_matrix

    M = dense_matrix(z, b, dtype)
    W = solve_triangular(M, np.asarray(Y, dtype=dtype), lower=True, check_finite=False)
    return np.asarray(W, dtype=np.float64)


@SOLVERS.register("exact")
def exact(z, b, Y, fmt, F, seed):
    """The exact rational solution, each weight correctly rounded once to the format."""
    from ..core.exact import round_fraction, solve_exact

    if z.size > EXACT_MAX_N:
        raise HarnessError(f"solver exact is limited to n <= {EXACT_MAX_N} (its cost grows like n^2 "
                           f"with the size of the rationals); got n = {z.size}")
    from ..core.arith import Arithmetic

    target = fmt.storage if isinstance(fmt, Arithmetic) else fmt
    sol = solve_exact(z.tolist(), b.tolist(), Y)
    return np.array([[round_fraction(v, target) for v in row] for row in sol], dtype=np.float64)


@njit(cache=True)
def _knots_and_recurrence_f64(z, b0, theta, Y, b, W):
    """Knots (:func:`harness.build.biases.knot_f64`) and the recurrence's weights
    (:func:`harness.core.kernels.step_f64`) in one pass over z: fill b and W; (knots moved, first
    index that fails to interleave or -1). The recurrence is a chain of dependent divisions; the
    knot's few independent operations run in its shadow (at 10^6 on an Intel Xeon: a separate
    knot pass 1.6 ms, the recurrence alone 9.0 ms, this pass 9.3 ms). Further label columns reuse the knots."""
    n, k = Y.shape
    moved = 0
    bad = -1
    S = 0.0
    T = 0.0
    for i in range(n):
        v, moved, bad = knot_f64(z[i - 1] if i else 0.0, z[i], b0, theta, i, moved, bad)
        b[i] = v
        W[i, 0], S, T = step_f64(Y[i, 0], z[i], v, S, T)
    for c in range(1, k):
        S = 0.0
        T = 0.0
        for i in range(n):
            W[i, c], S, T = step_f64(Y[i, c], z[i], b[i], S, T)
    return moved, bad


def knots_and_recurrence(bias, z, Y, fmt, F, solver, first_offset=None, b=None, W=None):
    """(b, knots moved, W) from one pass, where it gives what :func:`harness.build.biases.place`
    followed by ``solver`` (the registry entry's function) gives, bit for bit
    (tests/test_biases.py): this module's recurrence in float64 with round to nearest and the
    built-in knots at one fraction of every gap (midpoint, left, fraction:theta). None otherwise
    (another function served under those names included), or for an empty z: the caller then
    places and solves apart. The same checks as ``place``, in its order, raise the same errors
    (W is then discarded). ``b``, ``W``: float64 C-contiguous arrays of z's and Y's shapes to
    fill (memory the caller no longer needs; fresh memory costs its page faults), else new; W may
    be Y itself (each label is read before its weight is written), which Y's caller then loses."""
    theta = fixed_theta(bias, z, fmt)  # None unless float64 (an arithmetic S@A is not) and one theta
    if solver is not recurrence or theta is None or not hardware_rounded(F) or z.size == 0:
        return None
    b0, off = first_knot(z, fmt, first_offset)
    b = np.empty(z.size) if b is None else _filled(b, z.shape)  # numpy's: huge pages, fewer faults
    W = np.empty(Y.shape) if W is None else _filled(W, Y.shape)
    moved, bad = _knots_and_recurrence_f64(np.ascontiguousarray(z), b0, theta, np.ascontiguousarray(Y), b, W)
    finish_knots(z, b, off, fmt, bad)
    return b, int(moved), W


def _filled(out, shape):
    """``out`` checked as the float64 C-contiguous array of ``shape`` to write a result into."""
    if out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"an output array must be writable float64 C-contiguous of shape {shape}, "
                         f"got {out.dtype} {out.shape}")
    return out
