"""Label radius, neighbour distances, perturbation curves and the locality experiment.

Every radius is checked the way its definition reads: a point moved to 0.98 r along the
worst-case direction keeps its label and at 1.02 r changes it, in the exact network
(rational evaluation of the stored weights at the moved float64 point) and in the float64
network (its own forward pass).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

import harness
from harness.analysis.locality import (
    knot_values, label_radius, worst_unit, outputs_at, locality, median_interval, neighbour_distances,
    perturbation_curve, predict_labels,
)
from harness.build.data import make_data
from harness.core.errors import HarnessError
from harness.core.seeding import rng_for


def exact_outputs(net, X) -> list:
    """f(x) of each row in rational arithmetic: the stored weights, no rounding anywhere."""
    a, b, W = net.carriers()
    A = [Fraction(float(v)) for v in a]
    B = [Fraction(float(v)) for v in b]
    Wq = [[Fraction(float(v)) for v in row] for row in W]
    out = []
    for x in np.asarray(X, np.float64):
        t = sum(ai * Fraction(float(xi)) for ai, xi in zip(A, x))
        row = [Fraction(0)] * W.shape[1]
        for bj, wj in zip(B, Wq):
            if t > bj:
                row = [r + w * (t - bj) for r, w in zip(row, wj)]
        out.append(row)
    return out


def exact_labels(net, X, classes) -> np.ndarray:
    """The predicted class of each row decided in rationals (ties: the smaller class; one-hot:
    the first maximum) -- independent of label_radius's own code."""
    out = []
    for row in exact_outputs(net, X):
        if len(row) > 1:
            best = max(range(len(row)), key=lambda c: (row[c], -c))
            out.append(float(best))
        else:
            v = row[0]
            cs = [Fraction(c) for c in classes]
            i = 0
            while i < len(cs) - 1 and v > (cs[i] + cs[i + 1]) / 2:
                i += 1
            out.append(float(classes[i]))
    return np.array(out)


def forward_bound(net, X) -> np.ndarray:
    """A bound on |f_float64(x) - f(x)| for the float64 forward pass at each row: the projection
    <a, x> (d products and sums), then n products, differences and sums, each rounding at most
    u = 2^-53: |error| <= gamma_(n+d+2) sum_j |w_j| (|t| + |b_j| + sum_i |a_i x_i|), the usual
    first-order bound of sequential summation (Higham, Accuracy and Stability, ch. 3)."""
    a, b, W = net.carriers()
    u = 2.0 ** -53
    k = net.n + net.d + 2
    gamma = k * u / (1 - k * u)
    absx = np.abs(np.asarray(X, np.float64)) @ np.abs(a)
    t = np.asarray(X, np.float64) @ a
    return gamma * (np.abs(W).sum(axis=1)[None, :] * (np.abs(t)[:, None] + np.abs(b)[None, :] + absx[:, None])).sum(axis=1)


def boundary_distance(net, X, classes) -> np.ndarray:
    """Exact distance of f(x) from the nearest class boundary (scalar classes) or, one-hot, half the
    smallest gap between the top output and another."""
    out = []
    for row in exact_outputs(net, X):
        if len(row) > 1:
            top, second = sorted(row, reverse=True)[:2]
            out.append(float((top - second) / 2))
        else:
            mids = [(Fraction(c0) + Fraction(c1)) / 2 for c0, c1 in zip(classes[:-1], classes[1:])]
            out.append(float(min(abs(row[0] - m) for m in mids)) if mids else math.inf)
    return np.array(out)


def test_worst_unit_attains_the_dual_norm():
    """The library's worst direction (used below) is a unit vector in the metric along which <a, u>
    equals the dual norm of a: l2 -> ||a||_2, linf -> ||a||_1, l1 -> ||a||_inf (exact here: the
    entries are small integers)."""
    a = np.array([3.0, -4.0, 1.0, 0.0, -2.0])
    for metric, norm, dual in (("l2", lambda u: np.sqrt(u @ u), np.sqrt(30.0)),
                               ("linf", lambda u: np.max(np.abs(u)), 10.0), ("l1", lambda u: np.sum(np.abs(u)), 4.0)):
        u = worst_unit(a, metric)
        assert abs(norm(u) - 1.0) <= 4 * 2.0 ** -53 and abs(a @ u - dual) <= 8 * 2.0 ** -53 * dual, metric


