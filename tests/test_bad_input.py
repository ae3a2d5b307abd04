"""Every bad input: a HarnessError naming the problem; the CLI exits 2 with no traceback."""

import subprocess
import sys

import numpy as np
import pytest

import harness
from harness.build.solvers import EXACT_MAX_N

X4 = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.25], [3.0, 2.0]])
Y4 = np.array([1.0, 0.0, 1.0, 0.0])


def _nan_row(arr, r):
    a = arr.copy()
    a[r] = np.nan
    return a


CASES = [
    # id, kwargs for construct, words the message must contain
    ("nan-in-X", dict(X=_nan_row(X4, 2), y=Y4), ["X row 2", "nan"]),
    ("inf-in-X", dict(X=np.where(X4 == 2.0, np.inf, X4), y=Y4), ["X row 2", "inf"]),
    ("nan-in-y", dict(X=X4, y=_nan_row(Y4, 3)), ["y row 3", "nan"]),
    ("shape-mismatch", dict(X=X4, y=Y4[:3]), ["4 rows", "y has 3"]),
    ("X-1d", dict(X=X4[:, 0], y=Y4), ["2-D", "reshape"]),
    ("n=0", dict(X=np.zeros((0, 2)), y=np.zeros(0)), ["n = 0"]),
    ("d=0", dict(X=np.zeros((4, 0)), y=Y4), ["d = 0"]),
    ("non-numeric", dict(X=[[0, 1], [1, "a"], [2, 3], [3, 4]], y=Y4), ["row 1", "not numeric"]),
    ("dup-different-labels", dict(X=np.vstack([X4, X4[1]]), y=np.r_[Y4, 1.0]), ["rows 1 and 4", "different labels"]),
    ("collision-ones", dict(X=np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), y=[0.0, 1.0, 0.0], direction="ones"),
     ["rows 0 and 1", "collide", "ones"]),
    ("bias-not-interleaved", dict(X=X4[:, :1], y=Y4, direction="ones", bias=[-1.0, 0.5, 2.5, 2.5]),
     ["index 2"]),
    ("bias-wrong-count", dict(X=X4, y=Y4, bias=[0.0, 1.0]), ["2 values for 4 points"]),
    ("overflow-X", dict(X=X4 * 1e6, y=Y4, fmt="float16"), ["overflows float16"]),
    ("overflow-projection", dict(X=np.array([[60000.0, 60000.0], [1.0, 2.0]]), y=[0.0, 1.0], fmt="float16",
                                 direction="ones"), ["row 0", "overflows float16"]),
    ("unknown-direction", dict(X=X4, y=Y4, direction="north"), ["unknown direction 'north'", "gaussian"]),
    ("unknown-bias", dict(X=X4, y=Y4, bias="middle"), ["unknown bias 'middle'", "midpoint"]),
    ("bad-theta", dict(X=X4, y=Y4, bias="fraction:1.0"), ["[0, 1)"]),
    ("unknown-format", dict(X=X4, y=Y4, fmt="float128"), ["unknown format 'float128'", "bfloat16"]),
    ("unknown-solver", dict(X=X4, y=Y4, solver="gauss"), ["unknown solver 'gauss'", "recurrence"]),
    ("lapack-emulated", dict(X=X4, y=Y4, fmt="bfloat16", solver="lapack"), ["lapack", "bfloat16"]),
    ("sr-float64", dict(X=X4, y=Y4, rounding="stochastic"), ["stochastic", "float64"]),
    ("best-of-bad-K", dict(X=X4, y=Y4, direction="best-of:many"), ["best-of:many"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_construct_rejects_with_a_clear_message(case):
    _, kw, words = case
    with pytest.raises(harness.HarnessError) as info:
        harness.construct(kw.pop("X"), kw.pop("y"), **kw)
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


def test_duplicates_with_equal_labels_are_merged_and_reported():
    X = np.vstack([X4, X4[2], X4[2]])
    y = np.r_[Y4, Y4[2], Y4[2]]
    net = harness.construct(X, y)
    assert net.n == 4 and net.n_input == 6
    assert net.merged == ((4, 2), (5, 2))
    out = net.forward(X)
    assert out[4] == out[2] and out[5] == out[2]  # a merged row is its kept twin, bit for bit
    from harness.analysis.outcome import reproduced

    assert reproduced(out, y, "binary").all()


def test_gaussian_retries_then_names_rows_and_the_format():
    rng = np.random.default_rng(0)
    X = rng.random((3000, 4))
    with pytest.raises(harness.HarnessError) as info:  # equal labels: duplicates merge, collisions remain
        harness.construct(X, np.zeros(3000), fmt="float8_e4m3")
    msg = str(info.value)
    assert "after 9 directions" in msg and "float8_e4m3" in msg and "has only" in msg
    with pytest.raises(harness.HarnessError) as info:  # conflicting labels: the more basic error wins
        harness.construct(X, rng.integers(0, 2, 3000), fmt="float8_e4m3")
    assert "same point after rounding to the format with different labels" in str(info.value)


def test_lapack_too_large_and_exact_too_large(monkeypatch):
    import harness.build.solvers as solvers

    monkeypatch.setattr(solvers, "LAPACK_MAX_BYTES", 1000)
    with pytest.raises(harness.HarnessError, match="dense 20 x 20 float64 matrix"):
        harness.construct(np.arange(20.0)[:, None], np.zeros(20), solver="lapack")
    n = EXACT_MAX_N + 1
    with pytest.raises(harness.HarnessError, match=f"n <= {EXACT_MAX_N}"):
        harness.construct(np.arange(float(n))[:, None], np.zeros(n), solver="exact")


def test_forward_rejects_wrong_width_and_unknown_evaluator():
    net = harness.construct(X4, Y4)
    with pytest.raises(harness.HarnessError, match="d = 2"):
        net.forward(np.zeros((3, 5)))
    with pytest.raises(harness.HarnessError, match="unknown evaluator 'fast'"):
        net.forward(X4, evaluator="fast")
    with pytest.raises(harness.HarnessError, match="dense runs in float64 or float32"):
        net.forward(X4, evaluator="dense", fmt="bfloat16")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, words", [
    (["fit", "--n", "10", "--fmt", "float128"], ["unknown format"]),
    (["fit", "--n", "0"], ["n must be at least 1"]),
    (["fit", "--n", "10", "--d", "0"], ["d must be at least 1"]),
    (["fit", "--n", "10", "--bias", "fraction:2"], ["[0, 1)"]),
    (["fit", "--input", "/nonexistent.csv"], ["no such file"]),
])
def test_cli_errors_exit_2_without_traceback(args, words):
    r = _cli(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("harness: error:")
    for w in words:
        assert w in r.stderr


def test_cli_bad_csv_names_the_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x1,x2,label\n0.1,0.2,1\n0.3,oops,0\n")
    r = _cli("fit", "--input", str(p), "--header")
    assert r.returncode == 2 and "line 3" in r.stderr and "'oops'" in r.stderr
    p.write_text("0.1,0.2,1\nnan,0.4,0\n")
    r = _cli("fit", "--input", str(p))
    assert r.returncode == 2 and "line 2, column 1" in r.stderr and "nan" in r.stderr
