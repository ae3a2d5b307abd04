"""Exact and high-precision references.

Every float is a dyadic rational, so once z, b and y are fixed the triangular system
``M w = y`` (``M[i, j] = relu(z_i - b_j)``) has one exact rational solution. This
module computes it (gmpy2's ``mpq`` when installed, else :class:`fractions.Fraction`;
results are returned as ``Fraction``), computes it at a chosen mpmath precision by
the O(n) recurrence for n in the millions, and rounds rationals correctly to any
registered format. mpmath's precision is always restored (``workprec``).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np

from .errors import HarnessError
from .formats import Format

__all__ = [
    "to_fraction", "solve_exact", "solve_mp", "round_fraction", "matrix_exact",
    "apply_exact", "inverse_exact", "log2_fraction", "mpf_to_fraction", "to_float",
]

try:  # gmpy2 makes exact arithmetic ~10-50x faster; Fraction is the fallback.
    from gmpy2 import mpq as _Q
except ImportError:  # pragma: no cover - exercised only without gmpy2
    _Q = Fraction


def to_fraction(x) -> Fraction:
    """Exact rational value of a float, int, decimal string or Fraction.

    >>> to_fraction("0.1"), to_fraction(0.5)
    (Fraction(1, 10), Fraction(1, 2))
    """
    if isinstance(x, Fraction):
        return x
    if isinstance(x, str):
        try:
            return Fraction(x.strip())
        except ValueError:
            raise HarnessError(f"not a number: {x!r}") from None
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    v = float(x)
    if not math.isfinite(v):
        raise HarnessError(f"not a finite number: {x!r}")
    return Fraction(v)


def _q(x):
    if _Q is not Fraction and isinstance(x, (float, np.floating)) and math.isfinite(x):
        return _Q(float(x))  # gmpy2's mpq(float) is exact: skip the Fraction detour
    f = to_fraction(x)
    return _Q(f.numerator, f.denominator)


def _frac(q) -> Fraction:
    return Fraction(int(q.numerator), int(q.denominator))


def _columns(Y) -> list:
    """Y as a list of k columns of exact values (Y may be (n,), (n, k) or nested lists)."""
    arr = np.asarray(Y, dtype=object)
    if arr.ndim == 1:
        return [[_q(v) for v in arr]]
    return [[_q(v) for v in arr[:, c]] for c in range(arr.shape[1])]


def solve_exact(z: Sequence, b: Sequence, Y) -> list:
    """Exact solution of ``M w = Y`` by the exact recurrence (no rounding anywhere).

    Parameters
    ----------
    z, b : sequences of float, str or Fraction
        Sorted projections and interleaved biases (neuron order).
    Y : (n,) or (n, k)
        Right-hand sides, exactly as given.

    Returns
    -------
    list of Fraction (n,) for 1-D Y, else a list of n lists of k Fractions.

    Examples
    --------
    >>> [str(w) for w in solve_exact([1, 2], [0, 1], [1, 1])]
    ['1', '-1']
    """
    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    cols = _columns(Y)
    n = len(zq)
    if len(bq) != n or any(len(c) != n for c in cols):
        raise HarnessError(f"z, b and y must have the same length (got {n}, {len(bq)}, {[len(c) for c in cols]})")
    out_cols = []
    for col in cols:
        S = _Q(0)
        T = _Q(0)
        ws = []
        for i in range(n):
            den = zq[i] - bq[i]
            if den <= 0:
                raise HarnessError(f"diagonal entry {i} is z[{i}] - b[{i}] = {_frac(den)} <= 0: "
                                   "the biases do not interleave the projections")
            w = (col[i] - zq[i] * S + T) / den
            ws.append(w)
            S += w
            T += w * bq[i]
        out_cols.append([_frac(w) for w in ws])
    if np.asarray(Y, dtype=object).ndim == 1:
        return out_cols[0]
    return [list(row) for row in zip(*out_cols)]


def solve_mp(z, b, Y, prec: int = 256) -> list:
    """The recurrence in mpmath at ``prec`` bits (rounding each op to ``prec`` bits).

    O(n) time: the high-precision reference for n in the millions. Returns mpf
    values shaped like :func:`solve_exact`'s. Its own error is bounded by the same
    analysis as the float recurrence with u = 2**-prec (see :mod:`harness.linalg.bounds`).
    """
    import mpmath

    cols_in = np.asarray(Y, dtype=np.float64)
    one_d = cols_in.ndim == 1
    cols_in = cols_in.reshape(len(cols_in), -1)
    with mpmath.workprec(int(prec)):
        mpf = mpmath.mpf
        zm = [mpf(float(v)) for v in z]
        bm = [mpf(float(v)) for v in b]
        dens = [zi - bi for zi, bi in zip(zm, bm)]
        out = []
        for c in range(cols_in.shape[1]):
            S = mpf(0)
            T = mpf(0)
            ws = []
            for i, yi in enumerate(cols_in[:, c].tolist()):
                w = (yi - zm[i] * S + T) / dens[i]
                ws.append(w)
                S += w
                T += w * bm[i]
            out.append(ws)
    if one_d:
        return out[0]
    return [list(row) for row in zip(*out)]


def round_fraction(q, fmt: Format) -> float:
    """Round an exact rational to ``fmt`` (nearest, ties to even); returns a float.

    Overflow gives +-inf (NaN for formats without infinities), underflow is gradual.
    """
    q = to_fraction(q)
    if q == 0:
        return 0.0
    sign = -1.0 if q < 0 else 1.0
    num, den = abs(q.numerator), q.denominator
    e = num.bit_length() - den.bit_length()  # floor(log2|q|) is e or e - 1
    below = num < (den << e) if e >= 0 else (num << -e) < den
    if below:
        e -= 1
    e = max(e, fmt.emin)
    shift = fmt.p - 1 - e  # scale so the quantum is 1
    if shift >= 0:
        m, r = divmod(num << shift, den)
        half = 2 * r - den
    else:
        m, r = divmod(num, den << -shift)
        half = 2 * r - (den << -shift)
    if half > 0 or (half == 0 and m & 1):
        m += 1
    try:  # past float64's range (far beyond any format's max_finite): overflow below
        value = math.ldexp(float(m), -shift) if m.bit_length() <= 60 else float("inf")
    except OverflowError:
        value = float("inf")
    if value > fmt.max_finite:
        return float("nan") if fmt.overflow == "nan" else sign * float("inf")
    return sign * value


def matrix_exact(z, b) -> list:
    """The interpolation matrix as exact rationals, rows = points, columns = neurons."""
    zq = [to_fraction(v) for v in z]
    bq = [to_fraction(v) for v in b]
    return [[max(zi - bj, Fraction(0)) for bj in bq] for zi in zq]


def apply_exact(z, b, w) -> list:
    """``M w`` exactly, in O(n) through running sums (w 1-D: floats or Fractions).

    Returns a list of Fractions (computed with gmpy2's mpq when available).
    """
    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    wq = [_q(v) for v in w]
    out, S, T = [], _Q(0), _Q(0)
    for zi, bi, wi in zip(zq, bq, wq):
        S += wi
        T += wi * bi
        out.append(zi * S - T)
    return [_frac(v) for v in out]


def inverse_exact(z, b) -> list:
    """``M^-1`` exactly: n x n Fractions (rows = neurons), by n exact solves.

    O(n^2) rational operations on numbers of O(n p) bits: about 2 s at n = 256 here.
    """
    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    n = len(zq)
    cols = []
    for j in range(n):
        e = [0] * n
        e[j] = 1
        cols.append(solve_exact(zq, bq, e))
    return [[cols[j][i] for j in range(n)] for i in range(n)]


def log2_fraction(q) -> float:
    """log2 of a positive rational, accurate to a few ulps however large or small it is."""
    q = to_fraction(q)
    if q <= 0:
        return float("-inf") if q == 0 else float("nan")
    num, den = q.numerator, q.denominator
    sn, sd = max(num.bit_length() - 64, 0), max(den.bit_length() - 64, 0)
    return (sn - sd) + math.log2((num >> sn) / (den >> sd))


def to_float(q) -> float:
    """A rational as the nearest float64, +-inf past float64's range (never raises)."""
    q = to_fraction(q)
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def mpf_to_fraction(x) -> Fraction:
    """The exact value of an mpmath mpf (a dyadic rational)."""
    import mpmath

    if not isinstance(x, mpmath.mpf):
        x = mpmath.mpf(x)  # (an mpf is read as it is: mpf(x) would round it to mp.prec)
    if not mpmath.isfinite(x):
        raise HarnessError(f"not a finite number: {x}")
    sign, man, exp, _ = x._mpf_  # man_exp would drop the sign
    man = -int(man) if sign else int(man)
    return Fraction(man << exp) if exp >= 0 else Fraction(man, 1 << -exp)
