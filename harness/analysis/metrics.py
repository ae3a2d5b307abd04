"""``analyze``: every metric of one network in one immutable record.

:class:`Analysis` gathers, for one fitted network:

* ``gaps`` — spacing of the sorted projections and the bias fractions theta used;
* ``conditioning`` — cond_1 / cond_inf of M four ways, Skeel's cond (:mod:`harness.linalg.conditioning`);
* ``growth`` — max|w| and ||w||_1, absolute and relative to the label scale;
* ``solve`` — solve and backward errors against the exact / certified reference, with the
  bounds they imply (:mod:`harness.analysis.attribution`);
* ``evaluation`` — the forward-only / solve-only / user error split per evaluator;
* ``outcome`` — the fit as a user sees it (largest error, share of labels reproduced);
* ``theory`` — the predicted growth law, the amplification the thetas imply, and the
  spacing / collision estimate (:mod:`harness.analysis.laws`).

``Analysis.to_row()`` flattens it to scalars (one row of a results table).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields

import numpy as np

from .attribution import SolveError, eval_errors, solve_error
from ..linalg.conditioning import METHODS, Conditioning, condition
from ..core.errors import HarnessError
from ..core.formats import get_format
from .laws import CollisionEstimate, Law, amplification_log2, collision_estimate, law_for_bias

__all__ = ["Analysis", "GapStats", "Growth", "Outcome", "Theory", "analyze", "analyze_config",
           "gap_stats", "default_evaluators", "growth_scan", "Scan", "ScanPoint", "SCHEMA_VERSION"]

#: Version of the Analysis layout (bump on any change of fields or meaning).
SCHEMA_VERSION = 1
#: Forward-pass work per evaluator pass in the error split: a quarter of fit's budget,
#: since the split runs two passes for each of up to four evaluators.
ANALYZE_EVAL_BUDGET = 10**8


@dataclass(frozen=True)
class GapStats:
    """Spacing of the sorted projections and the knots' placement in their gaps."""

    n: int
    span: float                # z_n - z_1
    min_gap: float
    mean_gap: float
    median_gap: float
    min_over_mean: float       # min gap / mean gap (1 for equispaced, ~1/n for random)
    log2_ratio_median: float   # median |log2(g_i / g_(i-1))|: how abruptly neighbouring gaps change
    log2_ratio_max: float
    theta_min: float           # bias fractions (b_i - z_(i-1)) / g_i actually used
    theta_median: float
    theta_max: float
    first_offset: float        # z_1 - b_1


@dataclass(frozen=True)
class Growth:
    """Size of the output weights, absolute and relative to the largest |label|."""

    max_abs_w: float
    norm1_w: float
    label_scale: float
    max_abs_w_rel: float
    norm1_w_rel: float


@dataclass(frozen=True)
class Outcome:
    """The fit as a user sees it: computed weights run in the format."""

    evaluator: str
    points: int
    sampled: bool
    max_error: float
    fraction: float            # labels reproduced (nearest class / within tolerance)
    label_kind: str


@dataclass(frozen=True)
class Theory:
    """Predictions beside the measurements."""

    law: Law
    log2_cond1_law: float      # the equispaced law at this n (NaN where only its shape is known)
    log2_cond1_shape: float    # the law's shape n^k r^n at this n, constant left out
    log2_amplification: float  # largest exact-arithmetic error growth along the chain (from theta)
    collision: CollisionEstimate


