"""Kernels at large n, each beside its reference in the same run (issue 6).

Every figure that matters is a ratio against a reference timed in the same run: LAPACK
(SciPy solve_triangular, matrix build included), numpy's argsort of the same
projections (the floor any construction pays), numpy matmul, native float32, mpmath's
lu_solve. Kernels are compiled before timing; cold-start compile time is measured in a
fresh process with an empty Numba cache. Accuracy goes into extra_info beside the time.

Targets are assertions on ratios (they fail the benchmark run, not the tests); every
benchmark has one or says why it cannot: construction + recurrence at 10^7 within 1.5x
argsort; construction from points within 1.2x argsort at 10^6 and 10^7; the projections' order by
either sort within 1x argsort; the recurrence >= 5x / 100x faster than LAPACK at 10^3 / 10^4 and within 2x argsort;
backsub faster than LAPACK with O(n) memory; the forward passes within 5x / 10x numpy's
matmul; emulated bfloat16 within 20x true float32 arithmetic (and 4x the float32 cast kernel);
the exact and mp references within 0.1x mpmath's lu_solve; exact_weights within 1.0x a plain
mpq recurrence; the float32-accumulating forward pass within 3x numpy's float32 matmul.
"""

import os
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np
import pytest

from benchmarks.conftest import ROUNDS, best_time


def _system(n, seed=0):
    rng = np.random.default_rng(seed)
    z = np.sort(rng.random(n))
    b = np.concatenate([[z[0] - 1.0 / n], (z[:-1] + z[1:]) / 2])
    Y = rng.integers(0, 2, (n, 1)).astype(np.float64)
    return z, b, Y


def _spec(name):
    from harness.core.formats import get_format

    f = get_format(name)
    return f, f.kernel_spec()


def _lapack(z, b, Y):
    from harness.build.solvers import SOLVERS

    f, F = _spec("float64")
    return SOLVERS.get("lapack").func(z, b, Y, f, F, 0)


def _warm():
    from harness.core import kernels

    z, b, Y = _system(16)
    for name in ("float64", "float32", "bfloat16"):
        _, F = _spec(name)
        kernels.solve_recurrence(z, b, Y, F, 0)
        kernels.solve_backsub(z, b, Y, F, 0)
    return kernels


def test_construct_1e7_vs_argsort(benchmark, ratio):
    """construct() (sort, knots, recurrence) on 10^7 given projections: target within 1.5x argsort
    (measured on an Intel Xeon: 0.27-0.33x; on an AMD EPYC, Zen 4, with the previous radix order: 0.24x)."""
    import harness

    rng = np.random.default_rng(0)
    z = rng.random(10**7)
    y = rng.integers(0, 2, z.size).astype(np.float64)
    harness.construct(z[:100, None], y[:100], direction="ones")
    benchmark.pedantic(harness.construct, args=(z[:, None], y), kwargs=dict(direction="ones"), rounds=ROUNDS, iterations=1)
    r = ratio(best_time(lambda: np.argsort(z), 2), "argsort")
    assert r <= 1.5, f"construction is {r:.2f}x argsort (target 1.5x)"


@pytest.mark.parametrize("n", [10**6, 10**7])
def test_construct_d16_vs_argsort(benchmark, ratio, n):
    """construct() from points (n x 16, gaussian direction: validation, projection, sort, knots,
    recurrence) against numpy's argsort of its own projections: issue 15's target 1.2x. The
    construction sorts packed integer keys (harness.build.ordering: a radix sort, or numpy's
    integer sort where that is faster), so the floor it is measured against is not the sort it
    uses; ``ratio_vs_sort`` records the ratio to np.sort of the same values too. Measured on an
    Intel Xeon (2 cores, AVX-512, numpy 2.4.6), five runs: 0.86-1.17x argsort at 10^6 (34-48 ms),
    0.38-0.49x at 10^7 (0.39-0.50 s); before the bucketed radix order, the reused buffers and the
    knot helpers' scalar arguments, 1.10-1.67x and 0.52-0.71x there. On an AMD EPYC (Zen 4,
    numpy's AVX-512 sort slow there): 0.41x at 10^6, 0.26x at 10^7 with the LSD radix order that
    preceded the buckets."""
    import harness

    rng = np.random.default_rng(0)
    X = rng.random((n, 16))
    y = rng.integers(0, 2, n).astype(np.float64)
    # one untimed call at full size: the first in a process also pays the heap's growth and the
    # once-per-process sort choice (ordering.SORT_PATH "auto"), 40-90 ms at 10^6 here; the rounds
    # time the steady state, as argsort's best-of-3 does
    harness.construct(X, y)
    net = benchmark.pedantic(harness.construct, args=(X, y), rounds=ROUNDS, iterations=1)
    z = X @ np.asarray(net.a)
    ratio(best_time(lambda: np.sort(z), 3), "sort")
    r = ratio(best_time(lambda: np.argsort(z), 3), "argsort")
    assert r <= 1.2, f"construction is {r:.2f}x argsort of its projections (target 1.2x)"


