"""Condition numbers of M: every method against exact rationals, with derived tolerances.

* The O(n) closed forms (harness.linalg.operators) are held to their stated bound: relative
  error <= gamma_K, K = structured_roundings(n), against exact |M^-1| computed by n
  exact solves (an independent algorithm).
* The two-start Hager-Higham estimate and LAPACK's xTRCON are held, on a tagged table,
  to [exact / DOCUMENTED_FACTOR, exact (1 + eta)]: an estimate is ||B x||_1 for a unit x,
  never above ||B||_1 in exact arithmetic; eta bounds the float64 solves' own error
  (derivation in _eta).
* The equispaced growth laws of MATH.md §4, with constants (harness.analysis.laws).
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.linalg import operators as op
from harness.linalg.bounds import gamma
from harness.linalg.conditioning import cond_estimate, cond_exact, cond_lapack, cond_structured, condition, skeel
from harness.core.exact import apply_exact, inverse_exact, log2_fraction, matrix_exact
from harness.analysis.exponents import fit_power, fit_rate
from harness.analysis.laws import cond_law
from _toeplitz import closed_form_cond1, toeplitz_system
from harness.linalg.normest import DOCUMENTED_FACTOR, onenorm_estimate

U64 = Fraction(1, 2**53)


def system(n, theta=None, z_kind="gauss", seed=0, first=0.3):
    """Sorted projections and knots at fraction theta (None: random theta per gap)."""
    rng = np.random.default_rng(seed)
    z = {"gauss": lambda: np.sort(rng.standard_normal(n)),
         "equi": lambda: np.arange(n, dtype=np.float64),
         "clustered": lambda: np.sort(np.concatenate([rng.standard_normal(n // 2) * 1e-4,
                                                      rng.standard_normal(n - n // 2)])),
         "far": lambda: 1e6 + np.sort(rng.random(n))}[z_kind]()
    th = rng.random(n) if theta is None else np.full(n, float(theta))
    b = np.concatenate([[z[0] - first], z[:-1] + th[1:] * (z[1:] - z[:-1])])
    b = np.where(b >= z, np.nextafter(z, -np.inf), b)
    return z, b


def _close(got_log2, want_frac, K, what):
    """|got - want| <= gamma_K want, checked on log2 values (exact values may pass 1e308)."""
    g = float(gamma(K, U64))
    want = log2_fraction(want_frac)
    assert abs(got_log2 - want) <= math.log2(1 + g) + 1e-12 * max(1.0, abs(want)), (
        f"{what}: log2 {got_log2} vs exact {want} (allowed gamma_{K} = {g:.3g})")


@given(n=st.integers(1, 40), theta=st.sampled_from([None, 0.0, 0.3, 0.5, 0.75, 0.95]),
       z_kind=st.sampled_from(["gauss", "equi", "clustered", "far"]), seed=st.integers(0, 5))
def test_closed_form_of_absinv_products_within_gamma_K(n, theta, z_kind, seed):
    z, b = system(n, theta, z_kind, seed)
    inv = inverse_exact(z.tolist(), b.tolist())
    u = np.random.default_rng(seed + 1).random(n)
    K = op.structured_roundings(n)
    m, e = op.absinv_apply(z, b, u)
    mt, et = op.absinv_apply_t(z, b, u)
    for i in range(n):
        row = sum((abs(inv[i][j]) * Fraction(u[j]) for j in range(n)), Fraction(0))
        col = sum((abs(inv[j][i]) * Fraction(u[j]) for j in range(n)), Fraction(0))
        _close(float(op.x_log2(m[i:i + 1], e[i:i + 1])[0]), row, K, f"(|M^-1| u)_{i}")
        _close(float(op.x_log2(mt[i:i + 1], et[i:i + 1])[0]), col, K, f"(|M^-1|^T u)_{i}")


def test_closed_form_beyond_float64_range():
    """theta = 0.99 (r = 99): at n = 220, ||M^-1||_1 ~ 99^220 ~ 2^1458, far past 1e308. The
    extended exponent keeps the closed form exact to gamma_K; the float64 estimate overflows."""
    z, b = system(220, 0.99, "equi")
    ex = cond_exact(z.tolist(), b.tolist())
    assert ex.log2_cond1 > 1100
    l1, li = cond_structured(z, b)
    K = op.structured_roundings(220) + 2 * 220  # + the norms' own roundings (gamma_2n)
    _close(l1, ex.norm1 * ex.inv_norm1, K, "cond_1")
    _close(li, ex.norminf * ex.inv_norminf, K, "cond_inf")
    assert cond_estimate(z, b)[0] == math.inf
    assert cond_lapack(z, b)[0] == math.inf  # xTRCON's rcond underflows to 0


@given(n=st.integers(1, 30), theta=st.sampled_from([None, 0.0, 0.5, 0.9]), seed=st.integers(0, 5))
def test_products_and_norms_match_exact(n, theta, seed):
    """M v and M^T v (v >= 0, gap form) within gamma_2n; ||M|| exact to the same."""
    z, b = system(n, theta, "gauss", seed)
    v = np.random.default_rng(seed).random(n)
    M = matrix_exact(z.tolist(), b.tolist())
    g = float(gamma(3 * n + 4, U64))
    Mv = apply_exact(z, b, v)
    MTv = [sum((M[i][j] * Fraction(v[i]) for i in range(n)), Fraction(0)) for j in range(n)]
    for got, want in zip(op.apply(z, b, v), Mv):
        assert abs(Fraction(got) - want) <= g * want
    for got, want in zip(op.apply_t(z, b, v), MTv):
        assert abs(Fraction(got) - want) <= g * want


def test_solves_invert_products():
    """solve / solve_t undo apply / apply_t to within a derived bound: the product's error is
    <= gamma_K M|x| (summation), the gap-form solve's residual <= gamma_K (M|x_hat| + 2 L|y_hat|)
    (see _eta), so |x_hat - x| <= |M^-1| gamma_K (M|x| + M|x_hat| + 2 L|y_hat|), K = 3n + 4,
    with |M^-1| from the closed form inflated for its own rounding (bounds.bound_fast)."""
    from harness.linalg.bounds import bound_fast

    z, b = system(200, 0.3, "equi")
    n = z.size
    x = np.random.default_rng(3).standard_normal(n)
    g = float(gamma(3 * n + 4, U64))
    y = op.apply(z, b, x)
    xh = op.solve(z, b, y)
    rhs = g * (op.apply(z, b, np.abs(x)) + op.apply(z, b, np.abs(xh)) + 2 * np.cumsum(np.abs(y))) * (1 + 1e-12)
    assert np.all(np.abs(xh - x) <= bound_fast(z, b, rhs)), "solve(apply(x)) outside its bound"
    # transposed: apply_t / solve_t run the same recurrences backwards (suffix sums for L^T)
    yt = op.apply_t(z, b, x)
    xt = op.solve_t(z, b, yt)
    rhs = g * (op.apply_t(z, b, np.abs(x)) + op.apply_t(z, b, np.abs(xt))
               + 2 * np.cumsum(np.abs(yt)[::-1])[::-1]) * (1 + 1e-12)
    m, e = op.absinv_apply_t(z, b, rhs)
    infl = 1 / (1 - float(gamma(op.structured_roundings(n) + n + 8, U64)))
    assert np.all(np.abs(xt - x) <= op.x_to_float(m, e) * infl * (1 + 1e-12)), "solve_t(apply_t(x)) outside its bound"


# Tagged table: (tag, n, theta, projections). Well- and ill-conditioned, small and moderate n.
TABLE = [
    ("well/left/equi-16", 16, 0.0, "equi"),
    ("well/left/gauss-120", 120, 0.0, "gauss"),          # the case a single-start Hager misses
    ("well/left/clustered-150", 150, 0.0, "clustered"),  # ... and this one
    ("mid/midpoint/gauss-200", 200, 0.5, "gauss"),
    ("mid/quarter/equi-256", 256, 0.25, "equi"),
    ("mid/random/gauss-180", 180, None, "gauss"),
    ("mid/random/far-100", 100, None, "far"),
    ("ill/0.75/equi-40", 40, 0.75, "equi"),
    ("ill/0.9/gauss-60", 60, 0.9, "gauss"),
    ("ill/0.75/clustered-90", 90, 0.75, "clustered"),
    ("tiny/n=1", 1, 0.5, "gauss"),
    ("tiny/n=2", 2, 0.5, "gauss"),
]


def _eta(z, b, inv1: Fraction) -> float:
    """Relative overshoot an estimate computed with float64 solves can have.

    A gap-form solve y_hat of M y = x (||x||_1 <= 1) has residual |x - M y_hat| <=
    gamma_K (M |y_hat| + 2 L |x|), K = n + 4 (one rounding per difference, product,
    subtraction, division, plus the running sum), L the lower triangle of ones: each
    step's local error telescopes into every later row. Hence
    ||y_hat||_1 <= ||M^-1||_1 + gamma_K (kappa ||y_hat||_1 + 2 lam), kappa = || |M^-1| M ||_1,
    lam = || |M^-1| L ||_1, i.e. est <= (||M^-1||_1 + 2 gamma_K lam) / (1 - gamma_K kappa).
    kappa = max(M^T c) and lam = sum(c), c = |M^-1|^T 1, come from the closed form (held to
    gamma_K above), inflated by 1 / (1 - gamma) for its own rounding. Returned as the
    relative excess over ||M^-1||_1 (inf when gamma_K kappa >= 1: no bound).
    """
    n = z.size
    m, e = op.absinv_apply_t(z, b, np.ones(n))
    c = op.x_to_float(m, e)
    infl = 1 / (1 - float(gamma(op.structured_roundings(n) + 3 * n + 8, U64)))
    kappa = float(np.max(op.apply_t(z, b, c))) * infl
    lam = float(np.sum(c)) * infl
    g = float(gamma(n + 4, U64))
    if not math.isfinite(kappa) or g * kappa >= 1:
        return math.inf
    i1 = float(inv1)
    return (i1 + 2 * g * lam) / (1 - g * kappa) / i1 - 1


@pytest.mark.parametrize("tag, n, theta, kind", TABLE, ids=[t[0] for t in TABLE])
def test_estimate_and_lapack_within_documented_factor(tag, n, theta, kind):
    z, b = system(n, theta, kind)
    ex = cond_exact(z.tolist(), b.tolist())
    eta = _eta(z, b, ex.inv_norm1)
    c1, ci, _, _ = cond_estimate(z, b)
    l1, li = cond_lapack(z, b)
    for name, got, want in (("estimate cond_1", c1, ex.log2_cond1), ("estimate cond_inf", ci, ex.log2_condinf),
                            ("lapack cond_1", l1, ex.log2_cond1), ("lapack cond_inf", li, ex.log2_condinf)):
        lg = math.log2(got)
        assert lg >= want - math.log2(DOCUMENTED_FACTOR), f"{tag}: {name} 2^{lg:.3f} < exact 2^{want:.3f} / 3"
        # norms of M are exact to gamma_2n (non-negative sums) on top of eta
        slack = math.log2(1 + eta) + math.log2(1 + float(gamma(2 * n + 2, U64)))
        assert lg <= want + slack + 1e-12, f"{tag}: {name} 2^{lg:.6f} above exact 2^{want:.6f} (+{slack:.3g})"


def test_single_start_hager_misses_the_theta_zero_dipoles():
    """Why the estimator has two starts: from the constant vector alone, Hager's ascent
    underestimates ||M^-1||_1 by far more than the documented factor on theta = 0."""
    z, b = system(120, 0.0, "gauss")
    ex = cond_exact(z.tolist(), b.tolist())
    true_inv1 = float(ex.inv_norm1)
    one = onenorm_estimate(lambda v: op.solve(z, b, v), lambda v: op.solve_t(z, b, v), z.size, starts=("constant",))
    two = onenorm_estimate(lambda v: op.solve(z, b, v), lambda v: op.solve_t(z, b, v), z.size)
    assert true_inv1 / one.value > DOCUMENTED_FACTOR
    assert true_inv1 / two.value <= DOCUMENTED_FACTOR


def test_exact_condition_matches_mpmath_dense_inverse():
    """The exact code against an independent computation: mpmath's LU inverse at 300 bits."""
    import mpmath

    z, b = system(24, None, "gauss", seed=4)
    ex = cond_exact(z.tolist(), b.tolist())
    with mpmath.workprec(300):
        M = mpmath.matrix(np.maximum(z[:, None] - b[None, :], 0).tolist())
        want = mpmath.mnorm(M, 1) * mpmath.mnorm(mpmath.inverse(M), 1)
        assert abs(mpmath.log(want, 2) - ex.log2_cond1) < 1e-12


