"""Figures a report and a regression gate read off a run's rows, and how two runs differ.

:func:`failure_table`: for every growth series (rows equal in everything but n and the
seed), each seed's failure n is the smallest n whose row records a failure
(``collision``, ``overflow`` or ``misfit``); the table gives their median and range over
the seeds and the most common cause there (``censored`` when a seed never failed).

:func:`digest` reduces a run to its tracked figures (a small JSON: the committed baseline
of the nightly gate) and :func:`compare_digests` classifies each figure of a run against a
baseline as ``regression``, ``improvement`` or ``same`` by :data:`TOLERANCES`:

* failure n per series: regression when the median moved below the baseline's range
  (its smallest seed failure n); improvement when it moved above the largest;
* error quantiles per format: the median and 90th percentile of ``solve_bits_lost_norm``,
  regression when one grew by more than ``bits_lost`` bits;
* exact-reference figures: the normwise error against the exact solution (and the failure)
  of every row solved without BLAS, which is bit-reproducible: any change is a regression;
* benchmark ratios (time over a same-run reference): regression when one grew by more than
  ``bench_factor``.

:func:`compare_runs` compares two runs' rows the same way, plus construction throughput per
solver (a ratio between runs, meaningful on one machine only, so not in the digest).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..sweep.axes import SERIES_AXES

__all__ = ["SERIES_KEYS", "TOLERANCES", "failure_table", "error_quantiles", "throughput", "Change",
           "compare_runs", "digest", "compare_digests", "bench_ratios", "bench_samples", "bench_change", "upgrade_digest", "DIGEST_VERSION"]

#: Version of the digest layout (the committed baseline's format; bump on change).
#: 2: the per-seed figures renamed first_fail_median / _lo / _hi and never_failed (were
#: fail_median / fail_lo / fail_hi / censored); n_fail (the rate rule) added.
DIGEST_VERSION = 2

#: Columns that, with n and the seed index, identify a row (the sweep axes but n).
SERIES_KEYS = SERIES_AXES
#: Tolerances of the comparison (data, not code): bits of extra error (a quantile moving by
#: more than one bit is more than seed noise on the nightly's grid); a throughput ratio
#: between runs on one machine; a benchmark ratio (time over its same-run reference) may
#: grow by this factor before it counts (these machines are shared and noisy), and the change must
#: also be significant: a one-sided Mann-Whitney test on the rounds' ratios at ``bench_alpha``, with
#: at least ``bench_min_samples`` rounds on each side (fewer: the factor alone, and the change says so).
TOLERANCES = {"bits_lost": 1.0, "throughput_ratio": 0.5, "bench_factor": 2.0, "bench_alpha": 0.01,
              "bench_min_samples": 5}
#: Solvers whose exact-reference figures are bit-reproducible (no BLAS inside).
DETERMINISTIC_SOLVERS = ("recurrence", "backsub", "exact")


def failure_table(df, min_sizes: int = 3):
    """One row per growth series with at least ``min_sizes`` values of n (a pandas DataFrame).

    Columns: the series keys, ``sizes`` (n values), ``seeds``, ``n_max`` (largest n run);

    * ``n_fail``: the *failure n* of the series on the sweep's grid, by the rule failure
      points use (:func:`harness.analysis.failure.rate_fails`): the smallest n run at which
      at least half the seeds fail (NaN if none);
    * ``first_fail_median`` / ``first_fail_lo`` / ``first_fail_hi``: each seed's first
      failing n (a different figure), its lower median (an n the grid ran) and range over the seeds that failed
      (NaN if none); ``never_failed``: seeds that never failed up to n_max; ``cause``:
      the most common criterion at those first failures;
    * ``incomplete``: rows that did not complete (status error, timeout or skipped), which
      count neither as passes nor as failures: every figure above is taken over the sizes
      below ``first_incomplete`` only (``n_known`` the largest of them), so a row that
      errors can never read as "no longer fails"; ``incomplete_status`` names the statuses.
    """
    import pandas as pd

    from ..analysis.failure import rate_fails

    out = []
    for key, full in df.groupby(list(SERIES_KEYS), sort=True, dropna=False):
        sizes = sorted(full["n"].unique())
        if len(sizes) < min_sizes:
            continue
        # a row that did not complete (error, timeout, skipped) is neither a pass nor a failure:
        # the series is judged only up to the last n at which every row completed
        bad = full[full["status"] != "ok"]
        first_bad = float(bad["n"].min()) if len(bad) else math.nan
        g = full[full["n"] < first_bad] if len(bad) else full
        known = sorted(g["n"].unique())
        fails, causes, never = [], [], 0
        for _, s in g.groupby("seed_index"):
            failed = s[s["failure"] != ""].sort_values("n")
            if failed.empty:
                never += 1
                continue
            first = failed.iloc[0]
            fails.append(int(first["n"]))
            causes.append(first["failure"])
        cause = _most_common(causes)
        n_fail = next((float(n) for n, s in g.groupby("n", sort=True)
                       if rate_fails(int((s["failure"] != "").sum()), len(s))), math.nan)
        out.append({**dict(zip(SERIES_KEYS, key)), "sizes": len(sizes), "seeds": full["seed_index"].nunique(),
                    "n_min": int(min(sizes)), "n_max": int(max(sizes)), "n_fail": n_fail,
                    "incomplete": int(len(bad)), "n_known": float(max(known)) if known else math.nan,
                    "first_incomplete": first_bad,
                    "incomplete_status": "/".join(sorted(set(bad["status"]))) if len(bad) else "",
                    # the lower median: an order statistic, so always an n the grid ran (never the
                    # average of two seeds' values)
                    "first_fail_median": float(sorted(fails)[(len(fails) - 1) // 2]) if fails else math.nan,
                    "first_fail_lo": float(min(fails)) if fails else math.nan,
                    "first_fail_hi": float(max(fails)) if fails else math.nan, "never_failed": never,
                    "cause": cause})
    return pd.DataFrame(out)


def _most_common(causes) -> str:
    """The most common criterion; a tie names every tied one, in criteria order ("collision/misfit"),
    so that the answer never depends on set or hash order."""
    from ..analysis.failure import ROW_CRITERIA

    if not causes:
        return ""
    top = max(causes.count(c) for c in causes)
    order = {c: i for i, c in enumerate(ROW_CRITERIA.criteria)}
    return "/".join(sorted({c for c in causes if causes.count(c) == top}, key=lambda c: (order.get(c, len(order)), c)))


def error_quantiles(df):
    """Median and 90th percentile of bits lost (normwise) per format, over rows that have it
    (each network once: a deployment row repeats its network's solve)."""
    import pandas as pd

    if "solve_bits_lost_norm" not in df:
        return pd.DataFrame(columns=["fmt", "rows", "bits_lost_median", "bits_lost_p90"])
    if "deploy" in df:
        df = df[df["deploy"] == "none"]
    rows = []
    for fmt, g in df[np.isfinite(df["solve_bits_lost_norm"].astype(float))].groupby("fmt"):
        v = g["solve_bits_lost_norm"].astype(float)
        rows.append({"fmt": fmt, "rows": len(v), "bits_lost_median": float(np.median(v)),
                     "bits_lost_p90": float(np.quantile(v, 0.9))})
    return pd.DataFrame(rows)


def throughput(df):
    """Median construction throughput (points per second) per solver and n."""
    import pandas as pd

    if "time_construct" not in df:
        return pd.DataFrame(columns=["solver", "n", "rows", "points_per_s"])
    g = df[(df["status"] == "ok") & (df["time_construct"] > 0)]
    rows = []
    for (solver, n), s in g.groupby(["solver", "n"]):
        rows.append({"solver": solver, "n": int(n), "rows": len(s),
                     "points_per_s": float(np.median(n / s["time_construct"].astype(float)))})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Change:
    """One tracked figure in a comparison."""

    kind: str         # "failure point", "error quantile", "exact reference", "throughput"
    what: str         # which series / format / solver
    baseline: str
    current: str
    verdict: str      # "regression", "improvement", "same", or "note" (labelled, not judged: another
                      # environment, a changed sweep file, benchmarks not run)
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _series_name(r) -> str:
    return " ".join(f"{k}={r[k]}" for k in SERIES_KEYS)


def compare_runs(current, baseline, tolerances=None) -> list:
    """Every tracked figure of ``current`` against ``baseline`` (DataFrames of rows): the digest
    comparison, plus construction throughput per solver (meaningful between runs on one
    machine only, so it is not in the digest)."""
    tol = {**TOLERANCES, **(tolerances or {})}
    out = compare_digests(digest(current), digest(baseline), tol)
    tc, tb = throughput(current), throughput(baseline)
    if not tc.empty and not tb.empty:
        for solver, g in tc.merge(tb, on=["solver", "n"], suffixes=("", "_base")).groupby("solver"):
            ratio = float(np.median(g["points_per_s"] / g["points_per_s_base"]))
            verdict = ("regression" if ratio < tol["throughput_ratio"]
                       else "improvement" if ratio > 1 / tol["throughput_ratio"] else "same")
            out.append(Change("throughput", f"solver={solver}", "1", f"{ratio:.2f}x", verdict,
                              f"median ratio over {len(g)} sizes (regression below {tol['throughput_ratio']:g}x)"))
    return out


def _bench_json(bench_json) -> dict:
    import json
    from pathlib import Path

    return json.loads(Path(bench_json).read_text()) if not isinstance(bench_json, dict) else bench_json


def bench_ratios(bench_json) -> dict:
    """{benchmark name: {ratio name: value}} from a pytest-benchmark JSON file (or its dict)."""
    out = {}
    for b in _bench_json(bench_json).get("benchmarks", []):
        r = {k: float(v) for k, v in (b.get("extra_info") or {}).items() if k.startswith("ratio_vs_")}
        if r:
            out[b["name"]] = r
    return out


#: Samples kept per benchmark ratio in a digest: auto-calibrated benchmarks run thousands of rounds;
#: evenly spaced ones (first and last included) keep the baseline small and the test's power ample.
BENCH_MAX_SAMPLES = 64


def _spread(v: list, m: int = BENCH_MAX_SAMPLES) -> list:
    """At most m evenly spaced elements of v, in order (all of v when it is no longer)."""
    if len(v) <= m:
        return list(v)
    return [v[round(i * (len(v) - 1) / (m - 1))] for i in range(m)]


def bench_samples(bench_json) -> dict:
    """{benchmark name: {ratio name: [each round's time over the reference]}} (the
    ``samples_vs_*`` lists benchmarks/conftest.py records, at most BENCH_MAX_SAMPLES of them, evenly
    spaced); ratios without samples left out."""
    out = {}
    for b in _bench_json(bench_json).get("benchmarks", []):
        info = b.get("extra_info") or {}
        s = {"ratio_vs_" + k[len("samples_vs_"):]: _spread([float(x) for x in v]) for k, v in info.items()
             if k.startswith("samples_vs_") and isinstance(v, list)}
        if s:
            out[b["name"]] = s
    return out


def bench_change(cur: float, base: float, cur_samples=None, base_samples=None, tolerances=None):
    """(verdict, reason) of a benchmark ratio against its baseline: a regression (improvement)
    only when it grew (shrank) by more than ``bench_factor`` and the rounds say the change is
    significant (one-sided Mann-Whitney U at ``bench_alpha``, as asv and pyperf judge it);
    beyond the factor but not significant: ``same``, "not significant"."""
    tol = {**TOLERANCES, **(tolerances or {})}
    f = cur / base if base > 0 else math.inf
    beyond = f > tol["bench_factor"] or f < 1 / tol["bench_factor"]
    what = f"{f:.2f}x the baseline's ratio (tolerance {tol['bench_factor']:g}x"
    if not beyond:
        return "same", what + ")"
    worse = f > 1
    k = int(tol["bench_min_samples"])
    if not cur_samples or not base_samples or len(cur_samples) < k or len(base_samples) < k:
        return ("regression" if worse else "improvement"), what + f"; fewer than {k} rounds each side: factor only)"
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(cur_samples, base_samples, alternative="greater" if worse else "less").pvalue)
    if p < tol["bench_alpha"]:
        return ("regression" if worse else "improvement"), what + f"; significant, Mann-Whitney p = {p:.2g})"
    return "same", what + f", but not significant: Mann-Whitney p = {p:.2g} >= {tol['bench_alpha']:g})"


