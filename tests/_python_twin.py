"""Run every kernel on one case; as a script, as plain Python (the caller sets NUMBA_DISABLE_JIT=1).

usage: python _python_twin.py IN.npz OUT.npz
IN holds, per case key, arrays z, b, Y, X, a, F; OUT gets each kernel's result.
The test imports :func:`run_kernels` to produce the compiled results the same way.
"""

import sys
import warnings

import numpy as np


def run_kernels(z, b, Y, X, a, F):
    """{kernel label: result} for every kernel on one system."""
    from harness.core import kernels

    W = kernels.solve_backsub(z, b, Y, F, 7)
    S, T = kernels.prefix_sums(b, W, F, 3)
    return {
        "rec": kernels.solve_recurrence(z, b, Y, F, 7), "back": W,
        "back1": kernels.solve_backsub(z, b, np.ascontiguousarray(Y[:, :1]), F, 7),  # the one-output paths
        "seq": kernels.eval_sequential(X, a, b, W, F, 3), "comp": kernels.eval_compensated(X, a, b, W, F, 3),
        "pre": kernels.eval_prefix(X, a, b, S, T, F, 3), "proj": kernels.project(X, a, F, 5),
    }


def spec(arr) -> tuple:
    """The kernel format tuple from its float64 array form."""
    kind, p, emin, maxf, sr = arr.tolist()
    return (int(kind), int(p), int(emin), float(maxf), int(sr))


if __name__ == "__main__":
    warnings.simplefilter("ignore", RuntimeWarning)  # uint64 wrap-around in splitmix64 is intended
    src = np.load(sys.argv[1], allow_pickle=False)
    out = {}
    for key in sorted({k.split("|")[0] for k in src.files}):
        g = {name: src[f"{key}|{name}"] for name in ("z", "b", "Y", "X", "a", "F")}
        res = run_kernels(g["z"], g["b"], g["Y"], g["X"], g["a"], spec(g["F"]))
        out.update({f"{key}|{k}": v for k, v in res.items()})
    np.savez(sys.argv[2], **out)