@dataclass(frozen=True)
class Analysis:
    """Every metric of one network (see the module docstring)."""

    n: int
    n_input: int
    d: int
    k: int
    fmt: str
    u: float
    direction: str
    bias: str
    solver: str
    rounding: str
    seed: int
    gaps: GapStats
    conditioning: Conditioning
    growth: Growth
    solve: SolveError | None
    evaluation: tuple
    outcome: Outcome
    theory: Theory
    time_total: float
    arith: str = ""            # the arithmetic S@A the network was built in ('' per-operation)
    inputs: object = None      # ExactInputs: against the construction carried out exactly from X, y
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        """Nested plain dict (JSON-ready; floats may be inf / NaN)."""
        return asdict(self)

    def to_row(self) -> dict:
        """Flat dict of scalars: nested fields joined with '_' (``cond_log2_cond1_exact``,
        ``eval_sequential_user``, ``theory_law_rate``, ...)."""
        row = {}
        prefix = {"gaps": "gaps", "conditioning": "cond", "growth": "growth", "solve": "solve",
                  "outcome": "outcome", "theory": "theory", "inputs": "inputs"}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "evaluation":
                for e in v:
                    for k, x in asdict(e).items():
                        if k != "evaluator":
                            row[f"eval_{e.evaluator}_{k}"] = x
            elif f.name in prefix:
                if v is None:
                    continue
                for k, x in _flatten(asdict(v)).items():
                    row[f"{prefix[f.name]}_{k}"] = x
            else:
                row[f.name] = v
        return row


