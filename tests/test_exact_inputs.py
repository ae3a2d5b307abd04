"""The construction carried out exactly from the inputs (docs/MATH.md §5), recomputed here with
plain fractions.Fraction and nothing from the harness's exact code."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

import harness
from harness.analysis.exact_inputs import exact_inputs
from harness.build.problems import make_problem


def _plain_solve(t, b, y):
    """w of M w = y by the textbook recurrence, in Fractions."""
    S = T = Fraction(0)
    out = []
    for ti, bi, yi in zip(t, b, y):
        w = (yi - ti * S + T) / (ti - bi)
        out.append(w)
        S += w
        T += w * bi
    return out


def _recompute(net, X, y, theta):
    a = [Fraction(float(v)) for v in net.a]
    rows = [int(r) for r in net.order]
    t = {r: sum((ai * Fraction(float(x)) for ai, x in zip(a, X[r])), Fraction(0)) for r in rows}
    ex = sorted(rows, key=lambda r: (t[r], r))
    ts = [t[r] for r in ex]
    first = Fraction(float(net.z[0])) - Fraction(float(net.b[0]))
    bs = [ts[0] - first] + [ts[i - 1] + theta * (ts[i] - ts[i - 1]) for i in range(1, len(ts))]
    w_star = _plain_solve(ts, bs, [Fraction(float(y[r])) for r in ex])
    pos = {r: i for i, r in enumerate(ex)}
    by_neuron = [w_star[pos[r]] for r in rows]
    top = max(abs(v) for v in by_neuron)
    z = [Fraction(float(v)) for v in net.z]
    b = [Fraction(float(v)) for v in net.b]
    w_sys = _plain_solve(z, b, [Fraction(float(y[r])) for r in rows])
    return dict(
        swaps=sum(1 for r0, r1 in zip(ex, rows) if r0 != r1),
        projection=max(abs(z[i] - t[r]) for i, r in enumerate(rows)) / max(abs(v) for v in ts),
        knots=max(abs(b[i] - bs[pos[r]]) for i, r in enumerate(rows)) / ((ts[-1] - ts[0]) / (len(ts) - 1)),
        system=max(abs(ws - wv) for ws, wv in zip(w_sys, by_neuron)) / top,
        weights=max(abs(Fraction(float(wh)) - wv) for wh, wv in zip(net.w, by_neuron)) / top,
    )


@pytest.mark.parametrize("fmt,bias,theta", [("float32", "midpoint", Fraction(1, 2)), ("bfloat16", "left", Fraction(0)),
                                            ("float16", "fraction:0.3", Fraction(3, 10)), ("float64", "midpoint", Fraction(1, 2))])
def test_figures_recomputed_with_plain_fractions(fmt, bias, theta):
    X, y = make_problem(40, 3, seed=2)
    net = harness.construct(X, y, fmt=fmt, bias=bias, seed=2)
    got = exact_inputs(net, X, y)
    want = _recompute(net, X, y, theta)
    assert got.kind == "exact" and got.order_swaps == want["swaps"]
    # projections and knots: exact rationals rounded once
    assert got.projection_rel == float(want["projection"]) and got.knots_rel == float(want["knots"])
    # the weights' figures use the certified ball solution: off by at most 2 cert (1 + figure), plus the
    # figure's own final rounding (half an ulp)
    for key, field in (("system", "system_rel"), ("weights", "weights_rel")):
        e, h = want[key], Fraction(getattr(got, field))
        assert abs(h - e) <= 2 * Fraction(got.certified) * (1 + e) + e * Fraction(1, 2 ** 52), (fmt, key)
    if fmt != "float64":
        assert got.system_rel > 0  # rounding the inputs costs something in a narrow format


def test_analyze_json_has_the_exact_input_figures(capsys):
    from harness.cli import main

    assert main(["analyze", "--n", "60", "--d", "4", "--fmt", "float32", "--json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    xi = d["inputs"]
    assert xi["kind"] == "exact" and set(xi) >= {"order_swaps", "projection_rel", "knots_rel", "system_rel",
                                                 "weights_rel", "certified"}
    assert xi["system_rel"] > 0 and math.isfinite(xi["weights_rel"])


def test_rows_and_special_cases():
    X, y = make_problem(30, 3, seed=1)
    net = harness.construct(X, y, fmt="float32")
    row = harness.analyze(net, X, y).to_row()
    assert row["inputs_kind"] == "exact" and math.isfinite(row["inputs_weights_rel"])
    z = np.sort(np.asarray(net.z))
    explicit = harness.construct(X, y, fmt="float32", bias=np.concatenate([[z[0] - 1], (z[:-1] + z[1:]) / 2]).astype(np.float32).astype(float))
    assert exact_inputs(explicit, X, y).kind == "explicit"
    assert exact_inputs(net, X, y, max_work=10).kind == "skipped"
