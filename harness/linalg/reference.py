"""Exact and high-precision weights for a built network (the references tests hold it to),
and the certified reference solution every error metric is measured against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import HarnessError
from ..core.exact import solve_mp

__all__ = ["exact_weights", "hp_weights", "labels_in_neuron_order", "Reference", "reference_solution",
           "EXACT_REFERENCE_MAX_N", "CHECK_MAX_N"]


def labels_in_neuron_order(net: Network, y):
    """The caller's labels (original row order, ``net.n_input`` rows) permuted to neuron order.

    Non-float entries (decimal strings, Fractions) are kept as objects so that the
    exact reference can take them exactly.
    """
    arr = np.asarray(y, dtype=object)
    if arr.shape[0] != net.n_input:
        raise HarnessError(f"y has {arr.shape[0]} rows but the network was built from {net.n_input}")
    if (arr.ndim == 1) != (net.w.ndim == 1) or (arr.ndim == 2 and arr.shape[1] != net.k):
        raise HarnessError(f"y has shape {arr.shape}, the network has {net.k} output(s)")
    return arr[np.asarray(net.order)]


def exact_weights(net: Network, y) -> list:
    """Exact rational solution of the network's own triangular system for labels y.

    The system is the one the network's floating-point z and b define
    (``M[i, j] = relu(z_i - b_j)`` taken exactly); y is in the caller's row order
    and taken exactly (floats as their dyadic values, strings as decimals).

    Returns
    -------
    list of fractions.Fraction in neuron order (matching ``net.b``); for k outputs,
    a list of n lists of k Fractions.
    """
    from ..core.exact import solve_exact

    z = np.asarray(net.z, np.float64).tolist()
    b = np.asarray(net.b, np.float64).tolist()
    return solve_exact(z, b, labels_in_neuron_order(net, y))


def hp_weights(net: Network, y, prec: int = 256) -> list:
    """The same solution by the O(n) recurrence in mpmath at ``prec`` bits (mpf values)."""
    z = np.asarray(net.z, np.float64)
    b = np.asarray(net.b, np.float64)
    return solve_mp(z, b, np.asarray(labels_in_neuron_order(net, y), dtype=np.float64), prec)


# --- The reference solution the metrics compare against ----------------------------------

#: Up to this n the reference is exact rationals (about 1.6 s at 1,000 here).
EXACT_REFERENCE_MAX_N = 1000
#: The mpmath reference covers the first CHECK_MAX_N neurons (~1 s per 5*10^4 at 256 bits):
#: exactly those weights, since w_1..w_m depend only on points 1..m.
CHECK_MAX_N = 50_000
#: First working precision of the mpmath reference; doubled until certified.
MP_START_PREC = 256
#: Largest precision tried; past it the reference is reported as not certified.
MP_MAX_PREC = 1 << 14
#: A reference counts as certified when its proven normwise relative error is below this:
#: 11 bits under float64's unit roundoff, so it cannot blur any format's error.
CERTIFY_REL = 2.0**-64


@dataclass(frozen=True)
class Reference:
    """The true solution of the first ``m`` rows of ``M w = y`` (y the caller's labels).

    Attributes
    ----------
    kind : "exact" or "mp<prec>" (the mpmath recurrence at prec bits)
    m : number of leading neurons covered
    W : m x k Fractions (mpmath values converted exactly)
    certified : proven normwise relative error of ``W`` (0 for exact; from the a-priori
        bound of :func:`harness.linalg.bounds.solve_error_bound_fast` with u = 2^-prec)
    """

    kind: str
    m: int
    W: tuple
    certified: float

    def column(self, c: int = 0) -> list:
        return [row[c] for row in self.W]


def reference_solution(z, b, Y, max_exact_n: int = EXACT_REFERENCE_MAX_N,
                       max_m: int = CHECK_MAX_N) -> Reference:
    """The reference for the system (z, b) and labels Y ((n,) or (n, k), neuron order).

    Exact rationals for n <= max_exact_n; otherwise the mpmath recurrence over the first
    ``min(n, max_m)`` neurons at 256 bits, doubled until its a-priori bound proves a
    normwise relative error below CERTIFY_REL (up to MP_MAX_PREC bits).
    """
    from fractions import Fraction

    import mpmath

    from .bounds import solve_error_bound_fast
    from ..core.exact import mpf_to_fraction, solve_exact

    z = np.asarray(z, np.float64)
    b = np.asarray(b, np.float64)
    Y = np.asarray(Y, np.float64)
    Y = Y.reshape(Y.shape[0], -1)
    n, k = Y.shape
    if n <= max_exact_n:
        sol = solve_exact(z.tolist(), b.tolist(), Y)
        return Reference("exact", n, tuple(tuple(r) for r in sol), 0.0)
    m = min(n, int(max_m))
    zm, bm, Ym = z[:m], b[:m], Y[:m]
    prec = MP_START_PREC
    while True:
        sol = solve_mp(zm, bm, Ym, prec)
        W = [[mpf_to_fraction(v) for v in row] for row in sol]
        cert = 0.0
        for c in range(k):
            col = [row[c] for row in sol]
            top_exp = max((int(mpmath.frexp(v)[1]) for v in col if v != 0), default=None)
            if top_exp is None:  # all weights zero: exact (y = 0)
                continue
            # The bound is linear in |w|: certify the weights scaled by 2^-top_exp, each
            # rounded *up* (|w| only enters with non-negative coefficients).
            scaled = np.array([abs(float(mpmath.ldexp(v, -top_exp))) for v in col])
            scaled = scaled * (1 + 2.0**-52) + 5e-324
            bound = solve_error_bound_fast(zm, bm, scaled, np.zeros(m), np.zeros(m), "float64",
                                           "recurrence", u=Fraction(1, 2**prec))
            cert = max(cert, float(np.max(bound)) / 0.5)  # max |scaled w| >= 1/2
        if cert <= CERTIFY_REL or prec >= MP_MAX_PREC:
            kind = f"mp{prec}" + ("" if cert <= CERTIFY_REL else "-uncertified")
            return Reference(kind, m, tuple(tuple(r) for r in W), float(cert))
        prec *= 2