#: What a digest records of the environment a run was made in (``provenance`` of run.json): the
#: versions and machine that can change a numerical figure by design. A comparison across them is
#: labelled as such.
ENVIRONMENT_KEYS = ("numpy", "numba", "llvmlite", "scipy", "python-flint", "gmpy2", "mpmath", "python", "blas", "cpu")


def environment(info: dict | None) -> dict:
    """The ENVIRONMENT_KEYS of a run's run.json (``read_run_info``); {} when unknown."""
    prov = (info or {}).get("provenance") or {}
    pk = prov.get("packages") or {}
    return {k: str(pk.get(k) if k in pk else prov.get(k)) for k in ENVIRONMENT_KEYS if k in pk or k in prov}


def digest(df, bench=None, info=None) -> dict:
    """The tracked figures of a run, small and human-readable (JSON): the committed baseline.

    ``failure_points``: the failure table; ``error_quantiles``; ``exact``: per row computed
    against the exact reference with a bit-reproducible solver, its normwise error (as the
    float's repr) and failure; ``bench``: benchmark ratios (:func:`bench_ratios`). With the run's
    ``info`` (its run.json): ``sweep`` (name and sha256 of the sweep file, so that a digest of
    another sweep is refused) and ``environment`` (:func:`environment`).
    """
    ft = failure_table(df)
    exact = {}
    if "solve_reference" in df:
        rows = df[(df["solve_reference"] == "exact") & (df["solver"].isin(DETERMINISTIC_SOLVERS))]
        for r in rows.itertuples():
            fail = r.failure if r.evaluator != "dense" else "(dense: BLAS-dependent)"
            exact[r.key] = [repr(float(r.solve_norm_rel)), fail]
    statuses = {str(k): int(v) for k, v in df["status"].value_counts().items()} if "status" in df else {}
    return {
        "digest_version": DIGEST_VERSION,
        "rows": int(len(df)),
        "statuses": dict(sorted(statuses.items())),
        "failure_points": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in r.items()} for r in ft.to_dict("records")],
        "error_quantiles": error_quantiles(df).to_dict("records"),
        "exact": dict(sorted(exact.items())),
        "bench": bench_ratios(bench) if bench is not None else {},
        "bench_samples": bench_samples(bench) if bench is not None else {},
        **({"sweep": {"name": info.get("name"), "sha256": (info.get("sweep") or {}).get("sha256")},
            "environment": environment(info)} if info else {}),
    }


