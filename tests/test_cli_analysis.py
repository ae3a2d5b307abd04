"""The analysis commands: analyze, failure-point, precision (output, JSON, errors)."""

import json
import re
import subprocess
import sys

import pytest


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True)


def test_analyze_acceptance_shows_exact_and_estimated_condition_with_the_law():
    r = _cli("analyze", "--n", "64", "--bias", "fraction:0.75", "--data", "equispaced")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for words in ("exact (rationals)", "estimate (Hager-Higham", "LAPACK xTRCON", "closed form",
                  "predicted (equispaced law)", "theta/(1 - theta) = 3", "measured / predicted",
                  "forward only", "solve only", "labels reproduced"):
        assert words in out, words
    exact_line = next(line for line in out.splitlines() if line.strip().startswith("exact (rationals)"))
    est_line = next(line for line in out.splitlines() if line.strip().startswith("estimate (Hager"))
    first = lambda line: re.search(r"2\^[-\d.]+", line).group()  # noqa: E731  the cond_1 column
    from harness.linalg.conditioning import cond_exact
    from harness.analysis.metrics import analyze_config

    net, _ = analyze_config(64, 8, "equispaced", bias="fraction:0.75", check=False)  # the command's defaults
    want = f"2^{cond_exact(net.z.astype(float).tolist(), net.b.astype(float).tolist()).log2_cond1:.2f}"
    assert first(exact_line) == first(est_line) == want
    assert "... [" in r.stderr  # progress on stderr


def test_analyze_json_is_standard_json_with_scan():
    r = _cli("analyze", "--n", "256", "--d", "4", "--fmt", "float32", "--json", "--scan", "2")
    assert r.returncode == 0, r.stderr
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    js = json.loads(r.stdout)
    assert js["conditioning"]["log2_cond1_exact"] is not None and js["solve"]["reference"] == "exact"
    assert [p["n"] for p in js["scan"]["points"]] == [64, 128, 256]
    assert js["schema_version"] == 1 and r.stderr == ""


def test_failure_point_command_prints_each_format_with_cause_and_interval():
    r = _cli("failure-point", "--fmt", "bfloat16,float16", "--d", "4", "--seeds", "3")
    assert r.returncode == 0, r.stderr
    for words in ("bfloat16", "float16", "95% interval", "misfit", "failure-rate curves", "ordered by failure n"):
        assert words in r.stdout, words
    js = json.loads(_cli("failure-point", "--fmt", "float16", "--d", "4", "--seeds", "2", "--json").stdout)
    fp = js["formats"][0]
    # the command reports exactly what the library search finds with the same settings
    import harness

    api = harness.failure_point("float16", harness.FailureConfig(d=4, seeds=2))
    assert fp["fmt"] == "float16" and fp["n_fail"] == api.n_fail and fp["cause"] == api.cause == "misfit"
    assert tuple(fp["interval"]) == tuple(api.interval)


def test_precision_command():
    r = _cli("precision", "--n", "16,32", "--d", "3", "--seeds", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "p per seed" in r.stdout and "log2 cond_1" in r.stdout and r.stderr == ""


@pytest.mark.parametrize("args, words", [
    (["failure-point", "--fmt", "float128"], "unknown format 'float128'"),
    (["failure-point", "--criteria", "boom"], "unknown failure criterion 'boom'"),
    (["failure-point", "--seeds", "0"], "seeds must be at least 1"),
    (["precision", "--n", "10,x"], "'x' is not a whole number"),
    (["analyze", "--n", "10", "--cond", "magic"], "unknown condition method"),
    (["analyze", "--n", "10", "--evaluators", "fast"], "unknown evaluator 'fast'"),
    (["analyze", "--input", "/nonexistent.csv"], "no such file"),
    (["analyze", "--n", "300", "--fmt", "bfloat16"], "collide in bfloat16"),
])
def test_analysis_commands_refuse_bad_input_without_traceback(args, words):
    r = _cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and words in r.stderr, r.stderr
