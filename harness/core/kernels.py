"""Numba kernels: projection, triangular solves and forward passes, per-op rounded.

Every kernel is a pure function of arrays. Values are float64 carriers holding
numbers of the working format ``F`` (see :mod:`harness.core.rounding`); every
arithmetic result is passed through :func:`~harness.core.rounding.rnd`. The order of
operations is part of the contract: the error bounds in :mod:`harness.linalg.bounds` are
derived for exactly these orders, and the tests hold each kernel to its
plain-Python twin (``kernel.py_func``) and to an exact-rational emulation.

No fastmath (nor anything else that reassociates or contracts to FMA) anywhere in
this module: the rounding of these loops is what the harness measures.

Layout: ``z`` are the sorted projections, ``b`` the biases in neuron order
(``b[i]`` is the knot just below ``z[i]``), ``Y``/``W`` are (n, k).
The interpolation matrix is ``M[i, j] = relu(z[i] - b[j])``, lower triangular.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .rounding import (STREAM_BACKSUB, STREAM_EVAL_PREFIX, STREAM_FORWARD, STREAM_PREFIX, STREAM_PROJECT,
                       STREAM_RECURRENCE, radd, rdiv, rmul, rnd, rsub, stream)

__all__ = [
    "project", "project_f64", "solve_recurrence", "step_f64", "solve_backsub", "eval_sequential",
    "eval_compensated", "eval_prefix", "prefix_sums",
]


@njit(cache=True, inline="always")
def hardware_rounded(F):
    """Whether F is float64 with round-to-nearest (float64 has no stochastic rounding: the
    formats refuse it): the hardware's own rounding, so plain float64 operations in the kernel's
    order (the ``*_f64`` twins) give the per-operation bits."""
    return F[0] == 0 and F[4] == 0


@njit(cache=True, inline="always")
def _dot_f64(X, i, a):
    """<a, x_i> in float64, left to right, each product and sum rounded by the hardware."""
    acc = X[i, 0] * a[0]
    for j in range(1, X.shape[1]):
        acc = acc + X[i, j] * a[j]
    return acc


@njit(cache=True, parallel=True)
def project_f64(X, a, out=None):
    """:func:`project` in float64 with round-to-nearest, where rounding is the hardware's: the
    same products and sums in the same order (left to right, no FMA, no reassociation), so the
    same bits (tests/test_kernels.py holds the two equal), without the per-operation dispatch.
    ``out``: the result's array (allocated by numpy: huge pages, fewer page faults), else new."""
    m = X.shape[0]
    if out is None:
        z = np.empty(m)
    else:
        z = out
    for i in prange(m):
        z[i] = _dot_f64(X, i, a)
    return z


@njit(cache=True)
def _dot(x, a, F, st):
    """<a, x> summed left to right, each product and sum rounded."""
    acc, st = rmul(x[0], a[0], F, st)
    for j in range(1, x.shape[0]):
        pr, st = rmul(x[j], a[j], F, st)
        acc, st = radd(acc, pr, F, st)
    return acc, st


@njit(cache=True, parallel=True)
def project(X, a, F, seed, row0=0):
    """Projections ``<a, x_i>`` of every row of X in format F (rows in parallel). X may be rows
    row0.. of a larger input (a block): row i's stochastic-rounding stream is that of row row0 + i."""
    m = X.shape[0]
    z = np.empty(m)
    for i in prange(m):
        z[i], _ = _dot(X[i], a, F, stream(seed, STREAM_PROJECT, row0 + i))
    return z


@njit(cache=True)
def _recurrence_f64(z, b, Y, out=None):
    """:func:`solve_recurrence` in float64 with round-to-nearest: the same operations in the same
    order, rounded by the hardware (no FMA, no reassociation), so the same bits
    (tests/test_kernels.py holds the two equal). ``out``: the (n, k) result array, else new."""
    n, k = Y.shape
    if out is None:
        W = np.empty((n, k))
    else:
        W = out
    for c in range(k):
        S = 0.0
        T = 0.0
        for i in range(n):
            W[i, c], S, T = step_f64(Y[i, c], z[i], b[i], S, T)
    return W


@njit(cache=True, inline="always")
def step_f64(y, z, b, S, T):
    """One step of the recurrence in float64, round to nearest: (w, S + w, T + w*b) with
    ``w = ((y - z*S) + T) / (z - b)``, each operation rounded by the hardware, in this order."""
    w = ((y - z * S) + T) / (z - b)
    return w, S + w, T + w * b


