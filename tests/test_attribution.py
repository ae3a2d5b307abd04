"""Error attribution and the reference behind it, against exact rationals.

Every figure analyze() reports about a solve is recomputed here independently from the
exact solution (exact_weights) and the exact matrix (matrix_exact); tolerances are the
single rounding of each reported float (relative u = 2^-53) unless stated.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import harness
from harness.analysis.attribution import solve_error, weight_errors
from harness.linalg.bounds import solve_error_bound, solve_error_bound_fast
from harness.core.exact import matrix_exact, round_fraction
from harness.analysis.metrics import analyze, analyze_config
from harness.linalg.reference import CERTIFY_REL, reference_solution

U = 2.0**-53


def _net(n=60, fmt="float32", bias="midpoint", seed=0, d=3, solver="recurrence", labels=None):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = rng.integers(0, 2, n).astype(np.float64) if labels is None else labels(rng, n)
    return harness.construct(X, y, fmt=fmt, bias=bias, seed=seed, solver=solver), X, y


@given(n=st.integers(2, 24), fmt=st.sampled_from(["float64", "float32", "tf32", "bfloat16", "float16"]),
       bias=st.sampled_from(["midpoint", "left", "fraction:0.75", "random"]),
       solver=st.sampled_from(["recurrence", "backsub", "exact"]), seed=st.integers(0, 20))
def test_observed_error_within_both_bounds_and_fast_bound_dominates_exact(n, fmt, bias, solver, seed):
    """On random instances: observed normwise error <= the backward-error bound and the a-priori
    bound; and the O(n) float64 bound is never below the exact-rational one (it is an upper
    bound of the same quantity)."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.random((n, 2)) * 64) / 64  # exact in every format tested
    y = rng.integers(-2, 3, n).astype(np.float64)
    try:
        net = harness.construct(X, y, fmt=fmt, bias=bias, seed=seed, solver=solver)
    except harness.HarnessError as exc:
        assume("collide" not in str(exc) and "same point" not in str(exc))
        raise
    W = net.carriers()[2]
    fm = harness.get_format(fmt)
    nz = np.abs(W[W != 0])
    assume(np.all(np.isfinite(W)) and (nz.size == 0 or nz.min() > fm.tiny / fm.u))  # no underflow
    z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
    Yn = y[np.asarray(net.order)]
    ref = reference_solution(z, b, Yn)
    s = solve_error(z, b, W, Yn[:, None], fm.cast(Yn)[:, None], fmt, solver, "nearest", ref)
    assert s.bound_holds, s
    fast = solve_error_bound_fast(z, b, W[:, 0], Yn, fm.cast(Yn), fmt, solver)
    exact = solve_error_bound(z, b, W[:, 0], Yn, fm.cast(Yn), fmt, solver)
    assert np.all(fast >= exact), (fast, exact)


def test_solve_error_figures_recomputed_exactly():
    net, X, y = _net(80, "float32", seed=3)
    a = analyze(net, X, y)
    s = a.solve
    w = np.asarray(net.w, np.float64)
    exact = harness.exact_weights(net, y)
    diff = [abs(Fraction(wi) - e) for wi, e in zip(w, exact)]
    norm = max(diff) / max(abs(e) for e in exact)
    comp = max(d / abs(e) for d, e in zip(diff, exact) if e != 0)
    np.testing.assert_allclose(s.norm_rel, float(norm), rtol=U, atol=0, err_msg="normwise")
    np.testing.assert_allclose(s.comp_rel, float(comp), rtol=U, atol=0, err_msg="componentwise")
    u32 = 2.0**-24
    np.testing.assert_allclose(s.bits_lost_norm, math.log2(float(norm) / u32), rtol=0, atol=1e-12)
    # backward error and residual from the dense exact matrix (independent of apply_exact)
    M = matrix_exact(net.z.astype(float).tolist(), net.b.astype(float).tolist())
    Yn = y[np.asarray(net.order)]
    r = [abs(Fraction(Yn[i]) - sum(M[i][j] * Fraction(w[j]) for j in range(net.n))) for i in range(net.n)]
    den = [sum(M[i][j] * abs(Fraction(w[j])) for j in range(net.n)) + abs(Fraction(Yn[i])) for i in range(net.n)]
    omega = max(ri / di for ri, di in zip(r, den))
    assert Fraction(s.backward_comp) >= omega and s.backward_comp <= float(omega) * (1 + 2 * U)
    np.testing.assert_allclose(s.residual_max, float(max(r)), rtol=U, atol=0)
    assert s.checked == net.n and s.reference == "exact" and s.certified == 0.0


def test_herbie_bits_count_ulps_between_computed_and_rounded_exact():
    """Weights set to the correctly rounded exact solution, then k ulps away: bits = log2(1 + k)."""
    net, X, y = _net(20, "float32", seed=5)
    z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
    Yn = y[np.asarray(net.order)]
    ref = reference_solution(z, b, Yn)
    f32 = harness.get_format("float32")
    rounded = np.array([round_fraction(v, f32) for v in ref.column(0)])
    for k in (0, 1, 5, 1000):
        W = rounded.astype(np.float32)
        for _ in range(k):
            W[3] = np.nextafter(W[3], np.float32(np.inf))
        _, _, herb, _ = weight_errors(W.astype(np.float64), ref, "float32")
        assert max(herb) == pytest.approx(math.log2(1 + k), abs=1e-12) and herb[3] == max(herb)
        assert sum(h > 0 for h in herb) == (1 if k else 0)


