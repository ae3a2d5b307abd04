"""The rounding routine, bit for bit against independent references.

16- and 8-bit formats: every representable value, every midpoint between
neighbours, and the float32 neighbours of each midpoint, against ml_dtypes casts
from float32 (exact inputs, so no double rounding in the reference). tf32 has no
ml_dtypes type: a large random sample of float32 bit patterns against the
integer round-to-nearest-even on the float32 bit pattern (an independent
implementation), plus a mpmath spot check.
"""

import math
import zlib

import ml_dtypes
import mpmath
import numpy as np
import pytest

from conftest import ALL_FORMATS
from harness.core.formats import get_format
from harness.core.rounding import round_array

NARROW = ["bfloat16", "float16", "float8_e4m3", "float8_e5m2"]


def _same_bits(got, want, what):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    both_nan = np.isnan(got) & np.isnan(want)
    same = (got.view(np.int64) == want.view(np.int64)) | both_nan
    if not same.all():
        i = np.flatnonzero(~same)[:5]
        raise AssertionError(f"{what}: {(~same).sum()} mismatches, e.g. at indices {i.tolist()}: "
                             f"got {got[i].tolist()} want {want[i].tolist()}")


def _reference_dtype(fmt):
    """ml_dtypes type for the format (numpy's own float16 for float16)."""
    return np.dtype(getattr(ml_dtypes, fmt.ml_dtype, None) or fmt.ml_dtype)


def _probe_points(fmt):
    """All representable values (as float32) plus midpoints and their float32 neighbours."""
    ml = _reference_dtype(fmt)
    bits = np.arange(2 ** (8 * ml.itemsize), dtype=np.uint16 if ml.itemsize == 2 else np.uint8)
    vals = bits.view(ml).astype(np.float32)
    finite = np.unique(vals[np.isfinite(vals)].astype(np.float64))
    mids = ((finite[1:] + finite[:-1]) / 2).astype(np.float32)  # exact: p + 1 <= 24 bits
    assert np.all(mids.astype(np.float64) == (finite[1:] + finite[:-1]) / 2)
    top = np.float32(fmt.max_finite)
    beyond = np.array([top * 1.01, top * 1.1, top * 2, 3e38, np.inf, -np.inf, np.nan], np.float32)
    pts = np.concatenate([vals, mids, np.nextafter(mids, np.float32(np.inf)),
                          np.nextafter(mids, np.float32(-np.inf)), beyond, -beyond])
    return pts.astype(np.float32), ml


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@pytest.mark.parametrize("name", NARROW)
def test_round_nearest_matches_ml_dtypes_exhaustively(name):
    fmt = get_format(name)
    pts, ml = _probe_points(fmt)
    want = pts.astype(ml).astype(np.float64)
    got = fmt.cast(pts.astype(np.float64))
    _same_bits(got, want, name)


def _tf32_reference(x32):
    """Round-to-nearest-even of float32 bit patterns to 10 stored mantissa bits."""
    u = x32.view(np.uint32).astype(np.uint64)
    lsb = (u >> 13) & 1
    r = ((u + 0xFFF + lsb) >> 13) << 13
    out = r.astype(np.uint32).view(np.float32).copy()
    special = ~np.isfinite(x32)
    out[special] = x32[special]
    return out.astype(np.float64)


def test_tf32_matches_bit_pattern_rounding_on_random_sample():
    rng = np.random.default_rng(20261126)
    bits = rng.integers(0, 2**32, size=2_000_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    _same_bits(get_format("tf32").cast(x.astype(np.float64)), _tf32_reference(x), "tf32")


def test_tf32_spot_check_against_mpmath():
    fmt = get_format("tf32")
    rng = np.random.default_rng(7)
    xs = rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200)
    with mpmath.workprec(fmt.p):
        want = [float(mpmath.mpf(float(v))) for v in xs]  # mpf() rounds to nearest-even at p bits
    _same_bits(fmt.cast(xs), want, "tf32 vs mpmath")


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_float64_carrier_gives_the_formats_own_operations(name, op):
    """MATH.md §6: float64 result rounded once == the format's correctly rounded op."""
    fmt = get_format(name)
    F = fmt.kernel_spec()
    rng = np.random.default_rng(zlib.crc32(f"{name}-{op}".encode()))  # str hash() is salted
    dt = fmt.storage_dtype()
    a = fmt.cast(rng.standard_normal(20000) * 2.0 ** rng.integers(-8, 8, 20000))
    b = fmt.cast(rng.standard_normal(20000) * 2.0 ** rng.integers(-8, 8, 20000))
    b[b == 0] = 1.0
    f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op]
    # numpy float32 ops are native IEEE; ml_dtypes/float16 ops are the format's own.
    with np.errstate(over="ignore"):  # overflow to inf is part of what is compared
        want = f(a.astype(dt), b.astype(dt)).astype(np.float64)
    got = round_array(f(a, b), F, 0)
    _same_bits(got, want, f"{name} {op}")


def test_float32_kind_equals_numpy_cast():
    x = np.random.default_rng(1).standard_normal(100000) * 1e3
    _same_bits(get_format("float32").cast(x), x.astype(np.float32), "float32 cast")


def test_stochastic_rounding_is_unbiased_and_lands_on_neighbours():
    fmt = get_format("bfloat16")
    F = fmt.kernel_spec("stochastic")
    x = 1.0 + 0.3 * 2.0**-7  # 30% of the way from 1 to the next bfloat16
    out = round_array(np.full(200000, x), F, 5)
    assert set(np.unique(out)) == {1.0, 1.0 + 2.0**-7}
    frac_up = np.mean(out > 1.0)
    # Binomial(200000, 0.3): sd = 0.001; 6 sd is a bound the test cannot flake on.
    assert abs(frac_up - 0.3) < 6 * math.sqrt(0.3 * 0.7 / 200000)
    # exact values never move
    exact = fmt.cast(np.linspace(-4, 4, 1001))
    _same_bits(round_array(exact, F, 9), exact, "SR keeps representable values")


def test_stochastic_rounding_is_deterministic_given_seed():
    F = get_format("float16").kernel_spec("stochastic")
    x = np.random.default_rng(3).standard_normal(1000)
    _same_bits(round_array(x, F, 11), round_array(x, F, 11), "same seed")
    assert not np.array_equal(round_array(x, F, 11), round_array(x, F, 12))


def test_every_format_has_consistent_parameters():
    for name in ALL_FORMATS:
        fmt = get_format(name)
        assert fmt.cast(np.array([fmt.max_finite]))[0] == fmt.max_finite, name
        assert fmt.cast(np.array([fmt.smallest_subnormal]))[0] == fmt.smallest_subnormal, name
        assert fmt.cast(np.array([fmt.smallest_subnormal / 2]))[0] == 0.0, name  # tie to even: 0
        if fmt.ml_dtype:
            fi = ml_dtypes.finfo(_reference_dtype(fmt))
            assert float(fi.max) == fmt.max_finite and int(fi.nmant) + 1 == fmt.p, name
            assert float(fi.smallest_subnormal) == fmt.smallest_subnormal, name