def _flatten(d: dict, pre: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{pre}{k}_"))
        else:
            out[f"{pre}{k}"] = v
    return out


def gap_stats(z, b) -> GapStats:
    """Gap and theta statistics of sorted projections z and knots b."""
    from ..build.biases import fractions_used

    z = np.asarray(z, np.float64)
    b = np.asarray(b, np.float64)
    n = z.size
    nan = math.nan
    if n < 2:
        return GapStats(n, 0.0, math.inf, nan, nan, nan, nan, nan, nan, nan, nan, float(z[0] - b[0]))
    g = np.diff(z)
    th = fractions_used(z, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.abs(np.log2(g[1:] / g[:-1])) if n > 2 else np.array([0.0])
    lr = lr[np.isfinite(lr)] if lr.size else lr
    mean = float((z[-1] - z[0]) / (n - 1))
    return GapStats(
        n=n, span=float(z[-1] - z[0]), min_gap=float(g.min()), mean_gap=mean, median_gap=float(np.median(g)),
        min_over_mean=float(g.min() / mean) if mean > 0 else nan,
        log2_ratio_median=float(np.median(lr)) if lr.size else nan,
        log2_ratio_max=float(np.max(lr)) if lr.size else nan,
        theta_min=float(th.min()), theta_median=float(np.median(th)), theta_max=float(th.max()),
        first_offset=float(z[0] - b[0]),
    )


def default_evaluators(fmt, rounding: str = "nearest") -> tuple:
    """Every evaluator that can run in this format (or arithmetic) and rounding mode."""
    from ..core.arith import is_arith

    if is_arith(fmt):
        return ("sequential",)  # the others are per-operation only (torch is an optional extra)
    fmt = get_format(fmt)
    evs = ("sequential", "compensated", "prefix")
    if fmt.native and rounding == "nearest":
        evs += ("dense",)
    return evs


def analyze(net, X, y, *, evaluators=None, check: bool = True, check_max_n: int | None = None,
            exact_max_n: int | None = None, cond_methods=METHODS, cond_limits=None, progress=None) -> Analysis:
    """Every metric of ``net`` built from inputs X and labels y (the caller's row order).

    Parameters
    ----------
    evaluators : sequence of str, optional
        Evaluators for the error split (default: all that run in the format).
    check : bool
        Compute the reference-based metrics (solve error, evaluation split). Without it
        ``solve`` is None and ``evaluation`` empty.
    check_max_n, exact_max_n : int, optional
        Neurons the reference covers, and the largest n solved in exact rationals
        (defaults: :data:`harness.linalg.reference.CHECK_MAX_N`, ``EXACT_REFERENCE_MAX_N``).
    cond_methods : sequence of str
        Condition-number methods to run (each is skipped above its size limit).
    cond_limits : dict, optional
        ``exact_max_n`` / ``lapack_max_n`` overriding :func:`harness.linalg.conditioning.condition`'s.
    progress : callable, optional
        Called with a short message before each stage.

    Examples
    --------
    >>> import numpy as np, harness
    >>> X = np.random.default_rng(0).random((40, 3)); y = (X[:, 0] > 0.5) * 1.0
    >>> net = harness.construct(X, y, bias="fraction:0.75")
    >>> a = harness.analyze(net, X, y)
    >>> a.outcome.fraction, a.solve.reference   # theta = 3/4: float64's forward pass already cancels at n = 40
    (0.775, 'exact')
    """
    from ..build.data import label_kind
    from ..linalg.reference import CHECK_MAX_N, EXACT_REFERENCE_MAX_N, reference_solution
    from ..build.sampling import eval_positions

    say = progress or (lambda msg: None)
    t_start = time.perf_counter()
    fmt = get_format(net.fmt)
    from ..build.streams import is_source

    Xc = X if is_source(X) else np.asarray(X, np.float64)  # a RowSource: only evaluated rows are read
    Y = np.asarray(y, np.float64).reshape(net.n_input, -1)
    if Xc.shape != (net.n_input, net.d):
        raise HarnessError(f"X has shape {Xc.shape}; the network was built from {(net.n_input, net.d)}")
    order = np.asarray(net.order)
    Yn = Y[order]
    Yf = fmt.cast(Yn)
    z, b, W = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64), net.carriers()[2]
    kind = label_kind(Y)
    evaluators = tuple(evaluators) if evaluators is not None else default_evaluators(net.arith or fmt, net.rounding)

    say("gaps and conditioning")
    gaps = gap_stats(z, b)
    cond = condition(z, b, W[:, 0], methods=cond_methods, **(cond_limits or {}))
    scale = float(np.max(np.abs(Y))) if Y.size else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        mw, n1 = float(np.max(np.abs(W))), float(np.max(np.sum(np.abs(W), axis=0)))
    growth = Growth(mw, n1, scale, mw / scale if scale else math.inf, n1 / scale if scale else math.inf)

    solve, evaluation, inputs = None, (), None
    if check:
        m_cap = CHECK_MAX_N if check_max_n is None else int(check_max_n)
        e_cap = EXACT_REFERENCE_MAX_N if exact_max_n is None else int(exact_max_n)
        say(f"reference solution ({'exact' if net.n <= e_cap else 'mpmath'}, first {min(net.n, m_cap)} neurons)")
        ref = reference_solution(z, b, Yn, max_exact_n=e_cap, max_m=m_cap)
        say("solve and backward errors")
        solve = solve_error(z, b, W, Yn, Yf, fmt, net.solver, net.rounding, ref, arith=net.arith)
        pos, sampled = eval_positions(z, net.seed, budget=ANALYZE_EVAL_BUDGET, limit=ref.m)
        say(f"evaluation error split at {pos.size} points ({', '.join(evaluators)})")
        evaluation = eval_errors(net, Xc, Y, ref, pos, sampled, evaluators, kind)
        if ref.m == net.n:
            from .exact_inputs import exact_inputs

            say("the construction carried out exactly from the inputs")
            inputs = exact_inputs(net, np.asarray(Xc, np.float64), Y, w_sys=ref.W)

    say("fit outcome")
    main_ev = evaluators[0] if evaluators else "sequential"
    gpos, gsampled = eval_positions(z, net.seed, budget=ANALYZE_EVAL_BUDGET)
    reuse = [e for e in evaluation if e.evaluator == main_ev and e.points == gpos.size]
    if reuse:
        outcome = Outcome(main_ev, reuse[0].points, reuse[0].sampled, reuse[0].user, reuse[0].user_fraction, kind)
    else:
        from .outcome import evaluate_training

        ev = evaluate_training(net, Xc, Y, evaluator=main_ev, positions=gpos, sampled=gsampled, kind=kind)
        outcome = Outcome(main_ev, ev.points, ev.sampled, ev.max_error, ev.fraction, kind)

    say("theory")
    from ..build.biases import fractions_used

    th = fractions_used(z, b) if z.size > 1 else np.array([])
    law = law_for_bias(net.bias, th)
    theory = Theory(law=law, log2_cond1_law=law.log2_cond1(net.n), log2_cond1_shape=law.log2_shape(net.n),
                    log2_amplification=amplification_log2(th),
                    collision=collision_estimate(z, fmt))
    return Analysis(
        n=net.n, n_input=net.n_input, d=net.d, k=net.k, fmt=fmt.name, u=fmt.u, direction=net.direction,
        bias=net.bias, solver=net.solver, rounding=net.rounding, seed=net.seed, gaps=gaps, conditioning=cond,
        growth=growth, solve=solve, evaluation=evaluation, outcome=outcome, theory=theory,
        time_total=time.perf_counter() - t_start, arith=net.arith, inputs=inputs,
    )


def analyze_config(n: int, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                   bias="midpoint", fmt="float64", solver="recurrence", seed: int = 0,
                   rounding: str = "nearest", first_offset=None, progress=None, **kwargs):
    """Generate the configuration's data, build the network, analyze it: (Network, Analysis)."""
    from ..build.construction import construct
    from ..build.problems import make_problem

    say = progress or (lambda msg: None)
    say(f"generating {n} x {d} {data} points, {labels} labels")
    X, y = make_problem(n, d, data, labels, direction=direction, fmt=fmt, rounding=rounding, seed=seed)
    from ..core.arith import resolve

    say(f"constructing ({direction}, {bias}, {resolve(fmt).name}, {solver})")
    net = construct(X, y, direction=direction, bias=bias, fmt=fmt, solver=solver, seed=seed,
                    rounding=rounding, first_offset=first_offset)
    return net, analyze(net, X, y, progress=progress, **kwargs)


@dataclass(frozen=True)
class ScanPoint:
    """Cheap O(n) figures of one n in a growth scan."""

    n: int
    log2_cond1: float          # closed form (structured)
    log2_max_abs_w: float
    min_gap: float
    log2_amplification: float


@dataclass(frozen=True)
class Scan:
    """Growth of cond_1 and max|w| over n for one configuration, with fitted laws."""

    points: tuple
    law: Law
    cond1_power: object        # GrowthFit of log2 cond_1 on log2 n
    cond1_rate: object         # GrowthFit of log2(cond_1 / n^2) on n (the theta > 1/2 law)
    max_w_power: object        # GrowthFit of log2 max|w| on log2 n

    def to_dict(self) -> dict:
        return asdict(self)


def growth_scan(ns, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                bias="midpoint", fmt="float64", solver="recurrence", seed: int = 0, rounding: str = "nearest",
                first_offset=None, progress=None) -> Scan:
    """Build the configuration at each n of ``ns`` and fit how cond_1 and max|w| grow.

    ``cond1_rate`` regresses ``log2 cond_1 - 2 log2 n`` on n, the shape the theta > 1/2 law
    predicts (MATH.md §4), so its rate is directly comparable to theta / (1 - theta).
    """
    from ..build.biases import fractions_used
    from ..linalg.conditioning import cond_structured
    from ..build.construction import construct
    from .exponents import fit_power, fit_rate
    from ..build.problems import make_problem

    ns = sorted({int(n) for n in ns})
    if len(ns) < 2 or ns[0] < 2:
        raise HarnessError(f"a scan needs at least two sizes n >= 2, got {ns}")
    pts = []
    for n in ns:
        if progress:
            progress(f"scan: n = {n:,}")
        X, y = make_problem(n, d, data, labels, direction=direction, fmt=fmt, rounding=rounding, seed=seed)
        net = construct(X, y, direction=direction, bias=bias, fmt=fmt, solver=solver, seed=seed,
                        rounding=rounding, first_offset=first_offset)
        z, b = np.asarray(net.z, np.float64), np.asarray(net.b, np.float64)
        with np.errstate(divide="ignore", over="ignore"):
            mw = float(np.log2(np.max(np.abs(net.carriers()[2]))))
        pts.append(ScanPoint(net.n, cond_structured(z, b)[0], mw, float(np.min(np.diff(z))),
                             amplification_log2(fractions_used(z, b))))
    nn = [p.n for p in pts]
    lc = [p.log2_cond1 for p in pts]
    return Scan(points=tuple(pts), law=law_for_bias(bias if isinstance(bias, str) else "explicit"),
                cond1_power=fit_power(nn, lc),
                cond1_rate=fit_rate(nn, [c - 2 * math.log2(n) for c, n in zip(lc, nn)]),
                max_w_power=fit_power(nn, [p.log2_max_abs_w for p in pts]))