#: Digest version 1's per-seed failure keys and their version-2 names.
_V1_KEYS = {"fail_median": "first_fail_median", "fail_lo": "first_fail_lo", "fail_hi": "first_fail_hi",
            "censored": "never_failed"}


def upgrade_digest(d: dict) -> dict:
    """A digest in the current layout: version 1 has its per-seed keys renamed (values untouched;
    ``n_fail`` unknown: None); axes added since it was made get their defaults. Other versions
    are returned as they are, for the caller to refuse."""
    from ..sweep.axes import DEFAULTS

    version = d.get("digest_version")
    if version not in (1, DIGEST_VERSION):
        return d
    fps = []
    for r in d.get("failure_points", []):
        r = {_V1_KEYS.get(k, k): v for k, v in r.items()} if version == 1 else dict(r)
        r.setdefault("n_fail", None)
        for axis, default in DEFAULTS.items():  # axes added since the digest was made: at their default
            r.setdefault(axis, default)
        fps.append(r)
    return {**d, "failure_points": fps, "digest_version": DIGEST_VERSION}


def _frame(records):
    """A digest's list of records as a DataFrame (failure n as floats: None -> NaN)."""
    import pandas as pd

    df = pd.DataFrame(records)
    return df.astype({c: float for c in ("n_fail", "first_fail_median", "first_fail_lo", "first_fail_hi")
                      if c in df})


