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
import numbers
from fractions import Fraction
from typing import Sequence

import numpy as np

from .errors import HarnessError
from .formats import Format

__all__ = [
    "to_fraction", "solve_exact", "solve_mp", "round_fraction", "matrix_exact",
    "apply_exact", "inverse_exact", "log2_fraction", "mpf_to_fraction", "to_float", "solve_ball", "BallSolution",
    "to_q", "Q",
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
    if isinstance(x, numbers.Rational):  # gmpy2's mpq, python-flint's fmpq
        return Fraction(int(x.numerator), int(x.denominator))
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


#: The exact rational type every internal computation uses (gmpy2's mpq: C speed, and it
#: compares, hashes and computes with fractions.Fraction transparently).
Q = _Q


def _q(x):
    if type(x) is _Q:
        return x
    if _Q is not Fraction and isinstance(x, (float, np.floating)) and math.isfinite(x):
        return _Q(float(x))  # gmpy2's mpq(float) is exact: skip the Fraction detour
    if isinstance(x, (int, np.integer)):
        return _Q(int(x))
    if isinstance(x, numbers.Rational):
        return _Q(int(x.numerator), int(x.denominator))
    f = to_fraction(x)
    return _Q(f.numerator, f.denominator)


def to_q(x):
    """The exact rational (mpq) value of a float, int, decimal string or rational."""
    return _q(x)


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
    z, b : sequences of float, int, decimal str or rational
        Sorted projections and interleaved biases (neuron order).
    Y : (n,) or (n, k)
        Right-hand sides, exactly as given.

    Returns
    -------
    list of exact rationals (gmpy2 ``mpq``, which compare, hash and compute with
    ``fractions.Fraction`` transparently) (n,) for 1-D Y, else a list of n lists of k.

    The recurrence runs on integers: every input is scaled by a common denominator
    (a power of two for floats), so ``w_i = N_i / D_i`` with ``D_i = D_(i-1) d_i`` and the
    running slope and intercept kept over the same denominator -- big-integer times
    small-integer products only, no gcd per step; each weight is reduced once at the end.

    Examples
    --------
    >>> [str(w) for w in solve_exact([1, 2], [0, 1], [1, 1])]
    ['1', '-1']
    """
    from gmpy2 import lcm, mpz

    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    cols = _columns(Y)
    n = len(zq)
    if len(bq) != n or any(len(c) != n for c in cols):
        raise HarnessError(f"z, b and y must have the same length (got {n}, {len(bq)}, {[len(c) for c in cols]})")
    Lz = mpz(1)
    for v in zq + bq:
        Lz = lcm(Lz, v.denominator)
    Zi = [mpz(v * Lz) for v in zq]
    Bi = [mpz(v * Lz) for v in bq]
    d = []
    for i in range(n):
        den = Zi[i] - Bi[i]
        if den <= 0:
            raise HarnessError(f"diagonal entry {i} is z[{i}] - b[{i}] = {_frac(zq[i] - bq[i])} <= 0: "
                               "the biases do not interleave the projections")
        d.append(den)
    out_cols = []
    for col in cols:
        Ly = mpz(1)
        for v in col:
            Ly = lcm(Ly, v.denominator)
        Yi = [mpz(v * Ly) for v in col]
        D, S, T = mpz(1), mpz(0), mpz(0)   # S / D, T / D: running slope and intercept sums
        nums = []
        for i in range(n):
            num = Yi[i] * D - Zi[i] * S + T  # w_i = num / (D d_i), scaled by Ly / Lz
            D = D * d[i]
            S = S * d[i] + num
            T = T * d[i] + num * Bi[i]
            nums.append((num, D))
        out_cols.append([_Q(num * Lz, den * Ly) for num, den in nums])
    if np.asarray(Y, dtype=object).ndim == 1:
        return out_cols[0]
    return [list(row) for row in zip(*out_cols)]


class BallSolution:
    """The weights of ``M w = Y`` as balls: exact rational midpoints and radii with
    ``|w_true - mid| <= rad`` proven by ball arithmetic (:func:`solve_ball`). Columns are
    lists of gmpy2 ``mpq`` (exact rationals); ``prec`` the working precision in bits."""

    __slots__ = ("mid", "rad", "prec")

    def __init__(self, mid, rad, prec):
        self.mid, self.rad, self.prec = mid, rad, prec

    def certified_relative(self, c: int = 0):
        """A proven bound on ``max |w_hat - w| / max |w|`` for column c, as an exact rational
        (None when the balls do not exclude w = 0: no relative bound; 0 for exact balls)."""
        rmax = max(self.rad[c], default=_Q(0))
        if rmax == 0:
            return _Q(0)
        top = max((abs(v) for v in self.mid[c]), default=_Q(0))
        if top <= rmax:
            return None
        return rmax / (top - rmax)


def _arf_q(x):
    """An arb's midpoint or radius (an exact binary number) as an exact mpq."""
    man, exp = x.man_exp()
    man, exp = int(man), int(exp)
    return _Q(man << exp, 1) if exp >= 0 else _Q(man, 1 << -exp)


def solve_ball(z, b, Y, prec: int = 256) -> BallSolution:
    """``M w = Y`` in ball arithmetic (python-flint's arb) at ``prec`` bits, O(n): every
    weight with a proven error radius, however ill-conditioned the system, with no float64
    step that could underflow or overflow (arb's exponents are unbounded).

    It runs the *slope form* of the recurrence: the slope of f right of knot i is
    ``S_i = (y_i - y_(i-1) - (b_i - z_(i-1)) S_(i-1)) / (z_i - b_i)`` (f(z_(i-1)) = y_(i-1),
    slope S_(i-1) up to b_i, S_i after), and ``w_i = S_i - S_(i-1)``. Inputs are floats (taken
    exactly) or exact rationals (rounded to prec bits into balls: the radii carry it). A weight that is zero
    because the slope does not change comes out as the exact ball 0 whenever the slopes
    beside it are exact (left knots: ``b_i = z_(i-1)`` makes ``S_i = (y_i - y_(i-1)) / d_i``),
    instead of a rounding residue. Raises if the knots do not interleave.
    """
    import flint

    def values(v):
        """Floats as they are; anything else (exact rationals) as mpq."""
        arr = np.asarray(v, dtype=object)
        if all(isinstance(x, (float, np.floating)) for x in arr.ravel()):
            return np.asarray(v, np.float64).astype(object).reshape(arr.shape)
        return np.vectorize(_q, otypes=[object])(arr) if arr.size else arr

    z = values(z).tolist()
    b = values(b).tolist()
    cols_in = values(Y)
    cols_in = cols_in.reshape(len(cols_in), -1)
    n = len(z)
    if len(b) != n or cols_in.shape[0] != n:
        raise HarnessError(f"z, b and y must have the same length (got {n}, {len(b)}, {cols_in.shape[0]})")
    for i in range(n):
        if not z[i] > b[i] or (i and not b[i] >= z[i - 1]):
            raise HarnessError(f"knot {i} does not interleave: z[{i}] = {z[i]!r}, b[{i}] = {b[i]!r}"
                               + (f", z[{i - 1}] = {z[i - 1]!r}" if i else ""))
    old = flint.ctx.prec
    try:
        flint.ctx.prec = int(prec)

        def A(v):  # a float exactly; a rational rounded to prec bits, its error in the radius
            if isinstance(v, float):
                return flint.arb(v)
            if v.denominator == 1:
                return flint.arb(flint.fmpz(int(v.numerator)))
            return flint.arb(flint.fmpq(int(v.numerator), int(v.denominator)))

        za = [A(v) for v in z]
        ba = [A(v) for v in b]
        d = [zi - bi for zi, bi in zip(za, ba)]
        e = [A(0)] + [ba[i] - za[i - 1] for i in range(1, n)]
        mids, rads = [], []
        for c in range(cols_in.shape[1]):
            ys = [A(v) for v in cols_in[:, c].tolist()]
            S_prev = A(0)
            mc, rc = [], []
            for i in range(n):
                dy = ys[i] - ys[i - 1] if i else ys[0]
                S = (dy - e[i] * S_prev) / d[i]
                w = S - S_prev
                mc.append(_arf_q(w.mid()))
                rc.append(_arf_q(w.rad()))
                S_prev = S
            mids.append(mc)
            rads.append(rc)
    finally:
        flint.ctx.prec = old
    return BallSolution(mids, rads, int(prec))


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
    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    zero = _Q(0)
    return [[max(zi - bj, zero) for bj in bq] for zi in zq]


def apply_exact(z, b, w) -> list:
    """``M w`` exactly, in O(n) through running sums (w 1-D: floats or Fractions).

    Returns a list of exact rationals (mpq).
    """
    zq = [_q(v) for v in z]
    bq = [_q(v) for v in b]
    wq = [_q(v) for v in w]
    out, S, T = [], _Q(0), _Q(0)
    for zi, bi, wi in zip(zq, bq, wq):
        S += wi
        T += wi * bi
        out.append(zi * S - T)
    return out


def inverse_exact(z, b) -> list:
    """``M^-1`` exactly: n x n exact rationals (rows = neurons), by n exact solves.

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
    if not isinstance(q, numbers.Rational):
        q = to_fraction(q)
    if q <= 0:
        return float("-inf") if q == 0 else float("nan")
    num, den = int(q.numerator), int(q.denominator)
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