def test_skeel_against_exact():
    z, b = system(30, None, "gauss", seed=2)
    w = np.random.default_rng(0).standard_normal(30)
    inv = inverse_exact(z.tolist(), b.tolist())
    Maw = apply_exact(z, b, np.abs(w))
    num = max(sum(abs(inv[i][j]) * Maw[j] for j in range(30)) for i in range(30))
    want = log2_fraction(num / Fraction(float(np.max(np.abs(w)))))
    K = op.structured_roundings(30) + 3 * 30 + 8
    assert abs(skeel(z, b, w) - want) <= math.log2(1 + float(gamma(K, U64))) + 1e-12


def test_condition_record_runs_each_method_within_limits():
    z, b = system(50, 0.5, "gauss")
    c = condition(z, b, np.ones(50), exact_max_n=40)
    assert math.isnan(c.log2_cond1_exact) and not math.isnan(c.log2_cond1_lapack)
    assert c.cond1 == pytest.approx(2 ** c.log2_cond1_structured, rel=1e-12)
    with pytest.raises(Exception, match="unknown condition method"):
        condition(z, b, methods=("magic",))


LADDER = [2**k for k in range(10, 15)]  # 1024 .. 16384


def _equispaced_log2_cond1(n, theta):
    z, b = toeplitz_system(n, theta)
    return cond_structured(z, b)[0]


