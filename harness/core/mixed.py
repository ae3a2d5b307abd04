"""Numba kernels for ``STORAGE@ACCUM`` arithmetics (:mod:`harness.core.arith`).

Values are float64 carriers. Storage values have at most 25 bits, so every product of
two of them is exact in float64; each accumulation is one correct rounding to the
accumulator (:func:`~harness.core.rounding.rnd_sum`, or :func:`~harness.core.rounding.rnd_block`
for a block of K exact products), and a layer output is rounded once to storage. The
operation order is the contract, written out per kernel; the tests hold each kernel to
an exact-rational emulation of it and to the classical bound
``|error| <= gamma_m(u_A) * sum |terms|`` plus one rounding to storage.

A layer tuple is ``L = (S, A, K)``: the storage and accumulator kernel tuples and the
block size. No fastmath anywhere: the roundings are what is measured.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _all_finite
from .rounding import rnd, rnd_block, rnd_sum

__all__ = ["dot_acc", "project_mixed", "eval_mixed", "solve_recurrence_mixed"]

_Z = np.uint64(0)


@njit(cache=True)
def _r(x, F):
    v, _ = rnd(x, F, _Z)
    return v


@njit(cache=True)
def dot_acc(x, a, A, K, buf):
    """``sum_j x_j a_j`` accumulated in A from 0, left to right: one correct rounding per
    product added (K = 1), or per block of K exact products added to the accumulator
    (``buf``: scratch of K + 1)."""
    d = x.shape[0]
    acc = 0.0
    if K == 1:
        for j in range(d):
            acc = rnd_sum(acc, x[j] * a[j], A)
        return acc
    j = 0
    while j < d:
        buf[0] = acc
        m = 1
        for q in range(j, min(j + K, d)):
            buf[m] = x[q] * a[q]
            m += 1
        acc = rnd_block(buf, m, A)
        j += K
    return acc


@njit(cache=True, parallel=True)
def project_mixed(X, a, L):
    """Projections ``<a, x_i>`` as a layer computes them: accumulated in A, rounded once to S."""
    S, A, K = L
    m = X.shape[0]
    z = np.empty(m)
    for i in prange(m):
        buf = np.empty(K + 1)
        z[i] = _r(dot_acc(X[i], a, A, K, buf), S)
    return z


@njit(cache=True, parallel=True)
def eval_mixed(X, a, b, W, LL):
    """The network's forward pass in a per-layer arithmetic ``LL = (L1, L2)``.

    For each point (in parallel; each point's arithmetic is sequential and fixed):

    1. ``t = sum_j x_j a_j`` in A1 (:func:`dot_acc`): the projection, never stored;
    2. per neuron j in sorted order: ``h_j = S1(A1(t - b_j))`` (the bias added in the
       accumulator, one rounding to storage), ``relu``; passed to layer 2 as ``S2(h_j)``;
    3. ``f = S2(sum_j w_j h_j)``, the exact products accumulated in A2 in neuron order
       (in blocks of K2 when K2 > 1).

    X, a, b are carriers in S1, W in S2. Past the first zero activation every neuron
    contributes an exact zero (b increasing, roundings monotone), so the loop stops there
    when every weight is finite; with an infinite weight it runs on (``inf * 0`` is NaN,
    as in a framework).
    """
    L1, L2 = LL
    S1, A1, K1 = L1
    S2, A2, K2 = L2
    same = S1 == S2
    m = X.shape[0]
    n, k = W.shape
    out = np.zeros((m, k))
    stop = _all_finite(W)
    for i in prange(m):
        buf = np.empty(K1 + 1)
        t = dot_acc(X[i], a, A1, K1, buf)
        acc = np.zeros(k)
        pend = np.empty((k, K2 + 1))
        cnt = 0
        for j in range(n):
            h = _r(rnd_sum(t, -b[j], A1), S1)
            if h <= 0.0:  # relu (a NaN activation is not <= 0: it propagates)
                if stop:
                    break
                h = 0.0
            if not same:
                h = _r(h, S2)
            if K2 == 1:
                for c in range(k):
                    acc[c] = rnd_sum(acc[c], W[j, c] * h, A2)
            else:
                cnt += 1
                for c in range(k):
                    pend[c, cnt] = W[j, c] * h
                if cnt == K2:
                    for c in range(k):
                        pend[c, 0] = acc[c]
                        acc[c] = rnd_block(pend[c], cnt + 1, A2)
                    cnt = 0
        if K2 > 1 and cnt > 0:
            for c in range(k):
                pend[c, 0] = acc[c]
                acc[c] = rnd_block(pend[c], cnt + 1, A2)
        for c in range(k):
            out[i, c] = _r(acc[c], S2)
    return out


@njit(cache=True)
def solve_recurrence_mixed(z, b, Y, L):
    """The forward recurrence with running sums in the accumulator and weights stored in S.

    Per neuron i, each step one correct rounding to A (``.`` exact products of storage
    values): ``pr = A(z_i * S)``, ``num = A(A(y_i - pr) + T)``, ``den = A(z_i - b_i)``,
    ``w_i = S(A(num / den))`` (the stored weight), then ``S = A(S + w_i)``,
    ``T = A(T + w_i . b_i)``. z, b, Y are carriers in S.
    """
    St, A, K = L
    n, k = Y.shape
    W = np.empty((n, k))
    for c in range(k):
        S = 0.0
        T = 0.0
        for i in range(n):
            pr = _r(z[i] * S, A)  # z (<= 25 bits) x S (the accumulator's bits): exact in float64 for A <= 28 bits
            num = rnd_sum(Y[i, c], -pr, A)
            num = rnd_sum(num, T, A)
            den = rnd_sum(z[i], -b[i], A)
            w = _r(_r(num / den, A), St)
            W[i, c] = w
            S = rnd_sum(S, w, A)
            T = rnd_sum(T, w * b[i], A)
    return W
