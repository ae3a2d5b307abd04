"""A-priori forward-error bounds for the solvers, from their operation order.

Standard model: every operation returns ``op(x, y)(1 + delta)``, ``|delta| <= u``
(``u = 2^-p``; ``2u`` for stochastic rounding), no underflow or overflow. With
``gamma_k = k u / (1 - k u)`` (Higham, *Accuracy and Stability*, Lemma 3.1):

recurrence (kernel order ``((y_i - z_i*S) + T) / (z_i - b_i)``, running sums S, T):
    ``y_fmt = M w_hat + r``, ``|r| <= gamma_(n+1) E |w_hat|`` with
    ``E_ij = |z_i| + |b_j|`` (j < i), ``E_ii = |z_i - b_i|``. The running sums carry
    errors relative to ``|z_i|`` and ``|b_j|``, not to ``|z_i - b_j|``: the recurrence
    is not shift-invariant, and the bound says by how much.
backsub: ``|r| <= gamma_(n+1) |M| |w_hat|`` (substitution, Higham Thm 8.5, plus one
    rounding for each on-the-fly entry ``fl(z_i - b_j)``).
lapack: ``gamma_(n+3) |M|``: BLAS may multiply by a rounded reciprocal of the
    diagonal (two roundings for one division) and sums in any order.
exact: ``w_hat = round(w_fmt)``: ``|w_hat - w_fmt| <= u |w_fmt|``.

The ``sequential`` forward pass at a training point (its projection recomputed by the
same kernel, so ``t = z_i`` exactly) sums ``fl(w_j * fl(z_i - b_j))`` left to right
from 0, hence ``|f_hat_i - (M w_hat)_i| <= gamma_(n+1) (|M| |w_hat|)_i``
(:func:`forward_error_bound`); add the exact residual ``|y - M w_hat|`` to bound the
label error. This needs round-to-nearest: stochastic rounding draws the projection's
roundings afresh in the forward pass, so ``t`` need not equal ``z_i``.

Then for the exact solution w of ``M w = y`` (the caller's labels),
``w_hat - w = M^-1 (M w_hat - y)``, hence componentwise

    |w_hat - w| <= |M^-1| (|r| + |y_fmt - y|)

with no second-order term (w_hat, not w, sits on the right). Every quantity here
is computed exactly in rationals, so a test of ``observed <= bound`` is rigorous.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..core.exact import Q, inverse_exact, solve_exact, to_q
from ..core.formats import get_format

__all__ = ["gamma", "round_up", "inverse_abs_exact", "solve_error_bound", "forward_error_bound", "model_rhs",
           "bound_fast", "solve_error_bound_fast"]


def gamma(k: int, u: Fraction):
    """gamma_k = k u / (1 - k u) as an exact rational; None when k u >= 1 (no bound)."""
    ku = k * u
    return ku / (1 - ku) if ku < 1 else None


def inverse_abs_exact(z, b) -> list:
    """|M^-1| exactly (n x n exact rationals): O(n^2) rational ops."""
    return [[abs(v) for v in row] for row in inverse_exact(z, b)]


def round_up(q: Fraction) -> float:
    """The smallest float64 >= q (inf past the float64 range)."""
    f = float(q) if q < Q(2) ** 1023 else np.inf
    return f if f == np.inf or Q(f) >= q else float(np.nextafter(f, np.inf))


def forward_error_bound(z, b, w_hat, fmt) -> np.ndarray:
    """Bound on ``|f_hat(x_i) - (M w_hat)_i|`` for the ``sequential`` evaluator at the
    training points (neuron order, 1-D w_hat): ``gamma_(n+1) (|M| |w_hat|)_i``.
    Round-to-nearest only (see the module docstring)."""
    fmt = get_format(fmt)
    g = gamma(len(z) + 1, Q(1, 2**fmt.p))
    if g is None:
        return np.full(len(z), np.inf)
    zq = [to_q(v) for v in z]
    bq = [to_q(v) for v in b]
    wq = [abs(to_q(v)) for v in np.asarray(w_hat, np.float64)]
    out, S, T = [], Q(0), Q(0)
    for zi, bi, wi in zip(zq, bq, wq):  # (|M| |w|)_i through running sums, as in apply_exact
        S += wi
        T += wi * bi
        out.append(round_up(g * (zi * S - T)))
    return np.array(out)


def solve_error_bound(z, b, w_hat, y, y_fmt, fmt, solver: str, rounding: str = "nearest") -> np.ndarray:
    """Componentwise bound on |w_hat - w| (float64 array shaped like w_hat, rounded up).

    Parameters
    ----------
    z, b : float sequences   the system as built (sorted projections, knots)
    w_hat : (n,) or (n, k)   computed weights
    y : (n,) or (n, k)       caller's labels in neuron order (taken exactly)
    y_fmt : like y           labels as rounded to the working format
    """
    fmt = get_format(fmt)
    u = Q(1, 2**fmt.p) * (2 if rounding == "stochastic" else 1)
    n = len(z)
    zq = [to_q(v) for v in z]
    bq = [to_q(v) for v in b]
    W = np.asarray(w_hat, np.float64).reshape(n, -1)
    Y = np.asarray(y, dtype=object).reshape(n, -1)
    Yf = np.asarray(y_fmt, np.float64).reshape(n, -1)
    inv = inverse_abs_exact(zq, bq)
    out = np.empty_like(W)
    for c in range(W.shape[1]):
        wq = [to_q(v) for v in W[:, c]]
        dy = [abs(to_q(Yf[i, c]) - to_q(Y[i, c])) for i in range(n)]
        if solver == "exact":
            wf = solve_exact(zq, bq, [to_q(v) for v in Yf[:, c]])
            rhs = dy
            extra = [u * abs(v) for v in wf]
        else:
            g = gamma(n + (3 if solver == "lapack" else 1), u)
            if g is None:  # n u >= 1: the model gives no bound
                out[:, c] = np.inf
                continue
            rhs = []
            for i in range(n):
                if solver == "recurrence":
                    s = sum(((abs(zq[i]) + abs(bq[j])) * abs(wq[j]) for j in range(i)), Q(0))
                else:
                    s = sum(((zq[i] - bq[j]) * abs(wq[j]) for j in range(i)), Q(0))
                s += (zq[i] - bq[i]) * abs(wq[i])
                rhs.append(g * s + dy[i])
            extra = [Q(0)] * n
        for i in range(n):
            bound = sum((inv[i][j] * rhs[j] for j in range(i + 1)), Q(0)) + extra[i]
            out[i, c] = round_up(bound)  # never below the exact bound
    return out.reshape(np.shape(w_hat))


# --- O(n) float64 evaluation of the same bounds, for any n ------------------------------

def _gamma_float(k: int, u: Fraction) -> float:
    """gamma_k as a float rounded up (inf when k u >= 1)."""
    g = gamma(k, u)
    return math.inf if g is None else round_up(g)


def model_rhs(z, b, w_abs, solver: str) -> np.ndarray:
    """``(E |w_hat|)_i`` of the solver's backward-error model, before the gamma factor:
    ``E_ij = |z_i| + |b_j|`` (j < i), ``d_i`` (j = i) for the recurrence; ``|M|`` for
    backsub and lapack (module docstring). O(n), float64, every term non-negative."""
    from .operators import apply

    z = np.ascontiguousarray(z, np.float64)
    b = np.ascontiguousarray(b, np.float64)
    w_abs = np.ascontiguousarray(w_abs, np.float64)
    if solver == "recurrence":
        S = np.concatenate([[0.0], np.cumsum(w_abs)[:-1]])
        T = np.concatenate([[0.0], np.cumsum(np.abs(b) * w_abs)[:-1]])
        return np.abs(z) * S + T + (z - b) * w_abs
    return apply(z, b, w_abs)


def bound_fast(z, b, rhs) -> np.ndarray:
    """An upper bound on ``|M^-1| rhs`` (rhs >= 0, itself computed with <= n + 8 roundings
    per entry), from the O(n) closed form, inflated by ``1/(1 - gamma_K)`` for every
    rounding the closed form and rhs went through (:func:`operators.structured_roundings`)."""
    from .operators import absinv_apply, structured_roundings, x_to_float

    n = len(z)
    K = structured_roundings(n) + n + 8
    g = gamma(K, Q(1, 2**53))
    if g is None:
        return np.full(n, math.inf)
    safety = round_up(1 / (1 - g)) * (1 + 2.0**-52)  # the product below rounds once more
    m, e = absinv_apply(np.ascontiguousarray(z, np.float64), np.ascontiguousarray(b, np.float64),
                        np.ascontiguousarray(rhs, np.float64))
    with np.errstate(over="ignore"):
        return x_to_float(m, e) * safety


def solve_error_bound_fast(z, b, w_hat, y, y_fmt, fmt, solver: str, rounding: str = "nearest",
                           u=None) -> np.ndarray:
    """:func:`solve_error_bound` evaluated in O(n) float64 for any n (rounded up, never
    below it): a componentwise upper bound on ``|w_hat - w|``, 1-D arrays (one output).

    ``u`` overrides the format's unit roundoff (the mpmath reference passes 2^-prec).
    """
    fmt = get_format(fmt)
    if u is None:
        u = Q(1, 2**fmt.p) * (2 if rounding == "stochastic" else 1)
    n = len(z)
    w_abs = np.abs(np.asarray(w_hat, np.float64))
    dy = np.abs(np.asarray(y_fmt, np.float64) - np.asarray(y, np.float64))  # exact (Sterbenz)
    if solver == "exact":
        return bound_fast(z, b, dy) + round_up(u / (1 - u)) * w_abs * (1 + 2.0**-52)
    g = _gamma_float(n + (3 if solver == "lapack" else 1), u)
    if not math.isfinite(g):
        return np.full(n, math.inf)
    rhs = g * model_rhs(z, b, w_abs, solver) + dy
    return bound_fast(z, b, rhs)