def _named(keys, k: int = 4) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:k]) + (f" and {len(keys) - k} more" if len(keys) > k else "")


def compare_digests(current: dict, baseline: dict, tolerances=None) -> list:
    """Every tracked figure of ``current`` against ``baseline`` (digests): a list of Change.

    Every figure of the baseline is accounted for: one the run lacks (a failure series, an error
    quantile's format, an exact-reference row, a benchmark ratio) is a regression, named. A digest
    of another sweep is refused (HarnessError); a changed sweep file and a different environment
    (:data:`ENVIRONMENT_KEYS`) are ``note`` changes: labelled, never silent. Benchmarks not run
    at all (``--no-bench``) are one ``note``, not a regression per ratio.
    """
    from ..core.errors import HarnessError

    tol = {**TOLERANCES, **(tolerances or {})}
    current, baseline = upgrade_digest(current), upgrade_digest(baseline)
    out = []
    sc_, sb_ = current.get("sweep") or {}, baseline.get("sweep") or {}
    if sc_.get("name") and sb_.get("name") and sc_["name"] != sb_["name"]:
        raise HarnessError(f"the baseline is a digest of sweep {sb_['name']!r}, the run is of sweep {sc_['name']!r}: "
                           f"compare a run with a baseline of its own sweep (reports/baseline/{sc_['name']}.json)")
    if sc_.get("sha256") and sb_.get("sha256") and sc_["sha256"] != sb_["sha256"]:
        out.append(Change("sweep", f"sweep file of {sc_.get('name')}", sb_["sha256"][:12], sc_["sha256"][:12], "note",
                          "the sweep file changed since the baseline: every baseline figure is still looked for"))
    ev_c, ev_b = current.get("environment") or {}, baseline.get("environment") or {}
    for k in sorted(set(ev_c) & set(ev_b)):
        if ev_c[k] != ev_b[k]:
            out.append(Change("environment", k, ev_b[k], ev_c[k], "note",
                              "measured in another environment: a numerical figure may differ by design"))
    fc = _frame(current.get("failure_points", []))
    fb = _frame(baseline.get("failure_points", []))
    if len(fb):
        merged = (fc.merge(fb, on=list(SERIES_KEYS), suffixes=("", "_base"), how="right", indicator=True)
                  if len(fc) else fb.assign(_merge="right_only"))
        for _, r in merged.iterrows():
            if r["_merge"] == "right_only":
                base = r.get("first_fail_median_base", r.get("first_fail_median"))
                out.append(Change("failure point", _series_name(r), "none" if base is None or math.isnan(float(base))
                                  else f"{float(base):,.0f}", "missing", "regression",
                                  "the baseline's series is absent from the run: no row of it was computed"))
            else:
                out.append(_failure_change(r))
    qc = _frame(current.get("error_quantiles", []))
    qb = _frame(baseline.get("error_quantiles", []))
    for fmt in sorted(set(qb["fmt"]) - set(qc["fmt"] if len(qc) else [])) if len(qb) else []:
        out.append(Change("error quantile", f"fmt={fmt}", "measured", "missing", "regression",
                          "the baseline's format has no row with a reference check in the run"))
    if len(qc) and len(qb):
        for _, r in qc.merge(qb, on="fmt", suffixes=("", "_base")).iterrows():
            for q in ("bits_lost_median", "bits_lost_p90"):
                d = r[q] - r[f"{q}_base"]
                verdict = "regression" if d > tol["bits_lost"] else ("improvement" if d < -tol["bits_lost"] else "same")
                out.append(Change("error quantile", f"fmt={r['fmt']} {q}", f"{r[f'{q}_base']:.2f}", f"{r[q]:.2f}",
                                  verdict, f"{d:+.2f} bits (tolerance {tol['bits_lost']:g})"))
    sc, sb = current.get("statuses"), baseline.get("statuses")
    if sc is not None and sb is not None:
        for status in sorted((set(sc) | set(sb)) - {"ok"}):
            c, b = sc.get(status, 0), sb.get(status, 0)
            verdict = "regression" if c > b else ("improvement" if c < b else "same")
            out.append(Change("rows", f"status={status}", str(b), str(c), verdict,
                              "rows that did not complete count neither as passes nor as failures"))
    ec, eb = current.get("exact", {}), baseline.get("exact", {})
    gone = set(eb) - set(ec)
    if gone:
        out.append(Change("exact reference", f"{len(gone)} rows", "present", "missing", "regression",
                          f"baseline rows absent from the run: {_named(gone)}"))
    for key in sorted(set(ec) & set(eb)):
        if ec[key] != eb[key]:
            out.append(Change("exact reference", key, " / ".join(eb[key]), " / ".join(ec[key]), "regression",
                              "the normwise error against the exact solution (or the failure) changed"))
    same = len(set(ec) & set(eb)) - sum(1 for c in out if c.kind == "exact reference")
    if same:
        out.append(Change("exact reference", f"{same} rows", "", "", "same", "bit-identical to the baseline"))
    bc, bb = current.get("bench", {}), baseline.get("bench", {})
    if bb and not bc:
        out.append(Change("benchmark ratio", f"{sum(len(v) for v in bb.values())} ratios", "measured", "not run", "note",
                          "the run has no benchmarks (--no-bench): none compared"))
    elif bb:
        lost = [f"{n} {r}" for n in bb for r in bb[n] if r not in bc.get(n, {})]
        if lost:
            out.append(Change("benchmark ratio", f"{len(lost)} ratios", "measured", "missing", "regression",
                              f"baseline benchmarks absent from the run: {_named(lost)}"))
    sc, sb = current.get("bench_samples", {}), baseline.get("bench_samples", {})
    for name in sorted(set(bc) & set(bb)):
        for rname in sorted(set(bc[name]) & set(bb[name])):
            cur, base = bc[name][rname], bb[name][rname]
            verdict, reason = bench_change(cur, base, sc.get(name, {}).get(rname), sb.get(name, {}).get(rname), tol)
            out.append(Change("benchmark ratio", f"{name} {rname}", f"{base:.3g}", f"{cur:.3g}", verdict, reason))
    return out


