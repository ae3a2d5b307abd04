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

import numpy as np

from .errors import HarnessError
from .registry import Registry

__all__ = ["SOLVERS", "LAPACK_MAX_BYTES", "EXACT_MAX_N"]

SOLVERS = Registry("solver")

#: Largest dense matrix `lapack` will build: 4 GiB (n ~ 23,000 in float64), a sixth of
#: this machine's 24 GiB, leaving room for the copy solve_triangular may make.
LAPACK_MAX_BYTES = 4 * 2**30

#: Exact rational solves grow denominators by ~p bits per neuron, so cost ~n^2:
#: n = 2,000 takes ~2 s here; 5,000 ~15 s.
EXACT_MAX_N = 5000


@SOLVERS.register("recurrence")
def recurrence(z, b, Y, fmt, F, seed):
    """O(n) forward recurrence over running sums, each op rounded (Numba)."""
    from .kernels import solve_recurrence

    return solve_recurrence(z, b, Y, F, seed)


@SOLVERS.register("backsub")
def backsub(z, b, Y, fmt, F, seed):
    """Classic substitution, M's entries computed on the fly, O(n) memory (Numba)."""
    from .kernels import solve_backsub

    return solve_backsub(z, b, Y, F, seed)


#: Alignment of dense matrices handed to BLAS/LAPACK: OpenBLAS's SIMD kernels split their
#: work by the array's address, so the same matrix at another address can round
#: differently; a fixed alignment makes results independent of where numpy put it.
DENSE_ALIGN = 64


def dense_matrix(z, b, dtype, order: str = "C") -> np.ndarray:
    """M[i, j] = relu(z_i - b_j) in ``dtype`` arithmetic (each entry one rounded subtraction),
    in a DENSE_ALIGN-byte-aligned buffer."""
    dtype = np.dtype(dtype)
    z = np.asarray(z, dtype=dtype)
    b = np.asarray(b, dtype=dtype)
    n, m = z.size, b.size
    nbytes = n * m * dtype.itemsize
    buf = np.empty(nbytes + DENSE_ALIGN, dtype=np.uint8)
    off = (-buf.ctypes.data) % DENSE_ALIGN
    out = buf[off:off + nbytes].view(dtype).reshape((n, m), order=order)
    np.subtract(z[:, None], b[None, :], out=out)
    np.maximum(out, dtype.type(0), out=out)
    return out


@SOLVERS.register("lapack")
def lapack(z, b, Y, fmt, F, seed):
    """SciPy solve_triangular (LAPACK xTRTRS) on the dense matrix: the reference a user would write."""
    from scipy.linalg import solve_triangular

    fmt.require_native("solver lapack", F)
    dtype = fmt.storage_dtype()
    n = z.size
    need = n * n * dtype.itemsize
    if need > LAPACK_MAX_BYTES:
        raise HarnessError(f"solver lapack would need a dense {n} x {n} {fmt.name} matrix "
                           f"({need / 2**30:.1f} GiB > the {LAPACK_MAX_BYTES / 2**30:.0f} GiB limit); "
                           "use recurrence (O(n)) or backsub (O(n) memory)")
    M = dense_matrix(z, b, dtype)
    W = solve_triangular(M, np.asarray(Y, dtype=dtype), lower=True, check_finite=False)
    return np.asarray(W, dtype=np.float64)


@SOLVERS.register("exact")
def exact(z, b, Y, fmt, F, seed):
    """The exact rational solution, each weight correctly rounded once to the format."""
    from .exact import round_fraction, solve_exact

    if z.size > EXACT_MAX_N:
        raise HarnessError(f"solver exact is limited to n <= {EXACT_MAX_N} (its cost grows like n^2 "
                           f"with the size of the rationals); got n = {z.size}")
    sol = solve_exact(z.tolist(), b.tolist(), Y)
    return np.array([[round_fraction(v, fmt) for v in row] for row in sol], dtype=np.float64)
