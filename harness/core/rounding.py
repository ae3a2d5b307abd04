"""Correctly rounded per-operation arithmetic in narrow formats (Numba, scalar).

Every kernel carries its values in float64 and rounds the float64 result of each
``+ - * /`` once to the working format. For a format of precision p <= 25 bits this
equals the format's own correctly rounded operation, because float64 has
53 >= 2p + 2 bits (MATH.md §6); for float32 (p = 24) it is bit-identical to native
float32 arithmetic (tests check both claims bit for bit). For float64 the rounding
is the identity and the float64 operation is the format's operation.

A format is passed to kernels as a plain tuple ``F = (kind, p, emin, max_finite, sr)``:

kind
    0 float64 (identity), 1 float32 (hardware cast), 2 generic IEEE-style (overflow
    to +-inf), 3 generic "fn" style (no infinities: overflow to NaN, as OCP E4M3),
    4 generic saturating (overflow to +-max_finite, as FP8 stacks' "satfinite").
p
    precision in bits, implicit bit included.
emin
    exponent of the smallest normal number; subnormals below it are kept (gradual
    underflow), with quantum 2**(emin - p + 1).
max_finite
    the largest finite value; a rounded result above it overflows.
sr
    0 round to nearest, ties to even; 1 stochastic rounding (round up with
    probability equal to the distance from the lower neighbour in ulps); 2 round
    toward zero (truncation: what tensor cores' accumulators do, Fasi et al. 2021),
    which never overflows to infinity (beyond max_finite it gives +-max_finite).

:func:`rnd_sum` rounds ``x + y`` of any two float64 values correctly (the float64
sum can itself be inexact: its error, found exactly by TwoSum, decides the one case
where it matters), and :func:`rnd_block` the exact sum of a block of values, for the
accumulators of :mod:`harness.core.arith` whose products are exact.

No fastmath anywhere in this module: every rounding here is the thing being
measured, and reassociation or FMA contraction would change it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["rnd", "rnd_e", "radd", "rsub", "rmul", "rdiv", "rnd_sum", "rnd_block", "stream", "uniform",
           "round_array", "STREAM_DOMAINS", "STREAM_CAST", "STREAM_PROJECT", "STREAM_RECURRENCE", "STREAM_BACKSUB",
           "STREAM_PREFIX", "STREAM_FORWARD", "STREAM_EVAL_PREFIX", "sr_round"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True)
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


#: Stream domains: every use of stochastic rounding draws from its own family of streams,
#: so no two uses ever share a starting state (a cast, the projection of row i, a solver,
#: the forward pass of row i, ...).
STREAM_CAST, STREAM_PROJECT, STREAM_RECURRENCE, STREAM_BACKSUB, STREAM_PREFIX, STREAM_FORWARD, \
    STREAM_EVAL_PREFIX = range(7)
STREAM_DOMAINS = {"cast": 0, "project": 1, "recurrence": 2, "backsub": 3, "prefix": 4, "forward": 5,
                  "eval-prefix": 6}
#: A stream's index (row) occupies the low 48 bits of its key, its domain the bits above.
_INDEX_BITS = np.uint64(48)


@njit(cache=True)
def stream(seed, domain, index):
    """Start of the random stream for (seed, domain, index): a splitmix64 state.

    The key ``domain * 2^48 + index`` is distinct for every (domain, index) with index <
    2^48, and ``seed * G + mix(key + G)`` is a bijection of the key for a fixed seed, so
    distinct uses start from distinct states by construction. Streams are keyed, not
    drawn in sequence, so parallel loops give the same stochastic roundings whatever the
    thread count. (As for any splitmix64 family, two streams could overlap only if their
    states lie within the draws used of each other on the Weyl sequence: probability
    about draws / 2^64.)
    """
    key = (np.uint64(domain) << _INDEX_BITS) | np.uint64(index)
    return _mix(np.uint64(seed) * _GOLDEN + _mix(key + _GOLDEN))


@njit(cache=True)
def uniform(st):
    """Advance a splitmix64 state; return (state, u) with u uniform in [0, 1)."""
    st = st + _GOLDEN
    return st, (_mix(st) >> _S11) * _INV53


@njit(cache=True)
def rnd(x, F, st):
    """Round float64 ``x`` to the format ``F``; return (rounded, random state)."""
    kind, p, emin, maxf, sr = F
    if kind == 0:
        return x, st
    if kind == 1 and sr == 0:
        return np.float64(np.float32(x)), st
    if x != x or x == 0.0:
        return x, st
    ax = abs(x)
    if ax == np.inf:
        if kind == 3:
            return np.nan, st
        if kind == 4:
            return math.copysign(maxf, x), st
        return x, st
    e = math.frexp(ax)[1] - 1  # exponent of the leading bit of |x|
    if e < emin:
        e = emin  # subnormal range: fixed quantum
    shift = p - 1 - e
    s = math.ldexp(x, shift)  # exact: a power-of-two scaling inside float64's range
    if sr == 1:  # stochastic: one rule for every caller (the exact residual here is 0)
        st, u = uniform(st)
        return sr_round(x, 0.0, F, u), st
    if sr == 0:
        r = np.rint(s)  # round half to even
    else:
        r = float(math.trunc(s))  # toward zero
    r = math.copysign(math.ldexp(r, -shift), x)  # a result that rounds to zero keeps x's sign
    if abs(r) > maxf:
        return _past_max(r, kind, maxf, sr), st
    return r, st


@njit(cache=True)
def sr_round(x, e, F, u):
    """Stochastic rounding of the exact value ``x + e`` (x a float64, e its exact residual,
    ``|e| <= ulp(x)/2``) with the uniform draw u: up with probability the exact distance
    from the lower neighbour in units of the gap, decided from x and e, not from x alone.
    The probability is computed to within 2^-53 (one rounding of ``frac + e``), the
    resolution of u itself."""
    kind, p, emin, maxf, sr = F
    ax = abs(x)
    ex = math.frexp(ax)[1] - 1
    # the exact value sits just below a power of two: its neighbours are the binade's below
    if ex > emin and math.frexp(ax)[0] == 0.5 and (e < 0.0) == (x > 0.0) and e != 0.0:
        ex -= 1
    if ex < emin:
        ex = emin
    shift = p - 1 - ex
    s = math.ldexp(x, shift)
    es = math.ldexp(e, shift)
    fl = math.floor(s)
    frac = (s - fl) + es  # s - fl is exact
    if frac < 0.0:
        fl -= 1.0
        frac += 1.0
    elif frac >= 1.0:
        fl += 1.0
        frac -= 1.0
    r = fl + 1.0 if u < frac else fl
    r = math.copysign(math.ldexp(r, -shift), x)
    if abs(r) > maxf:
        return _past_max(r, kind, maxf, sr)
    return r


@njit(cache=True)
def rnd_e(x, e, F, st):
    """Round the exact value ``x + e`` to F (e: x's exact residual). Nearest: x alone decides
    (float64 has 53 >= 2p + 2 bits, so rounding x is rounding x + e); stochastic: the
    probability comes from the exact value (:func:`sr_round`)."""
    kind, p, emin, maxf, sr = F
    if sr != 1 or e == 0.0 or kind == 0 or x != x or abs(x) == np.inf:
        return rnd(x, F, st)
    st, u = uniform(st)
    return sr_round(x, e, F, u), st


@njit(cache=True, inline="always")  # inlined at Numba IR: the RN path costs what rnd(a op b) did
def radd(a, b, F, st):
    """fl_F(a + b): the float64 sum, with its exact residual (TwoSum) under stochastic rounding."""
    if F[4] == 1:
        s, e = _two_sum(a, b)
        return rnd_e(s, e, F, st)
    return rnd(a + b, F, st)


@njit(cache=True, inline="always")  # inlined at Numba IR: the RN path costs what rnd(a op b) did
def rsub(a, b, F, st):
    """fl_F(a - b) (the float64 difference itself, as the kernels always computed it)."""
    if F[4] == 1:
        s, e = _two_sum(a, -b)  # a + (-b) is a - b exactly, rounding included
        return rnd_e(s, e, F, st)
    return rnd(a - b, F, st)


@njit(cache=True, inline="always")  # inlined at Numba IR: the RN path costs what rnd(a op b) did
def rmul(a, b, F, st):
    """fl_F(a * b). For values of a format of p <= 26 bits the float64 product is exact
    (2p <= 53 bits), so rounding it is rounding the exact product in every mode."""
    return rnd(a * b, F, st)


@njit(cache=True)
def _split(a):
    """Dekker's split: a = hi + lo with hi holding the top 26 bits (no FMA needed)."""
    c = 134217729.0 * a  # 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


@njit(cache=True, inline="always")  # inlined at Numba IR: the RN path costs what rnd(a op b) did
def rdiv(a, b, F, st):
    """fl_F(a / b): under stochastic rounding the exact residual ``(a - q b) / b`` of the
    float64 quotient q joins it (``a - q b`` is exact: Dekker's product and Sterbenz)."""
    q = a / b
    if F[4] == 1 and q == q and abs(q) != np.inf and q != 0.0 and b != 0.0:
        qh, ql = _split(q)
        bh, bl = _split(b)
        pr = q * b
        pe = ((qh * bh - pr) + qh * bl + ql * bh) + ql * bl
        r = (a - pr) - pe
        return rnd_e(q, r / b, F, st)
    return rnd(q, F, st)


@njit(cache=True)
def _past_max(v, kind, maxf, sr):
    """What a rounded result beyond max_finite becomes: NaN (kind 3, no infinities), +-max_finite
    (kind 4 saturating, or rounding toward zero, which never overflows), else +-inf."""
    if kind == 3:
        return np.nan
    if kind == 4 or sr == 2:
        return math.copysign(maxf, v)
    return math.copysign(np.inf, v)


@njit(cache=True)
def round_array(x, F, seed):
    """Round every element of a float64 array to ``F`` (a cast: one rounding each)."""
    out = np.empty_like(x)
    flat = x.ravel()
    res = out.ravel()
    st = stream(seed, STREAM_CAST, 0)
    for i in range(flat.size):
        res[i], st = rnd(flat[i], F, st)
    return out


@njit(cache=True)
def _two_sum(x, y):
    """(s, e) with s = fl(x + y) and s + e = x + y exactly (Knuth's TwoSum, no branches)."""
    s = x + y
    bp = s - x
    e = (x - (s - bp)) + (y - bp)
    return s, e


@njit(cache=True)
def _nudge(r, s, e, F):
    """Correct ``r = rnd(s)`` to the rounding of s + e (|e| at most half an ulp of s in
    float64): only when s sits exactly on a rounding boundary of F can e move the result.
    Nearest: s a midpoint between two F values -> the one on e's side. Toward zero: s an
    F value and e pointing toward zero -> the next F value toward zero."""
    kind, p, emin, maxf, sr = F
    if e == 0.0 or kind == 0 or s != s or abs(s) == np.inf or s == 0.0:
        return r
    ex = math.frexp(abs(s))[1] - 1
    if ex < emin:
        ex = emin
    shift = p - 1 - ex
    sc = math.ldexp(s, shift)  # exact
    fl = math.floor(sc)
    if sr == 0:
        if sc - fl != 0.5:
            return r
        q = fl + 1.0 if e > 0 else fl
    else:
        if sc != fl or (s > 0) == (e > 0):
            return r
        # one step toward zero; at the bottom of a normal binade the step below is half as wide
        step = 0.5 if abs(sc) == math.ldexp(1.0, p - 1) and ex > emin else 1.0
        q = sc - step if s > 0 else sc + step
    v = math.ldexp(q, -shift)
    return _past_max(v, kind, maxf, sr) if abs(v) > maxf else v


@njit(cache=True)
def rnd_sum(x, y, F):
    """``x + y`` correctly rounded to F (nearest-even or toward zero), for any float64 x, y.

    The float64 sum is exact or off by less than half its ulp; TwoSum gives that error
    exactly, and :func:`_nudge` applies it where it changes the rounding. Deterministic
    modes only (an accumulator is never rounded stochastically here).
    """
    s, e = _two_sum(x, y)
    r, _ = rnd(s, F, np.uint64(0))
    if e != 0.0 and s == s and abs(s) != np.inf:
        r = _nudge(r, s, e, F)
    return r


@njit(cache=True)
def _grow(comp, k, v):
    """Add v to the non-overlapping expansion comp[:k] in place (Shewchuk's Grow-Expansion,
    zero components dropped); returns its new length (at most k + 1)."""
    q = v
    j = 0
    for c in range(k):
        q, h = _two_sum(q, comp[c])
        if h != 0.0:
            comp[j] = h
            j += 1
    comp[j] = q
    return j + 1


@njit(cache=True)
def _expansion_sign(comp, m, v1, v2):
    """Sign (-1, 0, 1) of sum(comp[:m]) + v1 + v2, exactly (comp: a non-overlapping expansion)."""
    work = np.empty(m + 2)
    work[:m] = comp[:m]
    k = _grow(work, m, v1)
    k = _grow(work, k, v2)
    for i in range(k - 1, -1, -1):  # the largest nonzero component carries the sign
        if work[i] > 0.0:
            return 1
        if work[i] < 0.0:
            return -1
    return 0


@njit(cache=True)
def _neighbours(r, p, emin):
    """(predecessor, successor) of the value r of a p-bit format with normal binades from emin."""
    if r == 0.0:
        tiny = math.ldexp(1.0, emin - p + 1)
        return -tiny, tiny
    ex = math.frexp(abs(r))[1] - 1
    if ex < emin:
        ex = emin
    q = math.ldexp(1.0, ex - p + 1)  # spacing in |r|'s binade
    below = q / 2 if abs(r) == math.ldexp(1.0, ex) and ex > emin else q  # spacing just below |r|
    if r > 0:
        return r - below, r + q
    return r - q, r + below


@njit(cache=True)
def _is_odd(r, p, emin):
    """Whether the F value r has an odd integer significand (ties go to the even neighbour)."""
    if r == 0.0:
        return False
    ex = math.frexp(abs(r))[1] - 1
    if ex < emin:
        ex = emin
    m = abs(math.ldexp(r, p - 1 - ex))
    return m - 2.0 * math.floor(m / 2.0) == 1.0


@njit(cache=True)
def rnd_block(vals, m, F):
    """The exact sum of ``vals[:m]`` (float64 values) correctly rounded to F (nearest-even or
    toward zero): a block fused multiply-add's one rounding (Blanchard et al. 2020).

    The sum is held exactly as a non-overlapping expansion (TwoSum, Shewchuk's
    grow-expansion). Its float64 approximation rounded to F is within a step of the
    answer; exact sign tests against the neighbouring midpoints (nearest) or values
    (toward zero), each written as r + half a spacing (two exact terms), then decide.
    """
    kind, p, emin, maxf, sr = F
    if kind == 0:  # float64 as a 53-bit format with its own range
        p, emin, maxf = 53, -1022, 1.7976931348623157e308
    comp = np.empty(m)
    k = 0
    for i in range(m):
        k = _grow(comp, k, vals[i])
    approx = 0.0
    for c in range(k):
        approx += comp[c]
    if approx != approx or abs(approx) == np.inf:  # beyond float64 itself
        r, _ = rnd(approx, F, np.uint64(0))
        return r
    # the first guess ignores the range (an exact sum just below the overflow threshold can have
    # an approximation just above it); the range is applied once, to the corrected result
    unbounded = (0 if kind == 0 else 2, p, emin, np.inf, sr)
    r, _ = rnd(approx, unbounded, np.uint64(0))
    for _ in range(4):  # one step is ever needed; the bound guards against a loop
        lo, hi = _neighbours(r, p, emin)
        if sr == 0:
            up = _expansion_sign(comp, k, -r, -(hi - r) / 2)
            dn = _expansion_sign(comp, k, -r, (r - lo) / 2)
            if up > 0 or (up == 0 and _is_odd(r, p, emin)):
                r = hi
            elif dn < 0 or (dn == 0 and _is_odd(r, p, emin)):
                r = lo
            else:
                break
        else:
            if _expansion_sign(comp, k, 0.0, 0.0) >= 0:
                if _expansion_sign(comp, k, -r, 0.0) < 0:
                    r = lo
                elif _expansion_sign(comp, k, -hi, 0.0) >= 0:
                    r = hi
                else:
                    break
            else:
                if _expansion_sign(comp, k, -r, 0.0) > 0:
                    r = hi
                elif _expansion_sign(comp, k, -lo, 0.0) <= 0:
                    r = lo
                else:
                    break
    return _past_max(r, kind, maxf, sr) if abs(r) > maxf else r
