"""Loading a user's data: .npy (labels in the last column, or X with --labels-file),
.npz (arrays ``X`` and ``y``) and .csv (numeric, labels in the last column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import HarnessError

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


#: What a CIFAR-10 python batch may reference when unpickled (numpy arrays, builtins):
#: anything else is refused, so a hostile file cannot run code.
_CIFAR_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "dict"),
    ("_codecs", "encode"),
}
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def _restricted_unpickle(path: Path):
    import pickle

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) in _CIFAR_ALLOWED:
                return super().find_class(module, name)
            raise HarnessError(f"{path}: refuses to load {module}.{name}: not a CIFAR-10 python batch")

    with path.open("rb") as f:
        return Restricted(f, encoding="bytes").load()


def load_cifar10(folder, max_rows: int | None = None):
    """(X uint8 (m, 3072), y int (m,)) from the standard CIFAR-10 python batches in ``folder``
    (``data_batch_1`` .. ``data_batch_5``, ``test_batch``; those present, in that order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HarnessError(f"cifar10: no such folder: {folder}")
    files = [folder / b for b in CIFAR_BATCHES if (folder / b).exists()]
    if not files:
        raise HarnessError(f"cifar10: {folder} holds none of {', '.join(CIFAR_BATCHES)}")
    Xs, ys, total = [], [], 0
    for f in files:
        try:
            batch = _restricted_unpickle(f)
        except HarnessError:
            raise
        except Exception as exc:  # a truncated or foreign file
            raise HarnessError(f"{f}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise HarnessError(f"{f}: a CIFAR-10 batch is a dict with b'data' and b'labels'")
        X = np.asarray(batch[b"data"])
        y = np.asarray(batch[b"labels"])
        if X.ndim != 2 or X.shape[1] != 3072 or X.dtype != np.uint8 or y.shape != (X.shape[0],):
            raise HarnessError(f"{f}: data must be uint8 (m, 3072) with m labels; got {X.dtype} {X.shape}, "
                               f"labels {y.shape}")
        Xs.append(X)
        ys.append(y)
        total += X.shape[0]
        if max_rows is not None and total >= max_rows:
            break
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return (X, y) if max_rows is None else (X[:max_rows], y[:max_rows])
