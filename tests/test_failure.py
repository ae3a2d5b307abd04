"""Failure points, their criteria and statistics; the precision needed."""

import math

import numpy as np
import pytest

import harness
from harness.analysis.failure import CRITERIA, FailureConfig, failure_point, run_trial, wilson
from harness.analysis.precision import bits_needed, mp_construct, mp_forward, mp_trial, precision_trial

SMALL = FailureConfig(seeds=4)  # the configuration (d = 16, uniform, binary, gaussian, midpoint)


def _key(fp):
    d = fp.to_dict()
    d.pop("seconds")
    for p in d["curve"]:
        p.pop("seconds")
    return d


def test_failure_points_are_monotone_in_precision_and_reproducible():
    """What the data show on the issue's configuration: fp8 <= bfloat16 <= float16 = tf32 <= float32
    (float16 and tf32 share p = 11 and this data never reaches float16's range limit). The
    same config and seed give the same search, point for point."""
    got = {f: failure_point(f, SMALL) for f in ("float8_e4m3", "bfloat16", "float16", "tf32", "float32")}
    n = {f: fp.n_fail for f, fp in got.items()}
    assert all(v is not None for v in n.values()), n
    assert n["float8_e4m3"] <= n["bfloat16"] <= n["float16"] <= n["float32"], n
    assert n["float16"] == n["tf32"], n
    assert n["float16"] < n["float32"], n  # 13 more bits: strictly later
    again = failure_point("float32", SMALL)
    assert _key(again) == _key(got["float32"])


def test_failure_point_bracket_and_interval_semantics():
    fp = failure_point("float16", SMALL)
    by_n = {p.n: p for p in fp.curve}
    assert by_n[fp.n_fail].rate >= 0.5 and by_n[fp.n_pass].rate < 0.5
    assert fp.n_fail <= fp.n_pass * (1 + fp.config.rel_tol) or fp.n_fail - fp.n_pass == 1
    lo, hi = fp.interval
    if lo is not None:
        assert by_n[lo].hi < 0.5 and lo < fp.n_fail
    if hi is not None:
        assert by_n[hi].lo > 0.5 and hi > fp.n_pass
    assert fp.cause in CRITERIA.names() and dict(fp.causes)[fp.cause] >= 1
    assert [p.n for p in fp.curve] == sorted(p.n for p in fp.curve)
    assert fp.trials == sum(p.trials for p in fp.curve)


def test_censoring_is_reported():
    above = failure_point("float64", SMALL, n_max=64)
    assert above.censored == "above" and above.n_fail is None and above.n_pass == 64
    below = failure_point("float8_e4m3", SMALL, n_min=512, n_max=512)
    assert below.censored == "below" and below.n_pass is None and below.n_fail == 512


def test_each_criterion_is_recorded_separately():
    cfg = FailureConfig(seeds=1, d=4)
    coll = run_trial(cfg, "float8_e4m3", 3000, 0)  # 3000 distinct points, ~250 fp8 values
    assert coll.collided and coll.failed_by == ("collision",)
    # equispaced dyadic points under a = ones are exact in float16 (no collision); r = 19 per
    # step takes the weights past float16's 65504
    big = FailureConfig(seeds=1, d=1, data="equispaced", direction="ones", bias="fraction:0.95")
    over = run_trial(big, "float16", 40, 0)
    assert over.overflowed and "overflow" in over.failed_by and "misfit" not in over.failed_by
    mis = run_trial(cfg, "bfloat16", 40, 0)
    assert not mis.collided and not mis.overflowed and mis.failed_by == ("misfit",) and mis.fraction < 1
    ok = run_trial(cfg, "float64", 40, 0)
    assert ok.failed_by == () and ok.fraction == 1.0
    only = run_trial(FailureConfig(seeds=1, d=4, criteria=("collision",)), "bfloat16", 40, 0)
    assert only.failed_by == ()


