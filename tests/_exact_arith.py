"""Exact-rational emulations of the STORAGE@ACCUM kernels (harness.core.mixed), operation by
operation, for the tests to hold the Numba kernels to bit for bit.

Every value is a Fraction; every rounding is done here from the exact rational, by integer
arithmetic, independently of harness.core.rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def round_q(q, spec) -> float:
    """The exact rational q rounded to the kernel tuple ``spec = (kind, p, emin, maxf, mode)``:
    mode 0 nearest-even, 2 toward zero; kind 0 float64 (nearest-even), 3 overflow -> NaN,
    4 saturate; IEEE-style overflow otherwise (toward zero never overflows)."""
    kind, p, emin, maxf, mode = spec
    if kind == 0:
        p, emin, maxf = 53, -1022, float(np.finfo(np.float64).max)
    if isinstance(q, float):
        if math.isnan(q):
            return q
        if math.isinf(q):
            return (math.nan if kind == 3 else math.copysign(maxf, q) if kind == 4 else q)
        q = Fraction(q)
    if q == 0:
        return 0.0
    sign = -1 if q < 0 else 1
    num, den = abs(q.numerator), q.denominator
    e = num.bit_length() - den.bit_length()
    if (num < (den << e)) if e >= 0 else ((num << -e) < den):
        e -= 1
    e = max(e, emin)
    shift = p - 1 - e
    scaled = Fraction(num * 2**shift, den) if shift >= 0 else Fraction(num, den * 2**-shift)
    m, r = divmod(scaled.numerator, scaled.denominator)
    if mode == 0:
        twice = 2 * r
        if twice > scaled.denominator or (twice == scaled.denominator and m % 2 == 1):
            m += 1
    value = Fraction(m) * (Fraction(2) ** -shift)
    if value > Fraction(maxf):
        if kind == 3:
            return math.nan
        if kind == 4 or mode == 2:
            return sign * maxf
        return sign * math.inf
    return sign * float(value)


def _q(v):
    return Fraction(float(v)) if math.isfinite(v) else float(v)


def _add(acc, v, A):
    """round_A(acc + v) with float inputs that may be inf / NaN."""
    if isinstance(acc, float) or isinstance(v, float):
        return round_q(float(acc) + float(v), A)
    return round_q(acc + v, A)


def dot_acc(x, a, A, K):
    acc = Fraction(0)
    d = len(x)
    for j in range(0, d, K):
        block = sum((_q(x[q]) * _q(a[q]) for q in range(j, min(j + K, d))), Fraction(0))
        acc = _add(acc, block, A)
        acc = Fraction(acc) if math.isfinite(acc) else acc
    return float(acc)


def eval_mixed(X, a, b, W, LL):
    (S1, A1, K1), (S2, A2, K2) = LL
    W = np.asarray(W, np.float64).reshape(len(b), -1)
    n, k = W.shape
    out = np.zeros((len(X), k))
    for i, x in enumerate(X):
        t = dot_acc(x, a, A1, K1)
        acc = [Fraction(0)] * k
        pend = [[] for _ in range(k)]
        for j in range(n):
            pre = round_q(Fraction(t) - _q(b[j]) if math.isfinite(t) else t - b[j], A1)
            h = round_q(pre if not math.isfinite(pre) else Fraction(pre), S1)
            if h <= 0:
                h = 0.0
            if S2 != S1:
                h = round_q(Fraction(h) if math.isfinite(h) else h, S2)
            for c in range(k):
                pend[c].append(Fraction(W[j, c]) * Fraction(h) if math.isfinite(h) and math.isfinite(W[j, c])
                               else W[j, c] * h)
                if len(pend[c]) == K2:
                    acc[c] = _flush(acc[c], pend[c], A2)
                    pend[c] = []
        for c in range(k):
            if pend[c]:
                acc[c] = _flush(acc[c], pend[c], A2)
            out[i, c] = round_q(acc[c] if isinstance(acc[c], float) else Fraction(acc[c]), S2)
    return out


def _flush(acc, terms, A):
    if isinstance(acc, float) and not math.isfinite(acc) or any(isinstance(t, float) for t in terms):
        return round_q(float(acc) + sum(float(t) for t in terms), A)
    r = round_q(acc + sum(terms, Fraction(0)), A)
    return Fraction(r) if math.isfinite(r) else r


def project_mixed(X, a, L):
    S, A, K = L
    return np.array([round_q(Fraction(dot_acc(x, a, A, K)), S) for x in X])


def solve_recurrence_mixed(z, b, Y, L):
    St, A, K = L
    Y = np.asarray(Y, np.float64).reshape(len(z), -1)
    n, k = Y.shape
    W = np.empty((n, k))
    def r(v, spec):  # round, and hold the result exactly (a float once it is inf or NaN)
        return _q(round_q(v, spec))

    for c in range(k):
        S = Fraction(0)
        T = Fraction(0)
        for i in range(n):
            zi, bi = _q(z[i]), _q(b[i])
            pr = r(zi * S, A)
            num = r(r(_q(Y[i, c]) - pr, A) + T, A)
            den = r(zi - bi, A)
            w = round_q(r(num / den, A), St)
            W[i, c] = w
            S = r(S + _q(w), A)
            T = r(T + _q(w) * bi, A)
    return W
