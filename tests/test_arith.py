"""STORAGE@ACCUM arithmetics: parsing, correctly rounded accumulation, the mixed kernels held
bit for bit to exact-rational emulations, the classical error bounds, and PyTorch where the
summation order can be pinned."""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

import harness
from harness.core.arith import parse_arith
from harness.core.errors import HarnessError
from harness.core.formats import get_format
from harness.core.rounding import rnd_block, rnd_sum

import _exact_arith as ex

#: Arithmetics the kernel tests sweep: every storage, accumulators at and above it, each modifier.
ARITHS = ["bfloat16@float32", "float16@float32", "tf32@float32", "float8_e4m3@float32", "float8_e5m2@float16",
          "float16@float16", "bfloat16@bfloat16", "float32@float32", "float32@float64", "fp:5@fp:9",
          "bfloat16@float32+rz", "float16@float32+fma:4", "float16@float16+rz+fma:3", "float8_e4m3@float16+sat",
          "float8_e5m2@bfloat16+sat+rz", "tf32@float32/float32", "float8_e4m3@float32/bfloat16@float32+fma:2"]


def _same(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def _binades(rng, shape, lo=-12, hi=12):
    """Values over many binades, both signs (where roundings and cancellations differ)."""
    return rng.choice([-1.0, 1.0], size=shape) * np.exp2(rng.uniform(lo, hi, size=shape))


def _spec(name, mode=0, sat=False):
    kind, p, emin, maxf, _ = get_format(name).kernel_spec()
    if mode == 2 and kind == 1:
        kind = 2
    return (4 if sat else kind, p, emin, maxf, mode)


# --- parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("bfloat16@float8_e4m3", "narrower than its storage"),
    ("float32@bfloat16", "narrower than its storage"),
    ("bfloat16@float32+chop", "unknown modifier 'chop'"),
    ("bfloat16@float32+fma:0", "fma:K needs a whole number"),
    ("bfloat16@float32+fma:x", "fma:K needs a whole number"),
    ("float64@float64", "too wide for exact products"),
    ("bfloat16@float64+rz", "rounding toward zero needs an accumulator narrower"),
    ("bfloat16@nosuch", "unknown format 'nosuch'"),
    ("a/b/c", "at most two layers"),
    ("", "arithmetic must be a name"),
])
def test_bad_arithmetics_are_named(text, message):
    with pytest.raises(HarnessError, match=message):
        parse_arith(text)


def test_names_round_trip_and_plain_formats_keep_their_meaning():
    for name in ARITHS:
        assert parse_arith(parse_arith(name).name).name == parse_arith(name).name
    assert parse_arith("tf32@float32/float32").layers[1].accum.name == "float32"
    X = np.random.default_rng(3).random((40, 5))
    y = (X[:, 0] > 0.5) * 1.0
    net = harness.construct(X, y)
    # a plain name is per-operation rounding: the same bits as before arithmetics existed
    from harness.core.kernels import eval_sequential

    f = get_format("bfloat16")
    a, b, W = net.carriers()
    old = eval_sequential(f.cast(X), f.cast(a), f.cast(b), f.cast(W), f.kernel_spec(), net.seed)[:, 0]
    assert _same(np.asarray(net.forward(X, fmt="bfloat16"), np.float64), old)


# --- correctly rounded sums ------------------------------------------------------------

@pytest.mark.parametrize("name, mode", [("float32", 0), ("float32", 2), ("float16", 0), ("float16", 2),
                                        ("bfloat16", 0), ("float8_e4m3", 0), ("fp:5", 2), ("float64", 0)])
def test_rnd_sum_is_correctly_rounded(name, mode):
    """x + y over many binades, and the adversarial case: x on a midpoint / a value of the
    accumulator and y far below it (where the float64 sum is inexact and decides)."""
    rng = np.random.default_rng(11)
    spec = _spec(name, mode)
    f = get_format(name)
    xs = f.cast(_binades(rng, 600, max(-20, f.emin), min(20, f.emax))) if name != "float64" else _binades(rng, 600)
    ys = _binades(rng, 600, -80, 20)
    mids = []
    for x in xs[:200]:  # x exactly halfway between two values of the format
        if name == "float64":
            break
        q = float(f.spacing(x)) / 2
        mids.append((x + q, math.copysign(2.0**-90, rng.standard_normal())))
        mids.append((x, -math.copysign(2.0**-90, x)))
    pairs = list(zip(xs, ys)) + mids
    for x, y in pairs:
        want = ex.round_q(Fraction(x) + Fraction(y), spec)
        got = rnd_sum(x, y, spec)
        assert _same(got, want), (name, mode, x, y, got, want)


