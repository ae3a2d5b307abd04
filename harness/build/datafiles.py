"""Loading a user's data: .npy (labels in the last column, or X with ``labels_path``),
.npz (arrays ``X`` and ``y``) and .csv (numeric, labels in the last column; a header line
only when ``header=True``: a non-numeric first line is an error, never a guess).

Errors name the file and, for .csv, the file's line (not the data row): :class:`DataFile`
keeps each row's line, and :meth:`DataFile.locate` rewrites a later message's data rows
("X row 4", "rows 1 and 7") into lines of the file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import HarnessError

__all__ = ["DataFile", "load_table", "load_xy"]


@dataclass(frozen=True)
class DataFile:
    """A loaded data file: X, y, and for .csv the file line of each data row."""

    path: str
    X: np.ndarray
    y: np.ndarray
    lines: tuple | None = None   # lines[i]: the 1-based file line of data row i (.csv)

    def locate(self, message: str) -> str:
        """``message`` with every data row it names also given as its line of the file."""
        if self.lines is None:
            return message

        def line(m):
            rows = [int(g) for g in (m.group(2), m.group(3)) if g is not None]
            if any(r >= len(self.lines) for r in rows):
                return m.group(0)
            where = " and ".join(str(self.lines[r]) for r in rows)
            return f"{m.group(0)} ({self.path} line{'s' if len(rows) > 1 else ''} {where})"

        return re.sub(r"\b(rows?) (\d+)(?: and (\d+))?", line, message)


def _split_last(arr, path):
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise HarnessError(f"{path}: need a 2-D table with at least 2 columns (features, then the label); "
                           f"got shape {arr.shape}")
    return arr[:, :-1], arr[:, -1]


def _load_csv(path: Path, header: bool):
    import csv

    rows, lines = [], []
    # utf-8-sig: a byte-order mark (Excel's UTF-8 export) is not part of the first value
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            first = True
            for lineno, row in enumerate(csv.reader(f), start=1):
                if not row or all(not c.strip() for c in row):
                    continue
                if first and header:
                    first = False
                    continue
                first = False
                vals = []
                for col, c in enumerate(row):
                    try:
                        vals.append(float(c))
                    except ValueError:
                        hint = ("; if line 1 is a header, pass --header (header=True)"
                                if lineno == 1 and not header and not rows else "")
                        raise HarnessError(f"{path}: line {lineno}, column {col + 1} has a non-numeric value "
                                           f"{c!r}{hint}") from None
                    if not np.isfinite(vals[-1]):
                        raise HarnessError(f"{path}: line {lineno}, column {col + 1} is {c.strip()!r}: "
                                           "inputs must be finite")
                if rows and len(vals) != len(rows[0]):
                    raise HarnessError(f"{path}: line {lineno} has {len(vals)} columns, expected {len(rows[0])} "
                                       f"(as on line {lines[0]})")
                rows.append(vals)
                lines.append(lineno)
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise HarnessError(f"{path}: not a CSV file: {exc}") from None
    if not rows:
        raise HarnessError(f"{path}: no data rows")
    return np.array(rows), tuple(lines)


def _npy(path: Path, what: str = ""):
    if path.stat().st_size == 0:
        raise HarnessError(f"{path}: empty file (0 bytes){what}")
    with open(path, "rb") as fh:
        return np.load(fh, allow_pickle=False)


def load_table(path, labels_path=None, header: bool = False, stream: bool | None = False) -> DataFile:
    """The :class:`DataFile` of ``path``; see the module docstring for the layouts.

    ``stream``: a .npy's X memory-mapped as a :class:`harness.build.streams.NpySource` (read in
    blocks, validated block by block; the labels read whole) when True, loaded when False,
    and when None memory-mapped if the file is over harness.build.problems.STREAM_MIN_BYTES."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"no such file: {path}")
    if path.is_dir():
        raise HarnessError(f"{path}: a folder, not a data file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise HarnessError(f"{path}: unknown file type {suffix!r}; use .npy, .npz or .csv")
    if labels_path is not None and suffix != ".npy":
        raise HarnessError(f"--labels-file {labels_path}: applies to a .npy input (X alone); {path} is {suffix}, "
                           "which holds its own labels")
    if header and suffix != ".csv":
        raise HarnessError(f"--header applies to .csv input; {path} is {suffix}")
    if stream and suffix != ".npy":
        raise HarnessError(f"{path}: streaming reads .npy files (memory-mapped); {suffix} is loaded whole")
    if suffix == ".npy" and stream is None:
        from .problems import STREAM_MIN_BYTES

        stream = path.stat().st_size > STREAM_MIN_BYTES
    lines = None
    current = path
    try:
        if suffix == ".npz":
            if path.stat().st_size == 0:
                raise HarnessError(f"{path}: empty file (0 bytes)")
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:  # closed even when not a zip
                missing = [k for k in ("X", "y") if k not in f]
                if missing:
                    raise HarnessError(f"{path}: .npz needs arrays named X and y; missing {missing}, "
                                       f"found {sorted(f.files)}")
                X, y = f["X"], f["y"]
        elif suffix == ".npy" and stream:
            from .streams import NpySource

            X = NpySource(path, labels_last=labels_path is None)
            if labels_path is None:
                y = X.labels()
            else:
                current = Path(labels_path)
                if not current.exists():
                    raise HarnessError(f"--labels-file: no such file: {current}")
                y = _npy(current, " (the labels file)")
                if np.ndim(y) >= 1 and len(y) != X.n:
                    raise HarnessError(f"{current}: {len(y)} labels for the {X.n} rows of {path}")
        elif suffix == ".npy":
            arr = _npy(path)
            if labels_path is not None:
                current = Path(labels_path)
                if not current.exists():
                    raise HarnessError(f"--labels-file: no such file: {current}")
                X, y = arr, _npy(current, " (the labels file)")
                if np.ndim(y) >= 1 and np.ndim(X) >= 1 and len(y) != len(X):
                    raise HarnessError(f"{current}: {len(y)} labels for the {len(X)} rows of {path}")
            else:
                X, y = _split_last(arr, path)
        else:
            (arr, lines) = _load_csv(path, header)
            X, y = _split_last(arr, path)
    except HarnessError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # a truncated or foreign file: numpy raises any of these
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise HarnessError(f"{current}: cannot read: {detail}") from None
    for name, a in (("X", X), ("y", np.asarray(y))):
        if a.dtype.kind not in "fiub":
            raise HarnessError(f"{path}: {name} must be real numbers, got {a.dtype}"
                               + (" (complex: take the real part first if that is meant)" if a.dtype.kind == "c"
                                  else ""))
    return DataFile(str(path), X, np.asarray(y), lines)


def load_xy(path, labels_path=None, header: bool = False):
    """(X, y) from a file: :func:`load_table` without the line map."""
    t = load_table(path, labels_path, header)
    return t.X, t.y


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
