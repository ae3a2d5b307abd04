"""Theory helpers: growth-law table, amplification, exponent fits, spacing/collision estimates."""

import math

import numpy as np
import pytest

import harness
from harness.analysis.exponents import fit_power, fit_rate
from _toeplitz import closed_form_cond1, toeplitz_system
from harness.analysis.laws import RANDOM_THETA_LOG_SD, amplification_log2, collision_estimate, cond_law, law_for_bias


def _exact_cond1(n, theta):
    """Exact cond_1 of the Toeplitz system (tests/_toeplitz.py), by exact linear algebra."""
    from harness.linalg.conditioning import cond_exact

    z, b = toeplitz_system(n, theta)
    c = cond_exact(z.tolist(), b.tolist())
    return c.norm1 * c.inv_norm1


@pytest.mark.parametrize("theta", ["0", "1/4", "1/2", "3/4"])
def test_conditioning_closed_forms_hold_exactly(theta):
    """The closed form derived in tests/_toeplitz.py equals the exact condition number (rationals)
    at every n tried: the algebra the laws rest on (and test_conditioning holds the laws' constants
    and exponents to), checked against exact linear algebra."""
    from fractions import Fraction

    for n in (3, 5, 8, 13, 21, 34):
        assert _exact_cond1(n, Fraction(theta)) == closed_form_cond1(n, Fraction(theta)), (theta, n)


def test_geometric_law_and_law_kinds():
    """theta = 3/4: ||M^-1||_1 = 32 3^(n-2) - 8 (derived), whose ratio is 3 + 16 / (32 3^(n-2) - 8):
    the law's rate is its limit; the law's shape grows by log2(rate) + 2 log2((n+1)/n) per step.
    The power-law constants and exponents are held to the derived corrections in
    test_conditioning.py."""
    from fractions import Fraction

    g = law_for_bias("fraction:0.75")
    assert g.kind == "geometric" and math.isnan(g.log2_cond1(10))
    norm = lambda n: Fraction(n * (n - 1), 2) + Fraction(n, 4)  # noqa: E731
    inv = [closed_form_cond1(n, Fraction(3, 4)) / norm(n) for n in (20, 21)]
    assert inv[0] == 32 * 3 ** 18 - 8
    assert abs(inv[1] / inv[0] - Fraction(g.rate).limit_denominator(1)) <= Fraction(16, 32 * 3 ** 18 - 8)
    step = g.log2_shape(61) - g.log2_shape(60)
    assert abs(step - math.log2(g.rate) - 2 * math.log2(61 / 60)) <= 8 * 2.0 ** -52 * g.log2_shape(61)  # 4 logs' rounding
    assert law_for_bias("explicit", [0.75, 0.75]).rate == pytest.approx(g.rate, rel=4 * 2.0 ** -52)  # a geometric mean via logs
    assert law_for_bias("random").kind == "random-walk"
    with pytest.raises(harness.HarnessError):
        cond_law(1.0)


def test_random_theta_log_factor_sd():
    """sd of log(theta/(1-theta)) for theta ~ U(0,1) is pi/sqrt(3) (the standard logistic):
    checked against a 10^6-sample estimate, whose own sd is ~ 1.81 / sqrt(2 * 10^6) ~ 0.0013."""
    th = np.random.default_rng(0).random(10**6)
    assert np.std(np.log(th / (1 - th))) == pytest.approx(RANDOM_THETA_LOG_SD, abs=0.01)


def test_amplification_is_the_largest_rise_of_the_log_walk():
    assert amplification_log2([0.75] * 10) == pytest.approx(10 * math.log2(3))
    assert amplification_log2([0.25] * 10) == 0.0
    assert amplification_log2([0.75, 0.75, 0.0, 0.75]) == pytest.approx(2 * math.log2(3))  # theta = 0 resets
    # brute force on a random walk
    th = np.random.default_rng(1).random(60)
    steps = np.log2(th / (1 - th))
    best = max(max(0.0, float(np.sum(steps[j:i]))) for i in range(61) for j in range(i + 1))
    assert amplification_log2(th) == pytest.approx(best, abs=1e-9)


def test_exponent_fits_match_scipy_linregress():
    """Slope and its t interval against scipy.stats.linregress (an independent implementation)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    n = np.array([64, 128, 256, 512, 1024, 2048])
    y = 3 * np.log2(n) + 1 + rng.normal(0, 0.1, n.size)
    f = fit_power(n, y)
    lr = stats.linregress(np.log2(n), y)
    t = stats.t.ppf(0.975, n.size - 2)
    assert f.slope == pytest.approx(lr.slope, rel=1e-12)
    assert (f.lo, f.hi) == pytest.approx((lr.slope - t * lr.stderr, lr.slope + t * lr.stderr), rel=1e-12)
    r = fit_rate(n[:4], np.log2(5.0) * n[:4] - 2)
    assert r.rate == pytest.approx(5.0, rel=1e-12) and r.r2 == pytest.approx(1.0)
    assert math.isnan(fit_power([2, 4], [1.0, 2.0]).lo)  # two points: no interval
    with pytest.raises(harness.HarnessError):
        fit_power([4], [1.0])


def test_spacing_and_collision_estimate_on_uniform_data():
    """Uniform projections on [0, 1): int f^2 = 1, expected smallest gap 1/(n^2 - 1).
    The k = 16 neighbour estimate of f has relative sd ~ 1/4 per point, averaged over
    n = 20,000 points in windows of 16: sd of the mean ~ 0.25 sqrt(16/20000) ~ 0.007, so
    5% is a 7-sigma tolerance."""
    z = np.sort(np.random.default_rng(0).random(20000))
    est = collision_estimate(z, "float32")
    assert est.int_f2 == pytest.approx(1.0, rel=0.05)
    assert est.min_gap_predicted == pytest.approx(1 / 20000**2, rel=0.05)
    # float32 spacing on [0.5, 1) is 2^-24, on [0.25, 0.5) 2^-25, ...: E q(Z) = sum 2^-k 2^(-23-k)
    Eq = sum(2.0**-k * 2.0 ** (-23 - k) for k in range(1, 60))
    assert est.expected_pairs == pytest.approx(20000 * 19999 / 2 * Eq, rel=0.05)
    assert est.n50 == pytest.approx(math.sqrt(2 * math.log(2) / Eq), rel=0.05)


def test_collision_prediction_against_observed_collisions():
    """The predicted n50 against simulation: at n50, P(two of n uniform points round to one
    bfloat16 value) should be ~1/2. 400 seeded trials give a binomial sd of 0.025; the
    Poisson approximation adds little at lambda = ln 2, so 0.1 is a 4-sigma tolerance."""
    import ml_dtypes

    rng = np.random.default_rng(5)
    est = collision_estimate(np.sort(rng.random(4000)), "bfloat16")
    n = int(round(est.n50))
    hits = 0
    for _ in range(400):
        v = rng.random(n).astype(ml_dtypes.bfloat16)
        hits += np.unique(v).size < n
    assert abs(hits / 400 - 0.5) <= 0.1, (n, hits)
