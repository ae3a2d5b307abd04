"""Loading a user's data: .npy (labels in the last column, or X with --labels-file),
.npz (arrays ``X`` and ``y``) and .csv (numeric, labels in the last column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import HarnessError

__all__ = ["load_xy"]


def _split_last(arr, path):
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise HarnessError(f"{path}: need a 2-D table with at least 2 columns (features, then the label); "
                           f"got shape {arr.shape}")
    return arr[:, :-1], arr[:, -1]


def _load_csv(path: Path):
    import csv

    rows = []
    with path.open(newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                rows.append([float(c) for c in row])
            except ValueError:
                if not rows and lineno == 1:
                    continue  # a header line
                bad = next(c for c in row if not _is_float(c))
                raise HarnessError(f"{path}: line {lineno} has a non-numeric value {bad!r}") from None
            if len(rows[-1]) != len(rows[0]):
                raise HarnessError(f"{path}: line {lineno} has {len(rows[-1])} columns, expected {len(rows[0])}")
    if not rows:
        raise HarnessError(f"{path}: no data rows")
    return np.array(rows)


def _is_float(c):
    try:
        float(c)
        return True
    except ValueError:
        return False


def load_xy(path, labels_path=None):
    """(X, y) from a file; see the module docstring for the layouts."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                missing = [k for k in ("X", "y") if k not in f]
                if missing:
                    raise HarnessError(f"{path}: .npz needs arrays named X and y; missing {missing}, "
                                       f"found {sorted(f.files)}")
                X, y = f["X"], f["y"]
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
            if labels_path is not None:
                X, y = arr, np.load(labels_path, allow_pickle=False)
            else:
                X, y = _split_last(arr, path)
        elif suffix == ".csv":
            X, y = _split_last(_load_csv(path), path)
        else:
            raise HarnessError(f"{path}: unknown file type {suffix!r}; use .npy, .npz or .csv")
    except HarnessError:
        raise
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: cannot read: {exc}") from None
    if X.dtype.kind not in "fiub" or np.asarray(y).dtype.kind not in "fiub":
        raise HarnessError(f"{path}: X and y must be numeric (got {X.dtype} and {np.asarray(y).dtype})")
    return X, y