CASES = [
    # (name, n, d, labels, bias, metric)
    ("binary-midpoint-l2", 60, 5, "binary", "midpoint", "l2"),
    ("integer-left-l1", 64, 4, "integer", "left", "l1"),
    ("onehot-fraction-linf", 50, 3, "classes:3", "fraction:0.25", "linf"),
    ("binary-left-l2-d16", 80, 16, "binary", "left", "l2"),
]


def _problem(n, d, labels, seed=3):
    X = make_data("uniform", n, d, rng_for(seed, "data"))
    rng = rng_for(seed, "labels")
    if labels == "integer":
        y = rng.integers(0, 5, n).astype(np.float64)
    elif labels.startswith("classes:"):
        y = np.eye(int(labels.split(":")[1]))[rng.integers(0, 3, n)]
    else:
        y = rng.integers(0, 2, n).astype(np.float64)
    return X, y


@pytest.mark.parametrize("name,n,d,labels,bias,metric", CASES, ids=[c[0] for c in CASES])
def test_radius_brackets_the_label_change(name, n, d, labels, bias, metric):
    X, y = _problem(n, d, labels)
    net = harness.construct(X, y, bias=bias, seed=1)
    classes = tuple(range(y.shape[1])) if y.ndim == 2 else tuple(sorted(set(y.tolist()) | ({0.0, 1.0} if labels == "binary" else set())))
    u = worst_unit(net.a, metric)
    for exact in (True, False):
        lr = label_radius(net, X, y, metric, exact=exact)
        assert lr.m == n and lr.correct.all()
        checked = checked_float = hits = moves = 0
        for side, width in ((1.0, lr.plus), (-1.0, lr.minus)):
            fin = np.flatnonzero(np.isfinite(width) & (width > 0))
            assert fin.size >= 20, (name, side, fin.size)
            for rho, keeps in ((0.98, True), (1.02, False)):
                Xm = X[fin] + (side * rho * width[fin])[:, None] * u[None, :]
                pe = exact_labels(net, Xm, classes)
                pf = predict_labels(net.forward(Xm), lr.label_kind, lr.classes)
                want = lr.predicted[fin]
                assert np.array_equal(pe == want, np.full(fin.size, keeps)), (name, exact, side, rho)
                # the float64 network must agree wherever its forward-error bound cannot cross a boundary
                sound = forward_bound(net, Xm) < boundary_distance(net, Xm, classes)
                assert np.array_equal((pf == want)[sound], np.full(int(sound.sum()), keeps)), (name, exact, side, rho)
                checked_float += int(sound.sum())
                hits += int(np.sum((pf == want) == keeps))
                moves += fin.size
            checked += fin.size
        assert checked >= 40 and checked_float >= 40
        if exact:  # the harness's own count of the same moves in the float64 network
            from harness.analysis.locality import slab_agreement

            assert slab_agreement(net, X, lr) == hits / moves
        # the radius is the nearer side
        assert np.array_equal(lr.radius, np.minimum(lr.minus, lr.plus))


