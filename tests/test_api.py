"""Library API and CLI behaviour: determinism, evaluators, outputs, files, imports."""

import json
from fractions import Fraction
import subprocess
import sys

import numpy as np
import pytest

import harness
from harness.core.seeding import rng_for
from harness.build.data import DATA, LABELS, make_data, make_labels

EVALUATORS = ["sequential", "compensated", "prefix", "dense"]


def test_same_config_and_seed_give_bit_identical_networks():
    rng = np.random.default_rng(5)
    X, y = rng.random((300, 6)), rng.standard_normal(300)
    for kw in (dict(), dict(fmt="bfloat16", rounding="stochastic", bias="random", direction="best-of:4")):
        n1, n2 = harness.construct(X[:40], y[:40], seed=3, **kw), harness.construct(X[:40], y[:40], seed=3, **kw)
        for f in ("a", "b", "w", "z", "order"):
            assert getattr(n1, f).tobytes() == getattr(n2, f).tobytes(), f
        assert n1.forward(X).tobytes() == n2.forward(X).tobytes()
    n3 = harness.construct(X, y, seed=4)
    assert n3.a.tobytes() != harness.construct(X, y, seed=3).a.tobytes()


@pytest.mark.parametrize("fmt, n", [("float64", 40), ("float32", 40), ("float16", 24), ("bfloat16", 8)])
@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_evaluators_are_exact_when_every_operation_is(fmt, n, evaluator):
    """Integer points 0..n-1, knots on the previous point (bias=left, first offset 1),
    integer labels: the exact weights are integer slope changes and every intermediate
    is a small integer, exact in the format, so every evaluator must return y exactly."""
    if evaluator == "dense" and fmt not in ("float64", "float32"):
        pytest.skip("dense is numpy/BLAS: native formats only")
    rng = np.random.default_rng(2)
    X = rng.permutation(n).astype(np.float64)[:, None]
    y = rng.integers(-1, 2, n).astype(np.float64)
    net = harness.construct(X, y, direction="ones", bias="left", first_offset=1.0, fmt=fmt, solver="recurrence")
    w_exact = harness.exact_weights(net, y)
    assert all(v.denominator == 1 for v in w_exact)
    assert np.asarray(net.w, np.float64).tolist() == [float(v) for v in w_exact]
    out = net.forward(X, evaluator=evaluator)
    assert out.dtype == harness.get_format(fmt).storage_dtype()
    assert np.asarray(out, np.float64).tolist() == y.tolist(), f"{evaluator} in {fmt}"


def test_forward_in_a_narrower_format_rounds_weights_once_then_computes_there():
    rng = np.random.default_rng(8)
    X, y = rng.random((50, 3)), rng.integers(0, 2, 50).astype(float)
    net = harness.construct(X, y, fmt="float64")
    out32 = net.forward(X, fmt="float32")
    assert out32.dtype == np.float32
    from harness.core.kernels import eval_sequential

    f32 = harness.get_format("float32")
    a, b, W = (f32.cast(v) for v in net.carriers())
    want = eval_sequential(f32.cast(X), a, b, W, f32.kernel_spec(), net.seed)[:, 0]
    assert out32.tobytes() == want.astype(np.float32).tobytes()
    assert net.forward(X, fmt="bfloat16").dtype.name == "bfloat16"


def test_class_labels_give_k_outputs_and_parameter_count():
    rng = np.random.default_rng(1)
    X = rng.random((30, 5))
    y = np.eye(4)[rng.integers(0, 4, 30)]
    net = harness.construct(X, y)
    assert net.w.shape == (30, 4) and net.k == 4
    assert net.n_params == 2 * 30 + 5 + 3 * 30
    assert np.argmax(net.forward(X), axis=1).tolist() == np.argmax(y, axis=1).tolist()


def test_generators_are_seeded_and_shaped():
    for name in ("uniform", "gaussian", "sphere", "equispaced", "lattice"):
        a = make_data(name, 64, 3, rng_for(1, "data"))
        b = make_data(name, 64, 3, rng_for(1, "data"))
        assert a.shape == (64, 3) and a.tobytes() == b.tobytes(), name
    assert set(DATA.names()) >= {"uniform", "gaussian", "sphere", "equispaced", "lattice"}
    assert set(LABELS.names()) >= {"binary", "real", "alternating", "classes:K"}
    lat = make_data("lattice", 500, 4, rng_for(0, "data"))
    assert lat.min() >= 0 and lat.max() <= 255 and np.all(lat == np.round(lat))
    sph = make_data("sphere", 100, 5, rng_for(0, "data"))
    np.testing.assert_allclose(np.linalg.norm(sph, axis=1), 1.0, rtol=8 * np.finfo(float).eps, atol=0,
                               err_msg="sphere points off the unit sphere beyond a few ulps")


