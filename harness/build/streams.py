"""Row sources: a problem's inputs X read in blocks of rows, never held whole.

The construction needs X only through its projections ``<a, x_i>`` (one pass over the rows
per direction tried), the rows of tied projections (to tell duplicates from collisions)
and, for the evaluation, the rows of the sampled points. A :class:`RowSource` gives
exactly that: :meth:`~RowSource.blocks` yields the rows in order, a block at a time, and
:meth:`~RowSource.take` gathers given rows. Construction and evaluation over a source
keep O(n) numbers (projections, order, labels, weights), not the O(n d) of X.

Sources:

* :class:`GeneratedSource`: a seeded generator run block by block on one stream
  (:data:`harness.build.data.BLOCKWISE` lists the generators whose blocks, concatenated,
  are bit for bit the rows of one call: tests/test_streams.py holds each to it);
  gathering rows regenerates the blocks that hold them.
* :class:`NpySource`: a memory-mapped .npy file (X alone, or labels in its last column).
* :class:`ArraySource`: an array already in memory (the same interface, for tests).

Every block is validated like an in-memory X (:func:`harness.core.validation.as_inputs`:
finite, exactly representable in float64), with its rows numbered as in the whole array.
:meth:`RowSource.in_format` is the same rows rounded to a working format (each block
checked for overflow). Results over a source are bit-identical to the same computation
over the materialised array (each row's projection is computed alone, in the same order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import HarnessError
from ..core.validation import as_inputs, check_cast

__all__ = ["RowSource", "ArraySource", "GeneratedSource", "NpySource", "BLOCK_BYTES", "take_rows",
           "is_source", "block_rows"]

#: Bytes of one block of rows (float64): large enough that the per-block overhead is nothing
#: beside the work, small enough that a block or two is all a streamed X holds.
BLOCK_BYTES = 32 * 2**20


def block_rows(d: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block for dimension d."""
    return max(1, int(block_bytes) // (8 * max(int(d), 1)))


def is_source(X) -> bool:
    return isinstance(X, RowSource)


def take_rows(X, rows) -> np.ndarray:
    """Rows ``rows`` (in that order) of an array or a :class:`RowSource`, as float64."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(X, RowSource):
        return X.take(rows)
    return np.asarray(X, np.float64)[rows]


class RowSource:
    """n rows of d float64 inputs, read a block at a time (see the module docstring).

    Subclasses implement :meth:`_raw_blocks` (the rows in order, unvalidated) and may
    override :meth:`_raw_take`. ``shape``, ``len`` and indexing (an int, a slice or an
    index array) work as on an array, so strategies that look at a few rows need not know.
    """

    n: int
    d: int
    label: str = "X"
    block: int

    @property
    def shape(self) -> tuple:
        return (self.n, self.d)

    ndim = 2
    dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}: {self.n:,} x {self.d}>"

    # -- reading --------------------------------------------------------------------------
    def _raw_blocks(self):
        raise NotImplementedError

    def _check(self, start: int, B) -> np.ndarray:
        try:
            return as_inputs(B, row0=start)
        except HarnessError as exc:
            raise HarnessError(f"{self.label}: {exc}") from None

    def blocks(self):
        """(first row, rows) for consecutive blocks covering all n rows, validated, float64."""
        for start, B in self._raw_blocks():
            yield start, self._check(start, B)

    def _raw_take(self, uniq: np.ndarray) -> np.ndarray:
        """Rows ``uniq`` (sorted, distinct) by one pass over the blocks, stopping after the last."""
        out = np.empty((uniq.size, self.d))
        if not uniq.size:
            return out
        last = int(uniq[-1])
        for start, B in self.blocks():
            stop = start + B.shape[0]
            lo, hi = np.searchsorted(uniq, (start, stop))
            if hi > lo:
                out[lo:hi] = B[uniq[lo:hi] - start]
            if stop > last:
                break
        return out

    def take(self, rows) -> np.ndarray:
        """Rows ``rows`` (any order, repeats allowed) as a float64 (len(rows), d) array."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            bad = rows[(rows < 0) | (rows >= self.n)][0]
            raise HarnessError(f"{self.label}: row {int(bad)} is outside 0..{self.n - 1}")
        uniq, inv = np.unique(rows, return_inverse=True)
        return self._raw_take(uniq)[inv.ravel()]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.n if key < 0 else 0)
            return self.take([k])[0]
        if isinstance(key, slice):  # a range, not n indices (X[:m] of 10^8 rows)
            r = range(self.n)[key]
            return self.take(np.arange(r.start, r.stop, r.step))
        if isinstance(key, tuple):
            rows, cols = key
            return self[rows][..., cols] if not isinstance(rows, (int, np.integer)) else self[rows][cols]
        return self.take(np.asarray(key))

    def __array__(self, dtype=None, copy=None):
        # the whole array on purpose only (np.asarray of a source): within the machine's memory
        from ..core.validation import check_memory

        check_memory(8.0 * self.n * self.d, f"{self.label} ({self.n:,} x {self.d}) held whole")
        out = self.take(np.arange(self.n))
        return out if dtype is None else out.astype(dtype)

    def in_format(self, fmt) -> "RowSource":
        """These rows rounded to ``fmt`` (a Format), each block checked for overflow."""
        return _Rounded(self, fmt) if fmt.name != "float64" else self