@njit(cache=True)
def solve_recurrence(z, b, Y, F, seed, out=None):
    """Forward recurrence of MATH.md §3, O(n) time and memory.

    ``w_i = ((y_i - z_i*S) + T) / (z_i - b_i)``, then ``S += w_i``, ``T += w_i*b_i``,
    with S, T the running slope and intercept sums. ``out``: the (n, k) result array
    (allocated by numpy: huge pages for large arrays, fewer page faults), else a new one.
    """
    if hardware_rounded(F):  # float64, round to nearest: the hardware's rounding, same bits
        return _recurrence_f64(z, b, Y, out)
    return _recurrence_ops(z, b, Y, F, seed, out)


@njit(cache=True)
def _recurrence_ops(z, b, Y, F, seed, out=None):
    """The recurrence with every operation rounded to F (:func:`solve_recurrence`)."""
    n, k = Y.shape
    if out is None:
        W = np.empty((n, k))
    else:
        W = out
    st = stream(seed, STREAM_RECURRENCE, 0)
    for c in range(k):
        S = 0.0
        T = 0.0
        for i in range(n):
            pr, st = rmul(z[i], S, F, st)
            num, st = rsub(Y[i, c], pr, F, st)
            num, st = radd(num, T, F, st)
            den, st = rsub(z[i], b[i], F, st)
            w, st = rdiv(num, den, F, st)
            W[i, c] = w
            S, st = radd(S, w, F, st)
            pr, st = rmul(w, b[i], F, st)
            T, st = radd(T, pr, F, st)
    return W


@njit(cache=True)
def solve_backsub(z, b, Y, F, seed):
    """Row-oriented substitution over M, entries computed on the fly: O(n^2) time, O(n) memory.

    ``w_i = (y_i - sum_{j<i} fl(z_i - b_j) * w_j) / fl(z_i - b_i)``, sum left to right.
    """
    n, k = Y.shape
    W = np.empty((n, k))
    st = stream(seed, STREAM_BACKSUB, 0)
    if k == 1 and hardware_rounded(F):
        # float64, one output: rnd is the identity in float64, so plain float64 arithmetic in the
        # same order is the same computation (no fastmath: no contraction to FMA, no reordering)
        w = np.empty(n)
        for i in range(n):
            acc = Y[i, 0]
            zi = z[i]
            for j in range(i):
                m = zi - b[j]
                if m < 0.0:
                    m = 0.0
                acc = acc - m * w[j]
            w[i] = acc / (zi - b[i])
        W[:, 0] = w
        return W
    if k == 1:  # one output: the same operations in the same order, scalar accumulator
        w = np.empty(n)
        for i in range(n):
            acc = Y[i, 0]
            zi = z[i]
            for j in range(i):
                m, st = rsub(zi, b[j], F, st)
                if m < 0.0:
                    m = 0.0
                pr, st = rmul(m, w[j], F, st)
                acc, st = rsub(acc, pr, F, st)
            den, st = rsub(zi, b[i], F, st)
            w[i], st = rdiv(acc, den, F, st)
        W[:, 0] = w
        return W
    s = np.empty(k)
    for i in range(n):
        for c in range(k):
            s[c] = Y[i, c]
        zi = z[i]
        for j in range(i):
            m, st = rsub(zi, b[j], F, st)
            if m < 0.0:
                m = 0.0
            for c in range(k):
                pr, st = rmul(m, W[j, c], F, st)
                s[c], st = rsub(s[c], pr, F, st)
        den, st = rsub(zi, b[i], F, st)
        for c in range(k):
            W[i, c], st = rdiv(s[c], den, F, st)
    return W


