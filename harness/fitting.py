"""``fit``: generate or load data, build the network, evaluate it, check it against a reference."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from .construction import construct, project_points, rng_for
from .data import label_kind, make_dataset, make_labels
from .errors import HarnessError
from .formats import get_format
from .outcome import reproduced
from .sampling import EVAL_BUDGET, eval_positions

__all__ = ["fit", "make_problem", "FitReport", "EVAL_BUDGET", "EXACT_CHECK_MAX_N", "MP_CHECK_MAX_N"]

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
    schema_version: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def _reference_check(net, Yn, Wc):
    """(kind, neurons checked, max componentwise rel err, normwise rel err)."""
    from .attribution import weight_errors
    from .reference import reference_solution

    ref = reference_solution(net.z, net.b, Yn, max_exact_n=EXACT_CHECK_MAX_N, max_m=MP_CHECK_MAX_N)
    norm, comp, _, _ = weight_errors(Wc, ref, net.fmt)
    return ref.kind, ref.m, comp, norm


def make_problem(n: int, d: int, data: str = "uniform", labels: str = "binary", *, direction="gaussian",
                 fmt="float64", rounding: str = "nearest", seed: int = 0):
    """The seeded inputs X (n, d) and labels y of a generated configuration.

    ``alternating`` labels alternate along the projection order of the direction that
    :func:`construct` tries first with the same seed, format and rounding.
    """
    fmt_obj = get_format(fmt)
    X, own = make_dataset(data, n, d, rng_for(seed, "data"))
    rank = np.zeros(X.shape[0], dtype=np.int64)
    if labels.split(":")[0] == "alternating":
        _, _, z = project_points(fmt_obj.cast(X), direction, fmt_obj, fmt_obj.kernel_spec(rounding), seed)
        rank[np.argsort(z, kind="stable")] = np.arange(z.size)
    return X, make_labels(labels, X.shape[0], rng_for(seed, "labels"), rank, true=own)


def fit(n: int | None = None, d: int | None = None, data: str = "uniform", labels: str = "binary", *,
        X=None, y=None, direction="gaussian", bias="midpoint", fmt="float64", solver="recurrence",
        evaluator="sequential", seed: int = 0, rounding: str = "nearest", first_offset=None,
        check: bool = True, progress=None):
    """Build, evaluate and check one network; returns (Network, FitReport).

    Either give ``X`` and ``y`` (a user's data), or ``n``, ``d``, ``data`` and
    ``labels`` to generate them (seeded). ``progress`` is called with a short
    message before each stage.
    """
    say = progress or (lambda msg: None)
    fmt_obj = get_format(fmt)
    if X is None:
        if n is None or d is None:
            raise HarnessError("give either X and y, or n and d to generate data")
        say(f"generating {n} x {d} {data} points")
        X, y_gen = make_problem(n, d, data, labels, direction=direction, fmt=fmt, rounding=rounding, seed=seed)
        y = y_gen if y is None else y
    elif y is None:
        raise HarnessError("labels y are required with X")
    say(f"constructing ({direction}, {bias}, {fmt_obj.name}, {solver})")
    t0 = time.perf_counter()
    net = construct(X, y, direction=direction, bias=bias, fmt=fmt, solver=solver, seed=seed,
                    rounding=rounding, first_offset=first_offset)
    t_construct = time.perf_counter() - t0

    Y = np.asarray(y, dtype=np.float64).reshape(net.n_input, -1)
    Yn = Y[np.asarray(net.order)]
    kind = label_kind(Y)
    rows, sampled = eval_positions(net.z, seed)
    say(f"evaluating {rows.size} points ({evaluator})")
    t0 = time.perf_counter()
    Xarr = np.asarray(X, dtype=np.float64)
    out = np.asarray(net.forward(Xarr[np.asarray(net.order)[rows]], evaluator=evaluator), np.float64)
    t_eval = time.perf_counter() - t0
    out = out.reshape(rows.size, -1)
    with np.errstate(invalid="ignore"):
        err = np.abs(out - Yn[rows])
    fit_max = float(np.max(err)) if np.all(np.isfinite(err)) else float("inf")
    frac = float(np.mean(reproduced(out, Yn[rows], kind)))

    Wc = net.carriers()[2]
    z = np.asarray(net.z, np.float64)
    ref = ("none", 0, float("nan"), float("nan"))
    t_check = 0.0
    if check:
        say("checking weights against the exact / high-precision reference")
        t0 = time.perf_counter()
        ref = _reference_check(net, Yn, Wc)
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
        max_abs_w=float(np.max(np.abs(Wc))), fit_max_error=fit_max, fit_fraction=frac,
        label_kind=kind, eval_points=int(rows.size), eval_sampled=bool(sampled),
        ref_kind=ref[0], ref_checked=int(ref[1]), ref_max_rel_error=ref[2],
        ref_norm_rel_error=ref[3], ref_bits_lost=bits,
        time_construct=t_construct, time_eval=t_eval, time_check=t_check,
    )
    return net, report
