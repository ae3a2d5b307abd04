"""The packed-key sort (harness.build.ordering) is numpy's stable argsort, element for element."""

import numpy as np
import pytest

from harness.build import ordering
from harness.build.ordering import stable_order


def _near_equal(rng):
    """Gaussian values plus 2,000 values within 2^-32 of 1: equal in their top 47 bits, distinct."""
    z = np.r_[rng.standard_normal(100_000), 1.0 + rng.integers(0, 2**20, 2000) * 2.0**-52]
    return z[rng.permutation(z.size)]


def _outlier(rng):
    """10,000 values within 1e-6 of 1 and one at 1e300: the key's resolution (span / 2^49) is far
    coarser than their spacing, so they all share one key."""
    return np.r_[1.0 + rng.random(10_000) * 1e-6, 1e300]


def _cases():
    rng = np.random.default_rng(0)
    yield "gaussian", rng.standard_normal(100_000)
    yield "uniform 10^6", rng.random(1_000_000)
    yield "few values", rng.integers(0, 50, 20_000).astype(float)
    yield "all near-equal", 1.0 + rng.integers(0, 2**20, 10_000) * 2.0**-52
    yield "outlier (fallback)", _outlier(rng)
    yield "range overflows (float keys)", np.r_[rng.standard_normal(1000), 1.7e308, -1.7e308]
    # float keys with a descent: values equal in all but the low bits the index takes
    yield "float keys, fix-up", np.r_[1.0 + rng.integers(0, 2**10, 3000) * 2.0**-52, 1.7e308, -1.7e308]
    yield "ties among many", np.round(rng.standard_normal(50_000), 3)
    yield "signed zeros", rng.choice([-0.0, 0.0, 1.0, -1.0, 5e-324, -5e-324], 5000)
    yield "subnormals and extremes", np.r_[rng.standard_normal(3000) * 1e-310, [1.7e308, -1.7e308, 0.0, -0.0]]
    # a long run of values equal in their top bits but distinct: the fix-up must sort by value
    yield "near-equal run", _near_equal(rng)
    yield "sorted", np.arange(10_000.0)
    yield "reversed", -np.arange(10_000.0)
    yield "one", np.array([3.0])
    yield "empty", np.array([])
    yield "two equal", np.array([2.0, 2.0])


@pytest.fixture(params=["radix", "packed"])
def path(request, monkeypatch):
    """Each sort forced in turn (SORT_PATH "auto" picks one by timing: both must be right)."""
    monkeypatch.setattr(ordering, "SORT_PATH", request.param)
    return request.param


@pytest.mark.parametrize("name,z", list(_cases()), ids=[c[0] for c in _cases()])
def test_stable_order_is_numpys_stable_argsort(name, z, path):
    order, zs = stable_order(z)
    ref = np.argsort(z, kind="stable")
    assert order.dtype == np.int64 and np.array_equal(order, ref), name
    assert np.array_equal(zs.view(np.uint64), z[ref].view(np.uint64))
    for k in (1, 2):  # labels: one column gathered in the same pass, several apart
        Y = np.random.default_rng(k).standard_normal((z.size, k))
        o2, zs2, Ys = stable_order(z, Y)
        assert np.array_equal(o2, ref) and np.array_equal(zs2, zs) and np.array_equal(Ys, Y[ref])
    ties = ordering.sort_projections(z)[3]  # the construction's tie test, from the same pass
    assert ties == bool(np.any(zs[1:] == zs[:-1]))


