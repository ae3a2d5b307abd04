"""The certified reference: ball arithmetic whose certificate cannot underflow or round to a
false pass, escalation past float64's exponent range, and structural zeros kept exact."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import harness
from harness.build.biases import place
from harness.build.problems import make_problem
from harness.core.exact import _frac, log2_fraction, mpf_to_fraction, solve_ball, solve_exact, to_fraction
from harness.core.formats import get_format
from harness.linalg.reference import CERTIFY_REL, MP_MAX_PREC, reference_solution


def _growing_system(n=400, seed=0):
    """fraction:0.9 knots: the exact weights grow geometrically, to ~2^1276 at n = 400 (past
    float64's range, where the old float64-evaluated certificate overflowed)."""
    rng = np.random.default_rng(seed)
    z = np.sort(rng.random(n))
    b, _ = place("fraction:0.9", z, get_format("float64"), np.random.default_rng(seed + 1), None)
    y = rng.integers(0, 2, n).astype(np.float64)
    return z, b, y


def _rel_error(W, exact) -> Fraction:
    top = max(abs(e) for e in exact)
    return max(abs(to_fraction(w) - e) for w, e in zip(W, exact)) / top


def test_forced_escalation_certifies_at_2048_bits_against_exact_rationals():
    z, b, y = _growing_system()
    exact = solve_exact(z.tolist(), b.tolist(), y)
    assert log2_fraction(max(abs(e) for e in exact)) > 1024  # the weights themselves pass float64's range
    want = Fraction(1, 2 ** 1900)  # far below float64's smallest subnormal (2^-1074)
    # 1,024 bits cannot prove it: the escalation must go past it
    r1024 = solve_ball(z, b, y, 1024).certified_relative()
    assert r1024 is not None and _frac(r1024) > want
    ref = reference_solution(z, b, y, max_exact_n=0, rel=want)
    assert ref.kind == "ball2048"
    assert ref.certified_exact is not None and ref.certified_exact <= want
    assert ref.certified > 0 and ref.certified_log2 < -1900  # no underflow to a bound of 0
    err = _rel_error(ref.column(0), exact)
    assert err <= ref.certified_exact  # the certificate holds, exactly


@pytest.mark.parametrize("prec", [256, 1024, 4096, MP_MAX_PREC])
def test_no_false_certificate_at_any_precision(prec):
    """At every precision up to the maximum the proven bound is >= the true error (computed
    exactly), and every ball holds its exact weight."""
    z, b, y = _growing_system(200, seed=3)
    exact = solve_exact(z.tolist(), b.tolist(), y)
    sol = solve_ball(z, b, y, prec)
    for mid, rad, e in zip(sol.mid[0], sol.rad[0], exact):
        assert abs(_frac(mid) - e) <= _frac(rad)
    rel = sol.certified_relative()
    assert rel is not None and _rel_error([_frac(m) for m in sol.mid[0]], exact) <= _frac(rel)


def test_default_certificate_and_uncertified_marking():
    z, b, y = _growing_system(300, seed=5)
    ref = reference_solution(z, b, y, max_exact_n=0)
    assert ref.kind == "ball256" and ref.certified_exact <= Fraction(CERTIFY_REL)
    # a demand no precision up to the maximum can meet is reported, not passed
    with pytest.raises(harness.HarnessError, match="rel must be positive"):
        reference_solution(z, b, y, max_exact_n=0, rel=0)


def test_hp_weights_keeps_every_exact_zero_with_left_knots():
    """Left knots put b_i on z_(i-1): wherever the label repeats the slope does not change and
    the exact weight is 0 -- a structural fact the reference must return as 0, not as a
    rounding residue (the mpmath recurrence left ~2^-241 max|w| there)."""
    X, y = make_problem(1000, 16, seed=0)
    net = harness.construct(X, y, bias="left")
    exact = harness.exact_weights(net, y)
    hp = harness.hp_weights(net, y, prec=256)
    zeros = [i for i, e in enumerate(exact) if e == 0]
    assert len(zeros) >= 200
    assert all(hp[i] == 0 for i in zeros)
    # and every weight lies within its proven radius
    sol = solve_ball(net.z, net.b, np.asarray(y)[np.asarray(net.order)], 256)
    for v, e, r in zip(hp, exact, sol.rad[0]):
        assert abs(mpf_to_fraction(v) - e) <= _frac(r)


def test_ball_reference_refuses_knots_that_do_not_interleave():
    with pytest.raises(harness.HarnessError, match="does not interleave"):
        solve_ball([0.0, 1.0], [0.5, 0.7], [1.0, 0.0])
