"""The float64 knot pass (biases._knots_f64) against place()'s array path: same knots, moves, errors."""

import numpy as np
import pytest

from harness.build import biases
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