def test_the_fix_up_and_the_fallback_both_run(monkeypatch):
    """Packed keys: the near-equal run needs the fix-up (the truncated keys alone misorder it);
    few distinct values take the fallback: each branch is exercised, not just the fast path."""
    monkeypatch.setattr(ordering, "SORT_PATH", "packed")
    calls = []
    real = np.argsort
    monkeypatch.setattr(ordering.np, "argsort", lambda *a, **k: calls.append(k) or real(*a, **k))
    rng = np.random.default_rng(1)
    z = _near_equal(rng)
    k = int(z.size - 1).bit_length()
    s = ordering.sorted_keys(z, k, z.min(), z.max())[0]
    zs = np.empty(z.size)
    ordering._unpack(s, z, k, np.empty(0), np.empty(z.size, np.int64), zs, np.empty(0))
    assert ordering._neighbours(zs)[0]  # misordered before the fix-up
    assert np.array_equal(stable_order(z)[0], real(z, kind="stable"))
    assert calls == []  # the fix-up did it, not the fallback
    z = _outlier(rng)  # nearly every row in one run: the fallback
    assert np.array_equal(stable_order(z)[0], real(z, kind="stable"))
    assert calls == [{"kind": "stable"}]


def _spy(monkeypatch):
    """A list that records each sort that ran: "radix" (finished), "radix gave up" (fix-up over
    budget, or keys that do not fit), "packed"; and "descents" when the radix fix-up had rows to move."""
    ran = []
    radix, keys, fixup = ordering._radix_order, ordering.sorted_keys, ordering._radix_fixup

    def spy_radix(*a, **kw):
        r = radix(*a, **kw)
        ran.append("radix" if r is not None else "radix gave up")
        return r

    def spy_fixup(zs, *a):
        if ordering._neighbours(zs)[0]:
            ran.append("descents")
        return fixup(zs, *a)

    monkeypatch.setattr(ordering, "_radix_order", spy_radix)
    monkeypatch.setattr(ordering, "_radix_fixup", spy_fixup)
    monkeypatch.setattr(ordering, "sorted_keys", lambda *a: ran.append("packed") or keys(*a))
    return ran


def _straddling(rng):
    """A run of 300 values within 1e-12 of 0 in the middle of the order: one key, across the
    boundary between two chunks (moved to the run's start)."""
    z = np.r_[-1 - rng.random(20_000), 1 + rng.random(20_000), rng.random(300) * 1e-12]
    return z[rng.permutation(z.size)]


def test_each_radix_branch_runs(monkeypatch):
    """The radix order finishes with its fix-up moving rows (keys of k + 5 bits share values often
    enough), gives up past its budget (one outlier: every other row in one key) and on a span
    whose scale overflows (subnormal values); each time the result is numpy's stable argsort."""
    monkeypatch.setattr(ordering, "SORT_PATH", "radix")
    rng = np.random.default_rng(2)
    for z, expect in [(rng.standard_normal(200_000), ["descents", "radix"]),
                      (_straddling(rng), ["descents", "radix"]),
                      (_outlier(rng), ["descents", "radix gave up", "packed"]),
                      (rng.integers(0, 100, 5000) * 5e-324, ["radix gave up", "packed"])]:
        ran = _spy(monkeypatch)
        Y = rng.standard_normal((z.size, 1))
        order, zs, Ys = stable_order(z, Y)
        ref = np.argsort(z, kind="stable")
        assert ran == expect
        assert np.array_equal(order, ref) and np.array_equal(zs, z[ref]) and np.array_equal(Ys, Y[ref])
        monkeypatch.undo()
        monkeypatch.setattr(ordering, "SORT_PATH", "radix")


@pytest.mark.parametrize("T", [1, 2, 3, 7])
def test_the_radix_order_is_the_same_for_any_number_of_chunks(T):
    """The radix passes and the fix-up run in T chunks (threads); chunk boundaries are moved to
    the start of a run of equal keys. Any T gives numpy's stable argsort, boundaries inside a
    run included (the straddling run), on this machine whatever its core count."""
    rng = np.random.default_rng(T)
    for z in (_straddling(rng), np.round(rng.standard_normal(30_000), 2), rng.random(50_000)):
        k = int(z.size - 1).bit_length()
        zmin, zmax = z.min(), z.max()
        y = rng.standard_normal(z.size)
        order, zs, ys, ties = ordering._radix_order(z, k, float(zmin), float(zmax - zmin), y, T=T)
        ref = np.argsort(z, kind="stable")
        assert np.array_equal(order, ref) and np.array_equal(zs, z[ref]) and np.array_equal(ys, y[ref])
        assert ties == bool(np.any(zs[1:] == zs[:-1]))