def _failure_change(r) -> "Change":
    cur, lo, hi = r["first_fail_median"], r["first_fail_lo_base"], r["first_fail_hi_base"]
    base = r["first_fail_median_base"]
    fmt = lambda v: "none" if math.isnan(v) else f"{v:,.0f}"  # noqa: E731
    inc = int(r.get("incomplete", 0) or 0)
    known, known_base = float(r.get("n_known", math.nan)), float(r.get("n_known_base", math.nan))
    lost = inc and (math.isnan(known) or math.isnan(known_base) or known < known_base)
    if lost and (math.isnan(cur) or math.isnan(lo) or cur > lo):
        # rows did not complete where the baseline's did: the failure point is unknown, not better
        return Change("failure point", _series_name(r), fmt(base), "unknown", "regression",
                      f"{inc} row(s) {r.get('incomplete_status', '')} from n = {fmt(r['first_incomplete'])}: judged "
                      f"only up to n = {fmt(known)}, the baseline up to {fmt(known_base)}")
    if math.isnan(base) and math.isnan(cur):
        verdict, reason = "same", "no failure in either run"
    elif math.isnan(base):
        verdict, reason = "regression", f"now fails at n = {fmt(cur)}; the baseline never failed up to {r['n_max_base']:,}"
    elif math.isnan(cur):
        verdict, reason = "improvement", f"no longer fails up to n = {r['n_max']:,}"
    elif cur < lo:
        verdict, reason = "regression", f"fails at n = {fmt(cur)}, below the baseline's range [{fmt(lo)}, {fmt(hi)}]"
    elif cur > hi:
        verdict, reason = "improvement", f"fails at n = {fmt(cur)}, above the baseline's range [{fmt(lo)}, {fmt(hi)}]"
    else:
        verdict, reason = "same", f"within the baseline's range [{fmt(lo)}, {fmt(hi)}]"
    return Change("failure point", _series_name(r), fmt(base), fmt(cur), verdict, reason)