@pytest.mark.parametrize("path", ["radix", "packed"])
@pytest.mark.parametrize("n", [10**6, 10**7])
def test_order_vs_argsort(benchmark, ratio, n, path, monkeypatch):
    """The projections' order (harness.build.ordering.sort_projections: order, sorted values, one
    label column, tie test) by each sort, forced, against numpy's argsort of the same values (it
    equals the stable argsort element for element, checked here): target within 1x (the order must not cost
    more than the argsort it replaces). Which is faster depends on the CPU's numpy sort kernel
    (SORT_PATH "auto" times both once per process)."""
    from harness.build import ordering

    monkeypatch.setattr(ordering, "SORT_PATH", path)
    rng = np.random.default_rng(0)
    z = rng.random((n, 16)) @ rng.standard_normal(16)
    Y = rng.integers(0, 2, (n, 1)).astype(np.float64)
    ordering.sort_projections(z[:100_000], Y[:100_000])
    order = benchmark.pedantic(ordering.sort_projections, args=(z, Y), rounds=ROUNDS, iterations=1)[0]
    assert np.array_equal(order, np.argsort(z, kind="stable"))
    r = ratio(best_time(lambda: np.argsort(z), 3), "argsort")  # its default (fastest) kind, as above
    assert r <= 1.0, f"the {path} order is {r:.2f}x argsort (target 1x)"


@pytest.mark.parametrize("n", [1000, 10_000])
def test_recurrence_vs_lapack(benchmark, ratio, n):
    """The O(n) recurrence against LAPACK (dense build + solve_triangular): target >= 100x at 10^4."""
    kernels = _warm()
    z, b, Y = _system(n)
    _, F = _spec("float64")
    W = benchmark(kernels.solve_recurrence, z, b, Y, F, 0)
    r = ratio(best_time(lambda: _lapack(z, b, Y)), "lapack")
    ref = _lapack(z, b, Y)
    benchmark.extra_info["max_rel_diff_vs_lapack"] = float(np.max(np.abs(W - ref)) / np.max(np.abs(ref)))
    target = 100 if n == 10_000 else 5  # the dense cost grows like n^2: the gap widens with n
    assert 1 / r >= target, f"recurrence only {1 / r:.0f}x faster than lapack (target {target}x)"


@pytest.mark.parametrize("n", [10**6, 10**7])
def test_recurrence_vs_argsort(benchmark, ratio, n):
    """The recurrence alone against sorting the same n projections (the construction's floor):
    target within 2x (O(n) against O(n log n); measured 0.38x at 10^6, 0.18x at 10^7 with the
    float64 round-to-nearest fast path, the same bits as the per-operation kernel)."""
    kernels = _warm()
    z, b, Y = _system(n)
    _, F = _spec("float64")
    benchmark.pedantic(kernels.solve_recurrence, args=(z, b, Y, F, 0), rounds=ROUNDS, iterations=1)
    x = np.random.default_rng(1).random(n)
    r = ratio(best_time(lambda: np.argsort(x), 2), "argsort")
    assert r <= 2.0, f"the recurrence is {r:.2f}x argsort (target 2x)"


@pytest.mark.parametrize("n", [10_000, 20_000])
def test_backsub_vs_lapack(benchmark, ratio, n):
    """Substitution with M's entries made on the fly (O(n) memory): target faster than LAPACK at 10^4."""
    kernels = _warm()
    z, b, Y = _system(n)
    _, F = _spec("float64")
    W = benchmark.pedantic(kernels.solve_backsub, args=(z, b, Y, F, 0), rounds=ROUNDS, iterations=1)
    r = ratio(best_time(lambda: _lapack(z, b, Y), 2), "lapack")
    tracemalloc.start()
    kernels.solve_backsub(z, b, Y, F, 0)
    back_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    ref = _lapack(z, b, Y)
    lapack_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    benchmark.extra_info.update(peak_bytes_backsub=back_peak, peak_bytes_lapack=lapack_peak,
                                max_rel_diff_vs_lapack=float(np.max(np.abs(W - ref)) / np.max(np.abs(ref))))
    assert back_peak < 64 * n * 8, "backsub should need O(n) memory"
    assert r < 1.0, f"backsub is {r:.2f}x lapack's time (target: faster)"


