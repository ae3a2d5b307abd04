"""Input checks that name the offending row, column and value."""

from __future__ import annotations

import numpy as np

from .errors import FormatOverflowError, HarnessError

__all__ = ["as_inputs", "as_labels", "check_cast"]


def _numeric(arr, what):
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    rows = list(arr) if not isinstance(arr, np.ndarray) else arr
    for i, row in enumerate(rows):
        try:
            np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            raise HarnessError(f"{what} row {i} is not numeric: {row!r}") from None
    raise HarnessError(f"{what} is not a numeric array (ragged rows?)")


def _finite(arr, what):
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.argwhere(bad)[0]
        where = f"row {idx[0]}" + (f", column {idx[1]}" if arr.ndim == 2 else "")
        raise HarnessError(f"{what} {where} is {arr[tuple(idx)]!r}: inputs must be finite")


def as_inputs(X) -> np.ndarray:
    """X as a C-contiguous float64 (n, d) array with n, d >= 1 and finite entries."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiub":
        arr = np.asarray(X, dtype=np.float64)
    else:
        arr = _numeric(X, "X")
    if arr.ndim != 2:
        raise HarnessError(f"X must be 2-D (n points x d features), got shape {arr.shape}"
                           + ("; for 1-D data use X.reshape(-1, 1)" if arr.ndim == 1 else ""))
    n, d = arr.shape
    if n == 0:
        raise HarnessError("X has no points (n = 0)")
    if d == 0:
        raise HarnessError("X has no features (d = 0)")
    _finite(arr, "X")
    return np.ascontiguousarray(arr)


def as_labels(y, n: int):
    """y as (n, k) float64 plus whether it was 1-D; checks length and finiteness."""
    if isinstance(y, np.ndarray) and y.dtype.kind in "fiub":
        arr = np.asarray(y, dtype=np.float64)
    else:
        arr = _numeric(y, "y")
    if arr.ndim not in (1, 2):
        raise HarnessError(f"y must be (n,) or (n, k), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise HarnessError(f"X has {n} rows but y has {arr.shape[0]}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise HarnessError("y has no outputs (k = 0)")
    _finite(arr, "y")
    one_d = arr.ndim == 1
    return np.ascontiguousarray(arr.reshape(n, -1)), one_d


def check_cast(orig: np.ndarray, cast: np.ndarray, what: str, fmt) -> None:
    """Raise naming the first entry that overflowed when rounded to ``fmt``."""
    bad = ~np.isfinite(cast)
    if bad.any():
        idx = np.argwhere(bad)[0]
        where = f"row {idx[0]}" + (f", column {idx[1]}" if orig.ndim == 2 and orig.shape[1] > 1 else "")
        raise FormatOverflowError(f"{what} {where} = {orig[tuple(idx)]!r} overflows {fmt.name} "
                           f"(largest finite {fmt.max_finite!r})")