@pytest.mark.parametrize("name, mode", [("float32", 0), ("float32", 2), ("float16", 0), ("bfloat16", 2),
                                        ("float64", 0)])
def test_rnd_block_is_the_exact_sum_rounded_once(name, mode):
    rng = np.random.default_rng(5)
    spec = _spec(name, mode)
    for _ in range(300):
        m = int(rng.integers(1, 9))
        vals = _binades(rng, m, -60, 30)
        if rng.random() < 0.3:  # cancellation down to the last bits
            vals = np.concatenate([vals, -vals[:1] * (1 + 2.0**-40)])
        want = ex.round_q(sum((Fraction(v) for v in vals), Fraction(0)), spec)
        got = rnd_block(np.ascontiguousarray(vals), vals.size, spec)
        assert _same(got, want), (name, mode, vals.tolist(), got, want)
    # at the overflow threshold (max + half a spacing): a sum a hair below it, whose float64
    # approximation is the threshold itself, rounds to max, not to infinity; a hair above overflows
    if name != "float64":
        f = get_format(name)
        edge = f.max_finite + float(f.spacing(f.max_finite)) / 2
        for tail in (-(2.0 ** -60), 2.0 ** -60):
            vals = np.array([edge, tail * edge, 2.0 ** -200])
            want = ex.round_q(sum((Fraction(v) for v in vals), Fraction(0)), spec)
            assert _same(rnd_block(vals, 3, spec), want), (name, mode, tail, want)


# --- the mixed kernels against their exact emulations ----------------------------------