@njit(cache=True)
def _all_finite(W):
    for v in W.ravel():
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True, parallel=True)
def _forward(X, a, b, W, F, seed, compensated):
    """``f(x) = sum_j w_j * relu(<a,x> - b_j)``, one point per task, neurons in order.

    Each product and sum is rounded; with ``compensated`` the sum is Neumaier's
    (improved Kahan-Babuska) in the working format. Neurons past the first zero
    activation contribute exact zeros (b is increasing and rounding is monotone),
    so the loop stops there when every weight is finite; with an infinite weight
    it runs on so that ``inf * 0`` gives the NaN a framework would.
    """
    m = X.shape[0]
    n, k = W.shape
    out = np.zeros((m, k))
    stop = _all_finite(W)
    for i in prange(m):
        st = stream(seed, STREAM_FORWARD, i)
        t, st = _dot(X[i], a, F, st)
        acc = np.zeros(k)
        comp = np.zeros(k)
        for j in range(n):
            h, st = rsub(t, b[j], F, st)
            if h <= 0.0:  # relu (a NaN activation is not <= 0: it propagates, as in a framework)
                if stop:
                    break
                h = 0.0
            for c in range(k):
                term, st = rmul(W[j, c], h, F, st)
                s, st = radd(acc[c], term, F, st)
                if compensated:
                    if abs(acc[c]) >= abs(term):
                        e, st = rsub(acc[c], s, F, st)
                        e, st = radd(e, term, F, st)
                    else:
                        e, st = rsub(term, s, F, st)
                        e, st = radd(e, acc[c], F, st)
                    comp[c], st = radd(comp[c], e, F, st)
                acc[c] = s
        for c in range(k):
            if compensated:
                out[i, c], st = radd(acc[c], comp[c], F, st)
            else:
                out[i, c] = acc[c]
    return out


@njit(cache=True, parallel=True)
def _forward_f64(X, a, b, W, compensated):
    """:func:`_forward` in float64 with round-to-nearest, where rounding is the hardware's: the
    same operations in the same order (no FMA, no reassociation), so the same bits
    (tests/test_kernels.py holds the two equal), without the per-operation dispatch."""
    m = X.shape[0]
    n, k = W.shape
    out = np.zeros((m, k))
    stop = _all_finite(W)
    for i in prange(m):
        t = _dot_f64(X, i, a)
        acc = np.zeros(k)
        comp = np.zeros(k)
        for j in range(n):
            h = t - b[j]
            if h <= 0.0:
                if stop:
                    break
                h = 0.0
            for c in range(k):
                term = W[j, c] * h
                s = acc[c] + term
                if compensated:
                    if abs(acc[c]) >= abs(term):
                        e = (acc[c] - s) + term
                    else:
                        e = (term - s) + acc[c]
                    comp[c] = comp[c] + e
                acc[c] = s
        for c in range(k):
            out[i, c] = acc[c] + comp[c] if compensated else acc[c]
    return out


@njit(cache=True)
def eval_sequential(X, a, b, W, F, seed):
    """The network's forward pass, every op rounded, neurons summed in sorted order."""
    if hardware_rounded(F):  # float64, round to nearest: the hardware's rounding, same bits
        return _forward_f64(X, a, b, W, False)
    return _forward(X, a, b, W, F, seed, False)


@njit(cache=True)
def eval_compensated(X, a, b, W, F, seed):
    """Forward pass with Neumaier summation in the working format."""
    if hardware_rounded(F):
        return _forward_f64(X, a, b, W, True)
    return _forward(X, a, b, W, F, seed, True)


@njit(cache=True)
def prefix_sums(b, W, F, seed):
    """Running slope S_j = sum_{l<=j} w_l and intercept T_j = sum_{l<=j} w_l b_l, rounded."""
    n, k = W.shape
    S = np.zeros((n + 1, k))
    T = np.zeros((n + 1, k))
    st = stream(seed, STREAM_PREFIX, 0)
    for c in range(k):
        for j in range(n):
            S[j + 1, c], st = radd(S[j, c], W[j, c], F, st)
            pr, st = rmul(W[j, c], b[j], F, st)
            T[j + 1, c], st = radd(T[j, c], pr, F, st)
    return S, T


@njit(cache=True, parallel=True)
def eval_prefix(X, a, b, S, T, F, seed):
    """``f(t) = S_k * t - T_k`` with k = #{j : b_j < t}: the piecewise-linear form.

    NOT the network's forward pass (MATH.md §3): it evaluates the same function
    through running sums, in O(log n) per point.
    """
    m = X.shape[0]
    k = S.shape[1]
    out = np.empty((m, k))
    for i in prange(m):
        st = stream(seed, STREAM_EVAL_PREFIX, i)
        t, st = _dot(X[i], a, F, st)
        idx = np.searchsorted(b, t)  # number of knots strictly below t
        for c in range(k):
            pr, st = rmul(S[idx, c], t, F, st)
            out[i, c], st = rsub(pr, T[idx, c], F, st)
    return out
