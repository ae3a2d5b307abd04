"""Static HTML reports of sweep runs: index.html and pages, PNG charts, the CSV behind each.

``build_report(runs, out, baseline=None)`` writes a self-contained folder that opens from
file:// with no server and no network (no scripts, no web fonts): Jinja2 templates with
autoescaping (every string from a run is escaped text), matplotlib with the Agg backend.

Pages: Summary (first the headline: failure n per format and bias strategy from the
failure-point search, with the paragraph and table generated from it; the user pipelines; then
the sweep grid's failure table and sentences), Conditioning (cond_1 per law, law-chosen growth
fits, max|w|), Errors, Failure points (failure rate per bias strategy, the heat map in n, the
measured precision curve and where the bits go), Performance, Seed example, Provenance, and
Comparison when a baseline run is given (:mod:`harness.report.compare`; regressions red,
improvements green), Emulation vs framework, Locality and History when their data are given.

The *main slice* is the set of growth series (rows equal in all but n and the seed) that
shares the most common value of every axis but bias and format: its charts compare bias
strategies and formats with everything else fixed.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .compare import SERIES_KEYS, compare_digests, compare_runs, digest, error_quantiles, failure_table, throughput
from ..core.errors import HarnessError

__all__ = ["build_report", "load_rows", "main_slice", "PAGES"]

PAGES = ("index.html", "conditioning.html", "errors.html", "failures.html", "performance.html", "seed.html",
         "provenance.html", "comparison.html", "history.html")
_LOG2_3 = math.log2(3)
#: The bits-lost scatter's x range: log2 cond_1 beyond twice float64's 53 bits is off the chart.
_BITS_LOST_X_MAX = 106


def load_rows(runs):
    """The rows of one or more runs (folders or results.parquet files) and their run.json dicts."""
    import pandas as pd

    from ..sweep.store import load_run, read_run_info

    frames, infos = [], []
    for r in runs:
        p = Path(r)
        if not p.exists():
            raise HarnessError(f"no such run: {p}")
        folder = p if p.is_dir() else p.parent  # a run folder, or the folder of its results.parquet
        df = load_run(p)
        df["run"] = folder.name
        frames.append(df)
        infos.append(read_run_info(folder) if (folder / "run.json").exists() else {"name": p.stem})
    return pd.concat(frames, ignore_index=True), infos


def main_slice(df):
    """Rows of the main slice (see the module docstring) and the fixed values that define it."""
    fixed = {}
    table = failure_table(df)
    if table.empty:
        return df.iloc[0:0], fixed
    for k in SERIES_KEYS:
        if k in ("bias", "fmt"):
            continue
        fixed[k] = Counter(table[k]).most_common(1)[0][0]
    mask = np.ones(len(df), dtype=bool)
    for k, v in fixed.items():
        mask &= (df[k] == v).to_numpy()
    return df[mask], fixed


def _median_by(df, col, by=("n",)):
    g = df[np.isfinite(df[col].astype(float))].groupby(list(by))[col].median()
    return g


def _g(v, digits=4):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _block(kind, **kw):
    return {"kind": kind, **kw}


def _names_of(part) -> str:
    return ", ".join(sorted(part["bias"]))


def _causes(part) -> str:
    return "/".join(sorted({c for cs in part["cause"] for c in str(cs).split("/") if c}))


def _summary(df, main, fixed, table, changes):
    blocks = []
    statuses = Counter(df["status"])
    fails = Counter(df.loc[df["failure"] != "", "failure"])
    blocks.append(_block("text", text=f"{len(df):,} points: " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items()))
                         + ("; failures " + ", ".join(f"{k} {v:,}" for k, v in sorted(fails.items())) if fails else "")
                         + "."))
    in_main = np.ones(len(table), dtype=bool)
    for k, v in fixed.items():
        if k in table:
            in_main &= (table[k] == v).to_numpy()
    headline, others = table[in_main], table[~in_main]
    sentences = []
    if not headline.empty:
        for fmt, g in headline.groupby("fmt"):
            unknown = g[g["n_fail"].isna() & (g["incomplete"] > 0)]
            if len(unknown):
                sentences.append(f"In {fmt}, bias {', '.join(sorted(set(unknown['bias'])))}: rows did not complete "
                                 f"({', '.join(sorted(set(unknown['incomplete_status'])))}) from n = "
                                 f"{unknown['first_incomplete'].min():,.0f}; no failure up to n = "
                                 f"{unknown['n_known'].min():,.0f}, unknown beyond.")
            g = g[~(g["n_fail"].isna() & (g["incomplete"] > 0))]
            held = sorted(set(g.loc[g["n_fail"].isna(), "bias"]))
            if held:
                sentences.append(f"In {fmt}, bias {', '.join(held)} never failed (up to n = "
                                 f"{int(g['n_max'].max()):,}).")
            failed = g.dropna(subset=["n_fail"]).sort_values("n_fail")
            if len(failed) == 1 and not held:
                only = failed.iloc[0]
                sentences.append(f"In {fmt}, bias {only['bias']} fails at n = {only['n_fail']:,.0f} ({only['cause']}).")
            elif len(failed) and not held:
                lo, hi = failed["n_fail"].min(), failed["n_fail"].max()
                if lo == hi:  # a tie names every strategy in it, never one picked silently
                    sentences.append(f"In {fmt}, every bias strategy fails at n = {lo:,.0f} "
                                     f"({_causes(failed)}).")
                else:
                    best, worst = failed[failed["n_fail"] == hi], failed[failed["n_fail"] == lo]
                    sentences.append(f"In {fmt}, the strategy that holds longest is bias {_names_of(best)}: failure "
                                     f"at n = {hi:,.0f} ({_causes(best)}); the first to fail is bias "
                                     f"{_names_of(worst)} at n = {lo:,.0f} ({_causes(worst)}).")
            elif len(failed):
                lo = failed["n_fail"].min()
                worst = failed[failed["n_fail"] == lo]
                sentences.append(f"In {fmt}, the first to fail is bias {_names_of(worst)} at n = "
                                 f"{lo:,.0f} ({_causes(worst)}).")
        # a series that never failed counts as failing beyond its largest n
        med = headline.assign(f=headline["n_fail"].fillna(np.inf)).groupby("fmt")["f"].median().sort_values()
        if len(med) > 1:
            sentences.append("Formats ordered by median failure n over the bias strategies: " + " < ".join(
                f"{f} ({'none up to ' + format(int(headline[headline.fmt == f]['n_max'].max()), ',') if np.isinf(v) else format(v, ',.0f')})"
                for f, v in med.items()) + ".")
    if changes is not None:
        reg = [c for c in changes if c.verdict == "regression"]
        imp = [c for c in changes if c.verdict == "improvement"]
        sentences.append(f"Against the baseline: {len(reg)} regression(s), {len(imp)} improvement(s) among "
                         f"{len(changes)} tracked figures (see Comparison).")
    if sentences:
        blocks.append(_block("list", items=sentences))
    for title, part in (("Failure n per format, bias strategy and direction (main slice)", headline),
                        ("Other series (side grids)", others)):
        if part.empty:
            continue
        varying = [k for k in SERIES_KEYS if k not in ("fmt", "bias", "direction") and part[k].nunique() > 1]
        header = ["format", "bias", "direction", *varying, "failure n", "first failing n per seed: median (lower)",
                  "range over seeds", "seeds never failing", "cause", "largest n run"]
        rows = []
        for _, r in part.sort_values(["fmt", "bias", "direction", *varying]).iterrows():
            iv = "-" if math.isnan(r["first_fail_lo"]) else f"[{r['first_fail_lo']:,.0f}, {r['first_fail_hi']:,.0f}]"
            rows.append([r["fmt"], r["bias"], r["direction"], *[str(r[k]) for k in varying],
                         "-" if math.isnan(r["n_fail"]) else
                         (f"<= {r['n_fail']:,.0f}" if r["n_fail"] <= r["n_min"] else f"{r['n_fail']:,.0f}"),
                         "-" if math.isnan(r["first_fail_median"]) else f"{r['first_fail_median']:,.0f}", iv,
                         f"{r['never_failed']} of {r['seeds']}", r["cause"] or "-",
                         f"{r['n_max']:,}" + (f" ({r['incomplete']} incomplete from {r['first_incomplete']:,.0f})"
                                               if r["incomplete"] else "")])
        blocks.append(_block("heading", text=title))
        blocks.append(_block("table", header=header, rows=rows))
    if not table.empty:
        blocks.append(_block("note", text="Failure n: the smallest n of the grid at which at least half of the "
                                          "seeds fail (collision, overflow or misfit: fewer than all evaluated "
                                          "labels reproduced), the rule failure-point searches use; '<= n' where "
                                          "that is the smallest n the grid ran (it may fail earlier). A seed's "
                                          "first failing n is the smallest n whose row records a failure; its "
                                          "lower median (always an n the grid ran) and range are over the seeds "
                                          "that failed."))
    return blocks


def _series(df, col, by, transform=None):
    out = {}
    for name, g in df.groupby(by):
        m = _median_by(g, col)
        if len(m):
            y = m.to_numpy(dtype=float)
            out[str(name)] = (m.index.to_numpy(dtype=float), transform(y) if transform else y)
    return out


def _ends(rows, col, series) -> dict:
    """Where each series of ``series`` ({bias: (x, y)}) stops before the grid's largest n, and why: the
    most common failure of the rows at the next n (collision, overflow), or 'inf' where the median
    overflowed. Keyed by bias: {bias: (n, why)}."""
    out = {}
    for bias, (x, y) in series.items():
        g = rows[rows["bias"] == bias]
        fin = np.isfinite(y) & (y > 0)
        last = float(x[fin].max()) if fin.any() else -math.inf
        later = sorted(v for v in g["n"].unique() if v > last)
        if not later:
            continue
        at = g[g["n"] == later[0]]
        vals = at[col].to_numpy(float) if col in at else np.array([])
        fails = [f for f in at["failure"] if f]
        if len(vals) and np.isinf(vals).any():
            why = "weights overflowed: inf"
        elif fails:
            why = Counter(fails).most_common(1)[0][0]
        else:
            why = "/".join(sorted(set(at["status"]))) or "no rows"
        out[bias] = (float(later[0]), why)
    return out


def _conditioning(out, main, df):
    from .charts import line_chart, scatter_chart
    from ..analysis.exponents import fit_law
    from ..analysis.laws import law_for_bias

    blocks = []
    fmt = "float64" if (main["fmt"] == "float64").any() else (main["fmt"].mode().iat[0] if len(main) else "")
    allrows = main[main["fmt"] == fmt]
    sl = allrows[allrows["status"] == "ok"]
    col = "cond_log2_cond1_structured"
    if col in sl and sl[col].notna().any():
        series = _series(sl, col, "bias")
        laws = {b: law_for_bias(b) for b in series}
        theory = {}
        for bias, (x, y) in series.items():
            law = laws[bias]
            big = x >= 16
            if law.kind != "random-walk" and big.any():
                x0, y0 = x[big][0], y[big][0]
                theory[bias] = (x[big], y0 + np.array([law.log2_shape(int(v)) - law.log2_shape(int(x0)) for v in x[big]]))
        for kinds, slug, title, logx in ((("power",), "cond1_vs_n", "cond_1(M) vs n: power-law strategies "
                                          "(theta <= 1/2)", True),
                                         (("geometric",), "cond1_vs_n_geometric",
                                          "cond_1(M) vs n: geometric strategies (theta > 1/2)", False),
                                         (("random-walk",), "cond1_vs_n_random",
                                          "cond_1(M) vs n: random theta (a random walk)", True)):
            part = {b: v for b, v in series.items() if laws[b].kind in kinds}
            c = line_chart(out, slug, f"{title} ({fmt})", part, "n (points" + (", log scale)" if logx else ")"),
                           "log2 cond_1(M)  (bits)", theory={b: v for b, v in theory.items() if b in part},
                           logx=logx,
                           caption="Median over seeds of the closed-form cond_1 (exact to gamma_K), in bits. " + (
                                   "No law to draw: log r_i has mean 0 and sd 1.81, a random walk whose excursions "
                                   "set cond_1." if kinds == ("random-walk",) else
                                   "Dashed: the equispaced law's shape (" + ("n^k: a straight line on a log n axis"
                                   if logx else "n^2 r^n: a straight line of slope log2 r in n") + ") anchored at "
                                   "n = 16."))
            if c:
                blocks.append(_block("chart", chart=c))
        rows = []
        for bias, (x, y) in series.items():
            law = laws[bias]
            f = fit_law(law, x, y)
            if law.kind == "random-walk":
                rows.append([bias, law.text, "none (no growth law)", "-", "-", "-", "-"])
            elif f is None:
                rows.append([bias, law.text, "-", "fewer than 3 sizes n >= 16", "-", "-", "-"])
            elif law.kind == "geometric":
                rows.append([bias, law.text, f"rate r = {f.rate:.4g} per point", f"[{2 ** f.lo:.4g}, {2 ** f.hi:.4g}]",
                             f"{law.rate:.4g}", f"{f.r2:.4f}", "yes" if f.contains(math.log2(law.rate)) else "no"])
            else:
                rows.append([bias, law.text, f"exponent {f.slope:.3g}", f"[{f.lo:.3g}, {f.hi:.3g}]",
                             f"{law.exponent:g}", f"{f.r2:.4f}", "yes" if f.contains(law.exponent) else "no"])
        if rows:
            blocks.append(_block("table", header=["bias", "law (equispaced projections)", "fitted (n >= 16)",
                                                  "95% interval", "theory", "r^2", "theory inside"], rows=rows))
            blocks.append(_block("note", text="Each bias strategy gets the fit its law calls for (the law registry, "
                                              "harness.analysis.laws): theta <= 1/2 a power law (the exponent of n), "
                                              "theta > 1/2 geometric growth n^2 r^n (the rate r per point, fitted to "
                                              "log2 cond_1 - 2 log2 n), random theta a random walk (nothing to fit). "
                                              "Uniform data are not equispaced: a fitted value outside the interval "
                                              "measures that difference."))
    if "growth_max_abs_w" in sl:
        series = _series(sl, "growth_max_abs_w", "bias")
        ends = _ends(allrows, "growth_max_abs_w", series)
        c = line_chart(out, "maxw_vs_n", f"Growth of max|w| vs n per bias strategy ({fmt})", series, "n (points)",
                       "max|w|  (label units, log scale)", logy=True, ends=ends,
                       caption="Median over seeds of the largest output weight; 'x' on the top edge: the n at "
                               "which a series stops, and why (weights overflowed, or no weights: collision).")
        if c:
            blocks.append(_block("chart", chart=c))
    ex = df[df["cond_log2_cond1_exact"].notna()] if "cond_log2_cond1_exact" in df else df.iloc[0:0]
    groups = {}
    for name, col in (("estimate", "cond_log2_cond1_estimate"), ("closed form", "cond_log2_cond1_structured"),
                      ("lapack", "cond_log2_cond1_lapack")):
        if col in ex:
            g = ex[np.isfinite(ex[col].astype(float)) & np.isfinite(ex["cond_log2_cond1_exact"].astype(float))]
            groups[name] = (g["cond_log2_cond1_exact"].to_numpy(float), g[col].to_numpy(float))
    c = scatter_chart(out, "cond_exact_vs_estimated", "Exact vs estimated cond_1(M)", groups,
                      "log2 cond_1, exact rationals (bits)", "log2 cond_1, other method (bits)",
                      diagonal="exact", band=_LOG2_3,
                      caption="Every row with an exact condition number: the estimate must lie in the band "
                              "(at most 3x below exact).")
    if c:
        blocks.append(_block("chart", chart=c))
    return blocks


def _errors(out, main, df):
    from .charts import line_chart, scatter_chart

    blocks = []
    sl = main[main["status"] == "ok"]
    bias = "midpoint" if (sl["bias"] == "midpoint").any() else (sl["bias"].mode().iat[0] if len(sl) else "")
    sb = sl[sl["bias"] == bias]
    if "outcome_max_error" in sb:
        series = _series(sb, "outcome_max_error", "fmt", transform=lambda y: np.maximum(y, 1e-300))
        kind = sb["outcome_label_kind"].mode().iat[0] if "outcome_label_kind" in sb and len(sb) else ""
        hline = (0.5, "misfit threshold (0.5: nearest label)") if kind in ("binary", "integer") else None
        c = line_chart(out, "fit_error_vs_n", f"Fit error vs n per format (bias {bias})", series, "n (points)",
                       "max |f(x_i) - y_i|  (label units)", logy=True, hline=hline,
                       caption="Median over seeds of the largest output error at the evaluated training points.")
        if c:
            blocks.append(_block("chart", chart=c))
    evs = sorted(sb["evaluator"].unique()) if len(sb) else []  # the evaluator(s) these rows ran
    for fmt in [f for f in ("float32", "float64", "bfloat16") if (sb["fmt"] == f).any()][:2]:
        for ev in evs[:1]:
            g = sb[sb["fmt"] == fmt]
            series = {}
            for label, col in (("forward only", f"eval_{ev}_forward_only"), ("solve only", f"eval_{ev}_solve_only"),
                               ("user", f"eval_{ev}_user")):
                m = _median_by(g, col)
                if len(m):
                    series[label] = (m.index.to_numpy(float), np.maximum(m.to_numpy(float), 1e-300))
            c = line_chart(out, f"attribution_{fmt}_{ev}", f"Where the error comes from: {fmt}, {ev} (bias {bias})",
                           series, "n (points)", "max output error  (label units)", logy=True,
                           caption="forward only: exact weights run in the format; solve only: computed weights "
                                   "evaluated exactly; user: computed weights run in the format.")
            if c:
                blocks.append(_block("chart", chart=c))
    if {"solve_bits_lost_norm", "cond_log2_cond1_structured"} <= set(df.columns):
        groups, beyond, total = {}, 0, 0
        ok = df[df["status"] == "ok"]
        for fmt, g in ok.groupby("fmt"):
            x, y = g["cond_log2_cond1_structured"].to_numpy(float), g["solve_bits_lost_norm"].to_numpy(float)
            fin = np.isfinite(x) & np.isfinite(y)
            total += int(fin.sum())
            near = fin & (x <= _BITS_LOST_X_MAX)  # beyond it every format here has lost all its bits
            beyond += int((fin & ~near).sum())
            groups[fmt] = (x[near], y[near])
        c = scatter_chart(out, "bits_lost_vs_cond", "Bits lost in the solve vs log2 cond_1(M)", groups,
                          "log2 cond_1(M)  (bits)", "bits lost = log2(normwise error / u)",
                          diagonal="bits lost = log2 cond (rule of thumb)",
                          caption="Each row with a reference check; points far below the diagonal are solves "
                                  "much more accurate than the normwise condition number predicts. "
                                  f"{beyond} of {total} rows have log2 cond_1 > {_BITS_LOST_X_MAX} bits (theta > 1/2 "
                                  "at large n: past float64's 53 bits twice over) and are left out of the chart, so that "
                                  "the rest is not crammed into a corner (harness results show lists them)." if beyond else
                                  "Each row with a reference check; points far below the diagonal are solves much "
                                  "more accurate than the normwise condition number predicts.")
        if c:
            blocks.append(_block("chart", chart=c))
    q = error_quantiles(df)
    if not q.empty:
        blocks.append(_block("table", header=["format", "rows", "bits lost (median)", "bits lost (90th pct)"],
                             rows=[[r["fmt"], int(r["rows"]), round(r["bits_lost_median"], 2),
                                    round(r["bits_lost_p90"], 2)] for _, r in q.iterrows()]))
    return blocks


def _in_slice(table, fixed):
    """The rows of a failure table in the main slice (every fixed axis at its value)."""
    mask = np.ones(len(table), dtype=bool)
    for k, v in fixed.items():
        if k in table:
            mask &= (table[k] == v).to_numpy()
    return table[mask]


def _failures(out, main, table, precision=None, fixed=None):
    from .charts import heatmap_chart, small_multiples

    table = _in_slice(table, fixed or {}) if not table.empty else table
    blocks = []
    sl = main[main["status"] == "ok"]
    panels = {}
    for bias, gb in sl.groupby("bias"):
        for fmt, g in gb.groupby("fmt"):
            rate = g.groupby("n")["failure"].apply(lambda s: float(np.mean(s != "")))
            panels.setdefault(str(bias), {})[str(fmt)] = (rate.index.to_numpy(float), rate.to_numpy(float))
    seeds = int(sl["seed_index"].nunique()) if "seed_index" in sl and len(sl) else 0
    c = small_multiples(out, "failure_rate_vs_n", "Failure rate vs n per format, one panel per bias strategy",
                        panels, "n (points)", "share of seeds failing", hline=(0.5, "failure point (rate 1/2)"),
                        ylim=(-0.04, 1.04),
                        caption=f"Main slice: at each n, the share of its {seeds} seed(s) whose point records a "
                                "failure (collision, overflow or misfit), per bias strategy: nothing pooled.")
    if c:
        blocks.append(_block("chart", chart=c))
    if not table.empty:
        t = table.copy()
        nf = t["n_fail"].astype(float)
        t["log2 failure n"] = np.log2(nf)
        t["cell"] = [("-" if math.isnan(v) and not m else f"> {m:,}") if math.isnan(v)
                     else (f"<= {v:,.0f}" if v <= lo else f"{v:,.0f}")
                     for v, m, lo in zip(nf, t["n_max"], t["n_min"])]
        fin = t["log2 failure n"][np.isfinite(t["log2 failure n"])]
        ticks = {float(k): f"{2 ** k:,}" for k in range(int(fin.min()), int(fin.max()) + 1, 2)} if len(fin) else None
        c = heatmap_chart(out, "failure_heatmap", "Failure n on the sweep grid, by format and bias strategy", t,
                          "log2 failure n", "fmt", "bias", "failure n (points, log scale)", text="cell",
                          colorbar_ticks=ticks,
                          caption="Each cell: the failure n of the grid (smallest n run at which half the seeds "
                                  "fail); '> n': never failed up to the largest n run (blank); '<= n': failed at the "
                                  "smallest. Dark cells fail early.")
        if c:
            blocks.append(_block("chart", chart=c))
    blocks += _precision(out, precision)
    return blocks


#: Significand bits of the formats drawn beside the precision curves.
_FORMAT_BITS = ((24, "float32: 24 bits"), (11, "float16: 11 bits"), (8, "bfloat16: 8 bits"))


def _precision(out, precision):
    """The measured precision curve (the whole construction) per bias strategy, and where the bits go
    (one panel per bias: projection, build, forward pass, whole), from ``stage_bits`` records."""
    if not precision or not precision.get("stages"):
        return []
    from .charts import line_chart, small_multiples

    recs = precision["stages"]
    by = {}
    for r in recs:
        by.setdefault(r["config"]["bias"], []).append(r)
    p_max = max(r["p_max"] for r in recs)
    seeds = sorted({r["config"]["seeds"] for r in recs})

    def med(v):
        return math.inf if v is None or (isinstance(v, str) and "inf" in v) else float(v)

    whole, panels, ends, pends = {}, {}, {}, {}
    for bias, rs in by.items():
        rs = sorted(rs, key=lambda r: r["n"])
        x = np.array([r["n"] for r in rs], float)
        for stage in rs[0]["stages"]:
            y = np.array([med(r["median"][r["stages"].index(stage)]) for r in rs], float)
            panels.setdefault(bias, {})[stage] = (x, y)
            if np.isinf(y).any():
                ends[(bias, stage)] = (float(x[np.isinf(y)][0]), f"> {p_max} bits")
            if stage == "whole":
                whole[bias] = (x, y)
                if np.isinf(y).any():
                    pends[bias] = (float(x[np.isinf(y)][0]), f"needs > {p_max} bits")
    blocks = [_block("heading", text="Precision the construction needs (measured)")]
    c = line_chart(out, "bits_needed_vs_n", "Fewest significand bits with which the construction fits, vs n",
                   whole, "n (points)", "significand bits p (median over seeds)", hline=list(_FORMAT_BITS),
                   ends=pends,
                   caption=f"The whole construction (inputs, direction, projections, knots, recurrence solve, "
                           f"sequential forward pass) with every operation rounded to p bits, the least p at which "
                           f"every training label is reproduced: median over {', '.join(map(str, seeds))} seeds "
                           f"(harness precision). A format whose line lies below the curve fails there.")
    if c:
        blocks.append(_block("chart", chart=c))
    c = small_multiples(out, "bits_by_stage", "Where the bits go: fewest bits with only one stage at p bits",
                        panels, "n (points)", "significand bits p", hline=(24, "float32 (24 bits)"), ends=ends,
                        caption="Per bias strategy, the least p with only that stage at p bits and the rest exact "
                                "(harness precision --stages): projection (inputs, direction, projections: collisions), "
                                "build (projections, knots, the solve), forward (exact weights stored and run at p "
                                "bits), whole (everything). The stage whose curve is highest is the one that "
                                "breaks a format first.")
    if c:
        blocks.append(_block("chart", chart=c))
    return blocks


def _performance(out, df):
    from .charts import line_chart

    blocks = []
    tp = throughput(df)
    if not tp.empty:
        series = {s: (g["n"].to_numpy(float), g["points_per_s"].to_numpy(float)) for s, g in tp.groupby("solver")}
        c = line_chart(out, "throughput_vs_n", "Construction throughput vs n per solver (lapack: the reference)",
                       series, "n (points)", "points per second", logy=True,
                       caption="Median of n / construction time (projection, sort, knots, solve).")
        if c:
            blocks.append(_block("chart", chart=c))
    ok = df[df["status"] == "ok"]
    if "time_point" in ok:
        series = _series(ok, "time_point", "fmt")
        c = line_chart(out, "time_vs_n", "Time per sweep point vs n per format", series, "n (points)",
                       "seconds per point", logy=True, caption="Median wall time of a point (all its metrics).")
        if c:
            blocks.append(_block("chart", chart=c))
    return blocks


def _seed():
    from ..analysis.seed import SEED_PRINTED_W2, SEED_THRESHOLDS, SEED_Y, seed_example

    s = seed_example()
    f = lambda q: str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"  # noqa: E731
    return [
        _block("text", text="The seed document's 4-point example (a = (1, 1, 1), thresholds "
                            f"{', '.join(SEED_THRESHOLDS)}), recomputed in exact rational arithmetic."),
        _block("table", header=["neuron \\ point", "x1", "x2", "x3", "x4"],
               rows=[[f"neuron {j + 1}", *[f(v) for v in row]] for j, row in enumerate(s.relu)]),
        _block("note", text="ReLU(W1 x + b1), the seed's layout; it "
                            + ("matches" if s.relu_matches_seed else "DIFFERS FROM") + " the printed matrix."),
        _block("table", header=["", "w2", "outputs f(x1..x4)", "labels y", "fits"],
               rows=[["exact solution", ", ".join(f(v) for v in s.exact_w2), ", ".join(f(v) for v in s.exact_outputs),
                      ", ".join(SEED_Y), "yes"],
                     ["the seed's printed vector", ", ".join(SEED_PRINTED_W2),
                      ", ".join(f(v) for v in s.printed_outputs), ", ".join(SEED_Y),
                      "yes" if s.printed_fits else "NO"]]),
        _block("text", text="The printed second-layer vector does not reproduce the labels; the exact weights are "
                            + ", ".join(f(v) for v in s.exact_w2) + "."),
    ]


def _provenance(infos):
    blocks = []
    for info in infos:
        blocks.append(_block("heading", text=f"Run {info.get('name', '?')}"))
        prov = dict(info.get("provenance") or {})
        pk = prov.pop("packages", {}) or {}
        rows = [[k, str(v)] for k, v in prov.items()] + [[f"package {k}", str(v)] for k, v in pk.items()]
        rows += [["status", str(info.get("status"))], ["points", str(info.get("points_total"))]]
        blocks.append(_block("table", header=["field", "value"], rows=rows))
        hist = info.get("history") or []
        if hist:
            blocks.append(_block("table", header=["event", "at"], rows=[[h.get("event"), h.get("at")] for h in hist]))
        sweep = info.get("sweep") or {}
        blocks.append(_block("note", text=f"Sweep file {sweep.get('path')} (sha256 {sweep.get('sha256')}):"))
        blocks.append(_block("pre", text=sweep.get("text") or ""))
    return blocks


def _search_cell(r) -> str:
    """A failure-point record as a table cell: 'n [lo, hi]', '> n_max' or '<= n_min'."""
    if r.get("skipped"):
        return "not run"
    if r["censored"] == "above":
        return f"> {r['n_max']:,}"
    if r["censored"] == "below":
        return f"<= {r['n_min']:,}"
    lo, hi = r["interval"]
    return f"{r['n_fail']:,} [{'?' if lo is None else format(lo, ',')}, {'?' if hi is None else format(hi, ',')}]"


def _search_sentences(recs, markers: str, what: str) -> list:
    """Per format: which ``markers`` (bias strategies or pipelines) hold longest and which fail first;
    ties name every member, censored searches say so."""
    out = []
    done = [r for r in recs if not r.get("skipped")]
    for t in dict.fromkeys(r["target"] for r in done):
        part = [r for r in done if r["target"] == t]
        held = sorted(r[markers] for r in part if r["censored"] == "above")
        below = sorted(r[markers] for r in part if r["censored"] == "below")
        found = [r for r in part if r["censored"] == "none"]
        bits = []
        if held:
            bits.append(f"{what} {', '.join(held)} never failed (searched up to n = "
                        f"{max(r['n_max'] for r in part if r['censored'] == 'above'):,})")
        if found:
            lo, hi = min(r["n_fail"] for r in found), max(r["n_fail"] for r in found)
            best = sorted(r[markers] for r in found if r["n_fail"] == hi)
            worst = sorted(r[markers] for r in found if r["n_fail"] == lo)
            cause = lambda names: "/".join(sorted({r["cause"] for r in found if r[markers] in names and r["cause"]}))  # noqa: E731
            if lo == hi:
                names = sorted(r[markers] for r in found)
                if len(found) == len(part):
                    bits.append(f"every {what} fails at n = {lo:,} ({cause(names)})")
                else:
                    bits.append(f"{what} {', '.join(names)} fail{'s' if len(names) == 1 else ''} at n = {lo:,} "
                                f"({cause(names)})")
            else:
                bits.append(f"{'of the rest, ' if held else ''}{what} {', '.join(best)} hold"
                            f"{'s' if len(best) == 1 else ''} longest (failure at n = {hi:,}, {cause(best)}); "
                            f"{', '.join(worst)} fail{'s' if len(worst) == 1 else ''} first (n = {lo:,}, {cause(worst)})")
        if below:
            bits.append(f"{what} {', '.join(below)} failed already at the smallest n tried "
                        f"({min(r['n_min'] for r in part if r['censored'] == 'below'):,})")
        if bits:
            out.append(f"In {t}, " + "; ".join(bits) + ".")
    return out


def _headline_paragraph(recs, markers: str = "bias", what: str = "bias") -> str:
    """One short paragraph: formats ordered by how far their best strategy gets, which strategies hold
    longest and fail first across formats (ties count for every member), and what was censored."""
    done = [r for r in recs if not r.get("skipped")]
    if not done:
        return ""

    def reach(r):  # a search that never failed got past its n_max
        return math.inf if r["censored"] == "above" else (r["n_fail"] if r["censored"] == "none" else r["n_min"])

    def show(r):
        return f"> {r['n_max']:,}" if r["censored"] == "above" else (
            f"<= {r['n_min']:,}" if r["censored"] == "below" else f"{r['n_fail']:,}")

    fmts = list(dict.fromkeys(r["target"] for r in done))
    best, worst = {}, {}
    for t in fmts:
        part = [r for r in done if r["target"] == t]
        hi, lo = max(map(reach, part)), min(map(reach, part))
        best[t] = [r for r in part if reach(r) == hi]
        worst[t] = [r for r in part if reach(r) == lo] if lo < hi else []
    order = sorted(fmts, key=lambda t: (reach(best[t][0]), t))
    chain = f"{order[0]} ({show(best[order[0]][0])})"
    for a, b in zip(order, order[1:]):
        chain += (" = " if reach(best[a][0]) == reach(best[b][0]) else " < ") + f"{b} ({show(best[b][0])})"
    out = ["Formats by how far their best " + what + " strategy gets: " + chain + "."]
    names = list(dict.fromkeys(r[markers] for r in done))
    holds = {m: sum(any(r[markers] == m for r in best[t]) for t in fmts) for m in names}
    fails = {m: sum(any(r[markers] == m for r in worst[t]) for t in fmts) for m in names}
    top = max(holds.values())
    out.append(f"{what.capitalize()} {', '.join(m for m in names if holds[m] == top)} "
               f"hold{'s' if sum(holds[m] == top for m in names) == 1 else ''} longest in {top} of {len(fmts)} formats")
    if any(fails.values()):
        bottom = max(fails.values())
        out[-1] += (f"; {', '.join(m for m in names if fails[m] == bottom)} fail"
                    f"{'s' if sum(fails[m] == bottom for m in names) == 1 else ''} first in {bottom} of {len(fmts)}")
    out[-1] += " (ties count for each)."
    cens = [t for t in fmts if any(r["censored"] == "above" for r in done if r["target"] == t)]
    for t in cens:
        held = [r for r in done if r["target"] == t and r["censored"] == "above"]
        out.append(f"In {t}, {what} {', '.join(r[markers] for r in held)} never failed up to n = "
                   f"{max(r['n_max'] for r in held):,}, where the search stops.")
    low = [r for r in done if r["censored"] == "below"]
    if low:
        out.append("Failed already at the smallest n tried: " + ", ".join(f"{r['target']} {r[markers]}" for r in low) + ".")
    return " ".join(out)


def _search_table(recs, markers: str, first: str):
    targets = list(dict.fromkeys(r["target"] for r in recs))
    names = list(dict.fromkeys(r[markers] for r in recs))
    by = {(r[markers], r["target"]): r for r in recs}
    return _block("table", header=[first, *names],
                  rows=[[t, *[_search_cell(by[(p, t)]) if (p, t) in by else "-" for p in names]] for t in targets])


def _headline(out, recs):
    """The Summary's first screen: failure n per format and bias strategy from the failure-point search
    (the nightly's main slice), one paragraph generated from it, and its table."""
    if not recs:
        return []
    from .charts import failure_n_chart

    done = [r for r in recs if not r.get("skipped")]
    cfg = (done[0].get("config") or {}) if done else {}
    c = failure_n_chart(out, "headline_failure_n", "Where each format fails, per bias strategy (failure-point search)",
                        recs, rows="target", markers="bias",
                        caption="Each marker: the smallest n at which at least half of the seeds fail (galloping "
                                "from n = 2, then bisection in log n); bar: the 95% interval; '>' a search that "
                                "never failed up to its largest n, '<' one that failed at its smallest.")
    blocks = [_block("chart", chart=c)] if c else []
    para = _headline_paragraph(recs)
    if para:
        blocks.append(_block("text", text=para))
    blocks.append(_search_table(recs, "bias", "format"))
    seeds = sorted({r["seeds"] for r in done})
    widest = max((r["n_max"] for r in done), default=0)
    caps = sorted({(r["target"], r["n_max"]) for r in done if r["n_max"] != widest})
    how = ("harness failure-point --fmt F --bias B" + (f" --d {cfg['d']}" if cfg.get("d") not in (None, 16) else "")
           + (f" --seeds {seeds[0]}" if seeds and seeds[0] != 8 else ""))
    blocks.append(_block("note", text=f"Failure n [95% interval] per format and bias strategy, {', '.join(map(str, seeds))} "
                                      f"seeds per n, main slice ({cfg.get('data', '?')} data, d = {cfg.get('d', '?')}, "
                                      f"{cfg.get('labels', '?')} labels, direction {cfg.get('direction', '?')}, solver "
                                      f"{cfg.get('solver', '?')}, evaluator {cfg.get('evaluator', '?')}). The same "
                                      f"numbers as `{how}`"
                                      + ("; searches capped at " + ", ".join(f"{t} n <= {m:,}" for t, m in caps)
                                         + " (--n-max)" if caps else "") + "."))
    return blocks


def _minutes(secs) -> str:
    """A search's duration: whole minutes from one minute on, else seconds."""
    secs = float(secs)
    return f"{secs / 60:.0f} min" if secs >= 60 else f"{secs:.0f} s"


def _wall(data):
    """The float64 wall: where float64 itself fails, per bias strategy, from the committed search
    (``harness failure-point --config configs/wall.toml --json``): a table with intervals, the
    search's settings, when and with what it was measured."""
    if not data:
        return []
    recs = [r for r in data["records"] if not r.get("skipped")]
    if not recs:
        return []
    cfg = data.get("config") or {}
    rows = []
    for r in recs:
        curve = r.get("curve") or []
        largest = max((c[0] for c in curve), default=None)
        secs = float(r.get("seconds") or 0.0)
        rows.append([r["target"], r["bias"], _search_cell(r), r.get("cause") or "-",
                     f"{largest:,}" if largest else "-", f"{r['seeds']}",
                     _minutes(secs)])
    from ..core.formats import get_format

    fmts = list(dict.fromkeys(r["target"] for r in recs))
    def interval(r):
        lo, hi = r["interval"]
        return (f"95% interval {'?' if lo is None else format(lo, ',')} to "
                + (format(hi, ",") if hi is not None else
                   f"?: no n up to {r['n_max']:,} fails confidently (Wilson lower bound above 1/2)"))

    text = " ".join(f"Where {t} itself fails: " + "; ".join(
        f"{r['bias']} knots at n = {r['n_fail']:,} ({interval(r)})"
        if r["censored"] == "none" else f"{r['bias']} knots not up to n = {r['n_max']:,}"
        for r in recs if r["target"] == t) + "." for t in fmts)
    for t in fmts:  # the collision heuristic, from the format's own precision
        p = get_format(t).p
        text += (f" MATH.md's collision heuristic (n^2 u ~ 1, u = 2^-{p}) puts collisions in {t} near "
                 f"n ~ 2^{p / 2:g} ~ {2 ** (p / 2):,.0f}.")
    text += " The cause column names the criterion that fired first."
    made = data.get("measured") or {}
    blocks = [_block("heading", text=f"The {' / '.join(fmts)} wall"), _block("text", text=text),
              _block("table", header=["format", "bias", "failure n [95% interval]", "cause", "largest n tried", "seeds",
                                      "time"], rows=rows)]
    blocks.append(_block("note", text=f"Failure-point search (galloping n x 2 from {cfg.get('n_min', '?')}, bisection "
                                      f"in log n, Wilson 95% ends) on {cfg.get('data', '?')} data, d = {cfg.get('d', '?')}, "
                                      f"{cfg.get('labels', '?')} labels, direction {cfg.get('direction', '?')}, "
                                      f"{cfg.get('seeds', '?')} seeds per n: `harness failure-point --config "
                                      f"{data.get('search_file', 'configs/wall.toml')}`"
                                      + (f"; measured {made.get('date', '?')} at {str(made.get('git_commit'))[:10]} on "
                                         f"{made.get('cpu', '?')}, peak memory {made.get('peak_rss_gb', '?')} GiB"
                                         + (f" ({made['note']})" if made.get("note") else "") if made else "")
                                      + ". Not rerun by the nightly (a long search"
                                      + (f": {_minutes(made['elapsed_s'])} when measured" if made.get("elapsed_s") else "")
                                      + "): a committed reference."))
    return blocks


def _pipelines(out, recs):
    """Failure n of each user pipeline per format, from the search, beside the careful one."""
    if not recs:
        return []
    from .charts import failure_n_chart

    done = [r for r in recs if not r["skipped"]]
    c = failure_n_chart(out, "pipelines_failure_n", "Failure n per format and user pipeline (failure-point search)",
                        recs, rows="target", markers="pipeline",
                        caption="Each marker is the smallest n at which at least half of the seeds fail "
                                "(galloping, then bisection in log n); '<' / '>' mark a search censored at its "
                                "smallest / largest n.")
    blocks = [_block("heading", text="User pipelines")]
    blocks += [_block("chart", chart=c)] if c else []
    sentences = _search_sentences(recs, "pipeline", "pipeline")
    if sentences:
        blocks.append(_block("list", items=sentences))
    blocks.append(_search_table(recs, "pipeline", "format"))
    seeds = sorted({r["seeds"] for r in done})
    blocks.append(_block("note", text=f"Failure n [95% interval] of each pipeline ({', '.join(map(str, seeds))} seeds per "
                                      "n; numpy: LAPACK solve and BLAS forward pass in the format; torch: float64 solve "
                                      "deployed as F@float32; harness: per-operation recurrence and forward pass in F; "
                                      "harness-best: float64 solve, compensated forward pass in F)."))
    return blocks


def _framework(out, crosschecks):
    """The Emulation vs framework page: per arithmetic and bias, the emulated accuracy beside
    each framework run's mean and 10-90% seed band, with the agreement counts."""
    from ..analysis.crosscheck import agreement
    from .charts import band_chart

    blocks = [_block("text", text="Each network is built in float64, then evaluated at every training point in "
                                  "each emulated arithmetic (S@A: storage format, exact products, accumulation in "
                                  "A, one rounding per layer; a plain format: every operation rounded to it) and "
                                  "by PyTorch in the matching dtype. A framework line is the mean accuracy over "
                                  "the seeds; its band the 10th-90th percentile.")]
    rows = []
    for cc in crosschecks:
        fw = cc["framework"]
        inside, total = agreement(cc)
        where = f"torch {fw.get('torch')} on {fw.get('device')}" + (f" ({fw['gpu']})" if fw.get("gpu") else "")
        st = cc["settings"]
        rows.append([where, f"d = {st['d']}, {st['data']}, {st['labels']}", str(st["seeds"]), f"{inside} of {total}",
                     ", ".join(f"{k} {v}" for k, v in fw.items() if k.startswith("allow") or k.endswith("tf32"))])
    blocks.append(_block("table", header=["framework run", "data", "seeds", "emulation inside the band",
                                          "precision flags"], rows=rows))
    recs = [(i, r) for i, cc in enumerate(crosschecks) for r in cc["records"]]
    ariths = sorted({r["arith"] for _, r in recs})
    biases = sorted({r["bias"] for _, r in recs})
    for arith in ariths:
        for bias in biases:
            series = {}
            for i, cc in enumerate(crosschecks):
                for r in sorted((r for j, r in recs if j == i and r["arith"] == arith and r["bias"] == bias),
                                key=lambda r: r["n"]):
                    key = "emulated" if r["engine"] == "emulated" else r["engine"]
                    if key == "emulated" and key in series and i > 0:
                        continue  # the emulation is the same whichever framework ran beside it
                    s = series.setdefault(key, ([], [], [], []))
                    s[0].append(r["n"]), s[1].append(r["label_accuracy"])
                    s[2].append(r["accuracy_p10"]), s[3].append(r["accuracy_p90"])
            c = band_chart(out, f"framework_{arith}_{bias}".replace("@", "_at_").replace(":", "_").replace("+", "_"),
                           f"Label accuracy vs n: {arith}{'' if '@' in arith else ' (per operation)'}, bias {bias}",
                           series, "n (points)",
                           "share of labels reproduced",
                           caption="Emulated (solid) and framework (dashed, with its 10-90% seed band).")
            if c:
                blocks.append(_block("chart", chart=c))
    return blocks


def _floats(values) -> np.ndarray:
    """JSON numbers back to floats (to_json writes NaN as null, infinities as "inf" / "-inf")."""
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _locality(out, locs):
    """The Locality page: per configuration, the radius against the nearest-neighbour distance, the
    perturbation curves, true vs randomized labels, and the randomization test's numbers."""
    from .charts import line_chart, scatter_chart
    from .render import _mi

    blocks = [_block("text", text="The network depends on x only through t = <a, x>, so the set of inputs that "
                                  "keep a training point's label is a slab orthogonal to a, unbounded in every other "
                                  "direction. Its half-width along the worst direction is the label radius, computed "
                                  "exactly (rationals) from the network's own weights. A random perturbation moves t "
                                  "by only ||e|| ||a|| cos(angle), so random perturbations survive much larger sizes "
                                  "than the radius: the curves show the share kept.")]
    rows = []
    for li, loc in enumerate(locs):
        st, summ = loc["settings"], loc["summary"]
        what = (f"{st['data']}, {st['fmt']}, bias {st['bias']}, {st['direction']}, {st['encoding']}")
        for lab in ("true", "randomized"):
            if lab in summ:
                s = summ[lab]
                rows.append([what, lab, str(s["seeds"]), _mi(s["train_fraction"], True),
                             _mi(s["heldout_accuracy"], True), _mi(s["median_radius"]), _mi(s["median_ratio"]),
                             _mi(s["slab_agreement"], True)])
        if "gap" in summ:
            rows.append([what, "true - randomized", "", "", _mi(summ["gap"]["heldout_accuracy"], True), "", "", ""])
        first = {r["labels"]: r for r in reversed(loc["runs"])}  # the first seed of each label set
        fl = _floats
        slug = f"locality_{li}"
        short = f"{st['fmt']}, {st['bias']}" + ("" if st["encoding"] == "class" else f", {st['encoding']}")
        sc = scatter_chart(out, f"{slug}_radius", f"Label radius vs nearest-neighbour distance ({short})",
                           {lab: (fl(r["nn_all"]), fl(r["radii"])) for lab, r in first.items()},
                           f"distance to the nearest other training point ({st['metric']})",
                           f"label radius ({st['metric']}, log scale)", log=True,
                           caption=f"{what}: every training point of seed {st['seed']}; the radius is the "
                                   "distance to the nearest label change along the worst direction.")
        series = {lab: (fl(r["eps"]) / r["nn"]["median"], fl(r["kept"])) for lab, r in first.items()}
        theory = {lab: (fl(r["eps"]) / r["nn"]["median"], fl(r["in_slab"])) for lab, r in first.items()}
        lc = line_chart(out, f"{slug}_curve", f"Random perturbations keeping the label ({short})", series,
                        "perturbation size / median nearest-neighbour distance (log scale)",
                        "share of perturbations keeping the label", logx=True, logx_base=10, theory=theory,
                        theory_label="inside the slab (dashed)",
                        caption=f"{what}: {st['draws']} isotropic directions per size and point (seed {st['seed']}); "
                                "solid: the label at the moved point is the same; dashed: the moved point is "
                                "still inside its slab (a guaranteed keep).")
        blocks += [_block("chart", chart=c) for c in (sc, lc) if c]
    blocks.insert(1, _block("table", header=["configuration", "labels", "seeds", "training labels kept",
                                             "held-out accuracy", "median radius", "radius / (nn other label / 2)",
                                             "format keeps the exact slab"],
                            rows=rows))
    blocks.insert(2, _block("note", text="Median over seeds [order-statistic interval for the median]. Held-out "
                                         "accuracy: the share of held-out points whose predicted label (the nearest "
                                         "class, or the argmax) is right, forward pass in the format. The radius "
                                         "ratio is 1 for the largest ball any classifier could keep. The last column: "
                                         "moved to 0.98 / 1.02 of each slab width, the share of moves where the "
                                         "forward pass in the format keeps / changes the label as the exact slab says."))
    return blocks


def _comparison(changes):
    order = {"regression": 0, "improvement": 1, "note": 2, "same": 3}
    changes = sorted(changes, key=lambda c: (order[c.verdict], c.kind, c.what))
    return [
        _block("text", text=f"{sum(c.verdict == 'regression' for c in changes)} regression(s), "
                            f"{sum(c.verdict == 'improvement' for c in changes)} improvement(s), "
                            f"{sum(c.verdict == 'same' for c in changes)} unchanged"
                            + (f"; {sum(c.verdict == 'note' for c in changes)} note(s) (not judged: "
                               + ", ".join(sorted({c.kind for c in changes if c.verdict == 'note'})) + ")"
                               if any(c.verdict == "note" for c in changes) else "") + "."),
        _block("table", header=["verdict", "figure", "what", "baseline", "current", "why"],
               rows=[[c.verdict, c.kind, c.what, c.baseline, c.current, c.reason] for c in changes],
               row_class=[c.verdict for c in changes]),
    ]


def _history_label(name: str, prefix: str) -> str:
    """A tracked figure's name inside its panel: its keys without the panel's and the defaults'."""
    rest = name[len(prefix):]
    if prefix.startswith("bench"):
        kind, test = rest.split(" | ", 1) if " | " in rest else ("", rest)
        return f"{test} ({kind.replace('ratio_vs_', 'vs ')})"
    keys = dict(kv.split("=", 1) for kv in rest.split(" ") if "=" in kv)
    keys.pop("fmt", None)
    common = {"d": "16", "data": "uniform", "labels": "binary", "direction": "gaussian", "solver": "recurrence",
              "evaluator": "sequential", "rounding": "nearest", "deploy": "none"}
    return " ".join(f"{k}={v}" if k != "bias" else v for k, v in keys.items() if common.get(k) != v) or rest


def _history(out, history):
    """Every tracked figure over the runs, one small chart per family and format (benchmarks: per
    reference), each series in its chart's legend; x: the run (its date), sensible with one run."""
    from .charts import history_chart

    blocks = [_block("text", text=f"{len(history)} run(s) in the history, oldest first. Every tracked figure of "
                                  "the digest is drawn: one chart per family and format.")]
    labels = [f"{str(h.get('date', '?'))[:16].replace('T', ' ')}" for h in history]
    names = sorted({k for h in history for k in h.get("figures", {})})

    def fmt_of(name):
        return next((kv.split("=", 1)[1] for kv in name.split(" ") if kv.startswith("fmt=")), "")

    families = []
    for prefix, slug, what, ylabel, logy in (
            ("failure n (search) | ", "history_search", "Failure n from the failure-point search", "failure n (points)", True),
            ("first failing n | ", "history_failure_n", "First failing n on the sweep grid (median over seeds)",
             "first failing n (points)", True),
            ("bits lost median | ", "history_bits_lost", "Bits lost in the solve (median)", "bits lost", False),
            ("bits lost p90 | ", "history_bits_lost_p90", "Bits lost in the solve (90th percentile)", "bits lost", False),
            ("bench ", "history_bench", "Benchmark ratio", "time / same-run reference", True)):
        mine = [n for n in names if n.startswith(prefix)]
        if not mine:
            continue
        if prefix.startswith("bits lost"):
            groups = {"": mine}
        elif prefix.startswith("bench"):
            groups = {}
            for n in mine:
                groups.setdefault(n[len(prefix):].split(" | ")[0].replace("ratio_vs_", "vs "), []).append(n)
        else:
            groups = {}
            for n in mine:
                groups.setdefault(fmt_of(n), []).append(n)
        for g, members in sorted(groups.items()):
            series = {}
            for name in members:
                ys = np.array([h.get("figures", {}).get(name, np.nan) for h in history], dtype=float)
                label = fmt_of(name) if prefix.startswith("bits lost") else _history_label(name, prefix)
                series[label] = ys
            families.append((f"{slug}_{g}".replace(" ", "_").replace("@", "_at_").replace("/", "_").strip("_"),
                             f"{what}{': ' + g if g else ''}", series, ylabel, logy))
    if families:
        blocks.append(_block("links", items=[(slug, f"{t} ({len(s)} series)") for slug, t, s, _, _ in families]))
    for slug, title, series, ylabel, logy in families:
        c = history_chart(out, slug, title, series, labels, ylabel, logy=logy,
                          caption="Each tracked figure, run by run (a gap: the figure was not measured in that run).")
        if c:
            blocks.append(_block("chart", chart=c))
    blocks.append(_block("table", header=["run", "date", "commit", "tracked figures"],
                         rows=[[h.get("run"), h.get("date"), str(h.get("git_commit"))[:10], len(h.get("figures", {}))]
                               for h in history]))
    return blocks


def _read_json(path, what: str) -> dict:
    """A JSON file the report draws, with a clear error naming it."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{what} file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict) or "runs" not in data or "settings" not in data:
        raise HarnessError(f"{what} file {path}: not the JSON of 'harness {what} --out'")
    return data


def _records(value, key: str, what: str):
    """Failure-point records given as a list, or as a JSON file holding them under ``key``."""
    if value is None or isinstance(value, list):
        return value
    return _records_file(value, key, what)[1]


def _records_file(value, key: str, what: str):
    """(the JSON file's contents, its checked failure-point records under ``key``)."""
    import json

    try:
        data = json.loads(Path(value).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{what} file {value}: {getattr(exc, 'strerror', None) or exc}") from None
    recs = data.get(key) if isinstance(data, dict) else data  # a bare list: the nightly's older pipelines.json
    if not isinstance(recs, list) or not all(isinstance(r, dict) and "target" in r and ("censored" in r or r.get("skipped"))
                                              for r in recs):
        raise HarnessError(f"{what} file {value}: not the JSON of 'harness failure-point "
                           f"{'--pipeline LIST' if key == 'pipelines' else '--bias A,B'} --json'")
    return data, recs


def build_report(runs, out, baseline=None, title: str | None = None, progress=None, *, baseline_digest=None,
                 current_digest=None, history=None, crosschecks=None, pipelines=None, localities=None,
                 headline=None, precision=None, wall=None) -> Path:
    """Write the report of ``runs`` into the folder ``out``.

    ``baseline`` (a run) or ``baseline_digest`` (a committed digest) adds the Comparison
    page; ``history`` (entries of :func:`harness.report.nightly.load_history`) a History page;
    ``crosschecks`` (crosscheck JSON files or dicts: ``harness crosscheck --out``, and the
    committed GPU references) an Emulation vs framework page; ``pipelines`` (records of
    :func:`harness.analysis.pipelines.pipeline_failures`, or the JSON file of ``harness failure-point
    --pipeline ... --json``) the Summary's pipeline chart; ``headline`` (records of
    :func:`harness.analysis.failure.failure_grid`, or the JSON file of ``harness failure-point --bias
    A,B,... --json``) the Summary's headline chart; ``wall`` (the JSON file or dict of ``harness
    failure-point --config configs/wall.toml --json``) the Summary's float64 wall;
    ``localities`` (``harness locality --out`` JSON files or dicts) a Locality page.
    """
    from ..analysis.crosscheck import load_crosscheck

    crosschecks = [c if isinstance(c, dict) else load_crosscheck(c) for c in (crosschecks or [])]
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not runs:
        raise HarnessError("report: give at least one run")
    df, infos = load_rows(runs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HarnessError(f"report: {out} exists and is not a folder")
    if out.exists():
        for p in out.iterdir():  # a report folder holds only what this function writes
            if p.suffix in (".html", ".png", ".csv"):
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    changes = None
    if baseline is not None:
        base, base_infos = load_rows([baseline])
        names, base_names = {i.get("name") for i in infos}, {i.get("name") for i in base_infos}
        if names != base_names:
            raise HarnessError(f"report --baseline: the baseline run is of sweep(s) {', '.join(map(str, sorted(base_names)))}, "
                               f"the run of {', '.join(map(str, sorted(names)))}: compare runs of one sweep")
        changes = compare_runs(df, base)
    elif baseline_digest is not None:
        changes = compare_digests(current_digest or digest(df), baseline_digest)
    say("computing the tables")
    main, fixed = main_slice(df)
    table = failure_table(df)
    headline = _records(headline, "records", "headline")
    if wall is not None and not isinstance(wall, dict):
        data, recs = _records_file(wall, "records", "wall")  # read once, its records checked
        wall = data if isinstance(data, dict) else {"records": recs}
    pipelines = _records(pipelines, "pipelines", "pipelines")
    grid_title = [_block("heading", text="The sweep grid")] if (headline or pipelines) else []
    pages = [("index.html", "Summary", lambda: _headline(out, headline) + _wall(wall) + _pipelines(out, pipelines)
              + grid_title
              + _summary(df, main, fixed, table, changes)),
             ("conditioning.html", "Conditioning", lambda: _conditioning(out, main, df)),
             ("errors.html", "Errors", lambda: _errors(out, main, df)),
             ("failures.html", "Failure points", lambda: _failures(out, main, table, precision, fixed)),
             ("performance.html", "Performance", lambda: _performance(out, df)),
             ("seed.html", "Seed example", _seed),
             ("provenance.html", "Provenance", lambda: _provenance(infos))]
    if changes is not None:
        pages.append(("comparison.html", "Comparison", lambda: _comparison(changes)))
    if crosschecks:
        pages.append(("framework.html", "Emulation vs framework", lambda: _framework(out, crosschecks)))
    if localities:
        locs = [loc if isinstance(loc, dict) else _read_json(loc, "locality") for loc in localities]
        pages.append(("locality.html", "Locality", lambda: _locality(out, locs)))
    if history:
        pages.append(("history.html", "History", lambda: _history(out, history)))
    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    tpl = env.get_template("page.html.j2")
    names = ", ".join(sorted({str(i.get("name")) for i in infos}))
    report_title = title or f"harness report: {names}"
    fixed_txt = ", ".join(f"{k} {v}" for k, v in fixed.items())
    subtitle = (f"{len(df):,} rows from {len(runs)} run(s)" + (f"; main slice: {fixed_txt}" if fixed_txt else "")
                + (f"; baseline {Path(baseline).name}" if baseline is not None else ""))
    nav = [{"file": f, "title": t} for f, t, _ in pages]
    for file, page_title, make in pages:
        say(f"page {page_title}")
        page = {"file": file, "title": page_title, "blocks": make()}
        (out / file).write_text(tpl.render(page=page, pages=nav, report_title=report_title, subtitle=subtitle),
                                encoding="utf-8")
    say(f"report written in {time.perf_counter() - t0:.1f} s")
    return out / "index.html"


def publish(index: Path, latest: Path) -> None:
    """Copy a report folder to another place (e.g. reports/latest/), replacing it."""
    src = Path(index).parent
    if latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(src, latest)
