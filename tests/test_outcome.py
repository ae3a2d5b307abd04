"""The real-label tolerance: derived from the format, reported, and never below what the format can hold."""

import numpy as np
import pytest

import harness
from harness.analysis.outcome import REAL_LABEL_RTOL, real_label_rtol, reproduced
from harness.core.formats import get_format


@pytest.mark.parametrize("name,want", [("float64", REAL_LABEL_RTOL), ("float32", REAL_LABEL_RTOL),
                                       ("bfloat16", REAL_LABEL_RTOL), ("float8_e4m3", 2 * 2.0 ** -4),
                                       ("float8_e5m2", 2 * 2.0 ** -3), ("bfloat16@float32", REAL_LABEL_RTOL)])
def test_tolerance_is_the_larger_of_one_percent_and_two_units(name, want):
    assert real_label_rtol(name) == want


def test_a_label_rounded_to_fp8_can_pass_its_own_format():
    """y = 1.06 stored in float8_e4m3 becomes 1.0 or 1.125 (u = 2^-4): a 1% tolerance could never
    accept the network's best possible output, 2u does; a cancelled output still fails."""
    fmt = get_format("float8_e4m3")
    y = np.array([1.06])
    best = fmt.cast(y)
    assert not reproduced(best, y, "real", REAL_LABEL_RTOL)[0]
    assert reproduced(best, y, "real", real_label_rtol("float8_e4m3"))[0]
    assert not reproduced(np.array([1.5]), y, "real", real_label_rtol("float8_e4m3"))[0]


def test_fit_reports_the_tolerance_it_used():
    _, r = harness.fit(8, 2, "uniform", "real", fmt="float8_e4m3", check=False)
    assert r.real_rtol == real_label_rtol("float8_e4m3")
    _, r = harness.fit(30, 3, "uniform", "real", fmt="float32", check=False)
    assert r.real_rtol == REAL_LABEL_RTOL
