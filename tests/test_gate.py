"""The regression gate: digests, baselines, and a degraded kernel that must be caught."""

import json
import subprocess
import sys

import numpy as np
import pytest

from harness.report.compare import DIGEST_VERSION, compare_digests, digest
from harness.report.nightly import load_baseline, summarize, update_baseline
from harness.sweep.runner import compute_row, run_sweep
from harness.build.solvers import SOLVERS
from harness.sweep.store import load_run, new_run, note_event, write_part
from harness.sweep.sweepspec import parse_sweep

SWEEP = """
name = "gate"
seed = 11
seeds = 2
metrics = ["fit", "conditioning", "solve"]
[axes]
n = [16, 64, 256, 1024]
d = [4]
bias = ["midpoint", "left"]
fmt = ["float64", "float32"]
"""


def _rows(spec):
    import pandas as pd

    return pd.DataFrame([compute_row(p.to_dict(), spec.metrics) for p in spec.points()])


def _float32_recurrence(z, b, Y, fmt, F, seed):
    """A degraded kernel: the recurrence carried out in float32 whatever the format."""
    from harness.core import kernels
    from harness.core.formats import get_format

    return kernels.solve_recurrence(z, b, Y, get_format("float32").kernel_spec(), seed)


@pytest.fixture(scope="module")
def spec():
    return parse_sweep(SWEEP, "gate.toml")


@pytest.fixture(scope="module")
def good(spec):
    return _rows(spec)


def test_a_run_matches_its_own_digest(good):
    changes = compare_digests(digest(good), digest(good))
    assert changes and all(c.verdict == "same" for c in changes)


def test_rows_that_did_not_complete_never_read_as_better(good):
    """Every float32 row from n = 64 on became an error (or a timeout): the float32 series can
    no longer be judged past n = 16, which must be a regression (never 'no longer fails' nor an
    improvement), named with the status, and the row counts per status are tracked too."""
    for status in ("error", "timeout"):
        bad = good.copy()
        mask = (bad["fmt"] == "float32") & (bad["n"] >= 64)
        bad.loc[mask, "status"] = status
        bad.loc[mask, "failure"] = ""
        changes = compare_digests(digest(bad), digest(good))
        fp = [c for c in changes if c.kind == "failure point" and "fmt=float32" in c.what]
        assert fp and all(c.verdict == "regression" and c.current == "unknown" and status in c.reason for c in fp)
        assert not any(c.verdict == "improvement" for c in changes)
        rows = [c for c in changes if c.kind == "rows" and c.what == f"status={status}"]
        assert rows and rows[0].verdict == "regression"
        # float64 rows are untouched: judged as before
        assert all(c.verdict == "same" for c in changes if c.kind == "failure point" and "fmt=float64" in c.what)


def test_degraded_kernel_injected_through_the_registry_fails_the_gate(spec, good):
    """The float64 recurrence replaced by a float32 one: bits lost in float64 grow by ~29, the
    exact-reference figures change and float64 starts failing; the summary names each."""
    with SOLVERS.substituted("recurrence", _float32_recurrence):
        bad = _rows(spec)
    changes = compare_digests(digest(bad), digest(good))
    reg = [c for c in changes if c.verdict == "regression"]
    kinds = {c.kind for c in reg}
    assert {"error quantile", "exact reference"} <= kinds, kinds
    assert any(c.kind == "error quantile" and "fmt=float64" in c.what for c in reg)
    text = summarize(changes)
    assert "REGRESSION  error quantile: fmt=float64 bits_lost_median" in text
    assert "REGRESSION  exact reference" in text and "regression(s)" in text
    # and the registry is restored afterwards
    assert SOLVERS.get("recurrence").func is not _float32_recurrence


def test_benchmark_ratio_regression_is_relative_to_the_baseline():
    base = {"digest_version": DIGEST_VERSION, "bench": {"t": {"ratio_vs_lapack": 0.004, "ratio_vs_argsort": 1.2}}}
    cur = {"digest_version": DIGEST_VERSION, "bench": {"t": {"ratio_vs_lapack": 0.011, "ratio_vs_argsort": 1.5}}}
    verdicts = {c.what: c.verdict for c in compare_digests(cur, base)}
    assert verdicts == {"t ratio_vs_lapack": "regression", "t ratio_vs_argsort": "same"}