def test_equispaced_projections_are_exactly_equispaced_under_ones():
    net = harness.construct(make_data("equispaced", 100, 4, rng_for(0, "data")), np.zeros(100), direction="ones")
    gaps = np.diff(np.asarray(net.z))
    assert np.all(gaps == gaps[0])


def test_alternating_labels_alternate_in_projection_order():
    net, rep = harness.fit(60, 3, "uniform", "alternating", seed=2)
    X = make_data("uniform", 60, 3, rng_for(2, "data"))  # the points fit() generated
    out = np.asarray(net.forward(X[np.asarray(net.order)]), float)
    assert np.round(out).tolist() == [i % 2 for i in range(60)] and rep.fit_fraction == 1.0


def test_fit_report_figures_match_an_independent_exact_computation():
    """The report's error figures, recomputed from exact_weights in rationals. The report
    rounds each |difference| and |w| to float64 once and divides once: relative
    deviation <= 3u / (1 - 3u) < 4u, u = 2^-53."""
    net, rep = harness.fit(200, 4, seed=1)
    assert rep.ref_kind == "exact" and rep.ref_checked == 200
    assert rep.fit_fraction == 1.0 and rep.n_params == 404
    X = make_data("uniform", 200, 4, rng_for(1, "data"))
    y = make_labels("binary", 200, rng_for(1, "labels"), np.zeros(200, dtype=np.int64))
    exact = harness.exact_weights(net, y)
    diff = [abs(Fraction(float(w)) - e) for w, e in zip(np.asarray(net.w), exact)]
    normwise = max(diff) / max(abs(e) for e in exact)
    compwise = max(d / abs(e) for d, e in zip(diff, exact) if e != 0)
    tol = 4 * 2.0**-53
    np.testing.assert_allclose(rep.ref_norm_rel_error, float(normwise), rtol=tol, atol=0, err_msg="normwise")
    np.testing.assert_allclose(rep.ref_max_rel_error, float(compwise), rtol=tol, atol=0, err_msg="componentwise")
    np.testing.assert_allclose(rep.ref_bits_lost, np.log2(float(normwise) / 2.0**-53), rtol=0, atol=1e-12,
                               err_msg="bits lost = log2(normwise / u)")
    out = np.asarray(net.forward(X), np.float64)
    assert rep.fit_max_error == float(np.max(np.abs(out - y)))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True)


def test_cli_fit_json_and_export(tmp_path):
    r = _cli("fit", "--n", "300", "--d", "4", "--json", "--export", str(tmp_path / "w.npz"))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["n"] == 300 and rep["fit_fraction"] == 1.0 and rep["ref_kind"] == "exact"
    two = harness.TwoLayer.load(tmp_path / "w.npz")
    assert two.W1.shape == (300, 4)


@pytest.mark.parametrize("kind", ["csv", "npz", "npy"])
def test_cli_fit_reads_user_files(tmp_path, kind):
    rng = np.random.default_rng(0)
    X, y = rng.random((50, 3)), rng.integers(0, 2, 50).astype(float)
    if kind == "csv":
        p = tmp_path / "d.csv"
        p.write_text("a,b,c,label\n" + "\n".join(",".join(repr(float(c)) for c in [*x, v]) for x, v in zip(X, y)))
    elif kind == "npz":
        p = tmp_path / "d.npz"
        np.savez(p, X=X, y=y)
    else:
        p = tmp_path / "d.npy"
        np.save(p, np.column_stack([X, y]))
    r = _cli("fit", "--input", str(p), "--json", *(["--header"] if kind == "csv" else []))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n"] == 50


def test_cli_list_and_help():
    r = _cli("list")
    assert r.returncode == 0 and "bfloat16" in r.stdout and "best-of:K" in r.stdout
    for cmd in ("seed", "fit", "list"):
        assert _cli(cmd, "--help").returncode == 0


def test_import_harness_is_light():
    code = "import sys, harness; print(any(m in sys.modules for m in ('numba', 'mpmath', 'scipy', 'matplotlib')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
