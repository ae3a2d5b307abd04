"""Renderings of result records as text for people (JSON: :mod:`harness.core.jsonio`)."""

from __future__ import annotations

import math

__all__ = ["analysis_text", "scan_text", "failure_text", "bits_text", "g", "pow2"]


def g(x, digits: int = 4) -> str:
    """A number for people: 'n/a' for None/NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{digits}g}"


def pow2(log2v: float) -> str:
    """A number given by its log2, as '2^113.10 = 1.1e+34' (the decimal while it is a float64)."""
    if log2v is None or math.isnan(log2v):
        return "n/a"
    if math.isinf(log2v):
        return "inf" if log2v > 0 else "0"
    return f"2^{log2v:.2f}" + (f" = {2.0 ** log2v:.3g}" if abs(log2v) < 1000 else "")


def analysis_text(a, source: str = "") -> str:
    """The human-readable report of :func:`harness.analyze`."""
    c, gp, s, th = a.conditioning, a.gaps, a.solve, a.theory
    L = []
    L.append(f"analyze: n = {a.n:,} points (of {a.n_input:,}), d = {a.d}, k = {a.k}" + (f"   [{source}]" if source else ""))
    L.append(f"  strategies   direction {a.direction}, bias {a.bias}, format {a.arith or a.fmt} (u = 2^{math.log2(a.u):.0f}), "
             f"solver {a.solver}, rounding {a.rounding}, seed {a.seed}")
    L.append("")
    L.append(f"gaps           smallest {g(gp.min_gap)}, mean {g(gp.mean_gap)}, median {g(gp.median_gap)} "
             f"(smallest/mean {g(gp.min_over_mean)}); first offset z1 - b1 = {g(gp.first_offset)}")
    L.append(f"               neighbouring gaps |log2 ratio|: median {g(gp.log2_ratio_median)}, max {g(gp.log2_ratio_max)}; "
             f"theta used: min {g(gp.theta_min)}, median {g(gp.theta_median)}, max {g(gp.theta_max)}")
    L.append("")
    L.append(f"conditioning   ||M||_1 = {g(c.norm1)}, ||M||_inf = {g(c.norminf)}")
    L.append(f"  {'method':<38}{'cond_1(M)':<28}{'cond_inf(M)':<28}")
    rows = [("exact (rationals)", c.log2_cond1_exact, c.log2_condinf_exact),
            ("LAPACK xTRCON (dense float64)", c.log2_cond1_lapack, c.log2_condinf_lapack),
            ("closed form of |M^-1| (O(n))", c.log2_cond1_structured, c.log2_condinf_structured),
            (f"estimate (Hager-Higham, {c.estimate_products} solves)", c.log2_cond1_estimate, c.log2_condinf_estimate)]
    for name, v1, vi in rows:
        note = "" if not math.isnan(v1) else "  (not run: above its size limit)"
        L.append(f"  {name:<38}{pow2(v1):<28}{pow2(vi):<28}{note}")
    law = th.law
    pred = th.log2_cond1_law if not math.isnan(th.log2_cond1_law) else th.log2_cond1_shape
    what = "" if not math.isnan(th.log2_cond1_law) else "  (the law's shape; its constant is not known)"
    L.append(f"  {'predicted (equispaced law)':<38}{pow2(pred):<28}{what}")
    L.append(f"      law: {law.text}")
    best = next((v for v in (c.log2_cond1_exact, c.log2_cond1_structured) if not math.isnan(v)), math.nan)
    if not math.isnan(pred) and not math.isnan(best):
        L.append(f"      measured / predicted = 2^{best - pred:+.3f}")
    L.append(f"  Skeel: cond(M, w) = {pow2(c.log2_skeel_w)}, cond(M) = {pow2(c.log2_skeel)}")
    L.append(f"  amplification along the chain (largest product of theta/(1 - theta)): {pow2(th.log2_amplification)}")
    L.append("")
    gr = a.growth
    L.append(f"weights        max|w| = {g(gr.max_abs_w)} ({g(gr.max_abs_w_rel)} x the label scale {g(gr.label_scale)}), "
             f"||w||_1 = {g(gr.norm1_w)}")
    if s is not None:
        span = "all weights" if s.checked == a.n else f"the first {s.checked:,} weights"
        ref = s.reference + ("" if s.reference == "exact" else f", certified to {g(s.certified, 2)} relative")
        L.append(f"solve          against the reference ({ref}) on {span}:")
        L.append(f"               forward error normwise {g(s.norm_rel)} = {g(s.bits_lost_norm, 3)} bits lost, "
                 f"componentwise max {g(s.comp_rel)} = {g(s.bits_lost_comp, 3)} bits; "
                 f"Herbie bits of error max {g(s.herbie_max, 3)}, mean {g(s.herbie_mean, 3)}")
        L.append(f"               backward error componentwise {g(s.backward_comp)}, normwise {g(s.backward_norm)}; "
                 f"exact residual max|y - M w| = {g(s.residual_max)}")
        L.append(f"               normwise error bounds: from the backward error {g(s.bound_backward)}, "
                 f"a priori ({a.solver}) {g(s.bound_apriori)}"
                 + (f"; observed <= both: {g(s.bound_holds)}" if not math.isnan(s.bound_apriori) else
                    f" (not derived for an S@A arithmetic); observed <= the backward bound: {g(s.bound_holds)}"))
    xi = getattr(a, "inputs", None)
    if xi is not None:
        if xi.kind == "exact":
            L.append(f"exact inputs   against the construction carried out exactly from X and y (exact projections, "
                     f"knots, labels; certified {g(xi.certified, 2)}):")
            L.append(f"               projections off by {g(xi.projection_rel)} relative, knots by {g(xi.knots_rel)} "
                     f"of the mean gap, {xi.order_swaps:,} rows out of exact order")
            L.append(f"               weights: the exact solve of the rounded system {g(xi.system_rel)}, the "
                     f"network's {g(xi.weights_rel)} (normwise relative to the exact construction)")
        else:
            L.append(f"exact inputs   not computed ({xi.kind})")
    if a.evaluation:
        e0 = a.evaluation[0]
        where = f"{e0.points:,} sampled points" if e0.sampled else f"all {e0.points:,} points"
        L.append(f"evaluation     max |f(x) - y| at {where}, split by source:")
        L.append(f"  {'evaluator':<14}{'forward only':>14}{'solve only':>14}{'user sees':>14}{'reproduced':>12}")
        for e in a.evaluation:
            L.append(f"  {e.evaluator:<14}{g(e.forward_only):>14}{g(e.solve_only):>14}{g(e.user):>14}"
                     f"{100 * e.user_fraction:>11.2f}%")
        L.append("  (forward only: exact weights rounded to the format, run in it; solve only: computed weights "
                 "evaluated exactly; user: computed weights run in the format)")
    o = a.outcome
    where = f"{o.points:,} sampled points" if o.sampled else f"all {o.points:,} points"
    L.append(f"fit            max |f(x) - y| = {g(o.max_error)} ({o.evaluator}, {where}); "
             f"labels reproduced {100 * o.fraction:.2f}% ({o.label_kind})")
    col = th.collision
    L.append(f"spacing        smallest gap predicted {g(col.min_gap_predicted)} (1/(n^2 int f^2)) vs measured "
             f"{g(gp.min_gap)}; collisions in {a.fmt}: expected pairs {g(col.expected_pairs)}, "
             f"P = {g(col.probability, 3)}, 50% at n ~ {g(col.n50)} (continuous data only)")
    L.append(f"time           {a.time_total:.2f} s")
    return "\n".join(L)


def scan_text(scan) -> str:
    L = [f"growth scan    n = {', '.join(f'{p.n:,}' for p in scan.points)}"]
    L.append(f"  {'n':>10}{'log2 cond_1':>14}{'log2 max|w|':>14}{'smallest gap':>16}")
    for p in scan.points:
        L.append(f"  {p.n:>10,}{p.log2_cond1:>14.3f}{p.log2_max_abs_w:>14.3f}{g(p.min_gap):>16}")
    cp, cr, wp = scan.cond1_power, scan.cond1_rate, scan.max_w_power

    def ci(f, fn=lambda v: v):
        return f"[{fn(f.lo):.4g}, {fn(f.hi):.4g}]" if not math.isnan(f.lo) else "[n/a: 2 points]"

    L.append(f"  cond_1 ~ n^k: k = {cp.slope:.4g}, 95% CI {ci(cp)} (r^2 {cp.r2:.4f})")
    L.append(f"  cond_1 ~ n^2 r^n: r = {cr.rate:.6g}, 95% CI {ci(cr, lambda v: 2.0 ** v)} (r^2 {cr.r2:.4f})")
    L.append(f"  max|w| ~ n^k: k = {wp.slope:.4g}, 95% CI {ci(wp)}")
    law = scan.law
    L.append(f"  law: {law.text}")
    return "\n".join(L)


def failure_text(points, config) -> str:
    """A table of failure points (one per format) and their rate curves."""
    cfg = config
    L = [f"failure points: {cfg.data} data (d = {cfg.d}), {cfg.labels} labels, direction {cfg.direction}, "
         f"bias {cfg.bias}, solver {cfg.solver}, evaluator {cfg.evaluator}, {cfg.seeds} seeds per n, "
         f"criteria {', '.join(cfg.criteria)} (misfit: < {cfg.fit_threshold:g} of labels reproduced)",
         "",
         f"  {'format':<13}{'fails at n':>14}{'passes at n':>14}   {'95% interval':<26}{'cause':<11}"
         f"{'failures by cause at n_fail':<30}{'trials':>7}{'time':>9}"]
    for fp in points:
        fail = g(fp.n_fail) if fp.n_fail is not None else f"> {fp.config.n_max:,}"
        pas = g(fp.n_pass) if fp.n_pass is not None else f"< {fp.config.n_min:,}"
        lo, hi = fp.interval
        iv = f"[{g(lo) if lo is not None else '?'}, {g(hi) if hi is not None else '?'}]"
        causes = ", ".join(f"{c} {k}/{fp.config.seeds}" for c, k in fp.causes if k) or "-"
        L.append(f"  {fp.fmt:<13}{fail:>14}{pas:>14}   {iv:<26}{fp.cause or '-':<11}{causes:<30}"
                 f"{fp.trials:>7}{fp.seconds:>8.1f}s")
    L.append("")
    L.append("failure-rate curves (n: failures/trials):")
    for fp in points:
        L.append(f"  {fp.fmt}: " + ", ".join(f"{p.n:,}: {p.failures}/{p.trials}" for p in fp.curve))
    ranked = [fp for fp in points if fp.n_fail is not None]
    if len(ranked) > 1:
        ranked.sort(key=lambda fp: fp.n_fail)
        L.append("")
        L.append("ordered by failure n: " + " <= ".join(f"{fp.fmt} ({fp.n_fail:,})" for fp in ranked))
    return "\n".join(L)


def bits_text(results) -> str:
    """A table of precision needed per n."""
    if not results:
        return ""
    cfg = results[0].config
    L = [f"precision needed: {cfg.data} data (d = {cfg.d}), {cfg.labels} labels, direction {cfg.direction}, "
         f"bias {cfg.bias}; fewest significand bits p with which every failure criterion passes",
         "",
         f"  {'n':>10}  {'p per seed':<24}{'median':>8}{'log2 cond_1 (float64)':>24}   cause just below"]
    for r in results:
        per = ", ".join("-" if p is None else str(p) for p in r.p_min)
        causes = sorted({c for cs in r.cause_below for c in cs})
        L.append(f"  {r.n:>10,}  {per:<24}{g(r.p_median, 3):>8}{g(r.log2_cond1, 4):>24}   {', '.join(causes) or '-'}")
    return "\n".join(L)


def stage_bits_text(results) -> str:
    """Where the bits go per n: the least p of each stage, per seed and median."""
    if not results:
        return ""
    cfg = results[0].config
    L = [f"precision by stage: {cfg.data} data (d = {cfg.d}), {cfg.labels} labels, direction {cfg.direction}, "
         f"bias {cfg.bias}, {cfg.seeds} seeds; fewest significand bits p with only that stage at p bits "
         f"(the rest exact; '-': more than {results[0].p_max})", ""]
    L.append(f"  {'n':>10}  " + "".join(f"{s:<22}" for s in results[0].stages))
    for r in results:
        cells = [f"{'-' if m == float('inf') else g(m, 3)} ({', '.join('-' if p is None else str(p) for p in ps)})"
                 for m, ps in zip(r.median, r.p_min)]
        L.append(f"  {r.n:>10,}  " + "".join(f"{c:<22}" for c in cells))
    L.append("")
    L.append("  median (per seed); projection: inputs, direction, projections (collisions); build: projections, "
             "knots, solve; forward: exact weights stored and run at p bits; whole: everything at p bits")
    return "\n".join(L)


def pipelines_text(recs, config) -> str:
    """Failure n of each user pipeline per target format (records of ``pipeline_failures``)."""
    cfg = config
    L = [f"user pipelines: {cfg.data} data (d = {cfg.d}), {cfg.labels} labels, direction {cfg.direction}, "
         f"bias {cfg.bias}, {cfg.seeds} seeds per n; failure n = smallest n where >= half the seeds fail",
         "",
         f"  {'target':<10}{'pipeline':<14}{'solve':<22}{'forward pass':<32}{'fails at n':>12}   "
         f"{'95% interval':<22}{'cause':<10}"]
    for r in recs:
        if r["skipped"]:
            continue
        fail = (g(r["n_fail"]) if r["censored"] != "below" else f"<= {r['n_min']:,}") if r["n_fail"] is not None \
            else f"> {r['n_max']:,}"
        lo, hi = r["interval"]
        iv = f"[{g(lo) if lo is not None else '?'}, {g(hi) if hi is not None else '?'}]"
        fwd = f"{r['deploy'] or r['fmt']} ({r['deploy_evaluator'] if r['deploy'] else r['evaluator']})"
        L.append(f"  {r['target']:<10}{r['pipeline']:<14}{r['fmt'] + ' ' + r['solver']:<22}{fwd:<32}{fail:>12}   "
                 f"{iv:<22}{r['cause'] or '-':<10}")
    L += [f"  not run: {r['pipeline']} / {r['target']}: {r['reason']}" for r in recs if r["skipped"]]
    return "\n".join(L)


def crosscheck_text(cc: dict, agree: tuple) -> str:
    """The crosscheck table: accuracy of each arithmetic, emulated beside the framework."""
    st, fw = cc["settings"], cc["framework"]
    L = [f"crosscheck: {st['data']} data (d = {st['d']}), {st['labels']} labels, direction {st['direction']}, "
         f"{st['seeds']} seeds; networks built in float64; framework torch {fw.get('torch')} on {fw.get('device')}"
         + (f" ({fw['gpu']})" if fw.get("gpu") else ""),
         "",
         f"  {'n':>6}  {'bias':<10}{'arithmetic':<22}{'emulated acc':>13}{'framework acc':>14}"
         f"{'10-90% band':>16}{'max err emu':>13}{'max err fw':>12}{'bit-equal':>11}"]
    recs = cc["records"]
    fw_by = {(r["n"], r["bias"], r["arith"]): r for r in recs if r["engine"] != "emulated"}
    for r in sorted((r for r in recs if r["engine"] == "emulated"), key=lambda r: (r["arith"], r["bias"], r["n"])):
        f = fw_by.get((r["n"], r["bias"], r["arith"]))
        if f is None:
            continue
        inside = f["accuracy_p10"] <= r["label_accuracy"] <= f["accuracy_p90"]
        L.append(f"  {r['n']:>6,}  {r['bias']:<10}{r['arith']:<22}{r['label_accuracy']:>13.3f}"
                 f"{f['label_accuracy']:>14.3f}{'[' + format(f['accuracy_p10'], '.3f') + ', ' + format(f['accuracy_p90'], '.3f') + ']':>16}"
                 f"{g(r['max_error']):>13}{g(f['max_error']):>12}{100 * r['bitwise_equal']:>10.1f}%"
                 + ("" if inside else "   outside the band"))
    L.append("")
    L.append(f"emulated accuracy inside the framework's 10-90% seed band in {agree[0]} of {agree[1]} cells; "
             f"{cc['seconds']:.0f} s")
    return "\n".join(L)


def _mi(v, pct: bool = False) -> str:
    """A (median, lo, hi, coverage) of :func:`harness.analysis.locality.median_interval`."""
    med, lo, hi, cover = v
    f = (lambda x: f"{100 * x:.1f}%") if pct else g
    if med != med:
        return "n/a"
    if cover == 0:
        return f(med)
    return f"{f(med)} [{f(lo)}, {f(hi)}]"


def locality_text(loc: dict) -> str:
    """The human-readable report of :func:`harness.analysis.locality.locality` (its ``to_dict()``)."""
    st, summ = loc["settings"], loc["summary"]
    L = [f"locality: {st['data']}, d = {st['d']}, {st['fmt']}, bias {st['bias']}, direction {st['direction']}, "
         f"{st['encoding']} encoding, metric {st['metric']}, holdout {st['holdout']}, {st['seeds']} seed(s) from "
         f"{st['seed']}"]
    L.append("  each training point keeps its label in a slab |<a, x' - x>| < width (orthogonal to a, unbounded "
             "elsewhere);")
    L.append("  radius = the nearer side / ||a||_*, exact (rational arithmetic on the network's weights)")
    L.append("")
    head = (f"  {'labels':<11} {'seed':>4} {'train fit':>9} {'held-out':>9} {'majority':>8} {'radius p10':>11} "
            f"{'median':>10} {'p90':>10} {'nn median':>10} {'other-label':>11} {'r/(nn_o/2)':>11} {'eps 50%':>10}")
    L.append(head)
    for r in loc["runs"]:
        rad = r["radius"]
        L.append(f"  {r['labels']:<11} {r['seed']:>4} {100 * r['train_fraction']:>8.1f}% "
                 f"{100 * r['heldout_accuracy']:>8.1f}% {100 * r['majority']:>7.1f}% {g(rad['p10']):>11} "
                 f"{g(rad['median']):>10} {g(rad['p90']):>10} {g(r['nn']['median']):>10} "
                 f"{g(r['nn_other']['median']):>11} {g(r['ratio']['median']):>11} {g(r['eps_half']):>10}")
    L.append("")
    L.append("  train fit: training labels reproduced by the forward pass in the format (exact network: "
             + ", ".join(f"{100 * r['train_fraction_exact']:.1f}%" for r in loc["runs"]) + ")")
    L.append("  eps 50%: the perturbation size at which half of the random isotropic perturbations change the label")
    L.append(f"  slab in {st['fmt']}: the forward pass agrees with the exact slab at 0.98 / 1.02 of each width in "
             + ", ".join(f"{100 * r['slab_agreement']:.1f}%" for r in loc["runs"]) + " of the moves")
    L.append("")
    for lab, s in summ.items():
        if lab == "gap":
            continue
        cover = s["heldout_accuracy"][3]
        how = (f"median over {s['seeds']} seeds [{100 * cover:.1f}% order-statistic interval]" if s["seeds"] > 1
               else "one seed")
        L.append(f"  {lab:<11} held-out accuracy {_mi(s['heldout_accuracy'], True)}, median radius "
                 f"{_mi(s['median_radius'])} ({how})")
    if "gap" in summ:
        L.append(f"  randomization test: held-out accuracy true - randomized = {_mi(summ['gap']['heldout_accuracy'], True)}")
    return "\n".join(L)
