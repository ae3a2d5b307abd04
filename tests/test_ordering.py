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


@pytest.mark.parametrize("name,z", list(_cases()), ids=[c[0] for c in _cases()])
def test_stable_order_is_numpys_stable_argsort(name, z):
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
    """The near-equal run needs the fix-up (the truncated keys alone misorder it); few distinct
    values take the fallback: each branch is exercised, not just the fast path."""
    calls = []
    real = np.argsort
    monkeypatch.setattr(ordering.np, "argsort", lambda *a, **k: calls.append(k) or real(*a, **k))
    rng = np.random.default_rng(1)
    z = _near_equal(rng)
    k = int(z.size - 1).bit_length()
    s = ordering.sorted_keys(z, k)[0]
    zs = np.empty(z.size)
    ordering._unpack(s, z, k, np.empty(0), np.empty(z.size, np.int64), zs, np.empty(0))
    assert ordering._neighbours(zs)[0]  # misordered before the fix-up
    assert np.array_equal(stable_order(z)[0], real(z, kind="stable"))
    assert calls == []  # the fix-up did it, not the fallback
    z = _outlier(rng)  # nearly every row in one run: the fallback
    assert np.array_equal(stable_order(z)[0], real(z, kind="stable"))
    assert calls == [{"kind": "stable"}]
