"""Figures a report and a regression gate read off a run's rows, and how two runs differ.

:func:`failure_table`: for every growth series (rows equal in everything but n and the
seed), each seed's failure n is the smallest n whose row records a failure
(``collision``, ``overflow`` or ``misfit``); the table gives their median and range over
the seeds and the most common cause there (``censored`` when a seed never failed).

:func:`compare_runs` sets a run against a baseline and classifies every tracked figure
as ``regression``, ``improvement`` or ``same`` by the tolerances in :data:`TOLERANCES`:

* failure n per series: regression when the median moved below the baseline's range
  (its smallest seed failure n); improvement when it moved above the largest;
* error quantiles per format: the median and 90th percentile of ``solve_bits_lost_norm``
  over the run's rows, regression when one grew by more than ``bits_lost`` bits;
* exact-reference figures: any change of a row's ``solve_reference`` kind or status;
* throughput per solver: the median of n / time_construct, regression when the ratio to
  the baseline's falls below ``throughput_ratio`` (ratios, not seconds).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["SERIES_KEYS", "TOLERANCES", "failure_table", "error_quantiles", "throughput", "Change",
           "compare_runs"]

#: Columns that, with n and the seed index, identify a row.
SERIES_KEYS = ("d", "data", "labels", "direction", "bias", "fmt", "solver", "evaluator", "rounding")
#: Tolerances of the comparison (data, not code): bits of extra error; a throughput ratio.
TOLERANCES = {"bits_lost": 1.0, "throughput_ratio": 0.5}


def failure_table(df, min_sizes: int = 3):
    """One row per growth series with at least ``min_sizes`` values of n (a pandas DataFrame).

    Columns: the series keys, ``sizes`` (n values), ``seeds``, ``n_max`` (largest n run),
    ``fail_median`` / ``fail_lo`` / ``fail_hi`` (over seeds that failed; NaN if none),
    ``censored`` (seeds that never failed up to n_max), ``cause``.
    """
    import pandas as pd

    ok = df[df["status"] == "ok"]
    out = []
    for key, g in ok.groupby(list(SERIES_KEYS), sort=True, dropna=False):
        sizes = sorted(g["n"].unique())
        if len(sizes) < min_sizes:
            continue
        fails, causes, censored = [], [], 0
        for _, s in g.groupby("seed_index"):
            failed = s[s["failure"] != ""].sort_values("n")
            if failed.empty:
                censored += 1
                continue
            first = failed.iloc[0]
            fails.append(int(first["n"]))
            causes.append(first["failure"])
        cause = max(set(causes), key=causes.count) if causes else ""
        out.append({**dict(zip(SERIES_KEYS, key)), "sizes": len(sizes), "seeds": g["seed_index"].nunique(),
                    "n_max": int(max(sizes)), "fail_median": float(np.median(fails)) if fails else math.nan,
                    "fail_lo": float(min(fails)) if fails else math.nan,
                    "fail_hi": float(max(fails)) if fails else math.nan, "censored": censored, "cause": cause})
    return pd.DataFrame(out)


def error_quantiles(df):
    """Median and 90th percentile of bits lost (normwise) per format, over rows that have it."""
    import pandas as pd

    if "solve_bits_lost_norm" not in df:
        return pd.DataFrame(columns=["fmt", "rows", "bits_lost_median", "bits_lost_p90"])
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
    verdict: str      # "regression", "improvement", "same"
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _series_name(r) -> str:
    return " ".join(f"{k}={r[k]}" for k in SERIES_KEYS)


def compare_runs(current, baseline, tolerances=None) -> list:
    """Every tracked figure of ``current`` against ``baseline`` (DataFrames of rows)."""
    tol = {**TOLERANCES, **(tolerances or {})}
    out = []
    fc, fb = failure_table(current), failure_table(baseline)
    if not fc.empty and not fb.empty:
        merged = fc.merge(fb, on=list(SERIES_KEYS), suffixes=("", "_base"))
        for _, r in merged.iterrows():
            cur, lo, hi, base = r["fail_median"], r["fail_lo_base"], r["fail_hi_base"], r["fail_median_base"]
            fmt = lambda v: "none" if math.isnan(v) else f"{v:,.0f}"  # noqa: E731
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
            out.append(Change("failure point", _series_name(r), fmt(base), fmt(cur), verdict, reason))
    qc, qb = error_quantiles(current), error_quantiles(baseline)
    if not qc.empty and not qb.empty:
        for _, r in qc.merge(qb, on="fmt", suffixes=("", "_base")).iterrows():
            for q in ("bits_lost_median", "bits_lost_p90"):
                d = r[q] - r[f"{q}_base"]
                verdict = "regression" if d > tol["bits_lost"] else ("improvement" if d < -tol["bits_lost"] else "same")
                out.append(Change("error quantile", f"fmt={r['fmt']} {q}", f"{r[f'{q}_base']:.2f}", f"{r[q]:.2f}",
                                  verdict, f"{d:+.2f} bits (tolerance {tol['bits_lost']:g})"))
    keys = ["key"]
    if "solve_reference" in current and "solve_reference" in baseline:
        m = current[keys + ["solve_reference", "status"]].merge(baseline[keys + ["solve_reference", "status"]],
                                                                on=keys, suffixes=("", "_base"))
        changed = m[(m["solve_reference"].fillna("") != m["solve_reference_base"].fillna(""))
                    | (m["status"] != m["status_base"])]
        for _, r in changed.iterrows():
            out.append(Change("exact reference", r["key"], f"{r['solve_reference_base']} / {r['status_base']}",
                              f"{r['solve_reference']} / {r['status']}", "regression", "the reference or status changed"))
    tc, tb = throughput(current), throughput(baseline)
    if not tc.empty and not tb.empty:
        for solver, g in tc.merge(tb, on=["solver", "n"], suffixes=("", "_base")).groupby("solver"):
            ratio = float(np.median(g["points_per_s"] / g["points_per_s_base"]))
            verdict = ("regression" if ratio < tol["throughput_ratio"]
                       else "improvement" if ratio > 1 / tol["throughput_ratio"] else "same")
            out.append(Change("throughput", f"solver={solver}", "1", f"{ratio:.2f}x", verdict,
                              f"median ratio over {len(g)} sizes (regression below {tol['throughput_ratio']:g}x)"))
    return out