def _instance(rng, arith, n, d, k=1):
    ar = parse_arith(arith)
    s1, s2 = ar.layers[0].storage, ar.layers[1].storage
    lo, hi = max(-6, s1.emin // 2), min(6, s1.emax // 3)
    X = s1.cast(_binades(rng, (5, d), lo, hi))
    a = s1.cast(_binades(rng, d, lo, hi))
    b = np.sort(s1.cast(_binades(rng, n, lo, hi)))
    W = s2.cast(_binades(rng, (n, k), lo, hi))
    return ar, X, a, b, W


@pytest.mark.parametrize("arith", ARITHS)
def test_eval_mixed_equals_its_exact_emulation(arith):
    from harness.core.mixed import eval_mixed

    rng = np.random.default_rng(zlib.crc32(arith.encode()))
    for n, d, k in ((1, 1, 1), (7, 5, 1), (16, 33, 2)):
        ar, X, a, b, W = _instance(rng, arith, n, d, k)
        got = eval_mixed(X, a, b, W, ar.kernel())
        want = ex.eval_mixed(X, a, b, W, ar.kernel())
        assert _same(got, want), (arith, n, d, got.tolist(), want.tolist())


@pytest.mark.parametrize("arith", [a for a in ARITHS if "/" not in a])
def test_projection_and_recurrence_equal_their_exact_emulations(arith):
    from harness.core.mixed import project_mixed, solve_recurrence_mixed

    rng = np.random.default_rng(zlib.crc32(arith.encode()) + 1)
    ar, X, a, _, _ = _instance(rng, arith, 1, 9)
    L = ar.layers[0].kernel()
    assert _same(project_mixed(X, a, L), ex.project_mixed(X, a, L))
    s = ar.storage
    z = np.unique(s.cast(np.sort(rng.uniform(0.1, 4.0, 24))))
    b = s.cast(np.concatenate([[z[0] - (z[1] - z[0])], (z[:-1] + z[1:]) / 2]))
    keep = np.concatenate([[True], (b[1:] > z[:-1]) & (b[1:] < z[1:])])
    z, b = z[keep], b[keep]
    Y = s.cast(rng.integers(0, 2, (z.size, 2)).astype(float))
    assert _same(solve_recurrence_mixed(z, b, Y, L), ex.solve_recurrence_mixed(z, b, Y, L))


# --- derived error bounds ----------------------------------------------------------------

def _gamma(m, u):
    return m * u / (1 - m * u)


@pytest.mark.parametrize("arith", ["bfloat16@float32", "float16@float32", "float16@float16", "tf32@float32",
                                   "bfloat16@float32+rz", "float16@float32+fma:8", "float8_e4m3@float32"])
def test_outputs_within_the_classical_bound(arith):
    """The forward pass of an S@A arithmetic against the exact network on its storage values.

    Layer 1, neuron j: d exact products and the bias summed with m1 roundings to A (m1 = d + 1;
    ceil(d / K) + 1 with blocks of K), then one rounding to S:
    ``|h_j - (t - b_j)| <= dh_j = gamma_m1(u_A) (sum |x a| + |b_j|) (1 + u_S) + u_S |t - b_j| + eta_S``
    (u_A doubled toward zero; eta_S half S's smallest subnormal, for results below its normal
    range). relu is 1-Lipschitz. Layer 2: ``B = sum |w| dh + gamma_m2(u_A) sum |w| (h + dh)``
    (m2 = n, or ceil(n / K)), then the output's rounding: ``|f_hat - f| <= B + u_S (|f| + B) + eta_S``.
    Checked on 120 points with d = 3072 (the framework crosscheck's setting; 256 for a float16
    accumulator), exactly in rationals.
    """
    from harness.core.mixed import eval_mixed

    rng = np.random.default_rng(2)
    ar = parse_arith(arith)
    L = ar.layers[0]
    S = L.storage
    # gamma_m(u) needs m u < 1: a float16 accumulator takes d = 256 (3072 u = 1.5 would say nothing)
    d, n = (3072 if 3073 * L.u_accum < 0.5 else 256), 40
    X = S.cast(rng.random((120, d)))
    a = S.cast(rng.standard_normal(d) / math.sqrt(d))
    b = np.sort(S.cast(rng.standard_normal(n) * 0.3))
    W = S.cast(rng.standard_normal((n, 1)))
    out = eval_mixed(X, a, b, W, ar.kernel())[:, 0]
    uA, uS, eta = L.u_accum, S.u, S.smallest_subnormal / 2
    m1 = (d if L.block == 1 else -(-d // L.block)) + 1
    m2 = n if L.block == 1 else -(-n // L.block)
    g1, g2 = _gamma(m1, uA), _gamma(m2, uA)
    w = np.abs(W[:, 0])
    used = 0.0
    for i in range(X.shape[0]):
        prods = X[i] * a  # exact in float64
        abs_sum = float(np.sum(np.abs(prods)))
        tq = sum((Fraction(v) for v in prods), Fraction(0))
        pre = [tq - Fraction(bj) for bj in b]
        h = np.array([float(max(p, Fraction(0))) for p in pre])
        dh = np.array([g1 * (abs_sum + abs(bj)) * (1 + uS) + uS * abs(float(p)) + eta for bj, p in zip(b, pre)])
        f = sum((Fraction(W[j, 0]) * max(p, Fraction(0)) for j, p in enumerate(pre)), Fraction(0))
        B = float(np.sum(w * dh)) + g2 * float(np.sum(w * (h + dh)))
        bound = B + uS * (abs(float(f)) + B) + eta
        err = abs(float(Fraction(out[i]) - f))
        assert err <= bound, (arith, i, err, bound)
        used = max(used, err / bound)
    assert used > 0, used  # some error is there to bound: the test is not vacuous


# --- networks built in an arithmetic ------------------------------------------------------

def test_construct_in_an_arithmetic_and_deploy_elsewhere():
    rng = np.random.default_rng(0)
    X = rng.random((60, 8))
    y = (rng.random(60) > 0.5) * 1.0
    net = harness.construct(X, y, fmt="bfloat16@float32")
    assert net.fmt == "bfloat16" and net.arith == "bfloat16@float32"
    assert str(np.asarray(net.forward(X)).dtype) == "bfloat16"
    # the default forward is the network's own arithmetic
    assert _same(np.asarray(net.forward(X), np.float64),
                 np.asarray(net.forward(X, fmt="bfloat16@float32"), np.float64))
    with pytest.raises(HarnessError, match="per-operation formats only"):
        harness.construct(X, y, fmt="bfloat16@float32", solver="backsub")
    with pytest.raises(HarnessError, match="per-layer"):
        harness.construct(X, y, fmt="tf32@float32/float32")
    with pytest.raises(HarnessError, match="per-operation formats only"):
        net.forward(X, evaluator="compensated", fmt="float16@float32")