def _structured_tolerance(n):
    """cond_structured's documented accuracy: relative gamma_K, K = structured_roundings(n) + 2
    (the two norms), as a bound on |log2 error|."""
    from harness.linalg.operators import structured_roundings

    K = structured_roundings(n) + 2
    g = K * 2.0 ** -53 / (1 - K * 2.0 ** -53)
    return -math.log2(1 - g)


@pytest.mark.parametrize("theta", [0.0, 0.25, 0.5])
def test_equispaced_power_laws_with_constants(theta):
    """MATH.md §4 on equispaced projections, every constant derived rather than observed:
    (1) the O(n) closed form of the harness equals the exact cond_1 (derived in closed form) to
    its documented accuracy, at n up to 16,384; (2) the law's constant and exponent are the
    limit: log2(cond / law) is exactly the derived correction (theta = 0: log2(1 + 1/n);
    1/4: log2((1 + 1/(2n))(1 - (4/9) 3^-(n-2))); 1/2: log2(1 - 1/n)), to float64 rounding of the
    logs; (3) the fitted exponent equals the law's within its 95% CI widened by the largest slope
    change the derived corrections can cause, 2 max|dev| / (log2 n_max - log2 n_min)."""
    from fractions import Fraction

    from harness.core.exact import log2_fraction

    law = cond_law(theta)
    exact = [log2_fraction(closed_form_cond1(n, Fraction(theta))) for n in LADDER]
    meas = [_equispaced_log2_cond1(n, theta) for n in LADDER]
    for n, e, m in zip(LADDER, exact, meas):
        assert abs(m - e) <= _structured_tolerance(n) + 8 * 2.0 ** -52 * abs(e), (n, m, e)
    derived = {0.0: lambda n: math.log2(1 + 1 / n),
               0.25: lambda n: math.log2((1 + 1 / (2 * n)) * (1 - (4 / 9) * 3.0 ** -(n - 2))),
               0.5: lambda n: math.log2(1 - 1 / n)}[theta]
    dev = [e - law.log2_cond1(n) for e, n in zip(exact, LADDER)]
    for n, d in zip(LADDER, dev):
        assert abs(d - derived(n)) <= 16 * 2.0 ** -52 * law.log2_cond1(n), (n, d, derived(n))
    fit = fit_power(LADDER, meas)
    bias = 2 * max(abs(derived(n)) for n in LADDER) / (math.log2(LADDER[-1]) - math.log2(LADDER[0]))
    assert fit.lo - bias <= law.exponent <= fit.hi + bias, (fit, law.exponent, bias)