def test_gate_and_baseline_commands(spec, good, tmp_path):
    """baseline update writes the digest; gate exits 0 on the same run, 1 on a degraded one."""
    run = run_sweep(spec, tmp_path / "runs", workers=2, progress=False)

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "harness", *a], capture_output=True, text=True)

    base = tmp_path / "baseline" / "gate.json"
    r = cli("baseline", "update", str(run), "--to", str(base))
    assert r.returncode == 0 and base.exists(), r.stderr
    d = json.loads(base.read_text())
    assert d["digest_version"] == DIGEST_VERSION and d["exact"] and d["failure_points"]
    r = cli("gate", str(run), "--baseline", str(base))
    assert r.returncode == 0 and "0 regression(s)" in r.stdout, r.stdout
    # a degraded run, computed with the injected kernel and stored as a run
    with SOLVERS.substituted("recurrence", _float32_recurrence):
        bad = _rows(spec)
    bad_run = new_run(tmp_path / "bad", spec, len(bad), "local", 1)
    for row in bad.to_dict("records"):
        write_part(bad_run, row["file_id"], row, spec.sha256)
    note_event(bad_run, "finished")
    r = cli("gate", str(bad_run), "--baseline", str(base))
    assert r.returncode == 1 and "REGRESSION" in r.stdout and "fmt=float64" in r.stdout, r.stdout
    for args, words in ((("gate", str(run), "--baseline", str(tmp_path / "none.json")), "no baseline"),
                        (("gate", str(run), "--baseline", str(tmp_path)), "is a folder")):
        r = cli(*args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_nightly_command_writes_reports_history_and_gates(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(SWEEP.replace('name = "gate"', 'name = "tiny"').replace("n = [16, 64, 256, 1024]", "n = [16, 48, 96]"))

    def nightly(*extra):
        return subprocess.run([sys.executable, "-m", "harness", "nightly", "--config", str(cfg), "--no-bench",
                               "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"),
                               "--quiet", "--no-locality", "--no-slow", "--no-headline", "--no-precision", *extra],
                              capture_output=True, text=True)

    r = nightly("--baseline", "none")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "reports" / "latest" / "index.html").exists()
    run = next((tmp_path / "results").iterdir())
    update_baseline(run, tmp_path / "b.json")
    assert load_baseline(tmp_path / "b.json")["rows"] == len(load_run(run))
    r = nightly("--baseline", str(tmp_path / "b.json"))
    assert r.returncode == 0 and "0 regression(s)" in r.stdout, r.stdout + r.stderr
    assert len((tmp_path / "reports" / "history-tiny.jsonl").read_text().splitlines()) == 2
    latest = tmp_path / "reports" / "latest"
    assert (latest / "history.html").exists() and (latest / "comparison.html").exists()
    assert len(list((tmp_path / "reports" / "tiny").iterdir())) == 2  # one dated folder per run


def test_a_version_1_digest_is_read_with_its_figures_untouched(good, tmp_path):
    """A baseline written before digest version 2 (per-seed keys fail_median / fail_lo / fail_hi /
    censored, no deploy axis) is upgraded on reading: the same figures under their new names,
    the new axes at their defaults, and the gate compares it as before."""
    d = digest(good)
    v1 = json.loads(json.dumps(d))
    v1["digest_version"] = 1
    back = {"first_fail_median": "fail_median", "first_fail_lo": "fail_lo", "first_fail_hi": "fail_hi",
            "never_failed": "censored"}
    v1["failure_points"] = [{back.get(k, k): v for k, v in r.items() if k not in ("n_fail", "deploy")}
                            for r in v1["failure_points"]]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1))
    up = load_baseline(path)
    assert up["digest_version"] == DIGEST_VERSION
    for a, b in zip(up["failure_points"], json.loads(json.dumps(d))["failure_points"]):
        assert {k: v for k, v in a.items() if k != "n_fail"} == {k: v for k, v in b.items() if k != "n_fail"}
        assert a["deploy"] == "none" and a["n_fail"] is None
    changes = compare_digests(d, up)
    assert changes and all(c.verdict == "same" for c in changes)
    path.write_text(json.dumps({**v1, "digest_version": 99}))
    with pytest.raises(Exception, match="digest version 99"):
        load_baseline(path)


