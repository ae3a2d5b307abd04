"""Run every kernel as plain Python (NUMBA_DISABLE_JIT=1 is set by the caller).

usage: python _python_twin.py IN.npz OUT.npz
IN holds, per case key, arrays z, b, Y, X, a, F, seed; OUT gets each kernel's result.
"""

import sys
import warnings

import numpy as np

warnings.simplefilter("ignore", RuntimeWarning)  # uint64 wrap-around in splitmix64 is intended

from harness import kernels  # noqa: E402

src = np.load(sys.argv[1], allow_pickle=False)
out = {}
keys = sorted({k.split("|")[0] for k in src.files})
for key in keys:
    g = {name: src[f"{key}|{name}"] for name in ("z", "b", "Y", "X", "a", "F")}
    F = tuple(x.item() for x in g["F"])
    F = (int(F[0]), int(F[1]), int(F[2]), float(F[3]), int(F[4]))
    z, b, Y, X, a = g["z"], g["b"], g["Y"], g["X"], g["a"]
    out[f"{key}|rec"] = kernels.solve_recurrence(z, b, Y, F, 7)
    W = kernels.solve_backsub(z, b, Y, F, 7)
    out[f"{key}|back"] = W
    out[f"{key}|seq"] = kernels.eval_sequential(X, a, b, W, F, 3)
    out[f"{key}|comp"] = kernels.eval_compensated(X, a, b, W, F, 3)
    S, T = kernels.prefix_sums(b, W, F, 3)
    out[f"{key}|pre"] = kernels.eval_prefix(X, a, b, S, T, F, 3)
    out[f"{key}|proj"] = kernels.project(X, a, F, 5)
np.savez(sys.argv[2], **out)