def test_mp_reference_is_certified_and_its_certificate_holds():
    """Force the mpmath path on a system small enough to solve exactly: the certified bound
    must hold against the exact solution and be below CERTIFY_REL."""
    net, X, y = _net(300, "float64", bias="fraction:0.9", seed=1)
    z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
    Yn = y[np.asarray(net.order)]
    ref = reference_solution(z, b, Yn, max_exact_n=10)
    assert ref.kind.startswith("ball") and "uncertified" not in ref.kind
    assert 0 < ref.certified <= CERTIFY_REL
    exact = harness.exact_weights(net, y)
    top = max(abs(e) for e in exact)
    err = max(abs(r - e) for r, e in zip(ref.column(0), exact))
    assert err / top <= Fraction(ref.certified)


def test_reference_prefix_covers_the_first_m_neurons_exactly():
    net, X, y = _net(400, "float64", seed=2)
    z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
    Yn = y[np.asarray(net.order)]
    ref = reference_solution(z, b, Yn, max_exact_n=10, max_m=150)
    exact = harness.exact_weights(net, y)[:150]
    assert ref.m == 150
    assert max(abs(r - e) for r, e in zip(ref.column(0), exact)) <= Fraction(ref.certified) * max(map(abs, exact))


def test_evaluation_split_on_an_exact_system():
    """Integer points, knots on the previous point, integer labels: everything is exact, so the
    three error sources are all zero for every evaluator."""
    X = np.random.default_rng(0).permutation(40).astype(np.float64)[:, None]
    y = np.random.default_rng(1).integers(-1, 2, 40).astype(np.float64)
    net = harness.construct(X, y, direction="ones", bias="left", first_offset=1.0)
    a = analyze(net, X, y)
    assert {e.evaluator for e in a.evaluation} == {"sequential", "compensated", "prefix", "dense"}
    for e in a.evaluation:
        assert (e.forward_only, e.solve_only, e.user, e.user_fraction) == (0.0, 0.0, 0.0, 1.0), e
    assert a.solve.norm_rel == 0 and a.solve.backward_comp == 0 and a.outcome.fraction == 1.0


def test_evaluation_split_separates_forward_pass_from_solve():
    """theta = 3/4 on 64 equispaced points: the solve is accurate (tiny normwise error), yet the
    forward pass of the *exact* weights in float64 misses labels: the failure is the forward
    pass's cancellation, and the split says so."""
    net, a = analyze_config(64, 4, "equispaced", "binary", bias="fraction:0.75", direction="ones")
    assert a.solve.bound_holds and a.solve.norm_rel <= a.solve.bound_apriori < 2.0 ** -20  # accurate, provably
    seq = next(e for e in a.evaluation if e.evaluator == "sequential")
    assert seq.forward_only > 1.0 and a.outcome.fraction < 1.0
    # solve_only is |M w_hat - y| evaluated exactly: recompute one point
    M = matrix_exact(net.z.astype(float).tolist(), net.b.astype(float).tolist())
    w = np.asarray(net.w, np.float64)
    y = harness.build.problems.make_problem(64, 4, "equispaced", "binary", direction="ones")[1]
    Yn = y[np.asarray(net.order)]
    r = max(abs(Fraction(Yn[i]) - sum(M[i][j] * Fraction(w[j]) for j in range(64))) for i in range(64))
    np.testing.assert_allclose(seq.solve_only, float(r), rtol=U, atol=0)


def test_analysis_record_is_immutable_flat_and_versioned():
    net, a = analyze_config(50, 3, labels="classes:3", fmt="float32")
    with pytest.raises(Exception):
        a.n = 3
    row = a.to_row()
    assert row["schema_version"] == 1 and row["n"] == 50 and row["k"] == 3
    assert all(not isinstance(v, (dict, list, tuple)) for v in row.values())
    for key in ("cond_log2_cond1_exact", "cond_log2_cond1_estimate", "solve_bits_lost_norm", "solve_herbie_max",
                "eval_sequential_forward_only", "eval_dense_user", "theory_law_rate", "theory_collision_n50",
                "gaps_theta_median", "growth_max_abs_w_rel", "outcome_fraction"):
        assert key in row, key


def test_sampled_evaluation_records_that_it_sampled():
    from harness.analysis import metrics

    net, X, y = _net(3000, "float64", seed=4)
    old = metrics.ANALYZE_EVAL_BUDGET
    try:
        metrics.ANALYZE_EVAL_BUDGET = 10**5
        a = analyze(net, X, y)
    finally:
        metrics.ANALYZE_EVAL_BUDGET = old
    e = a.evaluation[0]
    assert e.sampled and 64 <= e.points < 3000 and a.outcome.sampled