def test_hand_computed_slabs():
    """Points 0, 1, 2 on a line, labels 0, 1, 0, knots -1/2, 1/2, 3/2: w = (0, 2, -6), so f = 2(t - 1/2)
    on [1/2, 3/2] and 2 - 4(t - 3/2) beyond; f = 1/2 at t = 3/4 and 15/8 (docstring arithmetic)."""
    X = np.array([[0.0], [1.0], [2.0]])
    net = harness.construct(X, [0.0, 1.0, 0.0], direction=[1.0], bias=[-0.5, 0.5, 1.5])
    assert net.w.tolist() == [0.0, 2.0, -6.0]
    lr = label_radius(net, X, [0.0, 1.0, 0.0], exact=True)
    assert lr.t_plus.tolist() == [0.75, 0.875, math.inf]
    assert lr.t_minus.tolist() == [math.inf, 0.25, 0.125]
    assert lr.radius.tolist() == [0.75, 0.25, 0.125]
    # a = (3, 4): t = 0, 3, 6, knots -1, 2, 5 give w = (0, 1, -4) (dyadic, so stored exactly): f = t - 2 on
    # [2, 5], then 3 - 3(t - 5); f = 1/2 at t = 5/2 and 35/6. The l2 radius divides the t-width by
    # ||a||_2 = 5, l1 by max|a| = 4, linf by sum|a| = 7.
    X2 = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    net2 = harness.construct(X2, [0.0, 1.0, 0.0], direction=[3.0, 4.0], bias=[-1.0, 2.0, 5.0])
    assert net2.w.tolist() == [0.0, 1.0, -4.0]
    minus = [None, Fraction(1, 2), Fraction(1, 6)]
    plus = [Fraction(5, 2), Fraction(17, 6), None]
    for metric, norm in (("l2", 5), ("l1", 4), ("linf", 7)):
        r = label_radius(net2, X2, [0.0, 1.0, 0.0], metric, exact=True)
        assert r.t_minus.tolist() == [math.inf if v is None else float(v) for v in minus]
        assert r.t_plus.tolist() == [math.inf if v is None else float(v) for v in plus]
        assert r.radius.tolist() == [float(min(v for v in (m, p) if v is not None) / norm)
                                     for m, p in zip(minus, plus)]


def test_a_tie_has_radius_zero():
    """f exactly 1/2 at a point: the label is ambiguous there, so nothing keeps it."""
    X = np.array([[0.0], [1.0]])
    net = harness.construct(X, [0.0, 1.0], direction=[1.0], bias=[-0.5, 0.5])
    lr = label_radius(net, np.array([[0.75]]), classes=(0.0, 1.0), exact=True)
    assert lr.value.tolist() == [0.5] and lr.radius.tolist() == [0.0]


def test_neighbour_distances_brute_force():
    X = make_data("gaussian", 70, 6, rng_for(0, "data"))
    y = (np.arange(70) % 3).astype(float)
    for metric, ordv in (("l2", 2), ("l1", 1), ("linf", np.inf)):
        nn, other = neighbour_distances(X, y, metric, chunk=16)
        D = np.array([[np.linalg.norm(X[i] - X[j], ord=ordv) if i != j else np.inf for j in range(70)]
                      for i in range(70)])
        assert np.allclose(nn, D.min(axis=1), rtol=4 * 2.0 ** -52 * 6, atol=0)
        D[y[:, None] == y[None, :]] = np.inf
        assert np.allclose(other, D.min(axis=1), rtol=4 * 2.0 ** -52 * 6, atol=0)


def test_outputs_at_matches_exact_evaluation():
    """f(t) from the exact slopes and knot values, rounded: within its stated three roundings of
    the exact f (|error| <= 4u (|V_s| + |S_s| |t - b_s|), u = 2^-53), even where the weights grow."""
    X, y = _problem(120, 6, "binary")
    net = harness.construct(X, y, bias="fraction:0.75", seed=2)  # geometric weight growth
    Sq, Vq = knot_values(net)
    S, V = knot_values(net, exact=False)
    rng = np.random.default_rng(4)
    b = np.asarray(net.b, np.float64)
    t = np.concatenate([rng.uniform(b[0] - 1, b[-1] + 1, 300), b[::7]])
    F = outputs_at(net, t, S, V)
    for ti, fi in zip(t, F[:, 0]):
        s = int(np.searchsorted(b, ti, side="right")) - 1
        if s < 0:
            assert fi == 0.0
            continue
        exact = Vq[s, 0] + Sq[s, 0] * (Fraction(float(ti)) - Fraction(float(b[s])))
        bound = 4 * 2.0 ** -53 * (abs(float(Vq[s, 0])) + abs(float(Sq[s, 0])) * abs(ti - b[s]))
        assert abs(Fraction(float(fi)) - Fraction(exact)) <= Fraction(bound)


