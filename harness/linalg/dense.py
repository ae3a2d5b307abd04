"""M as a dense matrix, for the solvers and condition estimators that go through BLAS/LAPACK."""

from __future__ import annotations

import numpy as np

__all__ = ["dense_matrix", "DENSE_ALIGN"]

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