def test_equispaced_geometric_law_rate():
    """theta = 3/4: cond_1 = Theta(n^2 r^n), r = 3. With the derived closed form,
    log2(cond / n^2) = n log2 3 + log2(16/9) + dev(n), dev(n) = log2((1 - 1/(2n))(1 - 3^(2-n)/4));
    the fitted slope equals log2 3 within its CI widened by the largest change dev can cause."""
    from fractions import Fraction

    from harness.core.exact import log2_fraction

    ns = [32, 64, 96, 128, 192, 256]
    for n in ns:
        e = log2_fraction(closed_form_cond1(n, Fraction(3, 4)))
        assert abs(_equispaced_log2_cond1(n, 0.75) - e) <= _structured_tolerance(n) + 8 * 2.0 ** -52 * e
        dev = math.log2((1 - 1 / (2 * n)) * (1 - 3.0 ** (2 - n) / 4))
        assert abs(e - 2 * math.log2(n) - n * math.log2(3) - math.log2(16 / 9) - dev) <= 16 * 2.0 ** -52 * e
    meas = [_equispaced_log2_cond1(n, 0.75) - 2 * math.log2(n) for n in ns]
    fit = fit_rate(ns, meas)
    bias = 2 * max(abs(math.log2(1 - 1 / (2 * n))) for n in ns) / (ns[-1] - ns[0])
    assert fit.lo - bias <= math.log2(cond_law(0.75).rate) <= fit.hi + bias, fit  # the law's rate


