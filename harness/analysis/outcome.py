"""Fit outcome: did the network reproduce the labels? The evaluation chain every caller shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["REAL_LABEL_RTOL", "real_label_rtol", "reproduced", "TrainingEval", "evaluate_training"]

#: A real label counts as reproduced when |f - y| <= rtol * max(1, |y|), with rtol at least
#: REAL_LABEL_RTOL: 1% of the label scale, coarse enough for bfloat16 (u = 2^-8 ~ 0.4%) to pass
#: when the solve is sound, fine enough that a cancelled forward pass fails.
REAL_LABEL_RTOL = 1e-2


def real_label_rtol(fmt) -> float:
    """The real-label tolerance in a format (or arithmetic: its output storage): the larger of
    REAL_LABEL_RTOL and 2u. The label itself is stored rounded (relative error up to u) and the
    output is rounded once more, so no network in the format can be held closer than 2u;
    below 2u = 1% (p >= 8 bits: bfloat16 and wider) it is REAL_LABEL_RTOL, for float8 2^-3
    (e4m3) and 2^-2 (e5m2)."""
    from ..core.arith import Arithmetic, resolve

    target = resolve(fmt)
    out = target.layers[-1].storage if isinstance(target, Arithmetic) else target
    return max(REAL_LABEL_RTOL, 2 * out.u)


def reproduced(out: np.ndarray, y: np.ndarray, kind: str, rtol: float = REAL_LABEL_RTOL) -> np.ndarray:
    """Boolean per point: nearest class (one-hot: argmax; 0/1 and integers: nearest
    integer) equals the label, or, for real labels, within ``rtol`` (see :func:`real_label_rtol`)."""
    out = np.asarray(out, np.float64)
    y = np.asarray(y, np.float64)
    with np.errstate(invalid="ignore"):
        if kind == "classes":
            ok = np.argmax(out, axis=1) == np.argmax(y, axis=1)
            return ok & np.all(np.isfinite(out), axis=1)
        out = out.reshape(y.shape)
        if kind in ("binary", "integer"):
            ok = np.abs(out - y) < 0.5
        else:
            ok = np.abs(out - y) <= rtol * np.maximum(1.0, np.abs(y))
        return ok if ok.ndim == 1 else np.all(ok, axis=1)


@dataclass(frozen=True, eq=False)
class TrainingEval:
    """A network run at (some of) its own training points, and how well it kept the labels.

    The one chain every caller uses (fit, analyze, failure trials, error attribution):
    labels into neuron order, the evaluation positions (all, or a seeded sample plus the
    smallest gaps: :func:`harness.build.sampling.eval_positions`), the forward pass, the
    errors and the share reproduced (:func:`reproduced`).
    """

    evaluator: str
    positions: np.ndarray      # neuron positions evaluated (sorted)
    rows: np.ndarray           # the caller's row of each position
    sampled: bool
    outputs: np.ndarray        # (m, k) float64 carriers of the evaluation format
    targets: np.ndarray        # (m, k) the labels at those rows
    max_error: float           # max |f - y| (inf when any output is not finite)
    fraction: float            # share of labels reproduced
    finite: bool               # every output finite
    label_kind: str
    rtol: float = REAL_LABEL_RTOL  # the real-label tolerance used (real labels only)

    @property
    def points(self) -> int:
        return int(self.positions.size)


def evaluate_training(net, X, y, *, evaluator: str = "sequential", budget: int | None = None,
                      positions=None, sampled: bool = False, limit: int | None = None,
                      kind: str | None = None, rtol: float | None = None, **forward) -> TrainingEval:
    """Run ``net`` at its training points and judge the labels (see :class:`TrainingEval`).

    X, y are the caller's inputs and labels (original row order, ``net.n_input`` rows); X may be
    a :class:`~harness.build.streams.RowSource` (only the evaluated rows are read).
    ``positions`` (neuron order) overrides the choice of points; otherwise
    ``eval_positions(net.z, net.seed, budget, limit)`` picks them. ``forward`` goes to
    :meth:`Network.forward` (``fmt``, ``rounding``, ...). ``rtol`` is the real-label
    tolerance (default: :func:`real_label_rtol` of the format the outputs are computed in).
    """
    from ..build.data import label_kind
    from ..build.sampling import EVAL_BUDGET, eval_positions
    from ..build.streams import take_rows

    Y = np.asarray(y, np.float64).reshape(net.n_input, -1)
    kind = kind or label_kind(Y)
    if rtol is None:
        rtol = real_label_rtol(forward.get("fmt") or net.arith or net.fmt)
    if positions is None:
        positions, sampled = eval_positions(net.z, net.seed, budget=EVAL_BUDGET if budget is None else budget,
                                            limit=limit)
    positions = np.asarray(positions)
    rows = np.asarray(net.order)[positions]
    targets = Y[rows]
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.asarray(net.forward(take_rows(X, rows), evaluator=evaluator, **forward),
                         np.float64).reshape(rows.size, -1)
        err = np.abs(out - targets)
    finite_err = bool(np.all(np.isfinite(err)))
    return TrainingEval(
        evaluator=evaluator, positions=positions, rows=rows, sampled=bool(sampled), outputs=out,
        targets=targets, max_error=float(np.max(err)) if finite_err and err.size else (0.0 if finite_err else math.inf),
        fraction=float(np.mean(reproduced(out, targets, kind, rtol))), finite=bool(np.all(np.isfinite(out))),
        label_kind=kind, rtol=rtol,
    )
