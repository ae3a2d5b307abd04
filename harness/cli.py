"""Command line: a thin layer over the library API.

Every user error (HarnessError) prints ``harness: error: ...`` and exits 2 with no
traceback; ``--json`` gives machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from . import __version__
from .core.errors import HarnessError

__all__ = ["main"]


def _fmt_frac(q) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _dec(q, digits=6) -> str:
    """A Fraction as an exact decimal when it has a short one, else a rounded one."""
    s = f"{float(q):.{digits}g}"
    from fractions import Fraction

    return s if Fraction(s) == q else f"~{s}"


def cmd_seed(args) -> int:
    from .analysis.seed import SEED_PRINTED_W2, SEED_THRESHOLDS, SEED_Y, seed_example

    s = seed_example()
    if args.json:
        print(json.dumps({
            "projections": [_fmt_frac(v) for v in s.projections],
            "relu_neurons_x_points": [[_fmt_frac(v) for v in r] for r in s.relu],
            "relu_matches_seed": s.relu_matches_seed,
            "exact_w2": [_fmt_frac(v) for v in s.exact_w2],
            "exact_outputs": [_fmt_frac(v) for v in s.exact_outputs],
            "printed_w2": list(SEED_PRINTED_W2),
            "printed_outputs": [_fmt_frac(v) for v in s.printed_outputs],
            "printed_fits": s.printed_fits,
            "float64_outputs": list(s.float64_outputs),
        }, indent=2))
        return 0
    print("Seed example (the seed document; docs/MATH.md §2): 4 points in R^3, a = (1, 1, 1), thresholds "
          f"{', '.join(SEED_THRESHOLDS)}; every decimal taken exactly as a rational.\n")
    print("Projections <a, x_i>:", ", ".join(_dec(v) for v in s.projections))
    print(f"Thresholds interleave the sorted projections: {'yes' if s.interleaved else 'NO'}\n")
    print("ReLU(W1 x + b1), rows = neurons, columns = points (the seed's layout):")
    for row in s.relu:
        print("   [" + ", ".join(f"{_dec(v):>4}" for v in row) + "]")
    print(f"  -> {'matches' if s.relu_matches_seed else 'DIFFERS FROM'} the matrix the seed prints.\n")
    print("Exact second-layer weights w2 (neuron order):", "[" + ", ".join(_fmt_frac(v) for v in s.exact_w2) + "]")
    print("  outputs f(x_i):", "[" + ", ".join(_dec(v) for v in s.exact_outputs) + "]",
          " labels y:", "[" + ", ".join(SEED_Y) + "]", " -> fits exactly\n")
    print("The seed's printed w2 = [" + ", ".join(SEED_PRINTED_W2) + "] outputs f(x_i) = ["
          + ", ".join(_dec(v) for v in s.printed_outputs) + "]")
    miss = [i + 1 for i, (o, yv) in enumerate(zip(s.printed_outputs, SEED_Y)) if str(o) != yv]
    verdict = ("It does NOT fit: " + f"{len(miss)} of 4 labels missed (points {', '.join(map(str, miss))})."
               if not s.printed_fits else "It fits.")
    print("  " + verdict)
    print("  (Read as ReLU-matrix @ w2 instead, it gives ["
          + ", ".join(_dec(v) for v in s.printed_as_matvec) + "]: no fit either.)\n")
    print("The same network built in float64 (harness.construct, solver recurrence) outputs ["
          + ", ".join(f"{v:.17g}" for v in s.float64_outputs) + f"]: max error {s.float64_max_error:.3g}.")
    return 0


def _g(x) -> str:
    from .report.render import g

    return g(x)


def _progress(args):
    """A stderr progress printer, or None under --json / --quiet."""
    if getattr(args, "json", False) or getattr(args, "quiet", False):
        return None
    import time

    start = time.perf_counter()
    return lambda m: print(f"... [{time.perf_counter() - start:7.1f} s] {m}", file=sys.stderr, flush=True)


def _ints(text: str, what: str) -> list:
    """A comma-separated list of positive integers (e.g. --n 100,1000)."""
    out = []
    for part in str(text).split(","):
        part = part.strip().replace("_", "")
        try:
            v = int(float(part)) if "e" in part.lower() else int(part)
        except ValueError:
            raise HarnessError(f"{what}: {part!r} is not a whole number") from None
        if v < 1:
            raise HarnessError(f"{what}: must be positive, got {v}")
        out.append(v)
    return out


def _names(text: str) -> list:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _failure_config(args):
    from .analysis.failure import FailureConfig

    return FailureConfig(d=args.d, data=args.data, labels=args.labels, direction=args.direction, bias=args.bias,
                         solver=args.solver, evaluator=args.evaluator, rounding=args.rounding, seed=args.seed,
                         seeds=args.seeds, fit_threshold=args.fit_threshold,
                         criteria=tuple(_names(args.criteria))).validate()


def cmd_analyze(args) -> int:
    from .linalg.conditioning import METHODS
    from .analysis.metrics import analyze, analyze_config, growth_scan
    from .core.jsonio import to_json
    from .report.render import analysis_text, scan_text

    progress = _progress(args)
    methods = tuple(_names(args.cond)) if args.cond else METHODS
    evaluators = tuple(_names(args.evaluators)) if args.evaluators else None
    kw = dict(evaluators=evaluators, check=not args.no_check, check_max_n=args.check_max_n,
              cond_methods=methods, progress=progress)
    if args.input:
        from .build.construction import construct
        from .build.datafiles import load_table

        t = load_table(args.input, args.labels_file, args.header)
        X, y = t.X, t.y
        try:
            net = construct(X, y, direction=args.direction, bias=args.bias, fmt=args.fmt, solver=args.solver,
                            seed=args.seed, rounding=args.rounding, first_offset=args.first_offset)
        except HarnessError as exc:
            raise HarnessError(t.locate(str(exc))) from None
        a = analyze(net, X, y, **kw)
        source = args.input
    else:
        net, a = analyze_config(args.n, args.d, args.data, args.labels, direction=args.direction, bias=args.bias,
                                fmt=args.fmt, solver=args.solver, seed=args.seed, rounding=args.rounding,
                                first_offset=args.first_offset, **kw)
        source = f"{args.data} data, {args.labels} labels"
    scan = None
    if args.scan:
        if args.input:
            raise HarnessError("--scan needs generated data (drop --input)")
        ns = [max(2, args.n >> k) for k in range(args.scan, -1, -1)]
        scan = growth_scan(ns, args.d, args.data, args.labels, direction=args.direction, bias=args.bias,
                           fmt=args.fmt, solver=args.solver, seed=args.seed, rounding=args.rounding,
                           first_offset=args.first_offset, progress=progress)
    if args.json:
        out = a.to_dict()
        if scan is not None:
            out["scan"] = scan.to_dict()
        print(to_json(out))
        return 0
    print(analysis_text(a, source))
    if scan is not None:
        print("")
        print(scan_text(scan))
    return 0


def cmd_failure_point(args) -> int:
    from dataclasses import replace

    from .analysis.failure import failure_grid, failure_point
    from .core.arith import resolve
    from .core.jsonio import to_json
    from .report.render import failure_text, pipelines_text

    extra = {}
    if args.config:  # a search file sets every search option (records as for --bias A,B --json)
        from .analysis.failure import load_search

        spec = load_search(args.config)
        cfg, biases, fmts = spec.config, list(spec.biases), list(spec.fmts)
        extra = {"search_file": spec.path, "description": spec.description}
    else:
        biases = _names(args.bias)
        if not biases:
            raise HarnessError("--bias: give at least one bias strategy")
        args.bias = biases[0]
        cfg = _failure_config(args)
        for b in biases[1:]:
            replace(cfg, bias=b).validate()  # every name checked before any search runs
        cfg = replace(cfg, n_min=args.n_min, n_max=args.n_max, rel_tol=args.rel_tol,
                      deploy=args.deploy, deploy_evaluator=args.deploy_evaluator).validate()
        fmts = [resolve(f).name for f in _names(args.fmt)]
        if not fmts:
            raise HarnessError("--fmt: give at least one format")
    progress = _progress(args)
    if args.pipeline and not args.config:
        from .analysis.pipelines import pipeline_failures

        if args.deploy:
            raise HarnessError("--deploy and --pipeline: a pipeline sets its own deployment; give one of them")
        recs = pipeline_failures(_names(args.pipeline), fmts, cfg, progress=progress)
        if args.json:
            print(to_json({"config": cfg.to_dict(), "pipelines": recs}))
            return 0
        print(pipelines_text(recs, cfg))
        return 0
    if len(biases) > 1 or args.config:
        if args.json:  # the records the report's headline (and wall) draws (harness report --headline FILE)
            print(to_json({"config": cfg.to_dict(), **extra,
                           "records": failure_grid(fmts, biases, cfg, progress=progress)}))
            return 0
        for b in biases:
            bc = replace(cfg, bias=b)
            print(failure_text([failure_point(f, bc, progress=progress) for f in fmts], bc) + "\n")
        return 0
    points = [failure_point(f, cfg, progress=progress) for f in fmts]
    if args.json:
        print(to_json({"config": cfg.to_dict(), "formats": [fp.to_dict() for fp in points]}))
        return 0
    print(failure_text(points, cfg))
    return 0


def cmd_crosscheck(args) -> int:
    from .analysis.crosscheck import agreement, crosscheck
    from .core.jsonio import to_json
    from .report.render import crosscheck_text

    cc = crosscheck(d=args.d, ns=_ints(args.n, "--n"), biases=_names(args.bias), seeds=args.seeds,
                    ariths=_names(args.arith), device=args.device, data=args.data, labels=args.labels,
                    direction=args.direction, seed=args.seed, progress=_progress(args))
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        try:
            out.write_text(to_json(cc.to_dict()) + "\n")
        except OSError as exc:
            raise HarnessError(f"--out {out}: {exc.strerror or exc}") from None
    if args.json:
        print(to_json([r.to_dict() for r in cc.records]))
        return 0
    print(crosscheck_text(cc.to_dict(), agreement(cc)))
    return 0


def cmd_locality(args) -> int:
    from .analysis.locality import locality
    from .core.jsonio import to_json
    from .report.render import locality_text

    loc = locality(args.data, args.n, args.d, labels=_names(args.labels), holdout=args.holdout, fmt=args.fmt,
                   bias=args.bias, direction=args.direction, metric=args.metric, encoding=args.encoding,
                   seed=args.seed, seeds=args.seeds, draws=args.draws, progress=_progress(args)).to_dict()
    if args.out:
        from pathlib import Path

        try:
            Path(args.out).write_text(to_json(loc) + "\n")
        except OSError as exc:
            raise HarnessError(f"--out {args.out}: {exc.strerror or exc}") from None
    if args.json:
        for r in loc["runs"]:  # the per-point arrays are for --out (the report's charts)
            r.pop("radii"), r.pop("nn_all")
        print(to_json(loc))
        return 0
    print(locality_text(loc))
    return 0


def _stage_files(paths):
    """'harness precision --stages --json' files, merged: {"stages": [...]} (None: none given)."""
    if not paths:
        return None
    import json

    recs = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                data = json.loads(f.read())
        except (OSError, ValueError) as exc:
            raise HarnessError(f"precision file {p}: {getattr(exc, 'strerror', None) or exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
            raise HarnessError(f"precision file {p}: not the JSON of 'harness precision --stages --json'")
        recs += data["stages"]
    return {"stages": recs}


def cmd_precision(args) -> int:
    from .analysis.precision import bits_needed
    from .core.jsonio import to_json
    from .report.render import bits_text

    cfg = _failure_config(args)
    progress = _progress(args)
    if args.stages:
        from .analysis.precision import stage_bits
        from .report.render import stage_bits_text

        results = [stage_bits(n, cfg, p_max=args.p_max, progress=progress) for n in _ints(args.n, "--n")]
        if args.json:  # what 'harness report --precision' draws
            print(to_json({"stages": [r.to_dict() for r in results]}))
            return 0
        print(stage_bits_text(results))
        return 0
    results = [bits_needed(n, cfg, p_max=args.p_max, progress=progress) for n in _ints(args.n, "--n")]
    if args.json:
        print(to_json([r.to_dict() for r in results]))
        return 0
    print(bits_text(results))
    return 0


def cmd_fit(args) -> int:
    from .analysis.fitting import fit
    from .core.formats import get_format

    progress = _progress(args)
    kwargs = dict(direction=args.direction, bias=args.bias, fmt=args.fmt, solver=args.solver,
                  evaluator=args.evaluator, seed=args.seed, rounding=args.rounding,
                  first_offset=args.first_offset, check=not args.no_check, deploy=args.deploy,
                  deploy_evaluator=args.deploy_evaluator, progress=progress)
    stream = {"auto": None, "yes": True, "no": False}[args.stream]
    if args.input:
        from .build.datafiles import load_table

        t = load_table(args.input, args.labels_file, args.header, stream=stream)
        try:
            net, r = fit(X=t.X, y=t.y, **kwargs)
        except HarnessError as exc:
            raise HarnessError(t.locate(str(exc))) from None
    else:
        net, r = fit(args.n, args.d, args.data, args.labels, stream=stream, **kwargs)
    if args.export:
        path = net.export().save(args.export)
        if progress:
            progress(f"wrote the two-layer weights to {path}")
    if args.json:
        from .core.jsonio import to_json

        print(to_json(r.to_dict()))
        return 0
    src = args.input or f"{args.data} data, {args.labels} labels"
    print(f"fit: n = {r.n} points (of {r.n_input}; {r.merged} duplicates merged), d = {r.d}, k = {r.k}   [{src}]")
    print(f"  strategies   direction {r.direction}, bias {r.bias}, format {r.fmt}, solver {r.solver}, "
          f"rounding {r.rounding}, seed {r.seed}" + (f"  ({r.attempts} directions tried)" if r.attempts > 1 else ""))
    print(f"  parameters   {r.n_params} (2n + d" + (" + (k-1)n" if r.k > 1 else "") + ")")
    mw = _g(r.max_abs_w) if math.isfinite(r.max_abs_w) else f"not finite in {r.fmt} (overflow: see below)"
    print(f"  smallest gap {_g(r.min_gap)}      max |w| {mw}"
          + (f"      knots moved by rounding {r.moved_biases}" if r.moved_biases else ""))
    where = f"{r.eval_points} sampled points" if r.eval_sampled else f"all {r.eval_points} points"
    own = r.arith or r.fmt
    print(f"  fit          max |f(x) - y| = {_g(r.fit_max_error)} in {own} ({r.evaluator}, {where}); "
          f"labels reproduced: {100 * r.fit_fraction:.2f}% ({r.label_kind}"
          + (f": within {_g(r.real_rtol)} x max(1, |y|)" if r.label_kind == "real" else "") + ")")
    if r.deploy:
        print(f"  deployed     max |f(x) - y| = {_g(r.deploy_max_error)} in {r.deploy} ({r.deploy_evaluator}, "
              f"same points); labels reproduced: {100 * r.deploy_fraction:.2f}%")
    if not math.isfinite(r.max_abs_w) or not math.isfinite(r.fit_max_error):
        print(f"  overflow     {'a weight' if not math.isfinite(r.max_abs_w) else 'an output'} is not finite in "
              f"{r.fmt}: the weights grew past the format's range (bias {r.bias}); see 'harness analyze'")
    if r.ref_kind != "none":
        span = "all weights" if r.ref_checked == r.n else f"the first {r.ref_checked} weights"
        print(f"  reference    {r.ref_kind} on {span}: normwise relative error {_g(r.ref_norm_rel_error)} "
              f"= {_g(r.ref_bits_lost)} bits lost (over u = 2^-{get_format(r.fmt).p}); "
              f"max componentwise {_g(r.ref_max_rel_error)}")
    print(f"  time         construct {r.time_construct:.3f} s, evaluate {r.time_eval:.3f} s, "
          f"check {r.time_check:.3f} s")
    return 0


def cmd_sweep(args) -> int:
    from .sweep.runner import run_sweep
    from .sweep.store import load_run
    from .sweep.sweepspec import load_sweep

    spec = load_sweep(args.file)
    scheduler = None
    if args.dask and args.scheduler:
        raise HarnessError("give either --dask local or --scheduler ADDRESS, not both")
    if args.dask:
        if args.dask != "local":
            raise HarnessError(f"--dask takes 'local' (a LocalCluster here); got {args.dask!r}")
        scheduler = "local"
    elif args.scheduler:
        scheduler = args.scheduler
    resume = None
    if args.resume is not None:
        resume = True if args.resume == "" else args.resume
    if not args.quiet:
        from .sweep.runner import CONFIRM_POINTS

        bound = spec.count()  # listing the points is cheap up to the confirmation size
        size = f"{len(spec.points()):,} points" if bound <= CONFIRM_POINTS else f"up to {bound:,} points"
        print(f"sweep {spec.name}: {size} ({spec.path}, sha256 {spec.sha256[:12]})", file=sys.stderr)
    run = run_sweep(spec, args.out, resume=resume, workers=args.workers, scheduler=scheduler,
                    progress=not args.quiet, yes=args.yes)
    df = load_run(run)
    counts = df.groupby(["status", "failure"]).size().to_dict()
    summary = ", ".join(f"{k[0]}{'/' + k[1] if k[1] else ''}: {v}" for k, v in sorted(counts.items()))
    print(f"{run}  ({len(df)} rows: {summary})")
    return 0


def cmd_results(args) -> int:
    from pathlib import Path

    from .sweep.store import list_runs, load_run, read_run_info

    if args.action == "list":
        runs = list_runs(args.out)
        if not runs:
            print(f"no runs under {args.out}")
            return 0
        print(f"{'run':<48}{'status':<13}{'points':>14}  started")
        for d, info, done in runs:
            started = (info.get("provenance") or {}).get("timestamp", "")
            total = info.get("points_total", "?")
            print(f"{str(d):<48}{info.get('status', '?'):<13}{f'{done}/{total}':>14}  {started}")
        return 0
    if not args.run:
        raise HarnessError(f"results {args.action} needs a RUN (a run folder or its results.parquet)")
    run = Path(args.run)
    if not run.exists():
        raise HarnessError(f"no such run: {run}")
    df = load_run(run)
    if args.action == "show":
        cols = _names(args.columns) if args.columns else [
            c for c in ("n", "d", "data", "labels", "bias", "fmt", "seed_index", "status", "failure",
                        "outcome_fraction", "cond_log2_cond1_structured", "solve_bits_lost_norm", "time_point")
            if c in df.columns]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise HarnessError(f"unknown column(s) {missing}; the run has: {', '.join(df.columns)}")
        if run.is_dir():
            info = read_run_info(run)
            prov = info.get("provenance", {})
            print(f"run {run.name}: sweep {info.get('name')} ({info.get('status')}), harness {prov.get('harness')} "
                  f"at {str(prov.get('git_commit'))[:10]}{' (dirty)' if prov.get('git_dirty') else ''}, "
                  f"{prov.get('cpu')}, {prov.get('timestamp')}")
        import pandas as pd

        with pd.option_context("display.max_rows", args.max_rows, "display.width", 200,
                               "display.max_columns", 40):
            print(df[cols].to_string(index=False, max_rows=args.max_rows))
        return 0
    if not args.csv:
        raise HarnessError("results export needs --csv FILE")
    if not Path(args.csv).resolve().parent.is_dir():
        raise HarnessError(f"--csv {args.csv}: no such folder {Path(args.csv).parent}")
    df.to_csv(args.csv, index=False)
    print(f"wrote {len(df)} rows x {len(df.columns)} columns to {args.csv}")
    return 0


def cmd_report(args) -> int:
    from .report.pages import build_report

    progress = _progress(args)
    index = build_report(args.runs, args.out, baseline=args.baseline, title=args.title, progress=progress,
                         crosschecks=args.crosscheck, localities=args.locality, headline=args.headline,
                         pipelines=args.pipelines, precision=_stage_files(args.precision), wall=args.wall)
    print(index)
    return 0


def cmd_nightly(args) -> int:
    from pathlib import Path

    from .report.nightly import run_nightly, summarize
    from .sweep.sweepspec import load_sweep

    spec = load_sweep(args.config)
    baseline = None if args.baseline == "none" else (args.baseline or f"reports/baseline/{spec.name}.json")
    if baseline is not None and not Path(baseline).exists():
        raise HarnessError(f"no baseline at {baseline}; create one with 'harness baseline update RUN "
                           f"--to {baseline}' (or pass --baseline none)")
    run, index, changes, bench_code, slow_code = run_nightly(
        args.config, results=args.results, reports=args.reports, baseline=baseline, bench=not args.no_bench,
        bench_dir=args.bench_dir, quiet=args.quiet, workers=args.workers, crosscheck=not args.no_crosscheck,
        locality=not args.no_locality, slow=not args.no_slow, headline=not args.no_headline,
        precision=not args.no_precision)
    print(f"run     {run}")
    print(f"report  {index}  (and {Path(args.reports) / 'latest' / 'index.html'})")
    if bench_code not in (None, 0):
        print(f"benchmarks: some targets were missed (pytest exit {bench_code}); see the benchmark output above")
    if slow_code not in (None, 0):
        print(f"slow acceptance tests FAILED (pytest exit {slow_code}); see their output above")
    if changes is None:
        print("no baseline: nothing compared")
        return 1 if slow_code not in (None, 0) else 0
    print(summarize(changes))
    return 1 if any(c.verdict == "regression" for c in changes) or slow_code not in (None, 0) else 0


def cmd_gate(args) -> int:
    from .report.nightly import gate, summarize

    changes = gate(args.run, args.baseline, args.bench)
    print(summarize(changes))
    return 1 if any(c.verdict == "regression" for c in changes) else 0


def cmd_baseline(args) -> int:
    from pathlib import Path

    from .report.nightly import update_baseline
    from .sweep.store import read_run_info

    to = args.to or f"reports/baseline/{read_run_info(args.run).get('name')}.json"
    path = update_baseline(args.run, to, args.bench)
    print(f"wrote the baseline digest of {Path(args.run).name} to {path}")
    return 0


def cmd_history(args) -> int:
    from .report.history import restore_history, save_history

    if args.action == "restore":
        files = restore_history(".", args.reports, args.remote, args.branch)
        print(f"restored {', '.join(str(f) for f in files)} from {args.remote}/{args.branch}" if files else
              f"no {args.branch} branch on {args.remote} yet: the history starts with this run")
        return 0
    commit = save_history(".", args.reports, args.remote, args.branch)
    print(f"saved the history to {args.remote}/{args.branch} ({commit[:12]})")
    return 0


def cmd_list(args) -> int:
    from .build.biases import BIASES
    from .build.data import DATA, LABELS
    from .build.directions import DIRECTIONS
    from .build.evaluators import EVALUATORS
    from .analysis.failure import CRITERIA
    from .core.formats import FORMATS
    from .build.solvers import SOLVERS

    from .analysis.pipelines import PIPELINES
    from .core.arith import MODIFIERS

    for title, reg in (("formats", FORMATS), ("directions", DIRECTIONS), ("biases", BIASES),
                       ("solvers", SOLVERS), ("evaluators", EVALUATORS), ("data", DATA), ("labels", LABELS),
                       ("failure criteria", CRITERIA), ("pipelines (failure-point --pipeline)", PIPELINES)):
        print(f"{title}:")
        for name, doc in reg.describe():
            print(f"  {name:<16} {doc}")
    print("arithmetics (--fmt / --deploy): STORAGE@ACCUM[+MOD...] or LAYER1/LAYER2, e.g. bfloat16@float32,")
    print("  tf32@float32/float32; storage: a format of <= 25 bits; accumulator: at least as wide; modifiers:")
    for name, doc in MODIFIERS.items():
        print(f"  +{name:<15} {doc}")
    return 0


def _data_args(p, n_default, d_default):
    if n_default is not None:
        p.add_argument("--n", type=int, default=n_default, help=f"points to generate (default {n_default})")
    p.add_argument("--d", type=int, default=d_default, help=f"dimension (default {d_default})")
    p.add_argument("--data", default="uniform", help="data generator (default uniform)")
    p.add_argument("--labels", default="binary", help="label generator (default binary)")


def _strategy_args(p, with_fmt=True, fmt_help="working format (default float64)", fmt_default="float64",
                   bias_help="midpoint | left | fraction:THETA | random (default midpoint)"):
    p.add_argument("--direction", default="gaussian", help="ones | gaussian | best-of:K | maximin:K (default gaussian)")
    p.add_argument("--bias", default="midpoint", help=bias_help)
    if with_fmt:
        p.add_argument("--fmt", default=fmt_default, help=fmt_help)
    p.add_argument("--solver", default="recurrence", help="recurrence | backsub | lapack | exact (default recurrence)")
    p.add_argument("--evaluator", default="sequential", help="sequential | compensated | dense | prefix")
    p.add_argument("--rounding", default="nearest", help="nearest | stochastic (default nearest)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")


def _search_args(p, seeds_default):
    p.add_argument("--seeds", type=int, default=seeds_default, help=f"trials per n (default {seeds_default})")
    p.add_argument("--criteria", default="collision,overflow,misfit",
                   help="failure criteria, comma list (default collision,overflow,misfit)")
    p.add_argument("--fit-threshold", type=float, default=1.0,
                   help="misfit below this share of reproduced labels (default 1: any miss)")


def _output_args(p):
    p.add_argument("--json", action="store_true", help="machine-readable output (standard JSON)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description=(
        "Numerical robustness harness for Zhang et al.'s memorizing two-layer ReLU network "
        "(ICLR 2017, Theorem 1)."))
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("seed", help="the seed document's worked example, in exact arithmetic",
                       description="Recompute the seed document's 4-point example exactly: the ReLU "
                                   "matrix, the true second-layer weights, and what the printed vector outputs.")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_seed)

    f = sub.add_parser("fit", help="build, evaluate and check a network for generated or loaded data",
                       description="Build the Theorem-1 network for generated data (or --input FILE), "
                                   "evaluate its forward pass in the working format and check its weights "
                                   "against an exact (n <= 1000) or mpmath reference. "
                                   "Run 'harness list' for every strategy name.")
    f.add_argument("--n", type=int, default=1000, help="points to generate (default 1000)")
    f.add_argument("--d", type=int, default=8, help="dimension (default 8)")
    f.add_argument("--data", default="uniform", help="data generator (default uniform)")
    f.add_argument("--labels", default="binary", help="label generator (default binary)")
    f.add_argument("--input", metavar="FILE", help=".npy/.npz/.csv file instead of generated data "
                                                   "(.npy/.csv: labels in the last column; .npz: arrays X, y)")
    f.add_argument("--labels-file", metavar="FILE", help="with a .npy --input: labels in their own .npy")
    f.add_argument("--header", action="store_true", help="with a .csv --input: its first line is a header "
                                                         "(otherwise a non-numeric line is an error)")
    f.add_argument("--direction", default="gaussian", help="ones | gaussian | best-of:K | maximin:K (default gaussian)")
    f.add_argument("--bias", default="midpoint", help="midpoint | left | fraction:THETA | random (default midpoint)")
    f.add_argument("--fmt", default="float64", help="working format (default float64)")
    f.add_argument("--solver", default="recurrence", help="recurrence | backsub | lapack | exact")
    f.add_argument("--evaluator", default="sequential", help="sequential | compensated | dense | prefix")
    f.add_argument("--rounding", default="nearest", help="nearest | stochastic (default nearest)")
    f.add_argument("--first-offset", type=float, default=None, help="z_(1) - b_1 (default: the mean gap)")
    f.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    f.add_argument("--deploy", metavar="ARITH", default=None,
                   help="run the solved weights' forward pass again in this format or arithmetic "
                        "(e.g. bfloat16@float32) and report both")
    f.add_argument("--deploy-evaluator", default="sequential", help="evaluator of --deploy (default sequential; "
                                                                    "torch: PyTorch CPU)")
    f.add_argument("--stream", choices=("auto", "yes", "no"), default="auto",
                   help="read X in blocks, never held whole: generated data (uniform, gaussian, sphere, "
                        "lattice) or a memory-mapped .npy --input; auto (default): when X is over 512 MiB. "
                        "The same results, bit for bit")
    f.add_argument("--no-check", action="store_true", help="skip the exact/high-precision reference check")
    f.add_argument("--export", metavar="PATH", help="save the plain two-layer weights (W1, b1, w2) as .npz")
    f.add_argument("--json", action="store_true", help="machine-readable output")
    f.add_argument("--quiet", action="store_true", help="no progress messages")
    f.set_defaults(func=cmd_fit)

    an = sub.add_parser("analyze", help="every metric of one configuration: conditioning, errors, theory",
                        description="Build one network (generated data or --input FILE) and report its "
                                    "conditioning (exact, LAPACK, closed form, estimate), the solve, backward "
                                    "and evaluation errors against the exact / certified reference, the fit, "
                                    "and the predicted laws beside them.")
    _data_args(an, n_default=1000, d_default=8)
    _strategy_args(an)
    an.add_argument("--first-offset", type=float, default=None, help="z_(1) - b_1 (default: the mean gap)")
    an.add_argument("--input", metavar="FILE", help=".npy/.npz/.csv file instead of generated data")
    an.add_argument("--labels-file", metavar="FILE", help="with a .npy --input: labels in their own .npy")
    an.add_argument("--header", action="store_true", help="with a .csv --input: its first line is a header")
    an.add_argument("--evaluators", default="", help="comma list (default: every evaluator the format allows)")
    an.add_argument("--cond", default="", help="condition methods, comma list of exact, lapack, structured, "
                                               "estimate (default: all, each within its size limit)")
    an.add_argument("--check-max-n", type=int, default=None,
                    help="neurons the reference covers (default 50000)")
    an.add_argument("--no-check", action="store_true", help="skip the reference-based metrics")
    an.add_argument("--scan", type=int, default=0, metavar="K",
                    help="also fit growth exponents over n/2^K, ..., n/2, n (default: off)")
    _output_args(an)
    an.set_defaults(func=cmd_analyze)

    fp = sub.add_parser("failure-point", help="the smallest n at which each format fails, with cause and interval",
                        description="For one configuration and each format, find the smallest n at which the "
                                    "failure rate over the seeds reaches 1/2 (galloping, then bisection in log n), "
                                    "with the failure-rate curve, a 95% interval and the failure cause.")
    _data_args(fp, n_default=None, d_default=16)
    _strategy_args(fp, fmt_help="comma list of formats (default float16,float32)", fmt_default="float16,float32",
                   bias_help="midpoint | left | fraction:THETA | random, or a comma list: a search per format and "
                             "bias (--json: the records 'harness report --headline' draws; default midpoint)")
    _search_args(fp, seeds_default=8)
    fp.add_argument("--config", metavar="TOML", help="a search file (e.g. configs/wall.toml: the float64 wall); "
                                                     "it sets every search option")
    fp.add_argument("--n-min", type=int, default=2, help="first n tried (default 2)")
    fp.add_argument("--n-max", type=int, default=1 << 23, help="largest n tried (default 8388608)")
    fp.add_argument("--rel-tol", type=float, default=0.1, help="bisection stops at hi/lo <= 1 + REL_TOL (default 0.1)")
    fp.add_argument("--deploy", metavar="ARITH", default=None,
                    help="evaluate the solved weights in this format or arithmetic (e.g. bfloat16@float32)")
    fp.add_argument("--deploy-evaluator", default="sequential", help="evaluator of --deploy (default sequential)")
    fp.add_argument("--pipeline", metavar="LIST", default=None,
                    help="user pipelines, comma list (numpy, torch, harness, harness-best): the failure n of each "
                         "for every --fmt (see 'harness list')")
    _output_args(fp)
    fp.set_defaults(func=cmd_failure_point)

    cc = sub.add_parser("crosscheck", help="emulated arithmetics against PyTorch, on the same float64-built networks",
                        description="Build each network in float64, evaluate it at every training point in each "
                                    "emulated arithmetic and in PyTorch at the matching dtype, and compare the label "
                                    "accuracy (mean and 10-90% band over seeds), the largest error and the share of "
                                    "outputs equal bit for bit. Needs the optional extra torch.")
    cc.add_argument("--d", type=int, default=3072, help="dimension (default 3072, CIFAR-shaped)")
    cc.add_argument("--n", default="30,100,300,1000", help="comma list of n (default 30,100,300,1000)")
    cc.add_argument("--bias", default="left,midpoint", help="comma list of bias strategies (default left,midpoint)")
    cc.add_argument("--seeds", type=int, default=12, help="seeds per case (default 12)")
    cc.add_argument("--arith", default="bfloat16@float32,float16@float32",
                    help="comma list of arithmetics or formats (default bfloat16@float32,float16@float32)")
    cc.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where PyTorch runs (default cpu)")
    cc.add_argument("--data", default="uniform", help="data generator (default uniform)")
    cc.add_argument("--labels", default="binary", help="label generator (default binary)")
    cc.add_argument("--direction", default="gaussian", help="direction strategy (default gaussian)")
    cc.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    cc.add_argument("--out", metavar="FILE", help="also write the full JSON (settings, framework flags, records)")
    _output_args(cc)
    cc.set_defaults(func=cmd_crosscheck)

    lo = sub.add_parser("locality", help="how far from each training point the memorized label survives (exact)",
                        description="Fit the training part of a data set with true and with randomized labels and "
                                    "measure, exactly, each training point's label radius (its label-keeping slab "
                                    "orthogonal to a), beside the distances to the nearest training point and to "
                                    "the nearest of another label, the share of random perturbations of each size "
                                    "that keep the label, and the held-out accuracy: the paper's randomization "
                                    "test, done exactly.")
    lo.add_argument("--data", default="digits", help="digits | patches | cifar10:PATH | a generator (default digits; "
                                                     "generated data: 'true' labels are a random hyperplane's side)")
    lo.add_argument("--n", type=int, default=None, help="points (default: every distinct point of a real set; "
                                                        "1000 generated)")
    lo.add_argument("--d", type=int, default=16, help="dimension of generated data (default 16)")
    lo.add_argument("--labels", default="true,randomized", help="true, randomized or both (default both)")
    lo.add_argument("--holdout", type=float, default=0.2, help="held-out share, seeded (default 0.2)")
    lo.add_argument("--fmt", default="float64", help="working format (default float64)")
    lo.add_argument("--bias", default="midpoint", help="bias strategy (default midpoint)")
    lo.add_argument("--direction", default="gaussian", help="gaussian | best-of:K | maximin:K | ones (default gaussian)")
    lo.add_argument("--metric", default="l2", help="perturbation norm: l1 | l2 | linf (default l2)")
    lo.add_argument("--encoding", default="class", choices=("class", "onehot"),
                    help="class: one output, the nearest class; onehot: one output per class, the argmax")
    lo.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    lo.add_argument("--seeds", type=int, default=1, help="seeds (splits, directions, data): medians with intervals")
    lo.add_argument("--draws", type=int, default=256, help="random directions per perturbation size (default 256)")
    lo.add_argument("--out", metavar="FILE", help="also write the full JSON (with every radius) for 'harness report'")
    _output_args(lo)
    lo.set_defaults(func=cmd_locality)

    pr = sub.add_parser("precision", help="fewest significand bits with which the construction fits n points",
                        description="For each n, the least precision p (bits) at which every failure criterion "
                                    "passes, per seed: the Numba kernels in a generic p-bit format for p <= 25, "
                                    "mpmath beyond; beside log2 cond_1(M) of the float64 construction.")
    _data_args(pr, n_default=None, d_default=16)
    pr.add_argument("--n", default="16,64,256,1024", help="comma list of n (default 16,64,256,1024)")
    _strategy_args(pr, with_fmt=False)
    _search_args(pr, seeds_default=3)
    pr.add_argument("--p-max", type=int, default=256, help="widest precision tried (default 256)")
    pr.add_argument("--stages", action="store_true",
                    help="where the bits go: the least p with only the projection, the build (projection, knots, "
                         "solve) or the forward pass at p bits (the rest exact), beside the whole construction")
    _output_args(pr)
    pr.set_defaults(func=cmd_precision)

    sw = sub.add_parser("sweep", help="run a sweep file (TOML) and store one Parquet row per point",
                        description="Expand a sweep file's axes into points (each seeded by the sweep seed and "
                                    "its key), compute them on local processes or a Dask cluster, and store "
                                    "the rows in a run folder under --out (see configs/).")
    sw.add_argument("file", help="the sweep file (TOML)")
    sw.add_argument("--out", default="results", help="folder of run folders (default results/)")
    sw.add_argument("--resume", nargs="?", const="", default=None, metavar="RUN",
                    help="continue the newest unfinished run of this sweep (or the run folder RUN): only "
                         "missing points are computed")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: the cores)")
    sw.add_argument("--yes", action="store_true", help="run a sweep of more than 20,000 points (a typo guard)")
    sw.add_argument("--dask", metavar="local", help="'local': run on a Dask LocalCluster started here")
    sw.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on an existing Dask cluster")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=cmd_sweep)

    rs = sub.add_parser("results", help="list runs, show one as a table, export it as CSV",
                        description="Inspect the runs 'harness sweep' stored. RUN is a run folder (or its "
                                    "results.parquet); pandas reads results.parquet in one call.")
    rs.add_argument("action", choices=("list", "show", "export"))
    rs.add_argument("run", nargs="?", help="the run folder (show, export)")
    rs.add_argument("--out", default="results", help="where runs are (list; default results/)")
    rs.add_argument("--columns", default="", help="show: comma list of columns")
    rs.add_argument("--max-rows", type=int, default=60, help="show: rows printed at most (default 60)")
    rs.add_argument("--csv", metavar="FILE", help="export: the CSV file to write")
    rs.set_defaults(func=cmd_results)

    rp = sub.add_parser("report", help="a static HTML report (index.html, PNG charts, CSV) of sweep runs",
                        description="Write a self-contained report folder of one or more runs (run folders or "
                                    "their results.parquet): summary, conditioning, errors, failure points, "
                                    "performance, the seed example, provenance, and a comparison with --baseline.")
    rp.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s) as 'harness sweep' wrote them")
    rp.add_argument("-o", "--out", required=True, help="the report folder to write (e.g. reports/quick/)")
    rp.add_argument("--baseline", metavar="RUN", help="a run to compare against (regressions red)")
    rp.add_argument("--title", help="the report's title")
    rp.add_argument("--crosscheck", nargs="+", metavar="JSON", default=None,
                    help="crosscheck JSON file(s) ('harness crosscheck --out', reports/reference/) for the "
                         "Emulation vs framework page")
    rp.add_argument("--locality", nargs="+", metavar="JSON", default=None,
                    help="'harness locality --out' JSON file(s) for the Locality page")
    rp.add_argument("--precision", nargs="+", metavar="JSON", default=None,
                    help="'harness precision --stages --json' output(s): the precision curves of the Failure "
                         "points page")
    rp.add_argument("--wall", metavar="JSON", default=None,
                    help="'harness failure-point --config configs/wall.toml --json' output: the Summary's float64 "
                         "wall (default for the nightly: reports/reference/wall-float64.json)")
    rp.add_argument("--headline", metavar="JSON", default=None,
                    help="'harness failure-point --bias A,B,... --json' output: the Summary's headline chart "
                         "(failure n per format and bias strategy)")
    rp.add_argument("--pipelines", metavar="JSON", default=None,
                    help="'harness failure-point --pipeline LIST --json' output: the Summary's pipeline chart")
    rp.add_argument("--quiet", action="store_true", help="no progress messages")
    rp.set_defaults(func=cmd_report)

    ng = sub.add_parser("nightly", help="the nightly job: sweep, benchmarks, report, history, regression gate",
                        description="Run the sweep (default configs/nightly.toml) and the benchmarks, write the "
                                    "report to REPORTS/<sweep>/<date>/ and REPORTS/latest/, append the tracked "
                                    "figures to REPORTS/history-<sweep>.jsonl and compare them with the committed "
                                    "baseline; exit 1 on a regression.")
    ng.add_argument("--config", default="configs/nightly.toml", help="the sweep file (default configs/nightly.toml)")
    ng.add_argument("--results", default="results", help="where runs go (default results/)")
    ng.add_argument("--reports", default="reports", help="where reports go (default reports/)")
    ng.add_argument("--baseline", default=None,
                    help="the baseline digest (default reports/baseline/<sweep>.json; 'none': no comparison)")
    ng.add_argument("--no-bench", action="store_true", help="skip the benchmarks")
    ng.add_argument("--no-crosscheck", action="store_true", help="skip the framework crosscheck (PyTorch)")
    ng.add_argument("--no-locality", action="store_true", help="skip the locality runs (the Locality page)")
    ng.add_argument("--no-precision", action="store_true", help="skip the precision-by-stage searches (the "
                                                                "Failure points page's precision curves)")
    ng.add_argument("--no-headline", action="store_true", help="skip the headline failure-point searches (every "
                                                               "format x bias strategy of the main slice)")
    ng.add_argument("--no-slow", action="store_true", help="skip the slow acceptance tests (pytest -m slow on "
                                                           "tests/: the float64 failure point, ~3 min)")
    ng.add_argument("--bench-dir", default="benchmarks", help="the benchmark folder (default benchmarks/, "
                                                              "relative to the current folder: run from a checkout)")
    ng.add_argument("--workers", type=int, default=None, help="local worker processes (default: the cores)")
    ng.add_argument("--quiet", action="store_true", help="no progress output")
    ng.set_defaults(func=cmd_nightly)

    gt = sub.add_parser("gate", help="compare a run with a baseline digest; exit 1 on a regression",
                        description="The regression gate alone: a run's tracked figures against a baseline digest.")
    gt.add_argument("run", help="the run folder")
    gt.add_argument("--baseline", required=True, help="the baseline digest (e.g. reports/baseline/nightly.json)")
    gt.add_argument("--bench", help="the run's pytest-benchmark JSON (benchmark ratios)")
    gt.set_defaults(func=cmd_gate)

    bl = sub.add_parser("baseline", help="update the committed baseline digest from a run",
                        description="Write a run's tracked figures (a small JSON digest) as the baseline the "
                                    "nightly gate compares against. The only way the baseline changes.")
    bl.add_argument("action", choices=("update",))
    bl.add_argument("run", help="the run folder")
    bl.add_argument("--bench", help="the run's pytest-benchmark JSON (benchmark ratios)")
    bl.add_argument("--to", help="the digest file (default reports/baseline/<sweep>.json)")
    bl.set_defaults(func=cmd_baseline)

    hs = sub.add_parser("history", help="keep the regression history on a git branch across CI runs",
                        description="restore: copy the history files of a git branch into reports/ before the "
                                    "nightly; save: commit reports/history-*.jsonl onto the branch and push it.")
    hs.add_argument("action", choices=("restore", "save"))
    hs.add_argument("--remote", default="origin", help="the git remote (default origin)")
    hs.add_argument("--branch", default="nightly-history", help="the history branch (default nightly-history)")
    hs.add_argument("--reports", default="reports", help="where the history files are (default reports/)")
    hs.set_defaults(func=cmd_history)

    ls = sub.add_parser("list", help="every registered format and strategy name",
                        description="List the registries: formats, directions, biases, solvers, "
                                    "evaluators, data and label generators.")
    ls.set_defaults(func=cmd_list)
    return p


def _os_message(exc: OSError) -> str:
    """An OSError as 'PATH: reason' (the file it concerns, the system's words)."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {reason}" if where else reason


def main(argv=None) -> int:
    """Run the command line; every failure the user can act on is one line on stderr and a
    non-zero exit (2: an error, 130: interrupted, 143: terminated), never a traceback."""
    from .core.errors import Terminated

    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"harness: warning: {message}", file=sys.stderr)

    parser = build_parser()
    args = parser.parse_args(argv)
    old_show = warnings.showwarning
    warnings.showwarning = show  # one line per warning, no source line
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): say so once, and mute the exit flush
        _mute_stdout()
        print("harness: error: the output was closed early (broken pipe)", file=sys.stderr)
        return 2
    except MemoryError:
        print("harness: error: out of memory (try a smaller n or d, or a machine with more memory)", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only folder, a full disk, a missing export folder...
        print(f"harness: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except Terminated:
        print("harness: terminated (SIGTERM); finished points are kept, --resume continues", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = old_show


def _mute_stdout():
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no real stdout (tests capture it)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
