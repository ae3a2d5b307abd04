"""The projections' order: numpy's stable argsort, computed by sorting packed integer keys.

Each projection gets an unsigned key monotone in its value, ``floor((z - z_min) * 2^c /
(z_max - z_min))`` (each step rounds monotonically; -0.0 and +0.0 get one key, since they compare
equal), packed above its row index (low k bits, 2^k >= n) in one uint64. Sorting those
distinct integers orders the rows correctly except within runs of equal value keys, where the
index decides; fixing those runs by value gives, element for element,
``np.argsort(z, kind="stable")``. Two ways to sort the keys:

1. **Radix order** (the usual path): only c + 1 = k + RADIX_SPARE_BITS value bits. One parallel
   pass computes each row's key from its value and scatters it, with the value and the label
   beside it (read in input order: no random gathers), into 2^ceil(bits/3) buckets by the top
   third of the value bits (stable: per-chunk histograms, chunk t after chunks < t); then each
   bucket, a few thousand rows that stay in cache, is sorted alone by the rest of its value bits
   (two LSD passes, or an insertion sort at most RADIX_INSERTION rows), the values and labels
   moved with the keys, and each key becomes its row index in place. Equal keys stay in index
   order; one streaming pass then insertion-sorts each run of equal keys by value (stable:
   strict comparisons). With 2^c >= 16n key values, a row rarely shares its key; when the fix-up
   would move more than RADIX_FIXUP_BUDGET rows per row (values far closer together than the
   range is wide), the packed 64-bit keys are used instead. Its cost does not depend on numpy's
   sort kernel, which varies tenfold between CPUs: numpy's AVX-512 sort (x86-simd-sort) is ~10x
   its argsort on Intel, but on AMD Zen 4 its memory-destination compress-stores are microcoded
   and it runs at scalar speed (measured on one, numpy 2.4.6: np.sort of 10^6 packed keys 56
   ms). Measured on an Intel Xeon (2 cores, AVX-512), on projections of uniform points on a
   Gaussian direction with one label column: the radix order of 10^6 in 16-22 ms, numpy's
   argsort 36 ms; of 10^7, 0.19-0.22 s against 0.94-1.06 s (``pytest benchmarks -k order_vs``).
   SORT_PATH "auto" keeps the radix order unless the packed keys' path is clearly faster here.
2. **Packed 64-bit keys**: c = 63 - k (the values fill half the 64 - k key bits; where the range
   is 0 or overflows, the float's bits: sign bit flipped for positives, all bits flipped for
   negatives), one ``np.sort``, then only the runs of equal keys that hold a descent re-sorted
   by (value, index) exactly; when those cover more than FALLBACK_SHARE of the rows, numpy's
   stable argsort.

tests/test_ordering.py holds every branch to ``np.argsort(z, kind="stable")`` on ties, signed
zeros, subnormals, long runs and random data, and shows each branch runs.

Deterministic: sorting distinct integers has one answer, whatever the sort's algorithm or the
number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

__all__ = ["stable_order", "sort_projections", "gather_rows", "prefer_radix", "SORT_PATH", "CHOOSE_MARGIN",
           "FALLBACK_SHARE", "RADIX_SPARE_BITS", "RADIX_INSERTION", "RADIX_FIXUP_BUDGET"]

#: Packed 64-bit keys: rows in runs of equal keys to fix above this share: numpy's stable argsort instead.
FALLBACK_SHARE = 0.25
#: Radix order: value-key bits beyond the index's k, so 2^(k + RADIX_SPARE_BITS - 1) >= 16n key values.
RADIX_SPARE_BITS = 5
#: Radix order: buckets of at most this many rows are insertion-sorted, larger ones by two LSD passes.
RADIX_INSERTION = 32
#: Radix order: rows moved by the fix-up's insertion sorts, per row, before the packed keys take over.
RADIX_FIXUP_BUDGET = 4


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


@njit(cache=True, parallel=True)
def _bucket_scatter(z, y, k, zmin, scale, shift, bits, T, keys, zb, yb):
    """The radix order's one pass over the whole input: each row's packed key (affine value key
    above its index), computed from z, into keys by its top value digit ``(key >> shift) &
    (2^bits - 1)``, its value and its label (y of size 0: none) beside it in zb, yb. T chunks in
    parallel, each with its own histogram and write positions (chunk t's rows of a digit go after
    those of chunks < t): stable, the same for any T. Returns the 2^bits + 1 bucket starts."""
    n = z.size
    R = 1 << bits
    mask = np.uint64(R - 1)
    sh = np.uint64(shift)
    kk = np.uint64(k)
    carry_y = y.size == n
    pos = np.zeros((T, R), dtype=np.int64)
    for t in prange(T):
        for i in range(t * n // T, (t + 1) * n // T):
            pos[t, np.int64(((_affine_key(z[i], zmin, scale) << kk) >> sh) & mask)] += 1
    starts = np.empty(R + 1, dtype=np.int64)
    total = 0
    for r in range(R):  # exclusive offsets: digit-major, chunk-minor
        starts[r] = total
        for t in range(T):
            c = pos[t, r]
            pos[t, r] = total
            total += c
    starts[R] = total
    for t in prange(T):
        for i in range(t * n // T, (t + 1) * n // T):
            v = (_affine_key(z[i], zmin, scale) << kk) | np.uint64(i)
            r = np.int64((v >> sh) & mask)
            q = pos[t, r]
            keys[q] = v
            zb[q] = z[i]
            if carry_y:
                yb[q] = y[i]
            pos[t, r] = q + 1
    return starts


@njit(cache=True)
def _bucket_lsd(a, az, ay, b, bz, by, lo, hi, shift, d, count, carry_y):
    """Two stable passes of d bits from bit ``shift`` up over the keys a[lo:hi], their values az
    and labels ay moved with them, through the scratch b, bz, by (from 0) and back."""
    R = 1 << d
    mask = np.uint64(R - 1)
    for p in range(2):
        sh = np.uint64(shift + p * d)
        count[:R] = 0
        for i in range(lo, hi):
            src = a[i] if p == 0 else b[i - lo]
            count[np.int64((src >> sh) & mask)] += 1
        total = 0
        for r in range(R):
            c = count[r]
            count[r] = total
            total += c
        for i in range(lo, hi):
            if p == 0:
                v = a[i]
                q = count[np.int64((v >> sh) & mask)]
                b[q] = v
                bz[q] = az[i]
                if carry_y:
                    by[q] = ay[i]
            else:
                v = b[i - lo]
                q = count[np.int64((v >> sh) & mask)]
                a[lo + q] = v
                az[lo + q] = bz[i - lo]
                if carry_y:
                    ay[lo + q] = by[i - lo]
            count[np.int64((v >> sh) & mask)] = q + 1


@njit(cache=True)
def _insert(a, b, c, lo, p, carry_c):
    """Move row p of the parallel arrays a, b and c (c only where ``carry_c``) down to just after
    the last row in [lo, p) whose a is <= a[p] (strict comparisons: equal values keep their
    order); the rows between move up one. Returns its new position."""
    v, vb = a[p], b[p]
    vc = c[p] if carry_c else 0.0
    q = p
    while q > lo and a[q - 1] > v:
        a[q] = a[q - 1]
        b[q] = b[q - 1]
        if carry_c:
            c[q] = c[q - 1]
        q -= 1
    a[q] = v
    b[q] = vb
    if carry_c:
        c[q] = vc
    return q


@njit(cache=True, parallel=True)
def _sort_buckets(keys, zb, yb, starts, k, low, T):
    """Sort each bucket keys[starts[r]:starts[r+1]] (values and labels moved with it) by its keys'
    ``low`` bits above the k index bits (the bits above are the bucket's, the index is already in
    order): two LSD passes through a scratch of the group's largest bucket (in cache for any
    usual data), or an insertion sort at most RADIX_INSERTION rows; then each key becomes its
    index, in place. T groups of buckets in parallel, a bucket to the group its first row is in."""
    n = keys.size
    d = (low + 1) // 2
    mask = (np.uint64(1) << np.uint64(k)) - np.uint64(1)
    carry_y = yb.size == n
    for t in prange(T):
        first, last = t * n // T, (t + 1) * n // T
        widest = 0
        for r in range(starts.size - 1):
            if first <= starts[r] < last:
                widest = max(widest, starts[r + 1] - starts[r])
        count = np.empty(1 << d, dtype=np.int64)
        b = np.empty(widest, dtype=np.uint64)
        bz = np.empty(widest)
        by = np.empty(widest if carry_y else 0)
        for r in range(starts.size - 1):
            lo, hi = starts[r], starts[r + 1]
            if lo < first or lo >= last:
                continue
            if hi - lo <= RADIX_INSERTION:  # distinct keys: any sort gives the one answer
                for p in range(lo + 1, hi):
                    _insert(keys, zb, yb, lo, p, carry_y)
            else:
                _bucket_lsd(keys, zb, yb, b, bz, by, lo, hi, k, d, count, carry_y)
            for i in range(lo, hi):
                keys[i] &= mask


@njit(cache=True)
def _run_bounds(zs, zmin, scale, T):
    """T + 1 chunk boundaries near i * n / T, each moved forward to the start of a run of equal
    value keys (recomputed from the values), so no run spans two chunks."""
    n = zs.size
    b = np.empty(T + 1, dtype=np.int64)
    b[0] = 0
    for t in range(1, T + 1):
        i = max(t * n // T, b[t - 1])
        while 0 < i < n and _affine_key(zs[i], zmin, scale) == _affine_key(zs[i - 1], zmin, scale):
            i += 1
        b[t] = i
    return b


@njit(cache=True, parallel=True)
def _radix_fixup(zs, order, ys, zmin, scale, bounds, budget):
    """Sorted by value key (equal keys in index order, as the stable radix sort leaves them):
    insertion-sort each run of equal keys (recomputed from the values by the operations that made
    them) by value, moving order and ys (size 0: none) with zs; strict comparisons, so equal values
    keep index order, as a stable argsort. Chunks (``bounds``, run-aligned) in parallel. Returns
    (every chunk moved at most ``budget`` rows per row, two equal neighbours)."""
    T = bounds.size - 1
    within = np.ones(T, dtype=np.bool_)
    tie = np.zeros(T, dtype=np.bool_)
    carry_y = ys.size == zs.size
    for t in prange(T):
        lo, hi = bounds[t], bounds[t + 1]
        limit = budget * (hi - lo)
        moves = 0
        start = lo
        run = _affine_key(zs[lo], zmin, scale) if lo < hi else np.uint64(0)
        for p in range(lo + 1, hi):
            zj = zs[p]
            key = _affine_key(zj, zmin, scale)
            if key != run:
                run = key
                start = p
                continue
            if zs[p - 1] < zj:
                continue
            if zs[p - 1] == zj:
                tie[t] = True
                continue
            q = _insert(zs, order, ys, start, p, carry_y)
            if q > start and zs[q - 1] == zj:
                tie[t] = True
            moves += p - q
            if moves > limit:
                within[t] = False
                break
    return within.all(), tie.any()


def _radix_order(z, k, zmin, span, y1, T: int | None = None):
    """(order, z[order], y1[order] or empty, ties) by the radix order, or None when the fix-up
    would exceed its budget or the keys do not fit (then the packed 64-bit keys). T: the chunks
    run in parallel (default: Numba's threads, one per 4,096 rows at most); any T, same result."""
    n = z.size
    bits = min(k + RADIX_SPARE_BITS, 64 - k)  # value-key bits: keys in [0, 2^(bits - 1)]
    if bits < k + 2:  # n beyond ~2^31: too few bits for both; the packed keys
        return None
    scale = float(2.0 ** (bits - 1)) / span
    if not np.isfinite(scale):  # a subnormal span
        return None
    if T is None:
        T = max(1, min(get_num_threads(), n // 4096))
    # one pass into 2^(bits/3) buckets by the top third of the value bits, values and labels
    # moved with the keys (read in order: no gathers), then each bucket sorted alone, in cache
    keys, zs, ys = np.empty(n, dtype=np.uint64), np.empty(n), np.empty(y1.size)
    top = -(-bits // 3)
    starts = _bucket_scatter(z, y1, k, zmin, scale, k + bits - top, top, T, keys, zs, ys)
    _sort_buckets(keys, zs, ys, starts, k, bits - top, T)
    order = keys.view(np.int64)
    within, ties = _radix_fixup(zs, order, ys, zmin, scale, _run_bounds(zs, zmin, scale, T),
                                RADIX_FIXUP_BUDGET)
    if not within:
        return None
    return order, zs, ys, ties


def gather_rows(Y: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``Y[order]`` for a float64 (n, k) array, C-contiguous."""
    return np.ascontiguousarray(np.asarray(Y, dtype=np.float64)[order])


def sorted_keys(z: np.ndarray, k: int, zmin: float, zmax: float):
    """(the packed keys of z, index in the low k bits, sorted in place by one vectorised sort;
    whether the value key is the affine one; its zmin and scale). zmin, zmax: z's bounds."""
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


#: Which sort orders the keys: "radix", "packed", or "auto": the radix order up to
#: CHOOSE_ABOVE rows, and above that the radix order unless the packed keys' path took under
#: 1 / CHOOSE_MARGIN of its time on a fixed sample of CHOOSE_SAMPLE rows, timed once per process
#: (numpy's sort varies tenfold between CPUs; see the module's docstring; the margin keeps a
#: shared machine's timing noise from switching the path). Both give the same order, so the
#: choice changes the time, never a bit.
SORT_PATH = "auto"
CHOOSE_ABOVE = 1 << 16
CHOOSE_SAMPLE = 1 << 18
CHOOSE_MARGIN = 1.5
_chosen: dict = {}


def _radix_chosen(n: int) -> bool:
    """Whether the radix order sorts n keys (SORT_PATH; "auto": see there)."""
    if SORT_PATH != "auto":
        return SORT_PATH == "radix"
    if n <= CHOOSE_ABOVE:
        return True
    if "radix" not in _chosen:
        _chosen["radix"] = prefer_radix()
    return _chosen["radix"]


def prefer_radix(size: int = CHOOSE_SAMPLE, repeat: int = 3, margin: float = CHOOSE_MARGIN) -> bool:
    """Time both sorts (best of ``repeat``, compiled first) on ``size`` fixed Gaussian values:
    whether the radix order took at most ``margin`` times the packed keys' ``np.sort`` path."""
    import time

    z = np.random.default_rng(0).standard_normal(size)
    k = max(1, int(size - 1).bit_length())
    zmin, zmax = _min_max(z)

    def packed():
        _packed_order(z, k, float(zmin), float(zmax), np.empty(0))

    def radix():
        _radix_order(z, k, float(zmin), float(zmax - zmin), np.empty(0))

    best = {}
    for name, fn in (("packed", packed), ("radix", radix)):
        fn()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    return best["radix"] <= margin * best["packed"]


def _packed_order(z, k, zmin, zmax, y1):
    """(order, z[order], y1[order] or empty, ties) by the packed 64-bit keys (z's bounds given):
    one np.sort, then the runs of equal keys that hold a descent fixed, or numpy's stable argsort
    where those cover more than FALLBACK_SHARE of the rows."""
    s, affine, zmin, scale = sorted_keys(z, k, zmin, zmax)
    # the order goes into the keys' own memory (fresh memory costs its page faults)
    order, zs = s.view(np.int64), np.empty(z.size)
    ys = np.empty(y1.size)
    _unpack(s, z, k, y1, order, zs, ys)
    descends, ties = _neighbours(zs)
    if descends:
        pos, run_id = _bad_runs(_value_keys(zs, k, affine, zmin, scale), zs)
        if pos.size > FALLBACK_SHARE * z.size:
            order = np.argsort(z, kind="stable")
            zs, ys = z[order], np.empty(0)  # the labels are gathered below
        else:
            sub = order[pos]
            order[pos] = sub[np.lexsort((sub, z[sub], run_id))]
            zs[pos] = z[order[pos]]
            if ys.size:
                ys[pos] = y1[order[pos]]
        ties = _neighbours(zs)[1]
    return order, zs, ys, ties


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
    # one label column is gathered in the same pass as the order, into numpy's memory
    y1 = Yc[:, 0] if Yc is not None and Yc.shape[1] == 1 else np.empty(0)
    zmin, zmax = _min_max(z)
    with np.errstate(over="ignore"):
        span = zmax - zmin
    use_radix = 0 < span < np.inf and _radix_chosen(n)
    result = _radix_order(z, k, float(zmin), float(span), y1) if use_radix else None
    if result is None:  # not chosen, or it gave up (keys that do not fit, fix-up over budget)
        result = _packed_order(z, k, float(zmin), float(zmax), y1)
    order, zs, ys, ties = result
    return order, zs, _labels(Yc, order, ys), bool(ties)


def _labels(Yc, order, ys):
    """Y[order]: the one column gathered with the order (ys), else gathered now; None without Y."""
    if Yc is None:
        return None
    return ys.reshape(order.size, 1) if ys.size == order.size else Yc[order]
