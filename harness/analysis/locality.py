"""Locality: how far from a training point does the memorized label survive?

The Theorem-1 network ``f(x) = sum_j w_j relu(<a, x> - b_j)`` depends on x only through
``t = <a, x>`` and is piecewise linear in t with knots b. So the set of inputs that keep
a point's predicted label is a slab orthogonal to a: an interval ``(t - t_minus, t + t_plus)``
in t, infinite in every other direction (docs/MATH.md, "Locality"). A perturbation e moves
t by ``<a, e>``, at most ``||e|| ||a||_*`` (the dual norm), so the largest radius r such
that every perturbation of size < r keeps the label is ``min(t_minus, t_plus) / ||a||_*``.

:func:`label_radius` computes the slab of every row exactly (rational arithmetic on the
network's own weights and the given inputs) or in float64; :func:`locality` is the
randomization test of Zhang et al. done exactly: fit the training part of a data set with
true and with randomized labels, and compare the radii, the neighbour distances, the
share of random perturbations that keep the label, and the held-out accuracy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.errors import HarnessError

__all__ = ["METRICS", "LabelRadius", "label_radius", "class_set", "predict_labels", "neighbour_distances",
           "perturbation_curve", "knot_values", "outputs_at", "LocalityRun", "Locality", "locality", "median_interval", "LOCALITY_LABELS",
           "worst_unit"]

#: Perturbation norms and the dual norm of a each one uses (||e||_p <= r moves t by at
#: most r ||a||_q, with 1/p + 1/q = 1), and scipy's name for the distance.
METRICS = {"l1": ("linf", "cityblock"), "l2": ("l2", "euclidean"), "linf": ("l1", "chebyshev")}

#: Label sets :func:`locality` compares.
LOCALITY_LABELS = ("true", "randomized")


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise HarnessError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    return metric


def _dual_norm(a, metric: str, exact: bool):
    """||a||_q for the metric's dual norm q; exact: a Fraction-valued (l1, linf) or an
    mpmath value at 128 bits (l2, a square root)."""
    q = METRICS[metric][0]
    if exact:
        from ..core.exact import to_fraction

        fa = [abs(to_fraction(float(v))) for v in a]
        if q == "l1":
            return sum(fa)
        if q == "linf":
            return max(fa)
        import mpmath

        with mpmath.workprec(128):
            s = sum(v * v for v in fa)
            return mpmath.sqrt(mpmath.mpf(s.numerator) / s.denominator)
    a = np.abs(np.asarray(a, np.float64))
    return float({"l1": np.sum(a), "linf": np.max(a), "l2": np.sqrt(np.sum(a * a))}[q])


def _qf(q) -> float:
    """An exact rational (mpq or Fraction) as the nearest float64 (+-inf past the range)."""
    from fractions import Fraction

    from ..core.exact import to_float

    return to_float(Fraction(int(q.numerator), int(q.denominator)))


def _divide(t_width, norm, exact: bool) -> float:
    """t_width / norm as a float (inf stays inf); exact: rounded once from 128 bits."""
    if t_width is None:
        return math.inf
    if not exact:
        return float(t_width) / norm
    import mpmath

    with mpmath.workprec(128):
        num = mpmath.mpf(t_width.numerator) / t_width.denominator
        den = norm if isinstance(norm, mpmath.mpf) else mpmath.mpf(norm.numerator) / norm.denominator
        return float(num / den)


def class_set(y) -> tuple:
    """(kind, classes) of training labels: 'onehot' with k classes, or 'scalar' with the sorted
    class values (binary labels: 0 and 1). Real-valued labels are refused: a label radius needs
    classes."""
    from ..build.data import label_kind

    Y = np.asarray(y, np.float64)
    kind = label_kind(Y)
    if kind == "classes":
        return "onehot", tuple(range(Y.shape[1]))
    if kind == "binary":
        return "scalar", (0.0, 1.0)
    if kind == "integer":
        return "scalar", tuple(float(v) for v in np.unique(Y))
    raise HarnessError("labels are real numbers, not classes: a label radius needs class labels (0/1, "
                       "integer classes or one-hot rows); e.g. --labels true on digits")


def predict_labels(out, kind: str, classes) -> np.ndarray:
    """Predicted class of each output row: argmax (one-hot), else the nearest class (a tie goes
    to the smaller class); NaN outputs predict nothing (-1)."""
    out = np.asarray(out, np.float64)
    if kind == "onehot":
        o = out.reshape(out.shape[0], -1)
        pred = np.argmax(np.where(np.isnan(o), -np.inf, o), axis=1).astype(np.float64)
        pred[~np.all(np.isfinite(o), axis=1)] = -1
        return pred
    c = np.asarray(classes, np.float64)
    v = out.reshape(-1)
    mids = (c[1:] + c[:-1]) / 2
    idx = np.searchsorted(mids, v, side="left")
    pred = c[np.minimum(idx, c.size - 1)]
    pred = np.where(np.isnan(v), -1.0, pred)
    return pred


@dataclass(frozen=True, eq=False)
class LabelRadius:
    """The label-keeping slab of each row (see :func:`label_radius`).

    Arrays are float64, one entry per row of the X given:

    t : the projection <a, x> (exact mode: rounded from the exact value)
    value : f(x) (exact mode: rounded from the exact value), (m,) or (m, k)
    predicted : the predicted class (the nearest class, or the argmax of one-hot outputs)
    correct : predicted == the row's label
    t_minus, t_plus : distance in t to the nearest label change below / above (inf: none)
    minus, plus : the one-sided slab widths in the metric, t_minus / ||a||_*, t_plus / ||a||_*
    radius : min(minus, plus): every perturbation of size < radius keeps the label
    """

    metric: str
    exact: bool
    dual_norm: float
    t: np.ndarray
    value: np.ndarray
    predicted: np.ndarray
    correct: np.ndarray
    t_minus: np.ndarray
    t_plus: np.ndarray
    minus: np.ndarray
    plus: np.ndarray
    radius: np.ndarray
    label_kind: str
    classes: tuple

    def __post_init__(self):
        for name in ("t", "value", "predicted", "correct", "t_minus", "t_plus", "minus", "plus", "radius"):
            arr = np.array(getattr(self, name), copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def m(self) -> int:
        return int(self.radius.size)


def _margins(kind: str, classes, c_index: int, k: int):
    """The margins (u, c0) whose positivity keeps class c_index: g(t) = u . f(t) + c0.

    scalar classes: f above the midpoint below the class and below the midpoint above it;
    one-hot: f_c - f_j for every other j."""
    out = []
    if kind == "onehot":
        for j in range(k):
            if j != c_index:
                u = [0] * k
                u[c_index], u[j] = 1, -1
                out.append((u, 0))
        return out
    c = classes
    if c_index > 0:
        out.append(([1], -(c[c_index - 1] + c[c_index]) / 2))
    if c_index < len(c) - 1:
        out.append(([-1], (c[c_index] + c[c_index + 1]) / 2))
    return out


def _crossings(t0, g0, s, bk, G, slope_last, side: int, exact: bool):
    """Distance from each t0 to the first zero of one piecewise-linear margin g on one side.

    ``bk`` knots (n,), ``G`` g at the knots, ``s[i]`` the segment of t0[i] (b_s <= t0 < b_s+1;
    -1 left of every knot), ``g0`` g(t0) > 0, ``slope_last`` g's slope right of the last
    knot. Float64 arrays, or object arrays of exact rationals (``exact``). Returns
    (found mask, distances where found).
    """
    n = bk.size
    nonpos = np.array([bool(v <= 0) for v in G], dtype=bool) if exact else (G <= 0)
    if side > 0:
        idx = np.where(nonpos, np.arange(n), n)
        nxt = np.append(np.minimum.accumulate(idx[::-1])[::-1], n)
        j = nxt[s + 1]
        at_knot = j < n              # g reaches <= 0 at knot j: the zero is on the segment ending there
        past = ~at_knot & bool(slope_last < 0)  # positive at every knot to the right: past the last one
        found = at_knot | past
        dist = np.empty(t0.size, dtype=object if exact else np.float64)
        i = np.flatnonzero(at_knot)
        if i.size:
            jj = j[i]
            first = jj == s[i] + 1
            prev = np.maximum(jj - 1, 0)
            tl = np.where(first, t0[i], bk[prev])
            gl = np.where(first, g0[i], G[prev])
            dist[i] = tl + gl / (gl - G[jj]) * (bk[jj] - tl) - t0[i]
        i = np.flatnonzero(past)
        if i.size:
            last = s[i] == n - 1
            tl = np.where(last, t0[i], bk[n - 1])
            gl = np.where(last, g0[i], G[n - 1])
            dist[i] = tl + gl / (-slope_last) - t0[i]
        return found, dist
    idx = np.where(nonpos, np.arange(n), -1)
    prv = np.append(np.maximum.accumulate(idx), -1)  # prv[-1] (index n): left of every knot
    j = prv[np.where(s >= 0, s, n)]
    found = j >= 0  # left of the first knot f = 0: g is constant there, and positive
    dist = np.empty(t0.size, dtype=object if exact else np.float64)
    i = np.flatnonzero(found)
    if i.size:
        jj = j[i]
        own = jj == s[i]
        nxt = np.minimum(jj + 1, n - 1)
        tr = np.where(own, t0[i], bk[nxt])
        gr = np.where(own, g0[i], G[nxt])
        dist[i] = t0[i] - (tr - gr / (gr - G[jj]) * (tr - bk[jj]))
    return found, dist


def _exact_array(arr) -> np.ndarray:
    """A float array as an object array of exact rationals (mpq), elementwise."""
    from ..core.exact import to_q

    return np.frompyfunc(lambda v: to_q(float(v)), 1, 1)(arr)


def knot_values(net, exact: bool = True) -> tuple:
    """(S, V), each (n, k): f's slope on (b_j, b_j+1) and its value at knot b_j, computed exactly
    (both are prefix sums that cancel heavily where the weights grow); object arrays of exact
    rationals, or (``exact=False``) each rounded once to float64."""
    from ..core.exact import _q

    a, b, W = net.carriers()
    n, k = W.shape
    B, Wq = _exact_array(b), _exact_array(W)
    S = np.cumsum(Wq, axis=0)
    V = np.empty((n, k), dtype=object)
    V[0] = _q(0)
    if n > 1:
        V[1:] = np.cumsum(S[:-1] * (B[1:] - B[:-1])[:, None], axis=0)
    if exact:
        return S, V
    rnd = np.vectorize(_qf, otypes=[np.float64])
    return (rnd(S), rnd(V)) if n else (np.zeros((0, k)), np.zeros((0, k)))


def outputs_at(net, t, S=None, V=None) -> np.ndarray:
    """f as a function of t = <a, x>, (m, k), in float64 from the exactly computed slopes and knot
    values (:func:`knot_values`): one linear piece per t, three roundings (far fewer than the
    forward pass, which cancels where the weights grow)."""
    if S is None:
        S, V = knot_values(net, exact=False)
    b = np.asarray(net.b, np.float64)
    t = np.asarray(t, np.float64).ravel()
    seg = np.searchsorted(b, t, side="right") - 1
    sc = np.maximum(seg, 0)
    with np.errstate(all="ignore"):
        F = V[sc] + S[sc] * (t - b[sc])[:, None]
    F[seg < 0] = 0.0
    return F


def label_radius(net, X, y=None, metric: str = "l2", *, exact: bool = False, classes=None) -> LabelRadius:
    """For each row of X, the largest r such that every perturbation of size < r (in ``metric``:
    l1, l2 or linf) keeps the network's predicted label, with the one-sided slab widths.

    The predicted label is the nearest class (binary labels: the side of 1/2; one-hot: the
    argmax); a tie (f exactly on a class boundary) counts as a change, so its radius is 0.
    The label-keeping set of a row is the slab ``t - t_minus < <a, x'> < t + t_plus``; the
    worst perturbation runs along the dual vector of a, so ``r = min(t_minus, t_plus) / ||a||_*``
    (l2: ||a||_2; l1: max |a_i|; linf: sum |a_i|).

    ``exact=True`` does it in rational arithmetic from the network's own knots and weights
    and the exact values of X (a float64 array): the slab of the real-arithmetic function
    the stored weights define, every width exact before its one final rounding. Otherwise
    f's slopes and knot values are still computed exactly (O(nk) rationals, rounded once),
    and the projections and crossings of each row in float64: a few roundings per width,
    plus the projection's (relative error ~ u |<a, x>| / width).

    ``y`` gives each row's label for ``correct`` (optional); ``classes`` the class set
    (default: from y; binary labels are always the classes 0 and 1). Pass the training
    labels' classes when X holds other points.
    """
    _check_metric(metric)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != net.d:
        raise HarnessError(f"X must be (m, {net.d}) for this network, got shape {X.shape}")
    if np.iscomplexobj(X) or not np.all(np.isfinite(X)):
        raise HarnessError("X must be finite real numbers")
    X = X.astype(np.float64)
    if classes is None:
        if y is None:
            raise HarnessError("label_radius needs the labels y or the class set `classes`")
        kind, classes = class_set(np.asarray(y, np.float64).reshape(X.shape[0], -1) if net.k > 1 else y)
    else:
        kind = "onehot" if net.k > 1 else "scalar"
        classes = tuple(range(net.k)) if kind == "onehot" else tuple(sorted(float(c) for c in classes))
    if (kind == "onehot") != (net.k > 1):
        raise HarnessError(f"labels are {'one-hot' if kind == 'onehot' else 'scalar classes'} but the network has "
                           f"{net.k} output(s)")
    a, b, W = net.carriers()
    n, k = W.shape
    from ..core.exact import _q

    S, V = knot_values(net, exact=exact)
    if exact:
        zero = _q(0)
        t = _exact_array(X).dot(_exact_array(a)) if X.shape[0] else np.empty(0, dtype=object)
        bk = _exact_array(b)
    else:
        zero = 0.0
        t = np.sum(X * a, axis=1)
        bk = b
    seg = np.searchsorted(b, np.array([_qf(v) for v in t]) if exact else t, side="right").astype(np.int64) - 1
    if exact:  # the float search can misplace a t within a rounding of a knot: settle it exactly
        for i in range(seg.size):
            while seg[i] + 1 < n and bk[seg[i] + 1] <= t[i]:
                seg[i] += 1
            while seg[i] >= 0 and bk[seg[i]] > t[i]:
                seg[i] -= 1
    m = X.shape[0]
    left = seg < 0
    sc = np.maximum(seg, 0)
    with np.errstate(all="ignore"):
        F = V[sc] + S[sc] * (t - bk[sc])[:, None] if n else np.zeros((m, k))
        if left.any():
            F[left] = zero
    if exact:
        Ff = np.array([[_qf(v) for v in row] for row in F]).reshape(m, k)
        pred = np.empty(m)
        if kind == "onehot":  # argmax decided exactly (the first of equal maxima)
            pred[:] = [max(range(k), key=lambda c, row=row: (row[c], -c)) for row in F]
        else:  # nearest class decided exactly (a float may round onto a midpoint): ties go down
            from ..core.exact import to_fraction

            mids = [(_q(to_fraction(lo)) + _q(to_fraction(hi))) / 2 for lo, hi in zip(classes[:-1], classes[1:])]
            pred[:] = [classes[sum(bool(v > mq) for mq in mids)] for v in F[:, 0]]
    else:
        Ff = F
        pred = predict_labels(Ff, kind, classes)
    t_minus = np.full(m, math.inf)
    t_plus = np.full(m, math.inf)
    best = {1: np.full(m, None, dtype=object), -1: np.full(m, None, dtype=object)}
    with np.errstate(all="ignore"):
        for ci, c in enumerate(classes):
            rows = np.flatnonzero(pred == (ci if kind == "onehot" else c))
            if rows.size == 0:
                continue
            for u, c0 in _margins(kind, classes, ci, k):
                if exact:
                    from ..core.exact import to_fraction

                    uq = np.array([_q(v) for v in u], dtype=object)
                    cq0 = _q(to_fraction(c0))
                else:
                    uq, cq0 = np.asarray(u, np.float64), float(c0)
                G = V.dot(uq) + cq0
                g0 = F[rows].dot(uq) + cq0
                slope_last = S[n - 1].dot(uq) if n else zero
                tie = np.array([bool(v <= 0) for v in g0], dtype=bool)
                free = np.flatnonzero(~tie)
                for side in (1, -1):
                    found = tie.copy()  # on the boundary already (a tie): no margin at all
                    dist = np.full(rows.size, zero, dtype=object if exact else np.float64)
                    found[free], dist[free] = _crossings(t[rows[free]], g0[free], seg[rows[free]], bk, G,
                                                         slope_last, side, exact)
                    for r, dv in zip(rows[found], dist[found]):
                        cur = best[side][r]
                        if cur is None or dv < cur:
                            best[side][r] = dv
    for side, store in ((1, t_plus), (-1, t_minus)):
        has = np.array([v is not None for v in best[side]], dtype=bool)
        store[has] = [_qf(v) if exact else float(v) for v in best[side][has]]
    norm = _dual_norm(a, metric, exact)
    if exact:  # each width divided exactly, rounded once (t_minus / t_plus above are the t-widths)
        minus = np.array([_divide(v, norm, True) for v in best[-1]])
        plus = np.array([_divide(v, norm, True) for v in best[1]])
        norm_f = float(norm)
    else:
        norm_f = norm
        minus, plus = t_minus / norm, t_plus / norm
    if y is not None:
        Y = np.asarray(y, np.float64)
        truth = np.argmax(Y.reshape(m, -1), axis=1).astype(np.float64) if kind == "onehot" else Y.reshape(-1)
        correct = pred == truth
    else:
        correct = np.zeros(m, dtype=bool)
    return LabelRadius(metric=metric, exact=bool(exact), dual_norm=norm_f,
                       t=np.array([_qf(v) for v in t]) if exact else np.asarray(t, np.float64),
                       value=Ff[:, 0] if k == 1 else Ff, predicted=pred, correct=correct,
                       t_minus=t_minus, t_plus=t_plus, minus=minus, plus=plus,
                       radius=np.minimum(minus, plus), label_kind=kind, classes=tuple(classes))


def neighbour_distances(X, y, metric: str = "l2", chunk: int = 512) -> tuple:
    """(nearest other row, nearest row of another label) distance of each row of X, in ``metric``
    (brute force in chunks: scipy's cdist computes each distance directly, no Gram trick).
    inf where no such row exists. y: (m,) or one-hot (m, k)."""
    from scipy.spatial.distance import cdist

    _check_metric(metric)
    X = np.asarray(X, np.float64)
    Y = np.asarray(y, np.float64).reshape(X.shape[0], -1)
    lab = np.argmax(Y, axis=1) if Y.shape[1] > 1 else Y[:, 0]
    m = X.shape[0]
    nn_any, nn_other = np.full(m, math.inf), np.full(m, math.inf)
    for s in range(0, m, chunk):
        D = cdist(X[s:s + chunk], X, METRICS[metric][1])
        rows = np.arange(s, min(s + chunk, m))
        D[rows - s, rows] = math.inf
        nn_any[rows] = D.min(axis=1)
        D[lab[rows][:, None] == lab[None, :]] = math.inf
        nn_other[rows] = D.min(axis=1)
    return nn_any, nn_other


def _unit_directions(d: int, draws: int, metric: str, rng) -> np.ndarray:
    """``draws`` isotropic directions (Gaussian, then scaled to norm 1 in the metric)."""
    U = rng.standard_normal((draws, d))
    if metric == "l2":
        norm = np.sqrt(np.sum(U * U, axis=1))
    elif metric == "l1":
        norm = np.sum(np.abs(U), axis=1)
    else:
        norm = np.max(np.abs(U), axis=1)
    return U / norm[:, None]


def perturbation_curve(net, lr: LabelRadius, eps, *, draws: int = 256, seed: int = 0) -> tuple:
    """(kept, in_slab): for each size of ``eps``, the share of random isotropic perturbations of
    that size that keep the label, over every row of ``lr`` and ``draws`` seeded directions; and
    the share that stay inside the row's slab.

    A perturbation e = eps u moves t by eps <a, u>. Inside the slab (``-t_minus < shift <
    t_plus``) the label is kept by construction; beyond it the label may come back where f swings
    back, so ``kept`` evaluates f at the moved t (:func:`outputs_at`), as a practitioner's
    evaluation would, and ``in_slab`` <= ``kept`` is the guaranteed part.
    """
    from ..core.seeding import rng_for

    a = np.asarray(net.a, np.float64)
    U = _unit_directions(a.size, int(draws), lr.metric, rng_for(seed, "perturbations"))
    shift = np.sum(U * a, axis=1)  # <a, u> per direction
    S, V = knot_values(net, exact=False)
    kept, inside = [], []
    m = lr.t.size
    with np.errstate(invalid="ignore"):
        for e in np.asarray(eps, np.float64):
            s = e * shift[None, :]
            slab = (s < lr.t_plus[:, None]) & (s > -lr.t_minus[:, None])
            T = (lr.t[:, None] + s).ravel()
            pred = predict_labels(outputs_at(net, T, S, V), lr.label_kind, lr.classes).reshape(m, -1)
            same = pred == lr.predicted[:, None]
            kept.append(float(same.mean()) if same.size else math.nan)
            inside.append(float(slab.mean()) if slab.size else math.nan)
    return np.array(kept), np.array(inside)


def median_interval(values, conf: float = 0.95) -> tuple:
    """(median, lo, hi, achieved confidence): the distribution-free interval for the median from
    order statistics, ``[x_(j), x_(m+1-j)]`` with the largest j whose binomial coverage is at
    least ``conf``; for too few values (fewer than 6 at 95%) the range, with its lower coverage."""
    x = np.sort(np.asarray([v for v in values if v == v], np.float64))
    m = x.size
    if m == 0:
        return math.nan, math.nan, math.nan, 0.0
    med = float(np.median(x))
    cdf = np.cumsum([math.comb(m, i) for i in range(m + 1)]) / 2.0 ** m  # P(Bin(m, 1/2) <= i)
    j, cover = 1, 1 - 2 * cdf[0]
    for jj in range(1, m // 2 + 1):
        c = 1 - 2 * cdf[jj - 1]  # P(x_(jj) <= median <= x_(m+1-jj))
        if c >= conf:
            j, cover = jj, c
    return med, float(x[j - 1]), float(x[m - j]), float(cover)


def _q3(v) -> dict:
    v = np.asarray(v, np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"p10": None, "median": None, "p90": None}
    p = np.quantile(v, [0.1, 0.5, 0.9])
    return {"p10": float(p[0]), "median": float(p[1]), "p90": float(p[2])}


#: The perturbation curve's sizes, relative to the median nearest-neighbour distance.
EPS_RELATIVE = tuple(10.0 ** (k / 4) for k in range(-24, 5))


@dataclass(frozen=True, eq=False)
class LocalityRun:
    """One fit of the training part (one label set, one seed) and what its labels' slabs look like."""

    labels: str
    seed: int
    n_train: int
    n_holdout: int
    classes: tuple
    train_fraction: float          # training labels reproduced by the forward pass in the format
    train_fraction_exact: float    # ... by the exact network (the stored weights, real arithmetic)
    heldout_accuracy: float        # held-out labels predicted right, forward pass in the format
    heldout_accuracy_exact: float  # ... by the exact network
    majority: float                # share of the most frequent held-out label (predicting it always)
    radius: dict                   # quantiles (p10, median, p90) of the exact radius
    nn: dict                       # ... of the distance to the nearest other training point
    nn_other: dict                 # ... of the distance to the nearest training point of another label
    ratio: dict                    # ... of radius / (nn_other / 2) (1: the largest ball any classifier keeps)
    eps: tuple                     # perturbation sizes
    kept: tuple                    # share of random perturbations of each size that keep the label
    in_slab: tuple                 # ... that stay inside the point's slab (kept for certain)
    eps_half: float | None         # size at which half are kept (log-linear between grid sizes; None: not on the grid)
    min_gap: float                 # smallest gap between sorted training projections, over ||a||_2
    slab_agreement: float          # share of moves to 0.98 / 1.02 of each one-sided width where the forward
                                   # pass in the format predicts what the exact slab says (kept / changed)
    radii: tuple = field(repr=False, default=())          # every training row's radius (charts)
    nn_all: tuple = field(repr=False, default=())         # every row's nearest-neighbour distance

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Locality:
    """:func:`locality`'s result: every run, and per label set the median over seeds with its interval."""

    settings: dict
    runs: tuple

    def summary(self) -> dict:
        """Per label set: heldout accuracy and median radius, median over seeds [interval, coverage];
        with both label sets, the gap true - randomized per seed."""
        out = {}
        for lab in dict.fromkeys(r.labels for r in self.runs):
            rs = [r for r in self.runs if r.labels == lab]
            out[lab] = {
                "seeds": len(rs),
                "heldout_accuracy": median_interval([r.heldout_accuracy for r in rs]),
                "heldout_accuracy_exact": median_interval([r.heldout_accuracy_exact for r in rs]),
                "median_radius": median_interval([r.radius["median"] for r in rs
                                                  if r.radius["median"] is not None]),
                "median_ratio": median_interval([r.ratio["median"] for r in rs if r.ratio["median"] is not None]),
                "train_fraction": median_interval([r.train_fraction for r in rs]),
                "slab_agreement": median_interval([r.slab_agreement for r in rs]),
            }
        if {"true", "randomized"} <= set(out):
            by = {(r.labels, r.seed): r for r in self.runs}
            gaps = [by[("true", s)].heldout_accuracy - by[("randomized", s)].heldout_accuracy
                    for s in sorted({r.seed for r in self.runs}) if ("true", s) in by and ("randomized", s) in by]
            out["gap"] = {"heldout_accuracy": median_interval(gaps)}
        return out

    def to_dict(self) -> dict:
        return {"settings": dict(self.settings), "summary": self.summary(), "runs": [r.to_dict() for r in self.runs]}


def worst_unit(a, metric: str) -> np.ndarray:
    """The unit vector (in the metric) along which <a, u> is largest: the dual vector of a."""
    a = np.asarray(a, np.float64)
    if metric == "l2":
        return a / np.sqrt(np.sum(a * a))
    if metric == "linf":
        return np.sign(a)
    u = np.zeros_like(a)
    k = int(np.argmax(np.abs(a)))
    u[k] = np.sign(a[k])
    return u


def slab_agreement(net, X, lr: LabelRadius, rhos=(0.98, 1.02)) -> float:
    """The slab as the network runs in its own format: move each row to rho times each finite
    one-sided width along the worst direction and compare the forward pass's label (in the
    network's format or arithmetic) with the exact slab's verdict (kept inside, changed just
    outside). 1.0: the format's network has the exact neighbourhoods."""
    u = worst_unit(net.a, lr.metric)
    hits = total = 0
    for side, width in ((1.0, lr.plus), (-1.0, lr.minus)):
        fin = np.flatnonzero(np.isfinite(width) & (width > 0))
        for rho in rhos:
            Xm = np.asarray(X, np.float64)[fin] + (side * rho * width[fin])[:, None] * u[None, :]
            with np.errstate(all="ignore"):
                pred = predict_labels(net.forward(Xm), lr.label_kind, lr.classes)
            same = pred == lr.predicted[fin]
            hits += int(np.sum(same if rho < 1 else ~same))
            total += fin.size
    return hits / total if total else math.nan


def _crossing_half(eps, kept) -> float | None:
    """The size at which the kept share first falls to 1/2, interpolated linearly in log eps
    between the two grid sizes around it (None when it never does on the grid)."""
    kept = np.asarray(kept, np.float64)
    below = np.flatnonzero(kept <= 0.5)
    if not below.size:
        return None
    i = int(below[0])
    if i == 0:
        return float(eps[0])
    k0, k1 = kept[i - 1], kept[i]
    w = (k0 - 0.5) / (k0 - k1)
    return float(math.exp(math.log(eps[i - 1]) + w * (math.log(eps[i]) - math.log(eps[i - 1]))))


def _teacher(X, rng) -> np.ndarray:
    """'true' labels for generated data: the side of a seeded random hyperplane through the data's
    mean (a rule that generalizes, unlike randomized labels). Elementwise numpy only."""
    v = rng.standard_normal(X.shape[1])
    return (np.sum((X - X.mean(axis=0)) * v, axis=1) > 0).astype(np.float64)


def locality(data: str = "digits", n: int | None = None, d: int = 16, *, labels=LOCALITY_LABELS,
             holdout: float = 0.2, fmt: str = "float64", bias: str = "midpoint", direction: str = "gaussian",
             metric: str = "l2", encoding: str = "class", seed: int = 0, seeds: int = 1, draws: int = 256,
             progress=None) -> Locality:
    """The randomization test done exactly: for each seed and label set, fit the training part of
    ``data``, and measure every training row's label radius (:func:`label_radius`, exact) beside
    its neighbour distances, the perturbation curve (:func:`perturbation_curve`) and the held-out
    accuracy.

    ``labels`` are among ``true`` (the data set's own classes; for generated data the side of a
    seeded random hyperplane) and ``randomized`` (a uniformly random class per point, as in the
    paper's test). ``encoding`` ``class``: one output holding the class number, the predicted label
    the nearest class; ``onehot``: one output per class, the predicted label the argmax (the
    network has (k - 1) n more weights). ``holdout`` is the held-out share, in (0, 1). Each seed draws the points
    (generated data), the split and the network; both label sets share them.
    """
    from ..build.construction import construct
    from ..build.data import make_dataset, make_labels, native_dim, real_size
    from ..core.seeding import rng_for

    say = progress or (lambda m: None)
    _check_metric(metric)
    labels = tuple(labels)
    for lab in labels:
        if lab not in LOCALITY_LABELS:
            raise HarnessError(f"labels {lab!r}: locality compares {' and '.join(LOCALITY_LABELS)} labels")
    if not labels:
        raise HarnessError("labels: give true, randomized or both")
    if not (isinstance(holdout, (int, float)) and 0 < holdout < 1):
        raise HarnessError(f"holdout must be a share in (0, 1), got {holdout!r}")
    if encoding not in ("class", "onehot"):
        raise HarnessError(f"encoding {encoding!r} is not one of class, onehot")
    if int(seeds) < 1:
        raise HarnessError(f"seeds must be at least 1, got {seeds}")
    if int(draws) < 1:
        raise HarnessError(f"draws must be at least 1, got {draws}")
    real = native_dim(data) is not None
    runs = []
    for s in range(int(seed), int(seed) + int(seeds)):
        if real:
            X, own = make_dataset(data, n if n is not None else real_size(data), 1, rng_for(s, "data"))
        else:
            X, own = make_dataset(data, 1000 if n is None else n, d, rng_for(s, "data"))
            own = _teacher(X, rng_for(s, "teacher"))
        m = X.shape[0]
        n_hold = int(round(holdout * m))
        if n_hold < 1 or m - n_hold < 2:
            raise HarnessError(f"holdout {holdout} of n = {m} points leaves {n_hold} held out and {m - n_hold} "
                               "to train on; need at least 1 and 2")
        perm = rng_for(s, "holdout").permutation(m)
        tr, ho = np.sort(perm[n_hold:]), np.sort(perm[:n_hold])
        for lab in labels:
            y = own if lab == "true" else make_labels("randomized", m, rng_for(s, "labels"), np.zeros(m), true=own)
            say(f"seed {s}, {lab} labels: fit {m - n_hold} points in {fmt}, hold out {n_hold}")
            kind, classes = class_set(y[tr])
            if encoding == "onehot":
                values = np.asarray(classes if kind == "scalar" else range(y.shape[1]), np.float64)
                y = np.searchsorted(values, y).astype(np.float64) if y.ndim == 1 else np.argmax(y, axis=1) * 1.0
                y = np.eye(values.size)[y.astype(np.int64)]
                kind, classes = class_set(y[tr])
            net = construct(X[tr], y[tr], direction=direction, bias=bias, fmt=fmt, seed=s)
            lr = label_radius(net, X[tr], y[tr], metric, exact=True, classes=classes)
            lr_ho = label_radius(net, X[ho], y[ho], metric, exact=True, classes=classes)
            out_tr = net.forward(X[tr])
            out_ho = net.forward(X[ho])
            say(f"seed {s}, {lab} labels: neighbour distances")
            nn_any, nn_other = neighbour_distances(X[tr], y[tr], metric)  # nn_any: the same for both label sets
            nn_med = float(np.median(nn_any[np.isfinite(nn_any)])) if np.isfinite(nn_any).any() else 1.0
            eps = tuple(nn_med * q for q in EPS_RELATIVE)
            kept, in_slab = perturbation_curve(net, lr, eps, draws=draws, seed=s)
            half = _crossing_half(eps, kept)
            agree = slab_agreement(net, X[tr], lr)
            lab_tr = np.argmax(y[tr], axis=1) if kind == "onehot" else y[tr]
            yh = np.argmax(y[ho], axis=1) if kind == "onehot" else y[ho]
            _, counts = np.unique(yh, return_counts=True)
            zs = np.sort(np.asarray(lr.t))
            runs.append(LocalityRun(
                labels=lab, seed=s, n_train=int(tr.size), n_holdout=int(ho.size), classes=classes,
                train_fraction=float(np.mean(predict_labels(out_tr, kind, classes) == lab_tr)),
                train_fraction_exact=float(np.mean(lr.correct)),
                heldout_accuracy=float(np.mean(predict_labels(out_ho, kind, classes) == yh)),
                heldout_accuracy_exact=float(np.mean(lr_ho.correct)),
                majority=float(counts.max() / yh.size),
                radius=_q3(lr.radius), nn=_q3(nn_any), nn_other=_q3(nn_other),
                ratio=_q3(lr.radius / (nn_other / 2)),
                eps=eps, kept=tuple(float(v) for v in kept), in_slab=tuple(float(v) for v in in_slab),
                eps_half=half,
                min_gap=float(np.min(np.diff(zs)) / np.sqrt(np.sum(np.asarray(net.a, np.float64) ** 2)))
                if zs.size > 1 else math.inf, slab_agreement=agree,
                radii=tuple(float(v) for v in lr.radius), nn_all=tuple(float(v) for v in nn_any)))
    settings = dict(data=data, n=n, d=int(X.shape[1]), labels=list(labels), holdout=holdout, fmt=fmt, bias=bias,
                    direction=direction, metric=metric, encoding=encoding, seed=int(seed), seeds=int(seeds), draws=int(draws))
    return Locality(settings=settings, runs=tuple(runs))