# --- the gate accounts for every baseline figure ----------------------------------------------

def test_a_baseline_figure_absent_from_the_run_is_a_regression_named(good):
    """Half the run is gone (every float32 row, and the exact rows with them): each lost series, the
    lost format's error quantiles and the lost exact rows are regressions, named; nothing reads as
    '0 regressions' because it was not compared."""
    base = digest(good)
    cur = digest(good[good["fmt"] != "float32"])
    changes = compare_digests(cur, base)
    missing = [c for c in changes if c.current == "missing"]
    assert missing and all(c.verdict == "regression" for c in missing)
    lost_series = {c.what for c in missing if c.kind == "failure point"}
    assert len(lost_series) == 2 and all("fmt=float32" in w for w in lost_series)  # midpoint and left
    assert any(c.kind == "error quantile" and c.what == "fmt=float32" for c in missing)
    n_float32_exact = sum(1 for k in base["exact"] if k not in cur["exact"])
    if n_float32_exact:
        assert any(c.kind == "exact reference" and c.what == f"{n_float32_exact} rows" for c in missing)
    assert "regression(s)" in summarize(changes) and not summarize(changes).startswith("0 regression")
    # an empty run: every baseline figure is missing, never '0 of 0 tracked figures'
    empty = compare_digests(digest(good.iloc[0:0]), base)
    assert sum(c.verdict == "regression" for c in empty) >= len(base["failure_points"])


def test_a_digest_of_another_sweep_is_refused_and_a_changed_environment_is_labelled(good, tmp_path):
    import harness

    info = {"name": "gate", "sweep": {"sha256": "a" * 64},
            "provenance": {"packages": {"numpy": "2.4.6", "numba": "0.68.1"}, "cpu": "AMD EPYC", "blas": "openblas 0.3"}}
    base = digest(good, info=info)
    other = digest(good, info={**info, "name": "quick"})
    with pytest.raises(harness.HarnessError, match="sweep 'gate', the run is of sweep 'quick'"):
        compare_digests(other, base)
    moved = {**info, "sweep": {"sha256": "b" * 64},
             "provenance": {**info["provenance"], "packages": {"numpy": "2.5.0", "numba": "0.68.1"}}}
    changes = compare_digests(digest(good, info=moved), base)
    notes = [c for c in changes if c.verdict == "note"]
    assert {(c.kind, c.what) for c in notes} == {("sweep", "sweep file of gate"), ("environment", "numpy")}
    assert "compared across environments" in summarize(changes)
    assert not any(c.verdict == "regression" for c in changes)
    # benchmarks not run: one note, not a regression per ratio
    bench = {"benchmarks": [{"name": "test_x", "extra_info": {"ratio_vs_ref": 1.5}}]}
    with_b = digest(good, bench, info=info)
    c = compare_digests(digest(good, info=info), with_b)
    assert [x.verdict for x in c if x.kind == "benchmark ratio"] == ["note"]
    # ...but a ratio the run lost while running benchmarks is a regression
    other_b = {"benchmarks": [{"name": "test_y", "extra_info": {"ratio_vs_ref": 1.0}}]}
    c = compare_digests(digest(good, other_b, info=info), with_b)
    assert any(x.kind == "benchmark ratio" and x.verdict == "regression" and "test_x" in x.reason for x in c)


