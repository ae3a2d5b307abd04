"""Where a fitted network's error comes from, each part against the exact reference.

* **Solve error** — the computed weights against the reference solution
  (:func:`harness.linalg.reference.reference_solution`: exact rationals, or certified mpmath):
  normwise and largest componentwise relative error, "bits lost"
  (``log2(error / u)``) and Herbie-style bits of error (``log2(1 + number of format
  values between computed and correctly rounded exact)``).
* **Backward error** of the solve, computed exactly: componentwise
  ``omega = max_i |y - M w_hat|_i / (|M| |w_hat| + |y|)_i`` (Oettli-Prager, as LAPACK
  xTRRFS reports it) and normwise; the forward-error bound it implies,
  ``|w_hat - w| <= omega |M^-1| (|M| |w_hat| + |y|)`` (first-order-free), and the
  solver's a-priori bound (:mod:`harness.linalg.bounds`), both beside the observed error.
* **Evaluation error**, per evaluator, at the same training points:
  ``forward_only`` — the exact weights rounded to the format, run in the format (the
  forward pass alone); ``solve_only`` — the computed weights evaluated exactly,
  ``|M w_hat - y|`` (the solve alone); ``user`` — the computed weights run in the format
  (what a user sees).

Everything covers the reference's prefix: the first m neurons (m = n unless n is large),
a self-contained system, since w_1..w_m and the outputs at points 1..m depend on
points 1..m only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..core.exact import Q, apply_exact, round_fraction, to_float, to_q
from ..core.formats import get_format

__all__ = ["SolveError", "EvalError", "solve_error", "eval_errors", "weight_errors"]


@dataclass(frozen=True)
class SolveError:
    """Accuracy of the computed weights over the reference's first ``checked`` neurons."""

    reference: str            # "exact" or "mp<prec>"
    checked: int
    certified: float          # proven relative error of the reference itself
    norm_rel: float           # max|w_hat - w| / max|w|
    comp_rel: float           # max |w_hat - w|_i / |w_i|
    bits_lost_norm: float     # log2(norm_rel / u)
    bits_lost_comp: float     # log2(comp_rel / u)
    herbie_max: float         # max_i log2(1 + ulps between w_hat_i and round(w_i))
    herbie_mean: float
    backward_comp: float      # omega, componentwise (Oettli-Prager)
    backward_norm: float      # ||r||_inf / (||M||_inf ||w_hat||_inf + ||y||_inf)
    residual_max: float       # max |y - M w_hat|, exactly (the solve's own misfit)
    bound_backward: float     # normwise relative bound implied by backward_comp
    bound_apriori: float      # normwise relative bound from the solver's a-priori model
    bound_holds: bool         # norm_rel <= both bounds

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EvalError:
    """Output errors at the evaluated training points for one evaluator."""

    evaluator: str
    points: int
    sampled: bool
    forward_only: float       # exact weights rounded to the format, run in the format
    solve_only: float         # computed weights evaluated exactly
    user: float               # computed weights run in the format
    user_fraction: float      # labels reproduced by the user's network

    def to_dict(self) -> dict:
        return asdict(self)


def _log2_ratio(x: float, u: float) -> float:
    if x == 0:
        return -math.inf
    return math.log2(x / u) if math.isfinite(x) else math.inf


def weight_errors(W_hat, ref, fmt) -> tuple:
    """(normwise relative error, largest componentwise relative error, Herbie bits per
    weight, max |w| of the reference as a Fraction) of computed weights W_hat ((n, k) or (n,);
    the first ref.m rows) against the reference ``ref``, computed exactly and rounded once."""
    fmt = get_format(fmt)
    m = ref.m
    W = np.asarray(W_hat, np.float64).reshape(np.shape(W_hat)[0], -1)[:m]
    diffs, mags, comps, herb = [], [], [], []
    for c in range(W.shape[1]):
        wref = ref.column(c)
        mags.extend(abs(w) for w in wref)
        rounded = np.array([round_fraction(w, fmt) for w in wref])
        ok = np.isfinite(W[:, c]) & np.isfinite(rounded)
        ulps = np.abs(fmt.ordinals(np.where(ok, W[:, c], 0.0)) - fmt.ordinals(np.where(ok, rounded, 0.0)))
        herb.extend(np.where(ok, np.log2(1.0 + ulps.astype(np.float64)), float(fmt.width)).tolist())
        for i in range(m):
            if not math.isfinite(W[i, c]):
                diffs.append(None)
                comps.append(math.inf)
                continue
            dq = abs(to_q(W[i, c]) - wref[i])
            diffs.append(dq)
            comps.append(to_float(dq / abs(wref[i])) if wref[i] != 0 else (0.0 if dq == 0 else math.inf))
    top = max(mags, default=Q(0))
    if any(d is None for d in diffs):
        norm_rel = math.inf
    else:
        dmax = max(diffs, default=Q(0))
        norm_rel = to_float(dmax / top) if top else (0.0 if dmax == 0 else math.inf)
    return norm_rel, max(comps, default=0.0), herb, top


