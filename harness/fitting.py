"""``fit``: generate or load data, build the network, evaluate it, check it against a reference."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from .construction import construct, project_points, rng_for
from .data import label_kind, make_data, make_labels
from .errors import HarnessError
from .formats import get_format
from .outcome import reproduced

__all__ = ["fit", "FitReport", "EVAL_BUDGET", "EXACT_CHECK_MAX_N", "MP_CHECK_MAX_N"]

#: Forward-pass work (points x neurons) evaluated in full; above it a seeded sample
#: of EVAL_BUDGET // n points (at least 64) plus the points beside the smallest gaps.
EVAL_BUDGET = 4 * 10**8
#: Up to this n the reference is exact rationals (about 1.6 s at 1,000, 5.5 s at 2,000).
EXACT_CHECK_MAX_N = 1000
#: Up to this many neurons the mpmath recurrence checks every weight (~3.5 s per 5*10^4 at
#: 256 bits); beyond, the first MP_CHECK_MAX_N neurons are checked — exactly those
#: weights, since w_1..w_m depend only on points 1..m.
MP_CHECK_MAX_N = 50_000
#: Working precision of the mpmath reference; it is repeated at +64 bits and must agree.
MP_CHECK_PREC = 256


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


def _eval_rows(net, seed):
    n = net.n
    if n * n <= EVAL_BUDGET:
        return np.arange(n), False
    m = max(64, EVAL_BUDGET // n)
    rng = rng_for(seed, "sample")
    pos = set(rng.choice(n, size=min(m, n), replace=False).tolist())
    gaps = np.diff(np.asarray(net.z, np.float64))
    for g in np.argsort(gaps, kind="stable")[:16]:
        pos.update((int(g), int(g) + 1))
    return np.array(sorted(pos)), True


def _reference_check(net, y_neuron, Wc):
    """(kind, neurons checked, max componentwise rel err, normwise rel err)."""
    from .exact import solve_exact, solve_mp, to_fraction

    z = np.asarray(net.z, np.float64)
    b = np.asarray(net.b, np.float64)
    if net.n <= EXACT_CHECK_MAX_N:
        ref = solve_exact(z.tolist(), b.tolist(), y_neuron)
        ref = np.array(ref, dtype=object).reshape(net.n, -1)
        kind, m = "exact", net.n
        diff = np.array([[float(abs(r - to_fraction(c))) if np.isfinite(c) else np.inf
                          for r, c in zip(rr, cc)] for rr, cc in zip(ref, Wc)])
        mag = np.array([[float(abs(r)) for r in rr] for rr in ref])
    else:
        import mpmath

        m = min(net.n, MP_CHECK_MAX_N)
        ref = solve_mp(z[:m], b[:m], y_neuron[:m], MP_CHECK_PREC)
        ref2 = solve_mp(z[:m], b[:m], y_neuron[:m], MP_CHECK_PREC + 64)
        ref = np.array(ref, dtype=object).reshape(m, -1)
        ref2 = np.array(ref2, dtype=object).reshape(m, -1)
        with mpmath.workprec(MP_CHECK_PREC + 64):
            # normwise: a componentwise check is meaningless on weights whose exact value is ~0
            scale = max(abs(r2) for rr2 in ref2 for r2 in rr2)
            self_err = float(max(abs(r - r2) for rr, rr2 in zip(ref, ref2) for r, r2 in zip(rr, rr2))
                             / scale) if scale else 0.0
            diff = np.array([[float(abs(r - mpmath.mpf(float(c)))) for r, c in zip(rr, cc)]
                             for rr, cc in zip(ref2, Wc[:m])])
            mag = np.array([[float(abs(r)) for r in rr] for rr in ref2])
        # A reference that moved by more than 2^-60 relative between precisions is not one.
        kind = f"mp{MP_CHECK_PREC + 64}" + ("" if self_err < 2.0**-60 else "-unconverged")
    with np.errstate(divide="ignore", invalid="ignore"):
        comp = np.where(mag > 0, diff / mag, np.where(diff > 0, np.inf, 0.0))
        norm = np.max(diff) / np.max(mag) if np.max(mag) > 0 else float(np.max(diff) > 0) * np.inf
    return kind, m, float(np.nanmax(comp)), float(norm)


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
        X = make_data(data, n, d, rng_for(seed, "data"))
        if y is None:
            rank = np.zeros(X.shape[0], dtype=np.int64)
            if labels.split(":")[0] == "alternating":
                # label by position along the direction construct() tries first
                _, _, z = project_points(fmt_obj.cast(X), direction, fmt_obj,
                                         fmt_obj.kernel_spec(rounding), seed)
                rank[np.argsort(z, kind="stable")] = np.arange(z.size)
            y = make_labels(labels, X.shape[0], rng_for(seed, "labels"), rank)
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
    rows, sampled = _eval_rows(net, seed)
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
        ref = _reference_check(net, Yn if Yn.shape[1] > 1 else Yn[:, 0], Wc)
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