def test_fit_law_picks_the_fit_each_law_calls_for():
    """fit_law on exact equispaced cond_1 (the closed form): theta = 3/4 gets the geometric rate, whose
    interval (widened by the closed form's known (1 - 1/(2n)) deviation, as above) holds r = 3;
    theta = 1/2 gets a power-law exponent, theta random none; sizes below n_from are left out."""
    from harness.analysis.exponents import fit_law
    from harness.analysis.laws import law_for_bias
    from harness.core.exact import log2_fraction

    ns = [4, 8, 32, 64, 96, 128, 192, 256]
    y = [log2_fraction(closed_form_cond1(n, Fraction(3, 4))) for n in ns]
    f = fit_law(law_for_bias("fraction:0.75"), ns, y, n_from=32)
    assert f.kind == "rate" and f.points == 6
    big = [n for n in ns if n >= 32]
    bias = 2 * max(abs(math.log2(1 - 1 / (2 * n))) for n in big) / (big[-1] - big[0])
    assert f.lo - bias <= math.log2(3) <= f.hi + bias and abs(f.rate - 3) < 0.01
    p = fit_law(law_for_bias("midpoint"), ns, [3 * math.log2(n) + 2 for n in ns])
    assert p.kind == "power" and abs(p.slope - 3) < 1e-12
    assert fit_law(law_for_bias("random"), ns, y) is None
    assert fit_law(law_for_bias("left"), [16, 32], [1.0, 2.0]) is None  # fewer than 3 sizes


def test_estimate_on_two_threads_is_the_estimate_alone(monkeypatch):
    """cond_estimate's two norm estimates on two threads (n >= ESTIMATE_THREADS_FROM) give what
    they give one after the other, field for field, overflow included (numpy's error state is set
    in each thread: a warning would be an error here)."""
    from harness.linalg import conditioning

    cases = [system(220, 0.99, "equi"), system(300, 0.0, "gauss"), system(2000, 0.5, "clustered")]
    rng = np.random.default_rng(4)
    z = np.sort(rng.random(100_000))
    cases.append((z, np.concatenate([[z[0] - 1e-5], z[:-1] + 0.3 * np.diff(z)])))
    for z, b in cases:
        monkeypatch.setattr(conditioning, "ESTIMATE_THREADS_FROM", 0)
        threaded = cond_estimate(z, b)
        monkeypatch.setattr(conditioning, "ESTIMATE_THREADS_FROM", 10**12)
        alone = cond_estimate(z, b)
        assert threaded == alone and threaded[2].products > 0
    assert threaded[0] < math.inf and cond_estimate(*cases[0])[0] == math.inf