def test_wilson_interval_against_published_values():
    """Wilson 95% intervals (z = 1.96): 0/8 -> [0, 0.3244], 4/8 -> [0.2152, 0.7848],
    8/8 -> [0.6756, 1] (Newcombe 1998 method 3; recomputed by the closed form). The table has 4
    decimals, so agreement means within half a unit of the 4th (5e-5)."""
    for k, n, lo, hi in ((0, 8, 0.0, 0.3244), (4, 8, 0.2152, 0.7848), (8, 8, 0.6756, 1.0)):
        got = wilson(k, n)
        np.testing.assert_allclose(got, (lo, hi), rtol=0, atol=5e-5, err_msg=f"{k}/{n}")


def test_bad_failure_configs_are_refused():
    for kw, words in ((dict(seeds=0), "seeds"), (dict(n_min=10, n_max=5), "n_min"), (dict(rel_tol=0), "rel_tol"),
                      (dict(criteria=("boom",)), "unknown failure criterion"), (dict(bias="middle"), "unknown bias"),
                      (dict(fit_threshold=1.5), "fit_threshold")):
        with pytest.raises(harness.HarnessError, match=words):
            failure_point("float32", SMALL, **kw)


@pytest.mark.slow
def test_float64_failure_point_acceptance():
    """The issue's acceptance configuration in float64: fails (misfit) between 5e5 and 8e6."""
    fp = failure_point("float64", FailureConfig())
    assert fp.n_fail is not None and 5 * 10**5 <= fp.n_fail <= 8 * 10**6 and fp.cause == "misfit"


# --- precision needed --------------------------------------------------------------------

@pytest.mark.parametrize("p", [5, 11, 24, 25])
@pytest.mark.parametrize("bias", ["midpoint", "fraction:0.75", "random", "left"])
def test_mpmath_engine_equals_numba_engine_bit_for_bit(p, bias):
    """Where both apply (p <= 25), the mpmath construction and forward pass equal the Numba
    kernels' (format fp:P) bit for bit: directions, projections, knots, weights, outputs."""
    cfg = FailureConfig(d=3, bias=bias, direction="gaussian")
    rng = np.random.default_rng(p)
    X, y = rng.random((30, 3)), rng.integers(-2, 3, 30).astype(np.float64)
    try:
        net = harness.construct(X, y, fmt=f"fp:{p}", bias=bias, seed=11)
    except harness.CollisionError:
        assert mp_construct(cfg, X, y, p, 11).status == "collision"
        return
    build = mp_construct(cfg, X, y, p, 11)
    assert build.status == "ok"
    for name in ("a", "z", "b"):
        assert build.floats(name).tobytes() == np.asarray(getattr(net, name), np.float64).tobytes(), name
    assert build.floats("W")[:, 0].tobytes() == np.asarray(net.w, np.float64).tobytes()
    pos = list(range(30))
    got = mp_forward(build, p, pos)[:, 0]
    want = np.asarray(net.forward(X[np.asarray(net.order)]), np.float64)
    assert got.tobytes() == want.tobytes()


def test_precision_trial_engines_agree_and_the_search_is_consistent():
    cfg = FailureConfig(d=4, seeds=2)
    for p in (8, 14, 20):
        for s in range(2):
            a, b = precision_trial(cfg, 48, s, p), mp_trial(cfg, 48, s, p)
            assert (a.passed, a.failed_by, a.fraction) == (b.passed, b.failed_by, b.fraction), (p, s)
    r = bits_needed(48, cfg, p_max=64)
    for s, p in enumerate(r.p_min):
        assert p is not None  # and minimal: it passes, one bit fewer fails
        assert precision_trial(cfg, 48, s, p).passed and not precision_trial(cfg, 48, s, p - 1).passed
    assert math.isfinite(r.log2_cond1)


