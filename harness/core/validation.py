"""Input checks that name the offending row, column and value."""

from __future__ import annotations

import numpy as np

from .errors import FormatOverflowError, HarnessError

__all__ = ["as_inputs", "as_labels", "check_cast", "check_finite", "check_memory", "first_nonfinite", "machine_memory"]


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


#: Integers beyond this are not all exactly float64 (2^53 + 1 is the first that rounds).
_EXACT_INT = 2**53


def _where(idx, ndim, row0: int = 0):
    """'row i[, column j]' of an entry; ``row0``: the array is rows row0.. of a larger one."""
    return f"row {int(idx[0]) + row0}" + (f", column {idx[1]}" if ndim == 2 else "")


def _exact_float64(arr, what, row0: int = 0):
    """``arr`` (an ndarray) as float64, refusing what float64 would change: complex values (the
    imaginary part would be dropped), longdouble values and integers beyond 2^53 that do not
    round-trip. Object and string arrays go through :func:`_numeric`."""
    kind = arr.dtype.kind
    if kind == "c":
        raise HarnessError(f"{what} is complex ({arr.dtype}): the construction needs real inputs; "
                           f"pass {what}.real if the imaginary part is meant to be dropped")
    if kind in "iu" and arr.size:
        big = (arr > _EXACT_INT) | ((arr < -_EXACT_INT) if kind == "i" else False)
        if np.any(big):
            out = arr.astype(np.float64)
            # compared as Python ints: float64 values this large are whole, so int(x) is exact
            for idx in np.argwhere(big):
                v = int(arr[tuple(idx)])
                if int(out[tuple(idx)]) != v:
                    raise HarnessError(f"{what} {_where(idx, arr.ndim, row0)} = {v} is not exactly representable "
                                       f"in float64 (integers beyond 2^53 round); scale or recentre the data")
            return out
    if kind == "f" and arr.dtype.itemsize > 8:
        out = arr.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = (out.astype(arr.dtype) != arr) & np.isfinite(arr)
        if bad.any():
            idx = np.argwhere(bad)[0]
            raise HarnessError(f"{what} {_where(idx, arr.ndim, row0)} = {arr[tuple(idx)]!r} ({arr.dtype}) is not exactly "
                               f"a float64; round it to float64 first if that is meant")
        return out
    if kind in "fiub":
        return np.asarray(arr, dtype=np.float64)
    return _numeric(arr, what)


def first_nonfinite(arr):
    """The index (a tuple) of the first entry of ``arr`` that is not finite, or None. One read and
    no temporary when all are finite: a finite sum proves every entry finite (a NaN or an
    infinity makes it NaN or infinite); only a sum that is not finite (a bad entry, or an
    overflow of the sum itself) needs the entrywise search."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return None
    bad = np.argwhere(~np.isfinite(arr))
    return tuple(bad[0]) if bad.size else None


def _finite(arr, what, row0: int = 0):
    idx = first_nonfinite(arr)
    if idx is not None:
        raise HarnessError(f"{what} {_where(idx, arr.ndim, row0)} is {float(arr[idx])!r}: inputs must be finite")


def _as_array(v, what):
    if isinstance(v, np.ndarray):
        return v
    try:
        return np.asarray(v)
    except (TypeError, ValueError):  # ragged: _numeric names the row
        return _numeric(v, what)


def as_inputs(X, row0: int = 0, finite: bool = True) -> np.ndarray:
    """X as a C-contiguous float64 (n, d) array with n, d >= 1 and finite entries (``row0``: X is
    rows row0.. of a larger input, as a block of :mod:`harness.build.streams`; messages say so).
    ``finite=False`` leaves the finiteness check to the caller (:func:`check_finite`)."""
    arr = _exact_float64(_as_array(X, "X"), "X", row0)
    if arr.ndim != 2:
        raise HarnessError(f"X must be 2-D (n points x d features), got shape {arr.shape}"
                           + ("; for 1-D data use X.reshape(-1, 1)" if arr.ndim == 1 else ""))
    n, d = arr.shape
    if n == 0:
        raise HarnessError("X has no points (n = 0)")
    if d == 0:
        raise HarnessError("X has no features (d = 0)")
    if finite:
        _finite(arr, "X", row0)
    return np.ascontiguousarray(arr)


def check_finite(arr, what: str = "X") -> None:
    """Raise naming the first entry of ``arr`` that is not finite (as :func:`as_inputs` does)."""
    _finite(arr, what)


def as_labels(y, n: int):
    """y as (n, k) float64 plus whether it was 1-D; checks length and finiteness."""
    arr = _exact_float64(_as_array(y, "y"), "y")
    if arr.ndim not in (1, 2):
        raise HarnessError(f"y must be (n,) or (n, k), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise HarnessError(f"X has {n} rows but y has {arr.shape[0]}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise HarnessError("y has no outputs (k = 0)")
    _finite(arr, "y")
    one_d = arr.ndim == 1
    return np.ascontiguousarray(arr.reshape(n, -1)), one_d


def machine_memory() -> int:
    """This machine's physical memory in bytes (0 where the system does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 0


def check_memory(estimate: float, what: str) -> None:
    """A HarnessError giving the estimate when ``what`` needs more memory than the machine has
    (the allocation would fail with a bare MemoryError, or swap for hours)."""
    total = machine_memory()
    if total and estimate > total:
        raise HarnessError(f"{what} needs about {estimate / 2**30:,.1f} GiB of memory; this machine has "
                           f"{total / 2**30:,.1f} GiB (make n, d or K smaller)")


def check_cast(orig: np.ndarray, cast: np.ndarray, what: str, fmt, row0: int = 0) -> None:
    """Raise naming the first entry that overflowed when rounded to ``fmt`` (``row0`` as in as_inputs)."""
    bad = ~np.isfinite(cast)
    if bad.any():
        idx = np.argwhere(bad)[0]
        ndim = 2 if orig.ndim == 2 and orig.shape[1] > 1 else 1  # a single column: the row alone
        raise FormatOverflowError(f"{what} {_where(idx, ndim, row0)} = {float(orig[tuple(idx)])!r} overflows {fmt.name} "
                           f"(largest finite {fmt.max_finite!r})")
