"""The projections' order: numpy's stable argsort, computed by sorting packed 64-bit keys.

numpy's ``sort`` of 64-bit integers is vectorised (x86-simd-sort) and, on this kind of
machine, about ten times faster than ``argsort`` of the same values (numpy 2.4: 0.07 s
against 0.65 s at 10^7). So the order is found by sorting integers that carry both:

1. each projection as an unsigned key monotone in its value: ``floor((z - z_min) * 2^(63-k)
   / (z_max - z_min))``, spread evenly over the range (each step rounds monotonically, and
   -0.0 and +0.0 get one key, since they compare equal); where the range is 0 or overflows,
   the float's bits (sign bit flipped for positives, all bits flipped for negatives);
2. the key's top ``64 - k`` bits, then the row index in the low ``k`` bits (2^k >= n),
   as one uint64, all distinct;
3. one vectorised sort of those, then the indices read back from the low bits.

The keys order rows correctly except within runs of equal keys, where the index decides;
those runs (projections closer than the key's resolution, span / 2^(63-k): typically a
small fraction of the rows) are then sorted by (value, index) exactly.
The result is, element for element, ``np.argsort(z, kind="stable")``
(tests/test_ordering.py holds it to that on ties, signed zeros, subnormals, long runs and
random data); when runs cover more than FALLBACK_SHARE of the rows (data with few
distinct values) numpy's stable argsort is used instead.

Deterministic: sorting distinct integers has one answer, whatever the sort's algorithm.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["stable_order", "sort_projections", "gather_rows", "FALLBACK_SHARE"]

#: Rows in runs of equal truncated keys above this share: numpy's stable argsort instead.
FALLBACK_SHARE = 0.25


@njit(cache=True, parallel=True)
def _packed(z, k, out):
    n = z.size
    bits = z.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    kk = np.uint64(k)
    for i in prange(n):
        u = bits[i]
        if u == sign:  # -0.0 is +0.0
            u = np.uint64(0)
        key = ~u if (u & sign) else (u | sign)
        out[i] = ((key >> kk) << kk) | np.uint64(i)
    return out


@njit(cache=True, parallel=True)
def _packed_affine(z, k, zmin, scale, out):
    """Packed keys with the value part ``floor((z - zmin) * scale)``: monotone in z (each step
    rounds monotonically), spread evenly over [zmin, zmax] instead of over float exponents."""
    n = z.size
    kk = np.uint64(k)
    for i in prange(n):
        out[i] = (np.uint64((z[i] - zmin) * scale) << kk) | np.uint64(i)
    return out


@njit(cache=True, parallel=True)
def _unpack(s, z, k, y, order, zs, ys):
    """Fill order, z[order] and y[order] (y 1-D, or of size 0: none) from the sorted packed keys.
    (A 2-D Y with a loop over its columns here
    is 8x slower at 10^6: multi-column labels are gathered apart.)"""
    n = s.size
    mask = (np.uint64(1) << np.uint64(k)) - np.uint64(1)
    gather = y.size == n
    for i in prange(n):
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
def _value_keys(zs, k, affine, zmin, scale):
    """The value part of each sorted row's packed key, recomputed from its value by the same
    operations (the packed keys' memory holds the order by now)."""
    n = zs.size
    out = np.empty(n, dtype=np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    kk = np.uint64(k)
    for i in range(n):
        if affine:
            out[i] = np.uint64((zs[i] - zmin) * scale)
        else:
            u = np.array([zs[i]]).view(np.uint64)[0]
            if u == sign:
                u = np.uint64(0)
            out[i] = (~u if (u & sign) else (u | sign)) >> kk
    return out


@njit(cache=True)
def _run_around(key, i):
    """(first, last) position of the run of keys equal to key[i] (key[i - 1] is in it: a descent
    between different keys cannot happen, the keys being sorted and monotone in the value)."""
    lo, hi = i - 1, i
    while lo > 0 and key[lo - 1] == key[i]:
        lo -= 1
    while hi + 1 < key.size and key[hi + 1] == key[i]:
        hi += 1
    return lo, hi


@njit(cache=True)
def _bad_runs(key, zs):
    """(positions, run numbers) of the runs of equal keys that hold a descent zs[i] < zs[i-1]: the
    only places the index decided before the value. Runs without one are already in (value,
    index) order."""
    n = zs.size
    count = 0
    i = 1
    while i < n:  # pass 1: how many positions
        if zs[i] < zs[i - 1]:
            lo, hi = _run_around(key, i)
            count += hi - lo + 1
            i = hi + 1
        else:
            i += 1
    pos = np.empty(count, dtype=np.int64)
    rid = np.empty(count, dtype=np.int64)
    m, r, i = 0, 0, 1
    while i < n:  # pass 2: the positions
        if zs[i] < zs[i - 1]:
            lo, hi = _run_around(key, i)
            for p in range(lo, hi + 1):
                pos[m] = p
                rid[m] = r
                m += 1
            r += 1
            i = hi + 1
        else:
            i += 1
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
    whether the value part is the affine key; its zmin and scale)."""
    zmin, zmax = _min_max(z)
    with np.errstate(over="ignore"):
        span = zmax - zmin
    s = np.empty(z.size, dtype=np.uint64)  # numpy's allocation: large arrays get huge pages, fewer faults
    affine = bool(0 < span < np.inf)
    scale = float(2.0 ** (63 - k)) / span if affine else 0.0  # the values fill half the 64 - k key bits
    if affine:
        _packed_affine(z, k, zmin, scale, s)
    else:
        _packed(z, k, s)
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
    Yc = np.empty((0, 1)) if Y is None else np.ascontiguousarray(Y, dtype=np.float64)
    out = (lambda o, zs, Ys: (o, zs, Ys if Y is not None else None, bool(_neighbours(zs)[1])))  # noqa: E731
    if n < 2:
        order = np.arange(n, dtype=np.int64)
        return out(order, z[order], Yc[order] if Y is not None else None)
    k = max(1, int(n - 1).bit_length())
    s, affine, zmin, scale = sorted_keys(z, k)
    # the order goes into the keys' own memory (each key is read before its slot is written: fresh
    # memory costs its page faults); the others are allocated by numpy (huge pages for large arrays)
    order, zs = s.view(np.int64), np.empty(n)
    one = Y is not None and Yc.shape[1] == 1
    ys = np.empty(n) if one else np.empty(0)
    _unpack(s, z, k, np.ascontiguousarray(Yc[:, 0]) if one else np.empty(0), order, zs, ys)
    Ys = ys.reshape(n, 1) if one else None
    descends, ties = _neighbours(zs)
    if not descends:
        Ys = Ys if one or Y is None else Yc[order]
        return order, zs, Ys if Y is not None else None, bool(ties)
    pos, run_id = _bad_runs(_value_keys(zs, k, affine, zmin, scale), zs)
    if pos.size > FALLBACK_SHARE * n:
        order = np.argsort(z, kind="stable")
        return out(order, z[order], Yc[order] if Y is not None else None)
    sub = order[pos]
    order[pos] = sub[np.lexsort((sub, z[sub], run_id))]
    zs[pos] = z[order[pos]]
    if one:
        Ys[pos] = Yc[order[pos]]
    return out(order, zs, Ys if one or Y is None else Yc[order])