def test_precision_beyond_float64_runs_in_mpmath():
    """theta = 3/4: the weights grow like 3^n, and the forward pass cancels terms that large, so
    n = 48 needs more than float64's 53 bits; mpmath finds how many."""
    cfg = FailureConfig(d=2, seeds=1, bias="fraction:0.75", data="equispaced", direction="ones")
    r = bits_needed(48, cfg, p_min=40, p_max=160)
    assert r.p_min[0] is not None and r.p_min[0] > 53
    t = mp_trial(cfg, 48, 0, r.p_min[0])
    assert t.passed and t.engine == "mpmath"


# --- where the bits go: one stage at p bits ------------------------------------------------

@pytest.mark.parametrize("stage", ["projection", "build", "forward", "whole"])
def test_stage_trials_agree_across_engines(stage):
    """Where both engines apply (p <= 25) a stage passes or fails alike in the Numba kernels (exact:
    float64, compensated forward pass) and in mpmath (exact: P_EXACT bits): the stages are defined
    the same in both, so the search may switch engines at p = 25."""
    from harness.analysis.precision import mp_trial, stage_trial
    from dataclasses import replace

    cfg = FailureConfig(d=4, seeds=2)
    for p in (6, 9, 12, 15, 18):
        for s in range(2):
            a = stage_trial(cfg, 40, s, p, stage)
            c = replace(cfg, criteria=("collision",)) if stage == "projection" else cfg
            b = mp_trial(c, 40, s, p, stage=stage)
            assert (a.passed, a.failed_by) == (b.passed, b.failed_by), (stage, p, s, a, b)


def test_stage_bits_are_minimal_and_bounded_by_the_whole():
    """Each stage's p is minimal (passes at p, fails at p - 1); 'whole' is bits_needed's answer; and no
    stage needs more than the whole construction needs (the whole at p runs every stage at p: if it
    passes, the projection had no collision), nor does the projection need more than any stage."""
    from harness.analysis.precision import STAGES, stage_bits, stage_trial

    cfg = FailureConfig(d=4, seeds=3)
    r = stage_bits(64, cfg, p_max=40)
    assert r.stages == STAGES
    whole = r.p_min[STAGES.index("whole")]
    assert whole == bits_needed(64, cfg, p_max=40).p_min
    for stage, ps in zip(r.stages, r.p_min):
        for s, p in enumerate(ps):
            assert p is not None and 2 < p <= 40
            assert stage_trial(cfg, 64, s, p, stage).passed and not stage_trial(cfg, 64, s, p - 1, stage).passed
    proj = r.p_min[STAGES.index("projection")]
    assert all(pp <= w for pp, w in zip(proj, whole))
    # a stage that needs more than p_max is reported as None, its median as inf
    r = stage_bits(40, FailureConfig(d=2, seeds=1, bias="fraction:0.75"), stages=("build",), p_max=12)
    assert r.p_min == ((None,),) and r.median == (math.inf,)
    with pytest.raises(harness.HarnessError, match="stage 'solve'"):
        stage_bits(16, cfg, stages=("solve",))


def test_failure_grid_records_are_the_cli_searches():
    """The report's headline records (failure_grid) are exactly what 'harness failure-point --fmt F
    --bias B' finds for the same config: the same n_fail, bracket, interval, cause and curve."""
    from harness.analysis.failure import failure_grid, failure_record

    cfg = FailureConfig(d=4, seeds=3, n_max=2048)
    recs = failure_grid(["float32", "bfloat16"], ["left", "midpoint"], cfg, n_max={"bfloat16": 64})
    assert [(r["target"], r["bias"]) for r in recs] == [("float32", "left"), ("float32", "midpoint"),
                                                          ("bfloat16", "left"), ("bfloat16", "midpoint")]
    for r in recs:
        fp = failure_point(r["target"], cfg, bias=r["bias"], n_max=64 if r["target"] == "bfloat16" else 2048)
        want = failure_record(fp, target=r["target"])
        for k in ("n_fail", "n_pass", "interval", "censored", "cause", "curve", "n_max", "seeds"):
            assert r[k] == want[k], (r["target"], r["bias"], k)
