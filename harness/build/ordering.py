"""The projections' order: numpy's stable argsort, computed by sorting packed 64-bit keys.

numpy's ``sort`` of 64-bit integers is vectorised (x86-simd-sort) and, on this kind of
machine, about ten times faster than ``argsort`` of the same values (numpy 2.4: 0.07 s
against 0.65 s at 10^7). So the order is found by sorting integers that carry both:

1. each projection as an unsigned key monotone in its value: ``floor((z - z_min) * 2^(63-k)
   / (z_max - z_min))``, spread evenly over the range (each step rounds monotonically, and
   -0.0 and +0.0 get one key, since they compare equal); where the range is 0 or overflows,
   the float's bits (sign bit flipped for positives, all bits flipped for negatives);
2. that key (for the float's bits, its top ``64 - k`` bits) above the row index in the low
   ``k`` bits (2^k >= n), as one uint64, all distinct;
3. one vectorised sort of those, then the indices read back from the low bits.

The keys order rows correctly except within runs of equal keys, where the index decides;
those runs (projections closer than the key's resolution, span / 2^(63-k): typically a
small fraction of the rows) are then sorted by (value, index) exactly.
The result is, element for element, ``np.argsort(z, kind="stable")``
(tests/test_ordering.py holds it to that on ties, signed zeros, subnormals, long runs and
random data); when the runs to fix cover more than FALLBACK_SHARE of the rows (values far
closer together than the range is wide, e.g. one outlier) numpy's stable argsort is used
instead.

Deterministic: sorting distinct integers has one answer, whatever the sort's algorithm.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["stable_order", "sort_projections", "gather_rows", "FALLBACK_SHARE"]

#: Rows in runs of equal keys to fix above this share: numpy's stable argsort instead.
FALLBACK_SHARE = 0.25


@njit(cache=True, inline="always")
def _float_key(u):
    """The unsigned key of a float64's bits u, monotone in its value (-0.0 is +0.0's key)."""
    sign = np.uint64(1) << np.uint64(63)
    if u == sign:
        u = np.uint64(0)
    return ~u if (u & sign) else (u | sign)


@njit(cache=True, inline="always")
def _affine_key(v, zmin, scale):
    """``floor((v - zmin) * scale)``: monotone in v (each step rounds monotonically)."""
    return np.uint64((v - zmin) * scale)


@njit(cache=True, parallel=True)
def _packed(z, k, affine, zmin, scale, out):
    """Packed keys: the value key (affine, or the float's top 64 - k bits) above the index."""
    bits = z.view(np.uint64)
    kk = np.uint64(k)
    for i in prange(z.size):
        key = _affine_key(z[i], zmin, scale) if affine else _float_key(bits[i]) >> kk
        out[i] = (key << kk) | np.uint64(i)


@njit(cache=True)
def _value_keys(zs, k, affine, zmin, scale):
    """The value key of each sorted row, recomputed from its value by the same operations as
    :func:`_packed` (the packed keys' memory holds the order by now)."""
    bits = zs.view(np.uint64)
    kk = np.uint64(k)
    out = np.empty(zs.size, dtype=np.uint64)
    for i in range(zs.size):
        out[i] = _affine_key(zs[i], zmin, scale) if affine else _float_key(bits[i]) >> kk
    return out


@njit(cache=True, parallel=True)
def _unpack(s, z, k, y, order, zs, ys):
    """Fill order, z[order] and y[order] (y 1-D, or of size 0: none) from the sorted packed keys
    (order may be s's own memory: each key is read before its slot is written). Labels of
    several columns are gathered apart: a loop over Y's columns here is 8x slower at 10^6."""
    mask = (np.uint64(1) << np.uint64(k)) - np.uint64(1)
    gather = y.size == s.size
    for i in prange(s.size):
        j = np.int64(s[i] & mask)
        order[i] = j
        zs[i] = z[j]
        if gather:
            ys[i] = y[j]


@njit(cache=True)
def _neighbours(zs):
    """(whether some zs[i] < zs[i - 1], whether some zs[i] == zs[i - 1]), in one pass (stopping at
    the first descent)."""
    ties = False
    for i in range(1, zs.size):
        if zs[i] < zs[i - 1]:
            return True, ties
        if zs[i] == zs[i - 1]:
            ties = True
    return False, ties


@njit(cache=True)
def _next_bad_run(key, zs, i):
    """(first, last) position of the first run of equal keys, from position i on, that holds a
    descent zs[j] < zs[j - 1]; (-1, -1) when none. A descent is always inside a run: the keys
    are sorted and monotone in the value."""
    while i < zs.size:
        if zs[i] < zs[i - 1]:
            lo, hi = i - 1, i
            while lo > 0 and key[lo - 1] == key[i]:
                lo -= 1
            while hi + 1 < key.size and key[hi + 1] == key[i]:
                hi += 1
            return lo, hi
        i += 1
    return -1, -1


@njit(cache=True)
def _bad_runs(key, zs):
    """(positions, run numbers) of the runs of equal keys that hold a descent: the only places
    the index decided before the value (a run without one is already in (value, index) order)."""
    count, lo, hi = 0, 0, 0
    while True:  # pass 1: how many positions
        lo, hi = _next_bad_run(key, zs, hi + 1)
        if lo < 0:
            break
        count += hi - lo + 1
    pos = np.empty(count, dtype=np.int64)
    rid = np.empty(count, dtype=np.int64)
    m, r, hi = 0, 0, 0
    while True:  # pass 2: the positions
        lo, hi = _next_bad_run(key, zs, hi + 1)
        if lo < 0:
            break
        for p in range(lo, hi + 1):
            pos[m] = p
            rid[m] = r
            m += 1
        r += 1
    return pos, rid


@njit(cache=True)
def _min_max(z):
    lo = z[0]
    hi = z[0]
    for v in z:
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return lo, hi


def gather_rows(Y: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``Y[order]`` for a float64 (n, k) array, C-contiguous."""
    return np.ascontiguousarray(np.asarray(Y, dtype=np.float64)[order])


def sorted_keys(z: np.ndarray, k: int):
    """(the packed keys of z, index in the low k bits, sorted in place by one vectorised sort;
    whether the value key is the affine one; its zmin and scale)."""
    zmin, zmax = _min_max(z)
    with np.errstate(over="ignore"):
        span = zmax - zmin
    affine = bool(0 < span < np.inf)
    scale = float(2.0 ** (63 - k)) / span if affine else 0.0  # the values fill half the 64 - k key bits
    s = np.empty(z.size, dtype=np.uint64)  # numpy's allocation: large arrays get huge pages, fewer faults
    _packed(z, k, affine, float(zmin), scale, s)
    s.sort()
    return s, affine, float(zmin), scale


def stable_order(z: np.ndarray, Y: np.ndarray | None = None):
    """(order, z[order]) with order == ``np.argsort(z, kind="stable")`` for finite float64 z;
    with Y (n, k) float64 also Y[order], gathered in the same pass: (order, z[order], Y[order])."""
    order, zs, Ys, _ = sort_projections(z, Y)
    return (order, zs) if Y is None else (order, zs, Ys)


def sort_projections(z: np.ndarray, Y: np.ndarray | None = None):
    """(order, z[order], Y[order] or None, whether two sorted neighbours are equal): what
    :func:`stable_order` gives, and the construction's tie test from the same pass."""
    z = np.ascontiguousarray(z, dtype=np.float64)
    n = z.size
    Yc = None if Y is None else np.ascontiguousarray(Y, dtype=np.float64)
    if n < 2:
        order = np.arange(n, dtype=np.int64)
        return order, z[order], None if Y is None else Yc[order], False
    k = max(1, int(n - 1).bit_length())
    s, affine, zmin, scale = sorted_keys(z, k)
    # the order goes into the keys' own memory (fresh memory costs its page faults); one label
    # column is gathered in the same pass, into numpy's memory (huge pages for large arrays)
    order, zs = s.view(np.int64), np.empty(n)
    y1 = Yc[:, 0] if Yc is not None and Yc.shape[1] == 1 else np.empty(0)
    ys = np.empty(y1.size)
    _unpack(s, z, k, y1, order, zs, ys)
    descends, ties = _neighbours(zs)
    if descends:
        pos, run_id = _bad_runs(_value_keys(zs, k, affine, zmin, scale), zs)
        if pos.size > FALLBACK_SHARE * n:
            order = np.argsort(z, kind="stable")
            zs, ys = z[order], np.empty(0)  # the labels are gathered below
        else:
            sub = order[pos]
            order[pos] = sub[np.lexsort((sub, z[sub], run_id))]
            zs[pos] = z[order[pos]]
            if ys.size:
                ys[pos] = y1[order[pos]]
        ties = _neighbours(zs)[1]
    if Yc is None:
        Ys = None
    else:
        Ys = ys.reshape(n, 1) if ys.size == n else Yc[order]
    return order, zs, Ys, bool(ties)
