"""Exact and high-precision weights for a built network (the references tests hold it to),
and the certified reference solution every error metric is measured against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import HarnessError

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
    list of exact rationals (gmpy2 mpq; they compare and compute with fractions.Fraction
    transparently) in neuron order (matching ``net.b``); for k outputs, a list of n lists of k.
    """
    from ..core.exact import solve_exact

    z = np.asarray(net.z, np.float64).tolist()
    b = np.asarray(net.b, np.float64).tolist()
    return solve_exact(z, b, labels_in_neuron_order(net, y))


def hp_weights(net: Network, y, prec: int = 256) -> list:
    """The same solution at ``prec`` bits, O(n): the midpoints of the ball-arithmetic slope
    recurrence (:func:`harness.core.exact.solve_ball`) as mpmath values, each within its
    proven radius of the exact weight; a weight that is exactly zero because the slope does
    not change is returned as 0 (shaped like :func:`exact_weights`)."""
    import mpmath

    from ..core.exact import solve_ball

    Y = np.asarray(labels_in_neuron_order(net, y), dtype=np.float64)
    sol = solve_ball(net.z, net.b, Y, prec)
    with mpmath.workprec(int(prec) + 8):  # a midpoint has at most prec bits: exact
        cols = [[mpmath.mpf(int(q.numerator)) / int(q.denominator) for q in col] for col in sol.mid]
    return cols[0] if Y.ndim == 1 else [list(r) for r in zip(*cols)]


# --- The reference solution the metrics compare against ----------------------------------

#: Up to this n the reference is exact rationals (about 1.6 s at 1,000 here).
EXACT_REFERENCE_MAX_N = 1000
#: The ball reference covers the first CHECK_MAX_N neurons (~0.15 s per 5*10^4 at 256 bits):
#: exactly those weights, since w_1..w_m depend only on points 1..m.
CHECK_MAX_N = 50_000
#: First working precision of the ball reference; doubled until certified.
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
    kind : "exact" or "ball<prec>" (the ball-arithmetic recurrence at prec bits;
        "-uncertified" appended when even MP_MAX_PREC bits could not prove CERTIFY_REL)
    m : number of leading neurons covered
    W : m x k exact rationals (mpq: the exact solution, or the balls' midpoints exactly)
    certified : proven normwise relative error of ``W``, rounded up to a float (0 for exact;
        a bound below float64's range reads as the smallest subnormal, never 0)
    certified_log2 : log2 of that bound, exact to a few ulps however small (-inf for exact)
    certified_exact : the bound itself, an exact rational (None: no bound)
    """

    kind: str
    m: int
    W: tuple
    certified: float
    certified_log2: float = float("-inf")
    certified_exact: object = 0

    def column(self, c: int = 0) -> list:
        return [row[c] for row in self.W]


def reference_solution(z, b, Y, max_exact_n: int = EXACT_REFERENCE_MAX_N,
                       max_m: int = CHECK_MAX_N, rel=CERTIFY_REL) -> Reference:
    """The reference for the system (z, b) and labels Y ((n,) or (n, k), neuron order).

    Exact rationals for n <= max_exact_n; otherwise the ball-arithmetic recurrence
    (:func:`harness.core.exact.solve_ball`) over the first ``min(n, max_m)`` neurons at 256
    bits, doubled until its proven radii give a normwise relative error below CERTIFY_REL
    (up to MP_MAX_PREC bits); ``rel`` overrides CERTIFY_REL (any positive rational, however
    small: the precision grows until the balls prove it). The certificate is an exact rational
    comparison: no floating-point step can round it to a false pass, at any precision.
    """
    from fractions import Fraction

    from .bounds import round_up
    from ..core.exact import _frac, log2_fraction, solve_ball, solve_exact

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
    limit = Fraction(rel)
    if limit <= 0:
        raise HarnessError(f"rel must be positive, got {rel!r}")
    prec = MP_START_PREC
    while True:
        sol = solve_ball(zm, bm, Ym, prec)
        cert = Fraction(0)
        for c in range(k):
            rel = sol.certified_relative(c)
            if rel is None:  # the balls do not even exclude w = 0: no relative bound at all
                cert = None
                break
            cert = max(cert, _frac(rel))
        ok = cert is not None and cert <= limit
        if ok or prec >= MP_MAX_PREC:
            W = tuple(tuple(sol.mid[c][i] for c in range(k)) for i in range(m))
            kind = f"ball{prec}" + ("" if ok else "-uncertified")
            if cert is None:
                return Reference(kind, m, W, float("inf"), float("inf"), None)
            return Reference(kind, m, W, round_up(cert) if cert else 0.0,
                             log2_fraction(cert) if cert else float("-inf"), cert)
        prec *= 2
