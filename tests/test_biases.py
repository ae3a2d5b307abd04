"""The float64 knot pass (biases._knots_f64) against place()'s array path: same knots, moves, errors."""

import numpy as np
import pytest

from harness.build import biases
from harness.build.solvers import SOLVERS, knots_and_recurrence
from harness.core.errors import HarnessError
from harness.core.formats import get_format
from harness.core.seeding import rng_for

F64 = get_format("float64")


def _both(strategy, z, first_offset=None):
    out = []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as mp, np.errstate(over="ignore", invalid="ignore"):
            if not fast:
                mp.setattr(biases, "_FIXED_THETA", {})
            try:
                out.append(biases.place(strategy, z, F64, rng_for(0, "bias"), first_offset))
            except HarnessError as exc:
                out.append((type(exc), str(exc)))
    return out


def _zs():
    rng = np.random.default_rng(3)
    yield "random", np.sort(rng.standard_normal(5000))
    one_ulp = np.cumsum(np.r_[1.0, np.full(200, 2.0**-52)])  # gaps of one ulp: knots move
    yield "one-ulp gaps", one_ulp
    yield "mixed", np.sort(np.r_[rng.random(500), one_ulp[:50] + 3])
    yield "single", np.array([0.25])
    yield "huge", np.array([-1.7e308, 1.7e308])
    yield "equal neighbours", np.array([0.0, 1.0, 1.0, 2.0])


@pytest.mark.parametrize("strategy", ["midpoint", "left", "fraction:0.999999", "fraction:0.25"])
@pytest.mark.parametrize("name,z", list(_zs()), ids=[n for n, _ in _zs()])
def test_knots_fast_path_equals_the_array_path(strategy, name, z):
    for off in (None, 1e-300, 1e308):
        fast, slow = _both(strategy, z, off)
        if isinstance(slow[0], type):
            assert fast == slow, (name, off)
            continue
        assert fast[1] == slow[1] and np.array_equal(fast[0].view(np.uint64), slow[0].view(np.uint64)), (name, off)


def test_the_cases_reach_moves_and_errors():
    """The table above is not vacuous: knots are moved, and both errors are raised."""
    z = np.cumsum(np.r_[1.0, np.full(200, 2.0**-52)])
    assert biases.place("fraction:0.999999", z, F64, None)[1] > 0
    with pytest.raises(HarnessError, match="interleave"):
        biases.place("midpoint", np.array([0.0, 1.0, 1.0, 2.0]), F64, None)
    with pytest.raises(HarnessError, match="overflows"), np.errstate(over="ignore"):
        biases.place("left", np.array([-1.7e308, 1.7e308]), F64, None, 1e308)


def _place_then_solve(strategy, z, Y, off, fused):
    """(b, moved, W) or (error type, message): the construction's knots and recurrence weights,
    from the one-pass kernel (fused) or from place() and the registry's recurrence apart."""
    F = F64.kernel_spec()
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            if fused:  # as construct calls it: the knots into spare memory, the weights over the labels
                rec = SOLVERS.get("recurrence").func
                out = knots_and_recurrence(strategy, z, Y, F64, F, rec, off)
                assert out is not None, "the one-pass kernel must apply here"
                Yc, spare = Y.copy(), np.full(z.size, np.nan)
                inplace = knots_and_recurrence(strategy, z, Yc, F64, F, rec, off, b=spare, W=Yc)
                assert inplace[0] is spare and inplace[2] is Yc and inplace[1] == out[1]
                for x, y in ((out[0], spare), (out[2], Yc)):
                    assert np.array_equal(x.view(np.uint64), y.view(np.uint64))
                return out
            b, moved = biases.place(strategy, z, F64, rng_for(0, "bias"), off)
            return b, moved, SOLVERS.get("recurrence").func(z, b, Y, F64, F, 0)
        except HarnessError as exc:
            return type(exc), str(exc)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("strategy", ["midpoint", "left", "fraction:0.999999", "fraction:0.25"])
@pytest.mark.parametrize("name,z", list(_zs()), ids=[n for n, _ in _zs()])
def test_knots_inside_the_recurrence_equal_place_then_solve(strategy, name, z, k):
    """The construction's one pass (harness.build.solvers.knots_and_recurrence: knots in the
    recurrence's shadow) gives place()'s knots and moves and the recurrence's weights bit for bit,
    or the same error, on one-ulp gaps, moved knots, overflow and knots that do not interleave."""
    Y = np.random.default_rng(k).standard_normal((z.size, k))
    for off in (None, 1e-300, 1e308):
        fused, apart = (_place_then_solve(strategy, z, Y, off, f) for f in (True, False))
        if isinstance(apart[0], type):
            assert fused == apart, (name, off)
            continue
        assert fused[1] == apart[1], (name, off)
        for x, y in ((fused[0], apart[0]), (fused[2], apart[2])):
            assert x.shape == y.shape and np.array_equal(x.view(np.uint64), y.view(np.uint64)), (name, off)


def test_the_one_pass_applies_only_where_it_is_the_same_computation():
    """Other solvers, formats, arithmetics and knot strategies are left to place() and the solver."""
    from harness.core.arith import split_target

    z, Y = np.array([0.0, 1.0, 2.0]), np.ones((3, 1))
    F = F64.kernel_spec()
    rec = SOLVERS.get("recurrence").func
    assert knots_and_recurrence("midpoint", z, Y, F64, F, rec) is not None
    assert knots_and_recurrence("fraction:0.25", z, Y, F64, F, rec) is not None
    assert knots_and_recurrence("midpoint", z, Y, F64, F, SOLVERS.get("backsub").func) is None
    assert knots_and_recurrence("random", z, Y, F64, F, rec) is None
    assert knots_and_recurrence(np.array([-1.0, 0.5, 1.5]), z, Y, F64, F, rec) is None
    f32 = get_format("float32")
    assert knots_and_recurrence("midpoint", z, Y, f32, f32.kernel_spec(), rec) is None
    fmt, arith = split_target("bfloat16@float32")
    assert knots_and_recurrence("midpoint", z, Y, arith, arith.layers[0].kernel(), rec) is None
    assert knots_and_recurrence("midpoint", z[:0], Y[:0], F64, F, rec) is None
    for b, W in ((np.empty(2), None), (None, np.empty((3, 2))), (np.empty(3, np.float32), None),
                 (None, np.empty((3, 2))[:, :1]), (np.empty(6)[::2], None)):
        with pytest.raises(ValueError, match="output array"):
            knots_and_recurrence("midpoint", z, Y, F64, F, rec, b=b, W=W)


def test_functions_substituted_in_the_registries_are_used_not_bypassed():
    """A solver or knot strategy served under a built-in name (a test's degraded kernel, a user's
    variant) is what construct runs: the one-pass kernel stands in for the built-in functions only."""
    import harness
    from harness.build.biases import BIASES

    X = np.random.default_rng(0).random((50, 3))
    y = np.arange(50.0) % 2
    ran = []

    def solver(z, b, Y, fmt, F, seed):
        ran.append("solver")
        return np.zeros(Y.shape)

    def knots(z, fmt, rng, off, param=None):
        ran.append("knots")
        return z[:-1] + 0.5 * (z[1:] - z[:-1])

    with SOLVERS.substituted("recurrence", solver):
        assert not np.any(harness.construct(X, y).w) and ran == ["solver"]
    with BIASES.substituted("midpoint", knots):
        ref = harness.construct(X, y, bias="fraction:0.5")
        net = harness.construct(X, y)
        assert ran == ["solver", "knots"]
        assert np.array_equal(net.b, ref.b) and np.array_equal(net.w, ref.w)