def solve_error(z, b, W_hat, Y, Y_fmt, fmt, solver: str, rounding: str, ref, arith: str = "") -> SolveError:
    """The solve-error figures over the reference's prefix (all columns of W together).

    Parameters
    ----------
    z, b : sorted projections and knots (float carriers)
    W_hat : (n, k) computed weights
    Y : (n, k) the caller's labels in neuron order (float64, taken exactly)
    Y_fmt : (n, k) the labels rounded to the working format
    ref : :class:`harness.linalg.reference.Reference`
    arith : the arithmetic ``S@A`` the weights were solved in ('' per-operation). The a-priori
        bound is derived for the per-operation order; for an arithmetic it is not claimed
        (NaN) and ``bound_holds`` rests on the backward-error bound alone.
    """
    from ..linalg.bounds import round_up, bound_fast, solve_error_bound_fast
    from ..linalg.conditioning import matrix_norms

    fmt = get_format(fmt)
    u = fmt.u
    m = ref.m
    zm = np.asarray(z, np.float64)[:m]
    bm = np.asarray(b, np.float64)[:m]
    W = np.asarray(W_hat, np.float64).reshape(len(z), -1)[:m]
    Ym = np.asarray(Y, np.float64).reshape(len(z), -1)[:m]
    Yf = np.asarray(Y_fmt, np.float64).reshape(len(z), -1)[:m]
    k = W.shape[1]
    finite = bool(np.all(np.isfinite(W)))
    norm_rel, comp_rel, herb, top = weight_errors(W, ref, fmt)

    if not finite:
        inf = math.inf
        omega_f = backward_norm = resid = bound_bw = bound_ap = inf
    else:
        # exact residual r = y - M w_hat and |M| |w_hat|, column by column
        omega, omega_inf, r_top = Q(0), False, Q(0)
        Maw_up = []
        for c in range(k):
            Mw = apply_exact(zm, bm, W[:, c])
            Maw = apply_exact(zm, bm, np.abs(W[:, c]))
            Maw_up.append(np.array([round_up(v) for v in Maw]))
            for i in range(m):
                yq = to_q(Ym[i, c])
                r = abs(yq - Mw[i])
                r_top = max(r_top, r)
                if r:
                    den = Maw[i] + abs(yq)
                    if den:
                        omega = max(omega, r / den)
                    else:
                        omega_inf = True
        omega_f = math.inf if omega_inf else round_up(omega)
        resid = to_float(r_top)
        w_top = float(np.max(np.abs(W))) if W.size else 0.0
        y_top = float(np.max(np.abs(Ym))) if Ym.size else 0.0
        den = matrix_norms(zm, bm)[1] * w_top + y_top
        backward_norm = resid / den if den > 0 else (0.0 if resid == 0 else math.inf)
        ref_top = to_float(top)

        def rel(x):
            return x / ref_top if ref_top > 0 else (0.0 if x == 0 else math.inf)

        bound_bw = bound_ap = 0.0
        for c in range(k):
            if m == 0:
                break
            with np.errstate(over="ignore", invalid="ignore"):
                rhs = omega_f * (Maw_up[c] + np.abs(Ym[:, c])) * (1 + 2.0**-52)
            bound_bw = max(bound_bw, rel(float(np.max(bound_fast(zm, bm, rhs)))))
            if arith:
                bound_ap = math.nan
                continue
            ba = solve_error_bound_fast(zm, bm, W[:, c], Ym[:, c], Yf[:, c], fmt, solver, rounding)
            bound_ap = max(bound_ap, rel(float(np.max(ba))))
    return SolveError(
        reference=ref.kind, checked=m, certified=ref.certified, norm_rel=norm_rel, comp_rel=comp_rel,
        bits_lost_norm=_log2_ratio(norm_rel, u), bits_lost_comp=_log2_ratio(comp_rel, u),
        herbie_max=max(herb) if herb else 0.0, herbie_mean=float(np.mean(herb)) if herb else 0.0,
        backward_comp=omega_f, backward_norm=backward_norm, residual_max=resid,
        bound_backward=bound_bw, bound_apriori=bound_ap,
        bound_holds=bool(norm_rel <= bound_bw and (arith or norm_rel <= bound_ap)),
    )


def eval_errors(net, X, Y, ref, positions, sampled: bool, evaluators, kind: str) -> tuple:
    """:class:`EvalError` per evaluator at the training points ``positions`` (neuron order,
    all < ref.m). X and Y are the caller's inputs and labels (original row order)."""
    from ..build.evaluators import EVALUATORS, run_forward
    from .outcome import evaluate_training

    fmt = get_format(net.fmt)
    order = np.asarray(net.order)
    rows = order[positions]
    from ..build.streams import take_rows

    Xc = take_rows(X, rows)
    Yn = np.asarray(Y, np.float64).reshape(net.n_input, -1)[rows]
    a, b, W = net.carriers()
    m = ref.m
    W_exact = np.array([[round_fraction(v, fmt) for v in row] for row in ref.W], dtype=np.float64)
    zm, bm = np.asarray(net.z, np.float64)[:m], b[:m]
    solve_only = 0.0
    for c in range(W.shape[1]):
        if not np.all(np.isfinite(W[:m, c])):  # a non-finite weight: M w_hat is not a number
            solve_only = math.inf
            continue
        Mw = apply_exact(zm, bm, W[:m, c])
        vals = [to_float(abs(to_q(Yn[j, c]) - Mw[p])) for j, p in enumerate(positions)]
        solve_only = max(solve_only, max(vals, default=0.0))
    out = []
    for name in evaluators:
        ev = EVALUATORS.get(name)
        with np.errstate(invalid="ignore", over="ignore"):
            # the exact weights rounded to the storage, run as the network runs (format or arithmetic)
            f_exact = run_forward(Xc, a, bm, W_exact, net.arith or fmt, name, net.rounding, net.seed,
                                  weights_in_format=True)
            e_fwd = np.abs(f_exact - Yn)
        user = evaluate_training(net, X, Y, evaluator=name, positions=positions, sampled=sampled, kind=kind)
        out.append(EvalError(
            evaluator=ev.name, points=int(len(rows)), sampled=bool(sampled),
            forward_only=float(np.max(e_fwd)) if np.all(np.isfinite(e_fwd)) else math.inf,
            solve_only=solve_only, user=user.max_error, user_fraction=user.fraction,
        ))
    return tuple(out)