def test_perturbation_curve_matches_direct_evaluation():
    """A random perturbation keeps the label when the exact network at the moved point says so; the
    curve's decisions match that, bar moved points within outputs_at's rounding bound of a class
    boundary; and the slab share is the guaranteed part (in_slab <= kept)."""
    X, y = _problem(40, 4, "binary")
    net = harness.construct(X, y, seed=5)
    lr = label_radius(net, X, y, exact=True)
    a = np.asarray(net.a, np.float64)
    Sq, Vq = knot_values(net)
    scale = max(abs(float(v)) for v in Vq[:, 0]) + max(abs(float(v)) for v in Sq[:, 0]) * (np.ptp(net.b) + 1)
    rng = np.random.default_rng(11)
    U = rng.standard_normal((16, 4))
    U /= np.sqrt(np.sum(U * U, axis=1))[:, None]
    checked = 0
    S, V = knot_values(net, exact=False)
    for eps in (np.median(lr.radius) * q for q in (0.5, 2.0, 8.0, 64.0)):
        for u in U:
            T = lr.t + eps * np.sum(a * u)
            fast = predict_labels(outputs_at(net, T, S, V), lr.label_kind, lr.classes) == lr.predicted
            Xp = X + eps * u[None, :]
            direct = exact_labels(net, Xp, lr.classes) == lr.predicted
            # the moved point in x rounds: its exact t differs from T by at most a few ulps of |<a|,|x|>
            slack = 4 * 2.0 ** -53 * (np.abs(Xp) @ np.abs(a)) * float(max(abs(float(v)) for v in Sq[:, 0])) \
                + 4 * 2.0 ** -53 * scale
            sound = boundary_distance(net, Xp, lr.classes) > slack
            assert np.array_equal(direct[sound], fast[sound])
            checked += int(sound.sum())
    assert checked > 2000
    eps = np.median(lr.radius) * np.array([1e-3, 1.0, 30.0, 1e3])
    kept, inside = perturbation_curve(net, lr, eps, draws=64, seed=1)
    assert kept[0] == 1.0 and np.all(inside <= kept) and inside[-1] < kept[-1] <= 1
    assert np.all(np.diff(inside) <= 0)  # the slab share can only fall with the size
    k2, i2 = perturbation_curve(net, lr, eps, draws=64, seed=1)
    assert np.array_equal(kept, k2) and np.array_equal(inside, i2)


def test_median_interval_coverage():
    # exact coverage from the binomial: m = 8 -> [x_(1), x_(8)], 1 - 2/256
    med, lo, hi, cover = median_interval(range(8))
    assert (lo, hi) == (0, 7) and cover == 1 - 2 / 256
    med, lo, hi, cover = median_interval(range(20))
    j = 6  # P(Bin(20, 1/2) <= 5) = 0.0207 -> coverage 0.9586; j = 7 gives 0.8847
    assert (lo, hi) == (j - 1, 20 - j) and abs(cover - (1 - 2 * sum(math.comb(20, i) for i in range(j)) / 2 ** 20)) < 1e-15
    # empirically: 400 samples of 15 exponentials; the interval misses the true median 1 - coverage of the
    # time; 3 binomial standard deviations above that is the bound
    rng = np.random.default_rng(0)
    misses = 0
    true_med = math.log(2)
    for _ in range(400):
        _, lo, hi, cover = median_interval(rng.exponential(size=15))
        misses += not (lo <= true_med <= hi)
    p = 1 - cover
    assert misses <= 400 * p + 3 * math.sqrt(400 * p * (1 - p))


def test_bad_input_is_named():
    X, y = _problem(30, 3, "binary")
    net = harness.construct(X, y)
    with pytest.raises(HarnessError, match="metric 'l3'"):
        label_radius(net, X, y, "l3")
    with pytest.raises(HarnessError, match="not classes"):
        label_radius(harness.construct(X, np.linspace(0.1, 3.3, 30)), X, np.linspace(0.1, 3.3, 30))
    with pytest.raises(HarnessError, match="features|shape"):
        label_radius(net, X[:, :2], y)
    for h in (0, 1, 1.5, -0.1):
        with pytest.raises(HarnessError, match="holdout"):
            locality("uniform", 40, 3, holdout=h)
    with pytest.raises(HarnessError, match="labels 'binary'"):
        locality("uniform", 40, 3, labels=("binary",))