def test_backsub_1e5(benchmark):
    """backsub alone at n = 10^5. No target: no reference runs at this size (LAPACK's dense M would
    need 80 GB); recorded for the trend, beside the ratio targets at 10^4 and 2*10^4 above."""
    kernels = _warm()
    z, b, Y = _system(10**5)
    _, F = _spec("float64")
    benchmark.pedantic(kernels.solve_backsub, args=(z, b, Y, F, 0), rounds=1, iterations=1)


@pytest.mark.parametrize("evaluator", ["sequential", "compensated"])
def test_evaluators_vs_numpy_matmul(benchmark, ratio, evaluator):
    """Forward passes of 2,000 points through 20,000 neurons against numpy's dense matmul: targets
    5x (sequential, one rounding per op) and 10x (compensated, four more ops per term)."""
    import harness

    rng = np.random.default_rng(3)
    X = rng.random((20_000, 8))
    y = rng.integers(0, 2, 20_000).astype(np.float64)
    net = harness.construct(X, y)
    pts = X[:2000]
    net.forward(pts[:10], evaluator=evaluator)
    out = benchmark.pedantic(net.forward, args=(pts,), kwargs=dict(evaluator=evaluator), rounds=ROUNDS, iterations=1)
    r = ratio(best_time(lambda: net.forward(pts, evaluator="dense"), 2), "numpy_matmul")
    benchmark.extra_info["max_abs_error"] = float(np.max(np.abs(np.asarray(out, float) - y[:2000])))
    target = 5.0 if evaluator == "sequential" else 10.0
    assert r <= target, f"{evaluator} is {r:.2f}x numpy's matmul (target {target}x)"


def _native_float32_recurrence():
    """The recurrence in true float32 arithmetic: float32 arrays and float32 scalars in a Numba loop
    (the CPU's single-precision adds, multiplies and divides; no float64 anywhere, no casts)."""
    from numba import njit

    @njit(cache=False)
    def rec(z, b, y):
        n = z.shape[0]
        w = np.empty(n, dtype=np.float32)
        S = np.float32(0.0)
        T = np.float32(0.0)
        for i in range(n):
            num = (y[i] - z[i] * S) + T
            wi = num / (z[i] - b[i])
            w[i] = wi
            S = S + wi
            T = T + wi * b[i]
        return w

    return rec


def test_emulated_bfloat16_vs_native_float32(benchmark, ratio):
    """The recurrence with per-op bfloat16 rounding against the same recurrence in true float32
    arithmetic (float32 arrays, the CPU's float32 operations), which also equals the harness's
    float32 kernel bit for bit (the emulation claim of harness.core.rounding). Targets: 20x native
    float32 (each emulated operation is a float64 operation plus frexp, two ldexp and a rint:
    measured 9-15x across runs here), and 4x the harness's own float32 kernel (the cost of a generic rounding
    over a hardware cast, both emulated the same way)."""
    kernels = _warm()
    z, b, Y = _system(10**6)
    # the float32 reference needs a float32 system: integer points and half-integer knots are exact
    z32 = np.arange(1, 10**6 + 1, dtype=np.float32)
    b32 = z32 - np.float32(0.5)
    y32 = Y[:, 0].astype(np.float32)
    native = _native_float32_recurrence()
    native(z32[:10], b32[:10], y32[:10])  # compile
    _, Fb = _spec("bfloat16")
    _, F32 = _spec("float32")
    emulated32 = kernels.solve_recurrence(z32.astype(np.float64), b32.astype(np.float64), Y, F32, 0)[:, 0]
    assert np.array_equal(emulated32.astype(np.float32).view(np.uint32), native(z32, b32, y32).view(np.uint32))
    benchmark.pedantic(kernels.solve_recurrence, args=(z, b, Y, Fb, 0), rounds=ROUNDS, iterations=1)
    r = ratio(best_time(lambda: native(z32, b32, y32)), "native_float32")
    r_cast = ratio(best_time(lambda: kernels.solve_recurrence(z, b, Y, F32, 0)), "float32_cast_kernel")
    assert r <= 20.0, f"emulated bfloat16 is {r:.2f}x native float32 (target 20x)"
    assert r_cast <= 4.0, f"emulated bfloat16 is {r_cast:.2f}x the float32 cast kernel (target 4x)"


