"""The seed document's 4-point worked example, in exact rational arithmetic.

The seed document (the project's origin; docs/MATH.md §2) takes X, y, a = (1, 1, 1) and thresholds 0.8, 1.0, 1.2,
1.6 (b1 = -thresholds), prints the ReLU matrix (neurons x points) and claims the
second-layer vector w2 = [0.9, 0.4, 0.1, 0] fits y. Here every decimal string is
taken exactly as a rational, the true solution is solved exactly, and the printed
vector is evaluated exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Tuple

__all__ = ["SEED_X", "SEED_Y", "SEED_A", "SEED_THRESHOLDS", "SEED_PRINTED_RELU",
           "SEED_PRINTED_W2", "SeedExample", "seed_example"]

# Transcribed from the seed document (strings, so they are taken exactly).
SEED_X = (("0.2", "0.3", "0.6"), ("0.5", "0.7", "0.1"), ("0.3", "0.4", "1"), ("0.3", "0.3", "0.3"))
SEED_Y = ("1", "1", "0", "1")
SEED_A = ("1", "1", "1")
SEED_THRESHOLDS = ("0.8", "1.0", "1.2", "1.6")
#: ReLU(W1 x + b1) as the seed prints it: row j = neuron j, column i = point i.
SEED_PRINTED_RELU = (("0.3", "0.5", "0.9", "0.1"), ("0.1", "0.3", "0.7", "0"),
                     ("0", "0.1", "0.5", "0"), ("0", "0", "0.1", "0"))
SEED_PRINTED_W2 = ("0.9", "0.4", "0.1", "0")

F = Fraction


@dataclass(frozen=True)
class SeedExample:
    """Everything the seed example shows, recomputed exactly."""

    projections: Tuple[Fraction, ...]          # <a, x_i>, original point order
    relu: Tuple[Tuple[Fraction, ...], ...]      # neuron j x point i, the seed's layout
    relu_matches_seed: bool
    interleaved: bool                           # thresholds interleave sorted projections
    exact_w2: Tuple[Fraction, ...]              # the true second-layer weights (neuron order)
    exact_outputs: Tuple[Fraction, ...]         # f(x_i) with exact_w2: equals y
    printed_outputs: Tuple[Fraction, ...]       # f(x_i) with the seed's printed w2
    printed_fits: bool
    printed_as_matvec: Tuple[Fraction, ...]     # the other reading: ReLU-matrix @ w2 (rows = neurons)
    float64_outputs: Tuple[float, ...]          # the same network built in float64 by harness.construct
    float64_max_error: float
    float64_network: object = None              # that Network (for bound checks)


def _outputs(relu, w):
    """f(x_i) = sum_j w_j relu[j][i]."""
    return tuple(sum(w[j] * relu[j][i] for j in range(len(w))) for i in range(len(relu[0])))


def seed_example() -> SeedExample:
    """Recompute the seed's worked example exactly (and once in float64)."""
    import numpy as np

    from ..build.construction import construct
    from ..core.exact import solve_exact

    X = [[F(v) for v in row] for row in SEED_X]
    y = [F(v) for v in SEED_Y]
    a = [F(v) for v in SEED_A]
    thr = [F(v) for v in SEED_THRESHOLDS]
    z = [sum(ai * xi for ai, xi in zip(a, row)) for row in X]
    relu = tuple(tuple(max(zi - t, F(0)) for zi in z) for t in thr)
    printed = tuple(tuple(F(v) for v in row) for row in SEED_PRINTED_RELU)
    order = sorted(range(len(z)), key=lambda i: z[i])
    zs = [z[i] for i in order]
    interleaved = thr[0] < zs[0] and all(zs[i - 1] <= thr[i] < zs[i] for i in range(1, len(zs)))
    w = tuple(solve_exact(zs, thr, [y[i] for i in order]))
    w_printed = [F(v) for v in SEED_PRINTED_W2]
    exact_out = _outputs(relu, w)
    printed_out = _outputs(relu, w_printed)
    matvec = tuple(sum(relu[j][i] * w_printed[i] for i in range(len(w_printed))) for j in range(len(relu)))

    Xf = np.array([[float(v) for v in row] for row in X])
    yf = np.array([float(v) for v in y])
    net = construct(Xf, yf, direction=[1.0, 1.0, 1.0], bias=[float(t) for t in thr],
                    fmt="float64", solver="recurrence")
    out64 = np.asarray(net.forward(Xf), np.float64)
    return SeedExample(
        projections=tuple(z), relu=relu, relu_matches_seed=relu == printed, interleaved=interleaved,
        exact_w2=w, exact_outputs=exact_out, printed_outputs=printed_out,
        printed_fits=list(printed_out) == y, printed_as_matvec=matvec,
        float64_outputs=tuple(out64.tolist()), float64_max_error=float(np.max(np.abs(out64 - yf))),
        float64_network=net,
    )
