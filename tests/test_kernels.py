"""Numba kernels against their plain-Python twins and an exact-rational emulation."""

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import harness
from _python_twin import run_kernels, spec
from harness.core import kernels
from harness.linalg.bounds import solve_error_bound
from harness.core.exact import round_fraction
from conftest import ALL_FORMATS
from harness.core.formats import get_format



def _system(n, fmt, seed=0, k=1):
    rng = np.random.default_rng(seed)
    z = np.sort(fmt.cast(rng.random(n) * 4 - 2))
    z = np.unique(z)
    n = z.size
    b = np.concatenate([[fmt.cast(np.array([z[0] - 0.25]))[0]], fmt.cast(z[:-1] + fmt.cast((z[1:] - z[:-1]) * 0.5))])
    b = np.where(b >= z, fmt.next_down(z), b)
    Y = fmt.cast(rng.integers(-3, 4, (n, k)).astype(np.float64))
    return z, b, Y


def _same(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
    assert ok.all(), f"{what}: {np.count_nonzero(~ok)} values differ, first {a[~ok][:3]} vs {b[~ok][:3]}"


def test_kernels_match_their_plain_python_twins(tmp_path):
    """Every kernel, every format and rounding mode, bit for bit against the same code
    run as plain Python (NUMBA_DISABLE_JIT=1 in a subprocess: CPython floats, libm)."""
    cases, jit = {}, {}
    for name in ALL_FORMATS:
        for rounding in ("nearest", "stochastic"):
            if rounding == "stochastic" and name == "float64":
                continue  # no stochastic rounding in float64 (no wider carrier)
            fmt = get_format(name)
            F = fmt.kernel_spec(rounding)
            z, b, Y = _system(12, fmt, k=2)
            rng = np.random.default_rng(1)
            X = fmt.cast(rng.standard_normal((9, 3)))
            a = fmt.cast(np.array([0.5, -1.25, 2.0]))
            Xz = np.ascontiguousarray(np.column_stack([z, np.zeros_like(z), np.zeros_like(z)]))
            X = np.ascontiguousarray(np.vstack([X, Xz]))
            a = np.array([1.0, a[1], a[2]])
            key = f"{name}-{rounding}"
            Farr = np.array(F, dtype=np.float64)
            for nm, v in dict(z=z, b=b, Y=Y, X=X, a=a, F=Farr).items():
                cases[f"{key}|{nm}"] = v
            assert spec(Farr) == F
            jit.update({f"{key}|{k}": v for k, v in run_kernels(z, b, Y, X, a, F).items()})
    np.savez(tmp_path / "in.npz", **cases)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run([sys.executable, str(Path(__file__).with_name("_python_twin.py")),
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True, env=env)
    with np.load(tmp_path / "out.npz") as twin:
        assert sorted(twin.files) == sorted(jit)
        for key in jit:
            _same(jit[key], twin[key], key)


def _recurrence_by_fractions(z, b, y, fmt):
    """The recurrence's exact operation order, each op done exactly then rounded once."""
    R = lambda q: Fraction(round_fraction(q, fmt))  # noqa: E731
    S = T = Fraction(0)
    out = []
    for zi, bi, yi in zip(map(Fraction, z), map(Fraction, b), map(Fraction, y)):
        num = R(R(yi - R(zi * S)) + T)
        w = R(num / R(zi - bi))
        out.append(float(w))
        S = R(S + w)
        T = R(T + R(w * bi))
    return out


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_recurrence_equals_exact_rational_emulation(name):
    """An independent twin: no float arithmetic at all, only exact rationals + round_fraction."""
    fmt = get_format(name)
    z, b, Y = _system(16, fmt, seed=4)
    got = kernels.solve_recurrence(z, b, Y, fmt.kernel_spec(), 0)[:, 0]
    _same(got, _recurrence_by_fractions(z, b, Y[:, 0], fmt), f"recurrence {name}")


def test_projection_is_sequential_and_rounded_per_op():
    fmt = get_format("bfloat16")
    rng = np.random.default_rng(2)
    X = fmt.cast(rng.standard_normal((50, 7)))
    a = fmt.cast(rng.standard_normal(7))
    z = kernels.project(X, a, fmt.kernel_spec(), 0)
    R = lambda q: Fraction(round_fraction(q, fmt))  # noqa: E731
    for i in range(50):
        acc = R(Fraction(X[i, 0]) * Fraction(a[0]))
        for j in range(1, 7):
            acc = R(acc + R(Fraction(X[i, j]) * Fraction(a[j])))
        assert float(acc) == z[i], f"row {i}"


@pytest.mark.parametrize("d", [1, 2, 7, 16, 33])
def test_float64_projection_fast_path_is_the_per_op_kernel_bit_for_bit(d):
    """project_f64 (hardware rounding) and project in float64 give the same bits, on data where
    an FMA or a reassociated sum would differ: wide dynamic range, cancellation, subnormals; and
    both equal the exactly rounded left-to-right sum (Fractions, rounded after every operation)."""
    rng = np.random.default_rng(d)
    X = rng.standard_normal((3000, d)) * np.exp2(rng.integers(-60, 60, (3000, d)))
    X[::7] = X[::7] * 1e-300  # products in the subnormal range
    X[1::5, 0] = -X[1::5, -1]  # cancellation against the last column
    a = rng.standard_normal(d) * np.exp2(rng.integers(-8, 8, d))
    F = get_format("float64").kernel_spec()
    fast, ref = kernels.project_f64(X, a), kernels.project(X, a, F, 0)
    assert np.array_equal(fast.view(np.uint64), ref.view(np.uint64))
    R = lambda q: Fraction(round_fraction(q, get_format("float64")))  # noqa: E731
    for i in range(0, 3000, 97):
        acc = R(Fraction(X[i, 0]) * Fraction(a[0]))
        for j in range(1, d):
            acc = R(acc + R(Fraction(X[i, j]) * Fraction(a[j])))
        assert float(acc) == fast[i], f"row {i}"


def test_construct_adopts_its_arrays_and_leaves_the_callers_alone():
    """No defensive copies inside construct, and none of the caller's: the Network's arrays are
    read-only, the user's X and y stay writeable and unchanged."""
    rng = np.random.default_rng(4)
    X, y = rng.random((500, 3)), (rng.random(500) < 0.5).astype(np.float64)
    X0, y0 = X.copy(), y.copy()
    net = harness.construct(X, y)
    assert X.flags.writeable and y.flags.writeable
    assert np.array_equal(X, X0) and np.array_equal(y, y0)
    for arr in (net.a, net.b, net.w, net.z, net.order):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 0
    explicit = harness.Network(a=net.a, b=net.b, w=net.w, z=net.z, order=net.order, fmt=net.fmt, direction="x",
                               bias="x", solver="x")
    assert explicit.a is not net.a  # a user's Network copies what it is given


def test_bound_catches_a_solve_done_in_a_narrower_format():
    """The a-priori bound is not vacuous: float32 arithmetic passed off as float64 breaks it."""
    rng = np.random.default_rng(11)
    X = rng.random((12, 2))
    y = rng.integers(0, 2, 12).astype(np.float64)
    net = harness.construct(X, y, fmt="float64")
    z, b = np.asarray(net.z), np.asarray(net.b)
    Yn = y[np.asarray(net.order)]
    degraded = kernels.solve_recurrence(z, b, Yn[:, None], get_format("float32").kernel_spec(), 0)[:, 0]
    bound = solve_error_bound(z, b, degraded, Yn, Yn, "float64", "recurrence")
    exact = harness.exact_weights(net, y)
    violated = [i for i in range(net.n) if abs(Fraction(degraded[i]) - exact[i]) > Fraction(bound[i])]
    assert violated, "a float32 solve should violate the float64 bound"
    good = np.asarray(net.w)
    bound = solve_error_bound(z, b, good, Yn, Yn, "float64", "recurrence")
    assert all(abs(Fraction(good[i]) - exact[i]) <= Fraction(bound[i]) for i in range(net.n))


def test_forward_pass_equals_full_sum_emulated_exactly():
    """The early exit at the first zero activation changes nothing: the kernel equals an
    exact-rational emulation that sums all n terms (zeros included), each op rounded."""
    fmt = get_format("float16")
    F = fmt.kernel_spec()
    z, b, Y = _system(30, fmt, seed=9, k=1)
    W = kernels.solve_recurrence(z, b, Y, F, 0)
    ts = fmt.cast(np.linspace(-2.5, 2.5, 41))
    got = kernels.eval_sequential(np.ascontiguousarray(ts[:, None]), np.array([1.0]), b, W, F, 0)[:, 0]
    R = lambda q: Fraction(round_fraction(q, fmt))  # noqa: E731
    for t, g in zip(ts, got):
        acc = Fraction(0)
        for bj, wj in zip(b, W[:, 0]):
            h = max(R(Fraction(t) - Fraction(bj)), Fraction(0))
            acc = R(acc + R(Fraction(wj) * h))
        assert float(acc) == g, f"t = {t}"


def test_infinite_weight_gives_nan_like_a_framework():
    fmt = get_format("float32")
    F = fmt.kernel_spec()
    z, b, Y = _system(10, fmt, seed=3)
    W = kernels.solve_recurrence(z, b, Y, F, 0)
    W[-1, 0] = np.inf  # its activation is 0 at t below b[-1]: inf * 0 = NaN
    out = kernels.eval_sequential(np.array([[z[0]]]), np.array([1.0]), b, W, F, 0)
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("compensated", [False, True])
def test_float64_forward_fast_path_is_the_per_op_kernel_bit_for_bit(k, compensated):
    """The float64 round-to-nearest forward pass (hardware rounding, no per-op dispatch) and the
    per-operation kernel give the same bits, on weights where an FMA or a reassociated sum would
    differ (alternating 1e±12 magnitudes: every sum cancels), with an infinite weight too (the
    loop then runs past the first zero activation and inf * 0 gives NaN in both)."""
    rng = np.random.default_rng(10 * k + compensated)
    n, d = 400, 5
    X = rng.standard_normal((n, d)) * np.exp2(rng.integers(-20, 20, (n, d)))
    a = rng.standard_normal(d)
    z = np.unique(kernels.project_f64(X, a))
    b = np.r_[z[0] - 1.0, z[:-1] + (z[1:] - z[:-1]) * 0.5]
    W = rng.standard_normal((z.size, k)) * np.exp2(rng.integers(-40, 40, (z.size, k)))
    W[1::2] *= -1.0
    F = get_format("float64").kernel_spec()
    for Wc in (W, np.where(np.arange(z.size)[:, None] == 7, np.inf, W)):
        fast = kernels._forward_f64(X, a, b, Wc, compensated)
        ref = kernels._forward(X, a, b, Wc, F, 0, compensated)
        _same(fast, ref, f"forward k={k} compensated={compensated}")
        via = (kernels.eval_compensated if compensated else kernels.eval_sequential)(X, a, b, Wc, F, 0)
        _same(via, ref, "the dispatching kernel")
    assert np.isnan(fast).any()  # the infinite weight reached the outputs as a framework's NaN


@pytest.mark.parametrize("k", [1, 2])
def test_float64_recurrence_fast_path_is_the_per_op_kernel_bit_for_bit(k):
    """The float64 round-to-nearest recurrence (hardware rounding) equals the per-operation one and
    the exact-rational emulation of its operation order, on a system whose weights grow past 1e13
    (left knots, gaps down to 2^-40: every step cancels)."""
    fmt = get_format("float64")
    rng = np.random.default_rng(k)
    z = np.unique(np.cumsum(rng.random(3000) * np.exp2(rng.integers(-40, 0, 3000))))
    b = np.r_[z[0] - 1e-3, z[:-1]]
    Y = rng.integers(0, 2, (z.size, k)).astype(np.float64)
    F = fmt.kernel_spec()
    fast = kernels._recurrence_f64(z, b, Y)
    assert np.max(np.abs(fast)) > 1e13  # the test's system is as ill-conditioned as claimed
    slow = kernels._recurrence_ops(z, b, Y, F, 0)
    _same(kernels.solve_recurrence(z, b, Y, F, 0), fast, "dispatch")
    _same(fast[:200, 0], _recurrence_by_fractions(z[:200], b[:200], Y[:200, 0], fmt), "exact emulation")
    _same(fast, slow, "per-op")