@pytest.mark.parametrize("method", ["mp_recurrence", "exact_rational"])
def test_references_vs_mpmath_lu_solve(benchmark, ratio, method):
    """The mp recurrence (O(n)) and the exact rational solve against mpmath's dense lu_solve, n = 120:
    target 0.1x for both (O(n) and O(n^2)-bit work against O(n^3) mpf operations)."""
    import mpmath

    from harness.core.exact import solve_exact, solve_mp

    z, b, Y = _system(120, seed=4)
    y = Y[:, 0]
    if method == "mp_recurrence":
        benchmark(solve_mp, z, b, y, 256)
    else:
        benchmark(solve_exact, z.tolist(), b.tolist(), y.tolist())

    def lu():
        with mpmath.workprec(256):
            A = mpmath.matrix(np.maximum(z[:, None] - b[None, :], 0).tolist())
            return mpmath.lu_solve(A, mpmath.matrix(y.tolist()))

    r = ratio(best_time(lu, 1), "mpmath_lu_solve")
    assert r <= 0.1, f"{method} is {r:.3f}x mpmath's lu_solve (target 0.1x)"


def test_cold_start_compile_time(benchmark):
    """First call of the recurrence kernel in a fresh process with an empty Numba cache. No target:
    an absolute compile time with nothing to time beside it in the same run (every reference
    would share, or not share, the cold cache); recorded for the trend."""
    code = ("import time, numpy as np; t=time.perf_counter(); from harness.core import kernels; "
            "from harness.core.formats import get_format; F=get_format('float64').kernel_spec(); "
            "z=np.arange(4.0); b=z-0.5; Y=np.ones((4,1)); kernels.solve_recurrence(z,b,Y,F,0); "
            "print(time.perf_counter()-t)")

    def cold():
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                        check=True).stdout)

    seconds = benchmark.pedantic(cold, rounds=1, iterations=1)
    benchmark.extra_info["cold_start_seconds"] = seconds


def test_float32_accumulating_forward_vs_numpy_float32_matmul(benchmark, ratio):
    """The emulated bfloat16@float32 forward pass (exact products, float32 accumulation, one
    rounding per layer: the framework model) at n = 10^4 neurons, d = 3072, over 10^4 points,
    against numpy's float32 matmul of the same shapes (X @ W1.T, relu, @ w2): target <= 3x."""
    import harness
    from harness.core.arith import parse_arith
    from harness.core.mixed import eval_mixed

    rng = np.random.default_rng(8)
    n, d = 10**4, 3072
    X = rng.random((n, d)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float64)
    net = harness.construct(X[:, :16].astype(np.float64), y)  # any 10^4 knots and weights
    ar = parse_arith("bfloat16@float32")
    S = ar.storage
    a = S.cast(rng.standard_normal(d) / np.sqrt(d))
    _, b, W = net.carriers()
    b, W = S.cast(b), S.cast(W)
    Xs = S.cast(X.astype(np.float64))
    eval_mixed(Xs[:4], a, b, W, ar.kernel())  # compile
    benchmark.pedantic(eval_mixed, args=(Xs, a, b, W, ar.kernel()), rounds=ROUNDS, iterations=1)
    W1 = np.repeat(a.astype(np.float32)[None, :], n, axis=0)
    b1, w2 = -b.astype(np.float32), W.astype(np.float32)

    def numpy_f32():
        H = X @ W1.T
        H += b1
        np.maximum(H, np.float32(0), out=H)
        return H @ w2

    r = ratio(best_time(numpy_f32, 2), "numpy_float32_matmul")
    assert r <= 3.0, f"the float32-accumulating emulation is {r:.2f}x numpy's float32 matmul (target 3x)"


def test_exact_weights_vs_plain_mpq_recurrence(benchmark, ratio):
    """harness.exact_weights at n = 3000 (midpoint knots) against the plain gmpy2 mpq recurrence
    ``w = (y - z S + T) / (z - b)`` on the same system, timed in the same run: target <= 1.0x
    (exact arithmetic at C speed end to end; the integer-scaled recurrence with one reduction
    per weight)."""
    import gmpy2

    import harness
    from harness.build.problems import make_problem

    X, y = make_problem(3000, 16, seed=0)
    net = harness.construct(X, y)
    z = np.asarray(net.z).tolist()
    b = np.asarray(net.b).tolist()
    yo = np.asarray(y)[np.asarray(net.order)].tolist()

    def plain():
        Q = gmpy2.mpq
        zq, bq, yq = [Q(v) for v in z], [Q(v) for v in b], [Q(v) for v in yo]
        S, T, ws = Q(0), Q(0), []
        for i in range(len(zq)):
            w = (yq[i] - zq[i] * S + T) / (zq[i] - bq[i])
            ws.append(w)
            S += w
            T += w * bq[i]
        return ws

    got = benchmark.pedantic(harness.exact_weights, args=(net, y), rounds=1, iterations=1)
    ref_t = best_time(plain, 1)
    assert got[-1] == plain()[-1]
    r = ratio(ref_t, "plain_mpq_recurrence")
    assert r <= 1.0, f"exact_weights is {r:.2f}x the plain mpq recurrence (target 1.0x)"
