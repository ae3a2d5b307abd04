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
    to +-inf), 3 generic "fn" style (no infinities: overflow to NaN, as OCP E4M3).
p
    precision in bits, implicit bit included.
emin
    exponent of the smallest normal number; subnormals below it are kept (gradual
    underflow), with quantum 2**(emin - p + 1).
max_finite
    the largest finite value; a rounded result above it overflows.
sr
    0 round to nearest, ties to even; 1 stochastic rounding (round up with
    probability equal to the distance from the lower neighbour in ulps).

No fastmath anywhere in this module: every rounding here is the thing being
measured, and reassociation or FMA contraction would change it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["rnd", "stream", "uniform", "round_array"]

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


@njit(cache=True)
def stream(seed, index):
    """Start of an independent random stream for (seed, index): a splitmix64 state.

    Streams are keyed by index, not drawn in sequence, so parallel loops give the
    same stochastic roundings whatever the thread count.
    """
    return _mix(np.uint64(seed) * _GOLDEN + _mix(np.uint64(index) + _GOLDEN))


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
        return x, st
    e = math.frexp(ax)[1] - 1  # exponent of the leading bit of |x|
    if e < emin:
        e = emin  # subnormal range: fixed quantum
    shift = p - 1 - e
    s = math.ldexp(x, shift)  # exact: a power-of-two scaling inside float64's range
    if sr == 0:
        r = np.rint(s)  # round half to even
    else:
        fl = math.floor(s)
        st, u = uniform(st)
        r = fl + 1.0 if u < s - fl else fl
    r = math.ldexp(r, -shift)
    if abs(r) > maxf:
        if kind == 3:
            return np.nan, st
        return math.copysign(np.inf, x), st
    return r, st


@njit(cache=True)
def round_array(x, F, seed):
    """Round every element of a float64 array to ``F`` (a cast: one rounding each)."""
    out = np.empty_like(x)
    flat = x.ravel()
    res = out.ravel()
    st = stream(seed, 0)
    for i in range(flat.size):
        res[i], st = rnd(flat[i], F, st)
    return out
