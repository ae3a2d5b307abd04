"""Property tests on small random instances (hypothesis).

Every tolerance is the rigorous bound of harness.linalg.bounds for the solver's operation
order, computed exactly; nothing is a hand-picked tolerance. Instances: up to 64 points in up
to 4 dimensions, magnitudes over 14 binades, in every emulated format.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import harness
from harness.linalg.bounds import forward_error_bound, solve_error_bound
from harness.core.exact import apply_exact, matrix_exact, to_fraction

BIASES = ["midpoint", "left", "fraction:0.75", "fraction:0.3", "random"]
DIRECTIONS = ["gaussian", "ones", "best-of:3", "maximin:3"]


#: Every format the kernels emulate: native, the 8- to 19-bit floats, float8 both ways, fp:P widths.
FORMATS = ["float64", "float32", "tf32", "bfloat16", "float16", "float8_e4m3", "float8_e5m2", "fp:5", "fp:12",
           "fp:25"]


@st.composite
def instances(draw, max_n=64, max_d=4):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    # random magnitudes over 14 binades, 2^-6 .. 2^8: 4-bit significands (exact in every format of
    # >= 4 bits; float8_e5m2 rounds them on the cast), inside every format's normal range
    cells = st.builds(lambda s, m, e: s * m * 2.0 ** (e - 3), st.sampled_from([-1.0, 1.0]), st.integers(8, 15),
                      st.integers(-6, 7)) | st.just(0.0)
    rows = draw(st.lists(st.tuples(*[cells] * d), min_size=n, max_size=n, unique=True))
    X = np.array(rows, dtype=np.float64)
    k = draw(st.sampled_from([1, 1, 2]))
    labels = st.integers(-8, 8).map(lambda v: v / 4)
    Y = np.array(draw(st.lists(st.tuples(*[labels] * k), min_size=n, max_size=n)), dtype=np.float64)
    return X, (Y[:, 0] if k == 1 else Y)


def _build(X, y, **kw):
    try:
        return harness.construct(X, y, **kw)
    except harness.HarnessError as exc:
        # a collision or an overflow in a coarse format is not these tests' subject
        assume(not isinstance(exc, (harness.CollisionError, harness.FormatOverflowError)) and "collide" not in str(exc))
        raise


@given(inst=instances(), bias=st.sampled_from(BIASES), direction=st.sampled_from(DIRECTIONS),
       fmt=st.sampled_from(FORMATS), seed=st.integers(0, 3))
def test_exact_solution_reproduces_every_label_and_matrix_is_triangular(inst, bias, direction, fmt, seed):
    X, y = inst
    net = _build(X, y, direction=direction, bias=bias, fmt=fmt, seed=seed)
    z = np.asarray(net.z, np.float64)
    b = np.asarray(net.b, np.float64)
    M = matrix_exact(z, b)
    n = net.n
    for i in range(n):
        assert M[i][i] > 0, f"diagonal {i} not positive"
        assert all(M[i][j] == 0 for j in range(i + 1, n)), f"row {i} not lower triangular"
    w = harness.exact_weights(net, y)
    Yn = np.asarray(y)[np.asarray(net.order)].reshape(n, -1)
    cols = [w] if np.ndim(y) == 1 else [[row[c] for row in w] for c in range(Yn.shape[1])]
    for c, wc in enumerate(cols):
        assert apply_exact(z, b, wc) == [to_fraction(v) for v in Yn[:, c]]
    assert net.n_params == 2 * n + X.shape[1] + (net.k - 1) * n


@pytest.mark.parametrize("solver", ["recurrence", "backsub", "lapack", "exact"])
@given(inst=instances(), bias=st.sampled_from(BIASES), seed=st.integers(0, 3),
       fmt=st.sampled_from(FORMATS), rounding=st.sampled_from(["nearest", "nearest", "stochastic"]))
def test_solvers_are_within_their_a_priori_bound(solver, inst, bias, seed, fmt, rounding):
    X, y = inst
    if solver == "lapack":  # LAPACK runs in the native formats, rounding to nearest
        fmt, rounding = ("float64" if fmt == "float64" else "float32"), "nearest"
    if rounding == "stochastic":
        assume(fmt != "float64" and solver != "exact")
    net = _build(X, y, bias=bias, fmt=fmt, solver=solver, seed=seed, rounding=rounding)
    W = np.asarray(net.w, np.float64)
    assume(np.all(np.isfinite(W)))
    nz = np.abs(W[W != 0])
    fm = harness.get_format(fmt)
    assume(nz.size == 0 or nz.min() > fm.tiny / fm.u)  # the standard model needs no underflow
    Yn = np.asarray(y)[np.asarray(net.order)]
    bound = solve_error_bound(net.z.astype(float), net.b.astype(float), W, Yn, fm.cast(Yn), fmt, solver, rounding)
    exact = np.array(harness.exact_weights(net, y), dtype=object).reshape(W.shape)
    for idx in np.ndindex(W.shape):
        if not np.isfinite(bound[idx]):
            continue  # the model gives no bound here ((n + 1) u >= 1): nothing to check
        err = abs(Fraction(W[idx]) - exact[idx])
        assert err <= Fraction(bound[idx]), (
            f"{solver}/{fmt}/{bias}: |w_hat - w| = {float(err):.3g} > bound {bound[idx]:.3g} at {idx}")


@given(inst=instances(), fmt=st.sampled_from(FORMATS))
def test_export_round_trips(tmp_path_factory, inst, fmt):
    X, y = inst
    net = _build(X, y, fmt=fmt)
    two = net.export()
    assert two.W1.shape == (net.n, net.d) and np.all(two.W1 == two.W1[0])
    path = two.save(tmp_path_factory.mktemp("exp") / "net.npz")
    back = harness.TwoLayer.load(path)
    for name in ("W1", "b1", "w2"):
        got, want = getattr(back, name), getattr(two, name)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), name
    assert np.array_equal(back.direction(), net.a)
    assert np.array_equal((-back.b1.astype(np.float64)), net.b.astype(np.float64))


@given(inst=instances(), bias=st.sampled_from(BIASES), seed=st.integers(0, 3), fmt=st.sampled_from(FORMATS))
def test_sequential_forward_pass_is_within_its_bound_at_training_points(inst, bias, seed, fmt):
    """|f_hat(x_i) - (M w_hat)_i| <= gamma_(n+1) (|M| |w_hat|)_i (harness.linalg.bounds; round to nearest,
    where the forward pass reproduces the training projection exactly)."""
    X, y = inst
    assume(np.ndim(y) == 1)
    net = _build(X, y, bias=bias, fmt=fmt, seed=seed)
    W = np.asarray(net.w, np.float64)
    fm = harness.get_format(fmt)
    nz = np.abs(W[W != 0])
    assume(np.all(np.isfinite(W)) and (nz.size == 0 or nz.min() > fm.tiny / fm.u))  # no underflow
    z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
    out = np.asarray(net.forward(X[np.asarray(net.order)]), np.float64)
    bound = forward_error_bound(z, b, W, fmt)
    for i, (o, m) in enumerate(zip(out, apply_exact(z, b, W))):
        if np.isfinite(bound[i]):
            assert abs(Fraction(o) - m) <= Fraction(bound[i]), f"{fmt} point {i}"
