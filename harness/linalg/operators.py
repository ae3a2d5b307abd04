"""The interpolation matrix as an O(n) operator, in float64 (Numba).

``M[i, j] = relu(z_i - b_j)`` (sorted z, interleaved b; MATH.md §1) is never stored.
Everything here is written in *gap form*: with

    d_i = z_i - b_i            diagonal entry, > 0
    e_i = b_i - z_(i-1)        the part of gap i below its knot, >= 0 (i >= 1)
    g_i = z_i - z_(i-1)        the gap, = d_i + e_i
    h_j = b_(j+1) - b_j        the knot spacing, = e_(j+1) + d_j

the entries split as ``z_i - b_j = g_i + (z_(i-1) - b_j)``, so with ``S_k = v_0 + ... + v_k``

    (M v)_i = (M v)_(i-1) + g_i S_(i-1) + d_i v_i

and every formula uses differences of neighbours only: shift-invariant, unlike the
running-sum recurrence of MATH.md §3, whose rounding errors scale with ``|z_i|``.

**|M^-1| in closed form.** The solution of ``M w = y`` satisfies
``S_i = c_i S_(i-1) + (y_i - y_(i-1)) / d_i`` with ``c_i = -e_i / d_i`` (the factor
``-theta_i / (1 - theta_i)`` of MATH.md §4), so ``M^-1`` is semiseparable:

    (M^-1)_ii       = 1 / d_i
    (M^-1)_(i,i-1)  = -(g_i + d_(i-1)) / (d_i d_(i-1))
    (M^-1)_ij       = -(g_i / d_i) (c_(j+2) ... c_(i-1)) s_(j+1),   i >= j + 2,
    s_(j+1)         = -(e_(j+1) + d_j) / (d_(j+1) d_j)

and ``|M^-1| u`` (and ``|M^-1|^T v``) for ``u >= 0`` costs O(n) through one running
sum. Every quantity in it is a product, quotient or sum of non-negative numbers: no
cancellation, so the computed value has relative error at most ``gamma_K``,
``K = structured_roundings(n)`` (each value passes through at most 8 roundings per
neuron: 3 forming a coefficient from z and b, 1 product, 1 sum, plus slack). This gives
``cond_1``, ``cond_inf`` and Skeel's ``cond(M, w)`` in O(n) for any n.

**Extended exponent.** For theta > 1/2 these numbers grow like ``(theta/(1-theta))^n``
and leave float64's range near n = 650 at theta = 3/4. The closed-form kernels carry
each value as ``m * 2^e`` (float64 mantissa ``m`` in [0.5, 1), int64 exponent ``e``):
scaling by powers of two is exact, so this adds no rounding, and the results are
returned as ``(mantissa, exponent)`` arrays (:func:`x_log2`, :func:`x_to_float`).

The products and solves (:func:`apply`, :func:`solve`, ...) are plain float64 (they
overflow to inf like any float64 code); they serve the matrix-free norm estimator.

Nothing here is format-rounded and no fastmath is used: these are references and
estimators, and reassociation would void the stated error bound.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "apply", "apply_t", "solve", "solve_t", "absinv_apply", "absinv_apply_t",
    "structured_roundings", "x_log2", "x_to_float",
]

#: Exponent gap beyond which the smaller addend is dropped (relative effect < 2^-1999).
_XGAP = 2000


def structured_roundings(n: int) -> int:
    """Roundings any closed-form result passes through (see the module docstring)."""
    return 8 * int(n) + 16


@njit(cache=True)
def _xn(m, e):
    """Normalise m * 2^e (m >= 0 finite) to a mantissa in [0.5, 1)."""
    if m == 0.0:
        return 0.0, np.int64(0)
    fm, fe = math.frexp(m)
    return fm, np.int64(e + fe)


@njit(cache=True)
def _xadd(m1, e1, m2, e2):
    """m1 2^e1 + m2 2^e2, both non-negative and normalised."""
    if m2 == 0.0:
        return m1, e1
    if m1 == 0.0:
        return m2, e2
    if e1 >= e2:
        if e1 - e2 > _XGAP:
            return m1, e1
        return _xn(m1 + math.ldexp(m2, int(e2 - e1)), e1)
    if e2 - e1 > _XGAP:
        return m2, e2
    return _xn(math.ldexp(m1, int(e1 - e2)) + m2, e2)


@njit(cache=True)
def _xmul(m1, e1, m2, e2):
    return _xn(m1 * m2, e1 + e2)


@njit(cache=True)
def _xdiv(m1, e1, m2, e2):
    return _xn(m1 / m2, e1 - e2)


@njit(cache=True)
def _x(v):
    return _xn(v, np.int64(0))


@njit(cache=True)
def absinv_apply(z, b, u):
    """``|M^-1| u`` for ``u >= 0`` as (mantissa, exponent) arrays, O(n).

    Row i: ``u_i/d_i + |M^-1_(i,i-1)| u_(i-1) + (g_i/d_i) A_(i-1)`` with the running sum
    ``A_i = (e_i/d_i) A_(i-1) + |s_i| u_(i-1)`` (module docstring).
    """
    n = z.size
    om = np.empty(n)
    oe = np.empty(n, dtype=np.int64)
    am, ae = 0.0, np.int64(0)
    for i in range(n):
        dm, de = _x(z[i] - b[i])
        um, ue = _x(u[i])
        vm, ve = _xdiv(um, ue, dm, de)
        if i >= 1:
            pm, pe = _x(z[i - 1] - b[i - 1])          # d_(i-1)
            gm, ge = _x(z[i] - z[i - 1])
            em, ee = _x(b[i] - z[i - 1])
            qm, qe = _x(u[i - 1])
            dd_m, dd_e = _xmul(dm, de, pm, pe)         # d_i d_(i-1)
            # |M^-1_(i,i-1)| u_(i-1)
            sm, se = _xadd(gm, ge, pm, pe)
            sm, se = _xdiv(sm, se, dd_m, dd_e)
            tm, te = _xmul(sm, se, qm, qe)
            vm, ve = _xadd(vm, ve, tm, te)
            # (g_i/d_i) A_(i-1)
            tm, te = _xdiv(gm, ge, dm, de)
            tm, te = _xmul(tm, te, am, ae)
            vm, ve = _xadd(vm, ve, tm, te)
            # A_i = (e_i/d_i) A_(i-1) + |s_i| u_(i-1)
            cm, ce = _xdiv(em, ee, dm, de)
            am, ae = _xmul(cm, ce, am, ae)
            sm, se = _xadd(em, ee, pm, pe)
            sm, se = _xdiv(sm, se, dd_m, dd_e)
            sm, se = _xmul(sm, se, qm, qe)
            am, ae = _xadd(am, ae, sm, se)
        om[i] = vm
        oe[i] = ve
    return om, oe


@njit(cache=True)
def absinv_apply_t(z, b, v):
    """``|M^-1|^T v`` for ``v >= 0`` as (mantissa, exponent) arrays, O(n).

    Column j: ``v_j/d_j + |M^-1_(j+1,j)| v_(j+1) + |s_(j+1)| B_(j+1)`` with the backward
    running sum ``B_k = (g_(k+1)/d_(k+1)) v_(k+1) + (e_(k+1)/d_(k+1)) B_(k+1)``.
    """
    n = z.size
    om = np.empty(n)
    oe = np.empty(n, dtype=np.int64)
    bm, be = 0.0, np.int64(0)  # B_(j+1)
    for j in range(n - 1, -1, -1):
        dm, de = _x(z[j] - b[j])
        vm_, ve_ = _x(v[j])
        rm, re = _xdiv(vm_, ve_, dm, de)
        if j < n - 1:
            nm, ne = _x(z[j + 1] - b[j + 1])           # d_(j+1)
            gm, ge = _x(z[j + 1] - z[j])
            em, ee = _x(b[j + 1] - z[j])
            qm, qe = _x(v[j + 1])
            dd_m, dd_e = _xmul(dm, de, nm, ne)
            sm, se = _xadd(gm, ge, dm, de)             # |M^-1_(j+1,j)| v_(j+1)
            sm, se = _xdiv(sm, se, dd_m, dd_e)
            sm, se = _xmul(sm, se, qm, qe)
            rm, re = _xadd(rm, re, sm, se)
            sm, se = _xadd(em, ee, dm, de)             # |s_(j+1)| B_(j+1)
            sm, se = _xdiv(sm, se, dd_m, dd_e)
            sm, se = _xmul(sm, se, bm, be)
            rm, re = _xadd(rm, re, sm, se)
            # B_j = (g_(j+1)/d_(j+1)) v_(j+1) + (e_(j+1)/d_(j+1)) B_(j+1)
            cm, ce = _xdiv(em, ee, nm, ne)
            bm, be = _xmul(cm, ce, bm, be)
            tm, te = _xdiv(gm, ge, nm, ne)
            tm, te = _xmul(tm, te, qm, qe)
            bm, be = _xadd(bm, be, tm, te)
        om[j] = rm
        oe[j] = re
    return om, oe


@njit(cache=True)
def apply(z, b, v):
    """``M v`` in O(n): ``P_i = P_(i-1) + g_i S_(i-1) + d_i v_i`` (float64)."""
    n = z.size
    out = np.empty(n)
    P = 0.0
    S = 0.0
    for i in range(n):
        if i > 0:
            P = P + (z[i] - z[i - 1]) * S
        P = P + (z[i] - b[i]) * v[i]
        out[i] = P
        S = S + v[i]
    return out


@njit(cache=True)
def apply_t(z, b, v):
    """``M^T v`` in O(n): ``Q_j = Q_(j+1) + h_j R_(j+1) + d_j v_j`` (float64)."""
    n = z.size
    out = np.empty(n)
    Q = 0.0
    R = 0.0
    for j in range(n - 1, -1, -1):
        if j < n - 1:
            Q = Q + (b[j + 1] - b[j]) * R
        Q = Q + (z[j] - b[j]) * v[j]
        out[j] = Q
        R = R + v[j]
    return out


@njit(cache=True, nogil=True)
def solve(z, b, y):
    """``M^-1 y`` in O(n), gap form: ``x_i = ((y_i - y_(i-1)) - g_i S_(i-1)) / d_i`` (float64).
    Releases the GIL (cond_estimate runs its two norm estimates on two threads)."""
    n = z.size
    x = np.empty(n)
    S = 0.0
    for i in range(n):
        if i == 0:
            num = y[0]
        else:
            num = (y[i] - y[i - 1]) - (z[i] - z[i - 1]) * S
        x[i] = num / (z[i] - b[i])
        S = S + x[i]
    return x


@njit(cache=True, nogil=True)
def solve_t(z, b, v):
    """``M^-T v`` in O(n): ``x_j = ((v_j - v_(j+1)) - h_j R_(j+1)) / d_j`` (float64); releases the GIL."""
    n = z.size
    x = np.empty(n)
    R = 0.0
    for j in range(n - 1, -1, -1):
        if j == n - 1:
            num = v[j]
        else:
            num = (v[j] - v[j + 1]) - (b[j + 1] - b[j]) * R
        x[j] = num / (z[j] - b[j])
        R = R + x[j]
    return x


def x_log2(m, e) -> np.ndarray:
    """log2 of extended values (``-inf`` for zeros)."""
    m = np.asarray(m, np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(e, np.float64) + np.log2(m)


def x_to_float(m, e) -> np.ndarray:
    """Extended values as float64 (inf beyond the float64 range)."""
    e = np.clip(np.asarray(e, np.int64), -4000, 4000)
    with np.errstate(over="ignore"):
        return np.ldexp(np.asarray(m, np.float64), e)