def test_a_chunk_boundary_inside_a_run_moves_to_the_run_s_end():
    """Two chunks: the middle of the sorted straddling values lies inside its 300-value run (one
    key); the boundary moves past the run, so one chunk fixes it all."""
    zs = np.sort(_straddling(np.random.default_rng(5)))
    zmin, scale = float(zs[0]), 2.0 ** 20 / float(zs[-1] - zs[0])
    keys = ordering._value_keys(zs, 20, True, zmin, scale)
    mid = zs.size // 2
    assert keys[mid] == keys[mid - 1]  # the plain split would cut the run
    b = ordering._run_bounds(zs, zmin, scale, 2)
    assert b[0] == 0 and b[2] == zs.size and b[1] > mid
    assert keys[b[1]] != keys[b[1] - 1] and keys[b[1] - 1] == keys[mid]


def test_auto_picks_by_timing_and_both_answers_agree(monkeypatch):
    """SORT_PATH "auto": the radix order at or below CHOOSE_ABOVE rows, above it the radix order
    unless the packed keys were CHOOSE_MARGIN times faster on a fixed sample, timed once per
    process (both give the same order: the equality table runs each)."""
    monkeypatch.setattr(ordering, "SORT_PATH", "auto")
    monkeypatch.setattr(ordering, "_chosen", {})
    assert ordering._radix_chosen(ordering.CHOOSE_ABOVE) and ordering._chosen == {}
    monkeypatch.setattr(ordering, "prefer_radix", lambda: False)
    assert not ordering._radix_chosen(ordering.CHOOSE_ABOVE + 1) and ordering._chosen == {"radix": False}
    monkeypatch.setattr(ordering, "prefer_radix", lambda: pytest.fail("timed twice"))
    assert not ordering._radix_chosen(10**7)  # remembered for the process
    monkeypatch.undo()
    assert ordering.prefer_radix(size=5000, repeat=1, margin=1e9)  # the real timing; radix unless far slower
    assert not ordering.prefer_radix(size=5000, repeat=1, margin=1e-9)


@pytest.mark.parametrize("T", [1, 2, 3])
def test_the_bucket_sort_is_the_sort_of_the_packed_keys(T):
    """The radix order's two stages (one scatter into buckets by the top value bits, then each
    bucket alone: insertion sort at most RADIX_INSERTION rows, two LSD passes above) give the
    packed keys' sorted order, the values and labels moved with them, for any number of chunks:
    many small buckets, buckets past the insertion limit, and one bucket holding nearly every row."""
    rng = np.random.default_rng(10 + T)
    cases = [rng.standard_normal(3000), rng.standard_normal(200_000),
             np.r_[rng.random(50_000), 1e6]]  # all but one row in the lowest bucket
    for z in cases:
        n = z.size
        k = int(n - 1).bit_length()
        bits = k + ordering.RADIX_SPARE_BITS
        zmin, zmax = ordering._min_max(z)
        scale = float(2.0 ** (bits - 1)) / float(zmax - zmin)
        y = rng.standard_normal(n)
        keys, zs, ys = np.empty(n, np.uint64), np.empty(n), np.empty(n)
        top = -(-bits // 3)
        starts = ordering._bucket_scatter(z, y, k, zmin, scale, k + bits - top, top, T, keys, zs, ys)
        sizes = np.diff(starts)
        ordering._sort_buckets(keys, zs, ys, starts, k, bits - top, T)
        packed = np.empty(n, np.uint64)
        ordering._packed(z, k, True, zmin, scale, packed)
        expect = (np.sort(packed) & np.uint64((1 << k) - 1)).astype(np.int64)
        assert np.array_equal(keys.view(np.int64), expect)
        assert np.array_equal(zs, z[expect]) and np.array_equal(ys, y[expect])
        if n == 200_000:  # both branches ran
            assert np.any((sizes >= 2) & (sizes <= ordering.RADIX_INSERTION))
            assert np.any(sizes > ordering.RADIX_INSERTION)
        if n == 50_001:
            assert sizes.max() == n - 1