def test_cli_errors_exit_2_without_traceback(capsys):
    from harness.cli import main

    for argv, needle in ((["--holdout", "0"], "holdout"), (["--holdout", "1"], "holdout"),
                         (["--metric", "l3"], "metric 'l3'"), (["--labels", "real"], "labels 'real'"),
                         (["--data", "uniform", "--n", "2", "--holdout", "0.2"], "need at least")):
        assert main(["locality", "--quiet", *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err


def test_locality_json_recomputed(capsys, tmp_path):
    """The held-out accuracy of the exact network, recomputed from scratch with rationals on the same
    split, and the JSON's keys."""
    from harness.cli import main

    out = tmp_path / "loc.json"
    assert main(["locality", "--data", "digits", "--n", "150", "--seeds", "2", "--json", "--out", str(out)]) == 0
    loc = json.loads(capsys.readouterr().out)
    assert {"true", "randomized", "gap"} <= set(loc["summary"])
    full = json.loads(out.read_text())
    run = full["runs"][0]
    assert len(run["radii"]) == run["n_train"] == 120 and "heldout_accuracy" in run
    # recompute seed 0, true labels: the same data, split and network as locality builds
    from harness.build.data import make_dataset

    X, own = make_dataset("digits", 150, 1, rng_for(0, "data"))
    perm = rng_for(0, "holdout").permutation(150)
    tr, ho = np.sort(perm[30:]), np.sort(perm[:30])
    net = harness.construct(X[tr], own[tr], seed=0)
    classes = tuple(sorted(set(own[tr].tolist())))
    acc = float(np.mean(exact_labels(net, X[ho], classes) == own[ho]))
    assert run["labels"] == "true" and run["seed"] == 0
    assert run["heldout_accuracy_exact"] == acc
    assert run["radius"]["median"] == float(np.quantile(np.array(run["radii"]), 0.5))


def test_maximin_never_loses_to_its_start_and_is_deterministic():
    """maximin:K starts from best-of:K (the same seeded draws) and keeps a move only if the relative
    gap in the format grows: never worse, strictly better on these cases, the same bits twice."""
    from harness.build.directions import DIRECTIONS, relative_gap
    from harness.core.formats import get_format
    from harness.core.kernels import project

    for fmt, n in (("float32", 300), ("float64", 1000), ("bfloat16", 40)):
        f = get_format(fmt)
        X = f.cast(make_data("uniform", n, 16, rng_for(1, "data")))
        for seed in range(3):
            start = DIRECTIONS.get("best-of:8")
            a0 = start.func(X, f, rng_for(seed, "direction"), start.param)
            mm = DIRECTIONS.get("maximin:8")
            a1 = mm.func(X, f, rng_for(seed, "direction"), mm.param)
            a2 = mm.func(X, f, rng_for(seed, "direction"), mm.param)
            assert np.array_equal(a1.view(np.uint64), a2.view(np.uint64))
            assert np.array_equal(a1, f.cast(a1))  # a value of the format
            g0 = relative_gap(project(X, a0, f.kernel_spec(), 0))
            g1 = relative_gap(project(X, a1, f.kernel_spec(), 0))
            assert g1 >= g0
            if fmt != "bfloat16":
                assert g1 > g0
    with pytest.raises(HarnessError, match="maximin:0"):
        harness.construct(np.eye(3), [0.0, 1.0, 0.0], direction="maximin:0")


def test_locality_page_draws_its_data(tmp_path):
    """The report's Locality page from a locality JSON: the table, and both charts with data drawn."""
    from harness.core.jsonio import json_safe
    from harness.report.pages import _locality

    loc = json_safe(locality("digits", 120, seeds=2).to_dict())
    blocks = _locality(tmp_path, [loc])
    charts = [b["chart"] for b in blocks if b["kind"] == "chart"]
    assert len(charts) == 2
    table = next(b for b in blocks if b["kind"] == "table")
    assert [r[1] for r in table["rows"]] == ["true", "randomized", "true - randomized"]
    import pandas as pd

    for c in charts:
        df = pd.read_csv(tmp_path / c.csv)
        assert set(df["series"]) >= {"true", "randomized"} and len(df) > 50
        assert (tmp_path / c.png).stat().st_size > 10_000
