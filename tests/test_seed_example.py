"""Golden tests for the seed document's example, all in exact arithmetic.

Expected values are derived by hand below from the seed's data (not from the code):
sorted projections 0.9 (x4), 1.1 (x1), 1.3 (x2), 1.7 (x3), knots 0.8, 1.0, 1.2, 1.6,
M (points sorted x neurons) = [[.1,0,0,0],[.3,.1,0,0],[.5,.3,.1,0],[.9,.7,.5,.1]],
y sorted = (1, 1, 1, 0):  w1 = 1/.1 = 10;  .3*10 + .1 w2 = 1 -> w2 = -20;
.5*10 - .3*20 + .1 w3 = 1 -> w3 = 20;  .9*10 - .7*20 + .5*20 + .1 w4 = 0 -> w4 = -50.
Printed w2 = (.9, .4, .1, 0): f(x1) = .3*.9 + .1*.4 = .31, f(x2) = .5*.9 + .3*.4 + .1*.1 = .58,
f(x3) = .9*.9 + .7*.4 + .5*.1 = 1.14, f(x4) = .1*.9 = .09.
"""

import json
import subprocess
import sys
from fractions import Fraction as F

import numpy as np

import harness
from harness.linalg.bounds import forward_error_bound, solve_error_bound
from harness.core.exact import apply_exact
from harness.analysis.seed import SEED_Y


def test_seed_example_exact():
    s = harness.seed_example()
    assert s.projections == (F("1.1"), F("1.3"), F("1.7"), F("0.9"))
    assert s.interleaved
    assert s.relu_matches_seed  # the seed's ReLU matrix is right
    assert s.exact_w2 == (10, -20, 20, -50)
    assert s.exact_outputs == tuple(F(v) for v in SEED_Y)
    assert s.printed_outputs == (F("0.31"), F("0.58"), F("1.14"), F("0.09"))
    assert not s.printed_fits



def test_seed_example_in_float64_is_within_derived_bounds():
    """The float64 build: weights within the recurrence's a-priori bound, outputs within
    the exact residual plus the sequential forward pass's bound (harness.linalg.bounds)."""
    net = harness.seed_example().float64_network
    y = np.array([float(v) for v in SEED_Y])
    z, b, w = (np.asarray(v, np.float64) for v in (net.z, net.b, net.w))
    yn = y[np.asarray(net.order)]
    exact = harness.exact_weights(net, y)
    bound = solve_error_bound(z, b, w, yn, yn, "float64", "recurrence")
    assert all(abs(F(wi) - e) <= F(bi) for wi, e, bi in zip(w, exact, bound))
    out = np.asarray(harness.seed_example().float64_outputs)[np.asarray(net.order)]
    resid = [abs(F(yi) - m) for yi, m in zip(yn, apply_exact(z, b, w))]
    fwd = forward_error_bound(z, b, w, "float64")
    for i in range(net.n):
        assert abs(F(out[i]) - F(yn[i])) <= resid[i] + F(fwd[i]), f"point {i}"


def test_harness_seed_command_states_the_verdict():
    out = subprocess.run([sys.executable, "-m", "harness", "seed"], capture_output=True, text=True, check=True).stdout
    assert "[10, -20, 20, -50]" in out
    assert "[0.31, 0.58, 1.14, 0.09]" in out
    assert "does NOT fit" in out
    js = json.loads(subprocess.run([sys.executable, "-m", "harness", "seed", "--json"],
                                   capture_output=True, text=True, check=True).stdout)
    assert js["exact_w2"] == ["10", "-20", "20", "-50"] and js["printed_fits"] is False
