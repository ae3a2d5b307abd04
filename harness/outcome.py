"""Fit outcome: did the network reproduce the labels?"""

from __future__ import annotations

import numpy as np

__all__ = ["REAL_LABEL_RTOL", "reproduced"]

#: A real label counts as reproduced when |f - y| <= REAL_LABEL_RTOL * max(1, |y|):
#: 1% of the label scale, coarse enough for bfloat16 (u = 2^-8 ~ 0.4%) to pass when
#: the solve is sound, fine enough that a cancelled forward pass fails.
REAL_LABEL_RTOL = 1e-2


def reproduced(out: np.ndarray, y: np.ndarray, kind: str) -> np.ndarray:
    """Boolean per point: nearest class (one-hot: argmax; 0/1 and integers: nearest
    integer) equals the label, or, for real labels, within REAL_LABEL_RTOL."""
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
            ok = np.abs(out - y) <= REAL_LABEL_RTOL * np.maximum(1.0, np.abs(y))
        return ok if ok.ndim == 1 else np.all(ok, axis=1)