def test_the_gate_command_refuses_another_sweeps_baseline(spec, tmp_path):
    """CLI: `harness gate RUN --baseline DIGEST-OF-ANOTHER-SWEEP` exits 2 with a message naming both sweeps,
    no traceback; the committed baselines carry their sweep and environment."""
    run = run_sweep(spec, tmp_path / "results", workers=1, progress=False)
    other = tmp_path / "other.json"
    update_baseline(run, other)
    d = json.loads(other.read_text())
    assert d["sweep"]["name"] == "gate" and len(d["sweep"]["sha256"]) == 64 and "numpy" in d["environment"]
    assert d["environment"]["blas"] and d["environment"]["cpu"]  # the BLAS and its kernels' CPU are recorded
    d["sweep"]["name"] = "nightly"
    other.write_text(json.dumps(d))
    r = subprocess.run([sys.executable, "-m", "harness", "gate", str(run), "--baseline", str(other)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "sweep 'nightly'" in r.stderr and "'gate'" in r.stderr and "Traceback" not in r.stderr
    import harness
    from harness.report.pages import build_report

    run2 = run_sweep(parse_sweep('name = "tiny2"\n[axes]\nn = [8, 16]\n', "tiny2.toml"), tmp_path / "r2", workers=1,
                     progress=False)
    with pytest.raises(harness.HarnessError, match="compare runs of one sweep"):
        build_report(run, tmp_path / "rep", baseline=run2)
    for name in ("nightly", "quick"):
        from pathlib import Path

        committed = json.loads((Path(__file__).resolve().parents[1] / "reports" / "baseline" / f"{name}.json").read_text())
        assert committed["sweep"]["name"] == name and committed["environment"], name


def _noisy_rounds(rng, ratio, rounds=20):
    """One benchmark run's round ratios on a shared machine (a model, seeded): the run's own
    load against its same-run reference (lognormal, sigma 0.1), round jitter (sigma 0.08) and
    one round in ten slowed 1-4x by another tenant."""
    run = np.exp(rng.normal(0, 0.1))
    r = ratio * run * np.exp(rng.normal(0, 0.08, rounds))
    hit = rng.random(rounds) < 0.1
    r[hit] *= rng.uniform(1, 4, hit.sum())
    return r.tolist()


def _bench_digest(samples):
    return {"bench": {"bench_construct": {"ratio_vs_argsort": float(min(samples))}},
            "bench_samples": {"bench_construct": {"ratio_vs_argsort": samples}}}


def test_a_3x_slowdown_is_flagged_and_noise_is_not_20_times_in_a_row():
    from harness.report.compare import bench_change

    rng = np.random.default_rng(20261202)
    for _ in range(20):
        base = _noisy_rounds(rng, 1.1)
        same = _noisy_rounds(rng, 1.1)
        slow = _noisy_rounds(rng, 3.3)
        (ch,) = [c for c in compare_digests(_bench_digest(slow), _bench_digest(base)) if c.kind == "benchmark ratio"]
        assert ch.verdict == "regression" and "significant" in ch.reason, ch
        (ch,) = [c for c in compare_digests(_bench_digest(same), _bench_digest(base)) if c.kind == "benchmark ratio"]
        assert ch.verdict == "same", ch
    # beyond the factor but not significant (three rounds are a tenant's spike): "not significant"
    base = [1.0] * 10
    spiky = [1.0] * 7 + [9.0] * 3
    verdict, reason = bench_change(min(spiky) * 3, 1.0, spiky, base)
    assert verdict == "same" and "not significant" in reason
    # without rounds (an older baseline), the factor alone decides, and says so
    verdict, reason = bench_change(3.0, 1.0, None, None)
    assert verdict == "regression" and "factor only" in reason


def test_digest_keeps_at_most_bench_max_samples_evenly_spaced(tmp_path):
    """An auto-calibrated benchmark's thousands of rounds become BENCH_MAX_SAMPLES evenly spaced
    ones (first and last kept, in order); short lists are kept whole."""
    import json

    from harness.report.compare import BENCH_MAX_SAMPLES, bench_samples

    long = [float(i) for i in range(10_000)]
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"benchmarks": [
        {"name": "long", "extra_info": {"samples_vs_x": long}},
        {"name": "short", "extra_info": {"samples_vs_x": [3.0, 1.0]}}]}))
    s = bench_samples(p)
    got = s["long"]["ratio_vs_x"]
    assert len(got) == BENCH_MAX_SAMPLES and got[0] == 0.0 and got[-1] == 9999.0 and got == sorted(set(got))
    assert s["short"]["ratio_vs_x"] == [3.0, 1.0]
