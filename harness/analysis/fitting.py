"""``fit``: generate or load data, build the network, evaluate it, check it against a reference."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..build.construction import construct
from ..build.problems import make_problem
from ..core.errors import HarnessError
from ..build.sampling import EVAL_BUDGET
from .outcome import evaluate_training

__all__ = ["fit", "FitReport", "EVAL_BUDGET", "EXACT_CHECK_MAX_N", "MP_CHECK_MAX_N"]

#: Up to this n the reference is exact rationals (about 1.6 s at 1,000, 5.5 s at 2,000).
EXACT_CHECK_MAX_N = 1000
#: Up to this many neurons the certified mpmath recurrence checks every weight (~1 s per
#: 5*10^4 at 256 bits); beyond, the first MP_CHECK_MAX_N neurons are checked — exactly
#: those weights, since w_1..w_m depend only on points 1..m.
MP_CHECK_MAX_N = 50_000


@dataclass(frozen=True)
class FitReport:
    """Figures of one fit (JSON-ready via :meth:`to_dict`)."""

    n: int
    n_input: int
    d: int
    k: int
    fmt: str
    direction: str
    bias: str
    solver: str
    evaluator: str
    rounding: str
    seed: int
    n_params: int
    merged: int
    attempts: int
    moved_biases: int
    min_gap: float
    max_abs_w: float
    fit_max_error: float
    fit_fraction: float
    label_kind: str
    eval_points: int
    eval_sampled: bool
    ref_kind: str
    ref_checked: int
    ref_max_rel_error: float
    ref_norm_rel_error: float
    ref_bits_lost: float          # log2(normwise relative error / u)
    time_construct: float
    time_eval: float
    time_check: float
    arith: str = ""               # the arithmetic the network was built in ('' per-operation)
    deploy: str = ""              # the format / arithmetic of the deployed forward pass ('' none)
    deploy_evaluator: str = ""
    deploy_max_error: float = float("nan")
    deploy_fraction: float = float("nan")
    time_deploy: float = 0.0
    real_rtol: float = 0.01       # real labels: |f - y| <= real_rtol * max(1, |y|) (outcome.real_label_rtol)
    schema_version: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


def _reference_check(net, Yn, Wc):
    """(kind, neurons checked, max componentwise rel err, normwise rel err)."""
    from .attribution import weight_errors
    from ..linalg.reference import reference_solution

    ref = reference_solution(net.z, net.b, Yn, max_exact_n=EXACT_CHECK_MAX_N, max_m=MP_CHECK_MAX_N)
    norm, comp, _, _ = weight_errors(Wc, ref, net.fmt)
    return ref.kind, ref.m, comp, norm


#: A fit of at least this many points prints ETAs for its construction and evaluation, from a pilot.
ETA_MIN_N = 2**20
#: The pilot's size: the first rows, constructed and evaluated (on a few points) the same way.
ETA_PILOT_N = 2**16


def _eval_work(n: int, budget: int = EVAL_BUDGET) -> float:
    """Forward-pass work (points x neurons) of evaluate_training at n (harness.build.sampling)."""
    from ..build.sampling import SMALLEST_GAPS, sample_size

    m = sample_size(n, budget)
    return float(n if m == n and n * n <= budget else min(n, m + 2 * SMALLEST_GAPS)) * n


def _pilot_eta(X, y, kw, evaluator):
    """(construct seconds, evaluation seconds) expected for all of X, from timing the same
    construction on its first ETA_PILOT_N rows (the second of two runs: the first loads
    kernels) scaled by n log n, and an evaluation of the pilot on a few points scaled by the
    work (points x neurons); None for small n or a pilot that failed."""
    import math

    n = len(X)
    if n < ETA_MIN_N:
        return None
    m = ETA_PILOT_N
    Xm, ym = X[:m], np.asarray(y)[:m]
    small = m * 64  # the pilot's evaluation budget: ~100 points
    try:
        for _ in range(2):
            t0 = time.perf_counter()
            net = construct(Xm, ym, **kw)
            t_c = time.perf_counter() - t0
        for _ in range(2):
            t0 = time.perf_counter()
            evaluate_training(net, Xm, np.asarray(ym, np.float64).reshape(m, -1), evaluator=evaluator, budget=small)
            t_e = time.perf_counter() - t0
    except HarnessError:  # the pilot collided or overflowed: no estimate, the real run will say why
        return None
    return t_c * (n / m) * (math.log2(n) / math.log2(m)), t_e * _eval_work(n) / _eval_work(m, small)


def fit(n: int | None = None, d: int | None = None, data: str = "uniform", labels: str = "binary", *,
        X=None, y=None, direction="gaussian", bias="midpoint", fmt="float64", solver="recurrence",
        evaluator="sequential", seed: int = 0, rounding: str = "nearest", first_offset=None,
        check: bool = True, deploy: str | None = None, deploy_evaluator: str = "sequential", progress=None,
        stream: bool | None = None):
    """Build, evaluate and check one network; returns (Network, FitReport).

    Either give ``X`` and ``y`` (a user's data), or ``n``, ``d``, ``data`` and
    ``labels`` to generate them (seeded). ``fmt`` is a format or an arithmetic ``S@A``
    (:mod:`harness.core.arith`). ``deploy`` runs the solved weights' forward pass again in
    another format or arithmetic (e.g. weights solved in float64, deployed in
    ``bfloat16@float32``) with ``deploy_evaluator``; the report has both. ``progress`` is
    called with a short message before each stage. ``stream``: generated X read block by
    block, never held whole (True), held (False), or streamed when it is large (None:
    :func:`harness.build.problems.streams`); the results are the same bits either way. ``X``
    may also be a :class:`harness.build.streams.RowSource` (a memory-mapped .npy).
    """
    from ..core.arith import resolve, split_target

    say = progress or (lambda msg: None)
    fmt_obj, _ = split_target(fmt)
    deploy_name = resolve(deploy).name if deploy else ""
    if X is None:
        if n is None or d is None:
            raise HarnessError("give either X and y, or n and d to generate data")
        from ..build.problems import streams

        streamed = streams(n, d, data, stream)
        say(f"generating {n} x {d} {data} points" + (" (streamed: X read in blocks, never held whole)"
                                                    if streamed else ""))
        X, y_gen = make_problem(n, d, data, labels, direction=direction, fmt=fmt, rounding=rounding, seed=seed,
                                stream=streamed)
        y = y_gen if y is None else y
    elif y is None:
        raise HarnessError("labels y are required with X")
    eta = _pilot_eta(X, y, dict(direction=direction, bias=bias, fmt=fmt, solver=solver, seed=seed,
                                rounding=rounding, first_offset=first_offset), evaluator) if progress else None
    say(f"constructing ({direction}, {bias}, {fmt_obj.name}, {solver})"
        + (f" - expected ~{eta[0]:.0f} s, then ~{eta[1]:.0f} s to evaluate (from a {ETA_PILOT_N:,}-point pilot)"
           if eta else ""))
    t0 = time.perf_counter()
    net = construct(X, y, direction=direction, bias=bias, fmt=fmt, solver=solver, seed=seed,
                    rounding=rounding, first_offset=first_offset)
    t_construct = time.perf_counter() - t0

    Y = np.asarray(y, dtype=np.float64).reshape(net.n_input, -1)
    # the reference covers the first MP_CHECK_MAX_N neurons above EXACT_CHECK_MAX_N: only their labels
    m_ref = net.n if net.n <= max(EXACT_CHECK_MAX_N, MP_CHECK_MAX_N) else MP_CHECK_MAX_N
    Yn = Y[np.asarray(net.order)[:m_ref]]
    say(f"evaluating ({evaluator})" + (f" - expected ~{eta[1]:.0f} s" if eta else ""))
    t0 = time.perf_counter()
    ev = evaluate_training(net, X, Y, evaluator=evaluator)
    t_eval = time.perf_counter() - t0
    dep, t_deploy = None, 0.0
    if deploy_name:
        say(f"deploying in {deploy_name} ({deploy_evaluator})")
        t0 = time.perf_counter()
        dep = evaluate_training(net, X, Y, evaluator=deploy_evaluator, fmt=deploy_name, positions=ev.positions,
                                sampled=ev.sampled, kind=ev.label_kind)
        t_deploy = time.perf_counter() - t0

    Wc = net.carriers()[2]
    z = np.asarray(net.z, np.float64)
    ref = ("none", 0, float("nan"), float("nan"))
    t_check = 0.0
    if check:
        say("checking weights against the exact / high-precision reference")
        t0 = time.perf_counter()
        ref = _reference_check(net, Yn, Wc[:m_ref])
        t_check = time.perf_counter() - t0
    with np.errstate(divide="ignore"):
        # normwise: the componentwise maximum is dominated by weights whose exact value is ~0
        bits = float(np.log2(ref[3] / fmt_obj.u)) if ref[3] > 0 else float("-inf")
    report = FitReport(
        n=net.n, n_input=net.n_input, d=net.d, k=net.k, fmt=net.fmt, direction=net.direction,
        bias=net.bias, solver=net.solver, evaluator=evaluator, rounding=rounding, seed=int(seed),
        n_params=net.n_params, merged=len(net.merged), attempts=net.attempts,
        moved_biases=net.moved_biases,
        min_gap=float(np.min(np.diff(z))) if z.size > 1 else float("inf"),
        max_abs_w=float(np.max(np.abs(Wc))), fit_max_error=ev.max_error, fit_fraction=ev.fraction,
        label_kind=ev.label_kind, eval_points=int(ev.positions.size), eval_sampled=ev.sampled,
        ref_kind=ref[0], ref_checked=int(ref[1]), ref_max_rel_error=ref[2],
        ref_norm_rel_error=ref[3], ref_bits_lost=bits,
        time_construct=t_construct, time_eval=t_eval, time_check=t_check, arith=net.arith,
        deploy=deploy_name, deploy_evaluator=deploy_evaluator if dep is not None else "",
        deploy_max_error=dep.max_error if dep is not None else float("nan"),
        deploy_fraction=dep.fraction if dep is not None else float("nan"), time_deploy=t_deploy,
        real_rtol=ev.rtol,
    )
    return net, report