class _Rounded(RowSource):
    def __init__(self, base: RowSource, fmt):
        self.base, self.fmt = base, fmt
        self.n, self.d, self.block, self.label = base.n, base.d, base.block, base.label

    def blocks(self):
        for start, B in self.base.blocks():
            Bf = self.fmt.cast(B)
            check_cast(B, Bf, "X", self.fmt, row0=start)
            yield start, Bf

    def _raw_take(self, uniq):
        B = self.base._raw_take(uniq)
        Bf = self.fmt.cast(B)
        check_cast(B, Bf, "X", self.fmt)
        return Bf


class ArraySource(RowSource):
    """An array in memory read as a source (blocks are views)."""

    def __init__(self, X, block: int | None = None, label: str = "X"):
        self.X = np.asarray(X)
        if self.X.ndim != 2:
            raise HarnessError(f"X must be 2-D (n points x d features), got shape {self.X.shape}")
        self.n, self.d = self.X.shape
        self.block = int(block) if block else block_rows(self.d)
        self.label = label

    def _raw_blocks(self):
        for start in range(0, self.n, self.block):
            yield start, self.X[start:start + self.block]

    def _raw_take(self, uniq):
        if not uniq.size:
            return np.empty((0, self.d))
        B = self.X[uniq]
        try:
            return as_inputs(B)
        except HarnessError:  # name the entry by its row in the whole input
            for i, r in enumerate(uniq.tolist()):
                self._check(r, B[i:i + 1])
            raise


class NpySource(ArraySource):
    """A .npy file, memory-mapped: X alone (``labels_last=False``) or a table whose last column
    is the label (``labels_last=True``; :meth:`labels` reads that column)."""

    def __init__(self, path, labels_last: bool = False, block: int | None = None):
        path = Path(path)
        if path.stat().st_size == 0:
            raise HarnessError(f"{path}: empty file (0 bytes)")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise HarnessError(f"{path}: not a readable .npy file ({exc})") from None
        if arr.dtype.kind not in "fiub":
            raise HarnessError(f"{path}: dtype {arr.dtype} is not a real number type")
        if labels_last:
            if arr.ndim != 2 or arr.shape[1] < 2:
                raise HarnessError(f"{path}: need a 2-D table with at least 2 columns (features, then the "
                                   f"label); got shape {arr.shape}")
            self._table, arr = arr, arr[:, :-1]
        else:
            self._table = None
        super().__init__(arr, block, label=str(path))

    def labels(self) -> np.ndarray:
        """The last column (labels_last), as float64, checked finite."""
        if self._table is None:
            raise HarnessError(f"{self.label}: holds X alone; give the labels separately")
        from ..core.validation import as_labels

        y = np.array(self._table[:, -1], dtype=np.float64)
        try:
            return as_labels(y, self.n)[0][:, 0]
        except HarnessError as exc:
            raise HarnessError(f"{self.label}: labels (last column): {exc}") from None


class GeneratedSource(RowSource):
    """A seeded generator of :data:`harness.build.data.BLOCKWISE`, run block by block on one
    stream: ``rng_factory()`` gives the generator's fresh Generator for each pass."""

    def __init__(self, kind: str, n: int, d: int, rng_factory, block: int | None = None):
        from .data import blockwise, check_size

        entry = blockwise(kind)
        check_size(n, d)
        self.kind, self.entry, self.rng_factory = kind, entry, rng_factory
        self.n, self.d = int(n), int(d)
        self.block = int(block) if block else block_rows(self.d)
        self.label = f"data {kind}"

    def _raw_blocks(self):
        rng = self.rng_factory()
        for start in range(0, self.n, self.block):
            m = min(self.block, self.n - start)
            yield start, self.entry.func(m, self.d, rng, self.entry.param)
