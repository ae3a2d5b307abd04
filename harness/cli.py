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
from .errors import HarnessError

__all__ = ["main"]


def _fmt_frac(q) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _dec(q, digits=6) -> str:
    """A Fraction as an exact decimal when it has a short one, else a rounded one."""
    s = f"{float(q):.{digits}g}"
    from fractions import Fraction

    return s if Fraction(s) == q else f"~{s}"


def cmd_seed(args) -> int:
    from .seed import SEED_PRINTED_W2, SEED_THRESHOLDS, SEED_Y, seed_example

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
    print("Seed example (shared/seed): 4 points in R^3, a = (1, 1, 1), thresholds "
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
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def cmd_fit(args) -> int:
    from .fitting import fit
    from .formats import get_format

    progress = None if (args.json or args.quiet) else (lambda m: print(f"... {m}", file=sys.stderr, flush=True))
    kwargs = dict(direction=args.direction, bias=args.bias, fmt=args.fmt, solver=args.solver,
                  evaluator=args.evaluator, seed=args.seed, rounding=args.rounding,
                  first_offset=args.first_offset, check=not args.no_check, progress=progress)
    if args.input:
        from .datafiles import load_xy

        X, y = load_xy(args.input, args.labels_file)
        net, r = fit(X=X, y=y, **kwargs)
    else:
        net, r = fit(args.n, args.d, args.data, args.labels, **kwargs)
    if args.export:
        path = net.export().save(args.export)
        if progress:
            progress(f"wrote the two-layer weights to {path}")
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, allow_nan=True))
        return 0
    src = args.input or f"{args.data} data, {args.labels} labels"
    print(f"fit: n = {r.n} points (of {r.n_input}; {r.merged} duplicates merged), d = {r.d}, k = {r.k}   [{src}]")
    print(f"  strategies   direction {r.direction}, bias {r.bias}, format {r.fmt}, solver {r.solver}, "
          f"rounding {r.rounding}, seed {r.seed}" + (f"  ({r.attempts} directions tried)" if r.attempts > 1 else ""))
    print(f"  parameters   {r.n_params} (2n + d" + (f" + (k-1)n" if r.k > 1 else "") + ")")
    print(f"  smallest gap {_g(r.min_gap)}      max |w| {_g(r.max_abs_w)}"
          + (f"      knots moved by rounding {r.moved_biases}" if r.moved_biases else ""))
    where = f"{r.eval_points} sampled points" if r.eval_sampled else f"all {r.eval_points} points"
    print(f"  fit          max |f(x) - y| = {_g(r.fit_max_error)} in {r.fmt} ({r.evaluator}, {where}); "
          f"labels reproduced: {100 * r.fit_fraction:.2f}% ({r.label_kind})")
    if r.ref_kind != "none":
        span = "all weights" if r.ref_checked == r.n else f"the first {r.ref_checked} weights"
        print(f"  reference    {r.ref_kind} on {span}: normwise relative error {_g(r.ref_norm_rel_error)} "
              f"= {_g(r.ref_bits_lost)} bits lost (over u = 2^-{get_format(r.fmt).p}); "
              f"max componentwise {_g(r.ref_max_rel_error)}")
    print(f"  time         construct {r.time_construct:.3f} s, evaluate {r.time_eval:.3f} s, "
          f"check {r.time_check:.3f} s")
    return 0


def cmd_list(args) -> int:
    from .biases import BIASES
    from .data import DATA, LABELS
    from .directions import DIRECTIONS
    from .evaluators import EVALUATORS
    from .formats import FORMATS
    from .solvers import SOLVERS

    for title, reg in (("formats", FORMATS), ("directions", DIRECTIONS), ("biases", BIASES),
                       ("solvers", SOLVERS), ("evaluators", EVALUATORS), ("data", DATA), ("labels", LABELS)):
        print(f"{title}:")
        for name, doc in reg.describe():
            print(f"  {name:<16} {doc}")
    return 0


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
    f.add_argument("--direction", default="gaussian", help="ones | gaussian | best-of:K (default gaussian)")
    f.add_argument("--bias", default="midpoint", help="midpoint | left | fraction:THETA | random (default midpoint)")
    f.add_argument("--fmt", default="float64", help="working format (default float64)")
    f.add_argument("--solver", default="recurrence", help="recurrence | backsub | lapack | exact")
    f.add_argument("--evaluator", default="sequential", help="sequential | compensated | dense | prefix")
    f.add_argument("--rounding", default="nearest", help="nearest | stochastic (default nearest)")
    f.add_argument("--first-offset", type=float, default=None, help="z_(1) - b_1 (default: the mean gap)")
    f.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    f.add_argument("--no-check", action="store_true", help="skip the exact/high-precision reference check")
    f.add_argument("--export", metavar="PATH", help="save the plain two-layer weights (W1, b1, w2) as .npz")
    f.add_argument("--json", action="store_true", help="machine-readable output")
    f.add_argument("--quiet", action="store_true", help="no progress messages")
    f.set_defaults(func=cmd_fit)

    ls = sub.add_parser("list", help="every registered format and strategy name",
                        description="List the registries: formats, directions, biases, solvers, "
                                    "evaluators, data and label generators.")
    ls.set_defaults(func=cmd_list)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
