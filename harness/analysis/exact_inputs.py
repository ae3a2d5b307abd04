"""The construction carried out exactly from the inputs (docs/MATH.md §5).

The exact solution of the network's *own* system (its rounded projections z, knots b and
labels) measures the solve. The construction carried out exactly from the inputs measures
what the rounding of everything before the solve costs: the exact projections
``t_i = <a, x_i>`` of the caller's X (with the network's own direction a), sorted exactly,
the knots placed exactly by the bias rule (``b_i = t_(i-1) + theta_i (t_(i) - t_(i-1))``
with the strategy's exact theta: 1/2, 0, the decimal theta of ``fraction:theta``, the
seeded draws of ``random``; the first knot the network's own first offset below t_(1)),
and the caller's labels exactly, solved exactly (ball arithmetic, certified).

Weights are compared by training row (neuron i belongs to the point just above knot i), so a
projection that rounding moved past its neighbour shows up as a swap, not as noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["ExactInputs", "exact_inputs", "exact_knots", "EXACT_INPUTS_MAX_WORK"]

#: n * d above which the exact projections are not computed (each is d exact products).
EXACT_INPUTS_MAX_WORK = 5_000_000


@dataclass(frozen=True)
class ExactInputs:
    """The network against the construction carried out exactly from its inputs.

    kind : "exact" (computed), "collision" (two distinct rows have equal exact projections:
        no exact construction exists), "explicit" (explicit knots: the knots are inputs) or
        "skipped" (n d above EXACT_INPUTS_MAX_WORK, or knots the exact rule cannot place)
    order_swaps : sorted positions whose row differs between the network and the exact order
    projection_rel : max_i |z_i - t_i| / max_i |t_i|: the projection's own rounding (and X's)
    knots_rel : max_i |b_i - b*_i| / mean gap: how far rounding moved the knots
    system_rel : max |w_sys - w*| / max |w*|: the exact solution of the network's rounded
        system against the exact construction: what rounding X, a.x, the knots and y costs
        with a perfect solve
    weights_rel : max |w_hat - w*| / max |w*|: the network's weights against the exact
        construction (everything the format did)
    certified : proven relative error of the exact construction's reference (ball arithmetic)
    """

    kind: str
    order_swaps: int
    projection_rel: float
    knots_rel: float
    system_rel: float
    weights_rel: float
    certified: float

    def to_dict(self) -> dict:
        return asdict(self)


def _theta(net, n: int):
    """The bias rule's exact theta per interior knot (a list of n - 1 rationals), or None."""
    from ..core.exact import Q, to_q
    from ..core.seeding import rng_for

    bias = net.bias
    if bias == "midpoint":
        return [Q(1, 2)] * (n - 1)
    if bias == "left":
        return [Q(0)] * (n - 1)
    if bias.startswith("fraction:"):
        return [to_q(bias.split(":", 1)[1])] * (n - 1)
    if bias == "random":  # the same seeded draws the construction rounded to its format
        return [to_q(float(v)) for v in rng_for(net.seed, "bias").random(max(n - 1, 0))]
    return None


def exact_knots(net, t_sorted) -> list | None:
    """The knots the bias rule places on the exact sorted projections (None: no exact rule)."""
    from ..core.exact import to_q

    n = len(t_sorted)
    theta = _theta(net, n)
    if theta is None:
        return None
    first = to_q(float(net.z[0])) - to_q(float(net.b[0]))  # the network's own first offset
    b = [t_sorted[0] - first]
    for i in range(1, n):
        b.append(t_sorted[i - 1] + theta[i - 1] * (t_sorted[i] - t_sorted[i - 1]))
    return b


def exact_inputs(net, X, y, *, w_sys=None, max_work: int = EXACT_INPUTS_MAX_WORK, prec: int = 256) -> ExactInputs:
    """Compare ``net`` (built from the caller's X, y) with the construction carried out exactly
    from X and y (see the module docstring). ``w_sys``: the exact solution of the network's own
    system, neuron order, (n, k) rationals (default: computed by ball arithmetic)."""
    from ..core.exact import Q, solve_ball, to_float, to_q

    X = np.asarray(X, np.float64)
    Y = np.asarray(y, np.float64).reshape(net.n_input, -1)
    n, k = net.n, net.k
    nan = math.nan
    if net.bias == "explicit":
        return ExactInputs("explicit", 0, nan, nan, nan, nan, nan)
    if n * net.d > max_work:
        return ExactInputs("skipped", 0, nan, nan, nan, nan, nan)
    rows = np.asarray(net.order)
    a = [to_q(float(v)) for v in np.asarray(net.a, np.float64)]
    t = {}
    for r in rows.tolist():
        acc = Q(0)
        for aj, xj in zip(a, X[r].tolist()):
            acc += aj * Q(xj)
        t[r] = acc
    exact_rows = sorted(rows.tolist(), key=lambda r: (t[r], r))
    ts = [t[r] for r in exact_rows]
    if any(ts[i] == ts[i + 1] for i in range(n - 1)):
        return ExactInputs("collision", 0, nan, nan, nan, nan, nan)
    b_star = exact_knots(net, ts)
    if b_star is None:
        return ExactInputs("skipped", 0, nan, nan, nan, nan, nan)
    swaps = int(np.count_nonzero(np.asarray(exact_rows) != rows))
    top_t = max(abs(v) for v in ts)
    z = np.asarray(net.z, np.float64)
    b = np.asarray(net.b, np.float64)
    pos = {r: i for i, r in enumerate(exact_rows)}   # exact position of each row
    proj = max(abs(to_q(float(z[i])) - t[r]) for i, r in enumerate(rows.tolist()))
    mean_gap = (ts[-1] - ts[0]) / (n - 1) if n > 1 else Q(1)
    knots = max(abs(to_q(float(b[i])) - b_star[pos[r]]) for i, r in enumerate(rows.tolist()))
    Yx = [[to_q(float(v)) for v in Y[r]] for r in exact_rows]
    sol = solve_ball(ts, b_star, np.array(Yx, dtype=object), prec)
    cert = Q(0)
    for c in range(k):
        rel = sol.certified_relative(c)
        cert = max(cert, rel) if rel is not None else Q(1)
    if w_sys is None:
        from ..linalg.reference import labels_in_neuron_order

        ws = solve_ball(z, b, np.asarray(labels_in_neuron_order(net, Y if k > 1 else Y[:, 0]), np.float64), prec)
        w_sys = [[ws.mid[c][i] for c in range(k)] for i in range(n)]
    W = net.carriers()[2]
    w_star = [[sol.mid[c][pos[r]] for c in range(k)] for r in rows.tolist()]  # by network neuron
    top_w = max((abs(v) for row in w_star for v in row), default=Q(0))
    if top_w == 0:
        return ExactInputs("exact", swaps, to_float(proj / top_t) if top_t else 0.0, to_float(knots / mean_gap),
                           0.0, 0.0, to_float(cert))
    with np.errstate(invalid="ignore"):
        finite = bool(np.all(np.isfinite(W)))
    sys_rel = max(abs(to_q(w_sys[i][c]) - w_star[i][c]) for i in range(n) for c in range(k)) / top_w
    if finite:
        w_rel = to_float(max(abs(Q(float(W[i, c])) - w_star[i][c]) for i in range(n) for c in range(k)) / top_w)
    else:
        w_rel = math.inf
    return ExactInputs(kind="exact", order_swaps=swaps, projection_rel=to_float(proj / top_t) if top_t else 0.0,
                       knots_rel=to_float(knots / mean_gap), system_rel=to_float(sys_rel), weights_rel=w_rel,
                       certified=to_float(cert))
