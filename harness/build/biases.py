"""Bias strategies: knots ``b`` interleaved with the sorted projections ``z``.

Each strategy is ``f(z, fmt, rng, first_offset, param) -> b``, z sorted and strictly
increasing in the working format. Interior biases are placed at a fraction theta of
each gap, ``b_i = z_(i-1) + theta_i * (z_(i) - z_(i-1))``, computed in the working
format (each op rounded); the first bias sits ``first_offset`` below ``z_(1)``.

``first_offset`` (default: the mean gap ``(z_(n) - z_(1)) / (n - 1)``, or 1 when n = 1)
sets the first diagonal entry ``z_(1) - b_1`` of M and so the scale of ``w_1``; the
mean gap keeps it comparable to the others without depending on any single gap.

If rounding pushes a bias onto the next projection (a gap of one or two ulps), it is
moved to the largest format value below that projection, the nearest valid knot;
:func:`place` reports how many moved. An explicit array is validated, not moved.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numba import njit

from ..core.errors import FormatOverflowError, HarnessError
from ..core.registry import Registry

__all__ = ["BIASES", "place", "check_interleave", "default_first_offset", "fractions_used", "first_knot",
           "fixed_theta", "finish_knots", "knot_f64"]

class Bias(Protocol):
    """A knot strategy: the interior knots from the sorted projections z, the Format, a
    seeded Generator, the first offset and the family's parameter text (None if plain)."""

    def __call__(self, z: np.ndarray, fmt, rng, first_offset: float, param: str | None = None) -> np.ndarray: ...


BIASES = Registry("bias", Bias)


def default_first_offset(z: np.ndarray) -> float:
    """Mean gap of the sorted projections (1.0 for a single point)."""
    if z.size < 2:
        return 1.0
    return float((z[-1] - z[0]) / (z.size - 1))


def _interior(z, theta, fmt):
    g = fmt.cast(z[1:] - z[:-1])
    return fmt.cast(z[:-1] + fmt.cast(theta * g))


def _parse_theta(param) -> float:
    try:
        theta = float(param)
    except (TypeError, ValueError):
        raise HarnessError(f"bias fraction:{param}: theta must be a number in [0, 1)") from None
    if not 0.0 <= theta < 1.0:
        raise HarnessError(f"bias fraction:{param}: theta must be in [0, 1) "
                           "(theta = 1 puts a knot on a point: M becomes singular)")
    return theta


@BIASES.register("fraction", param="theta")
def fraction(z, fmt, rng, first_offset, param):
    """Each knot at the fraction theta of its gap (theta in [0, 1), rounded to the format)."""
    theta = float(fmt.cast(np.array([_parse_theta(param)]))[0])
    return _interior(z, theta, fmt)


@BIASES.register("midpoint")
def midpoint(z, fmt, rng, first_offset, param=None):
    """fraction:0.5, the gap midpoints (neutral: polynomial growth)."""
    return _interior(z, 0.5, fmt)


@BIASES.register("left")
def left(z, fmt, rng, first_offset, param=None):
    """fraction:0, each knot on the previous point (the piecewise-linear interpolant)."""
    return _interior(z, 0.0, fmt)


@BIASES.register("random")
def random(z, fmt, rng, first_offset, param=None):
    """theta_i ~ U[0, 1) per gap, seeded (rounded to the format)."""
    theta = fmt.cast(rng.random(max(z.size - 1, 0)))
    theta = np.minimum(theta, fmt.next_down(np.ones_like(theta)))  # rounding may reach 1
    return _interior(z, theta, fmt)


#: Strategies with one theta for every gap, (their function, theta from the parameter): float64
#: knots in one Numba pass (:func:`_knots_f64`, or inside the recurrence's own pass:
#: harness.build.solvers.knots_and_recurrence), wherever the registry serves these functions.
_FIXED_THETA = {"midpoint": (midpoint, lambda param: 0.5), "left": (left, lambda param: 0.0),
                "fraction": (fraction, _parse_theta)}


@njit(cache=True, inline="always")
def knot_f64(prev, cur, b0, theta, i, moved, bad):
    """Knot i for one theta in float64, with the pass's counts: (knot, knots moved, first index
    that fails to interleave or -1) after it. The knot is ``b0`` for i = 0, else ``prev + theta *
    (cur - prev)`` (prev, cur: projections i - 1 and i), one on or past its projection moved to
    the next float below it, as :func:`place` does with arrays (tests/test_biases.py holds the
    two equal); it interleaves when ``prev <= knot < cur`` (``knot < cur`` for i = 0). Scalars
    only: with an array argument this inlined helper made the knot pass ~8x slower (20 ms at
    10^6, measured; likely reference counting left in the caller's loop)."""
    v = b0 if i == 0 else prev + theta * (cur - prev)
    if v >= cur:
        v = np.nextafter(cur, -np.inf)
        moved += 1
    if bad < 0 and not (v < cur and (i == 0 or v >= prev)):
        bad = i
    return v, moved, bad


@njit(cache=True)
def _knots_f64(z, b0, theta, b):
    """Fill b with :func:`knot_f64`; (knots moved, first index that fails to interleave or -1)."""
    moved = 0
    bad = -1
    for i in range(z.size):
        b[i], moved, bad = knot_f64(z[i - 1] if i else 0.0, z[i], b0, theta, i, moved, bad)
    return moved, bad


def first_knot(z, fmt, first_offset=None) -> tuple[float, float]:
    """(b_1 = z_(1) - first_offset rounded to the format, the offset): the default offset is the
    mean gap; the offset is checked, whether b_1 overflowed is :func:`finish_knots`' test."""
    off = default_first_offset(z) if first_offset is None else float(first_offset)
    if not np.isfinite(off) or off <= 0:
        raise HarnessError(f"first_offset must be a positive finite number, got {first_offset!r}")
    return float(fmt.cast(np.array([z[0] - off]))[0]), off


def fixed_theta(strategy, z, fmt):
    """theta for a strategy that places every float64 knot at one fraction of its gap (midpoint,
    left, fraction:theta) on float64 z, else None (knots from the strategy's own function: also
    where the registry serves another function under that name, e.g. one a test substituted)."""
    if not isinstance(strategy, str) or fmt.name != "float64" or z.dtype != np.float64:
        return None
    entry = BIASES.get(strategy)
    family = entry.name.split(":")[0]  # "fraction:0.25" is the fraction family's
    if family not in _FIXED_THETA or entry.func is not _FIXED_THETA[family][0]:
        return None
    return _FIXED_THETA[family][1](entry.param)


def finish_knots(z, b, off, fmt, bad: int = 0) -> None:
    """The checks after knots are placed: b_1 finite (else the first offset overflowed the format),
    then, where ``bad`` >= 0 (a knot that may not interleave), the interleaving."""
    if not np.isfinite(b[0]):
        raise FormatOverflowError(f"first bias z_(1) - first_offset = {z[0]} - {off} overflows {fmt.name}")
    if bad >= 0:
        check_interleave(z, b)


def place(strategy, z, fmt, rng, first_offset=None):
    """Biases for sorted z: (b, number of knots moved back inside their gap).

    ``strategy`` is a registry name or an explicit array (validated, never moved).
    """
    n = z.size
    if not isinstance(strategy, str):
        b = np.asarray(strategy, dtype=np.float64).ravel()
        if b.size != n:
            raise HarnessError(f"explicit biases: got {b.size} values for {n} points")
        bad = np.flatnonzero(fmt.cast(b) != b)
        if bad.size:
            i = int(bad[0])
            raise HarnessError(f"explicit biases: b[{i}] = {b[i]!r} is not representable in {fmt.name}")
        check_interleave(z, b)
        return b.copy(), 0
    entry = BIASES.get(strategy)
    b0, off = first_knot(z, fmt, first_offset)
    theta = fixed_theta(strategy, z, fmt)
    if theta is not None:
        b = np.empty(n)
        moved, bad = _knots_f64(np.ascontiguousarray(z), b0, theta, b)
        finish_knots(z, b, off, fmt, bad)
        return b, int(moved)
    interior = entry.func(z, fmt, rng, off, entry.param)
    b = np.concatenate([[b0], interior])
    over = b >= z
    moved = int(np.count_nonzero(over))
    if moved:
        b[over] = fmt.next_down(z[over])
    finish_knots(z, b, off, fmt)
    return b, moved


def check_interleave(z, b) -> None:
    """Raise naming the first index where ``b_1 < z_1``, ``z_(i-1) <= b_i < z_i`` fails."""
    if not b[0] < z[0]:
        raise HarnessError(f"biases do not interleave: b[0] = {b[0]!r} must be < z[0] = {z[0]!r}")
    lo_bad = np.flatnonzero(~(b[1:] >= z[:-1]))
    hi_bad = np.flatnonzero(~(b[1:] < z[1:]))
    if lo_bad.size or hi_bad.size:
        i = int(min(lo_bad[:1].tolist() + hi_bad[:1].tolist())) + 1
        raise HarnessError(f"biases do not interleave at index {i}: need z[{i-1}] = {z[i-1]!r} <= "
                           f"b[{i}] = {b[i]!r} < z[{i}] = {z[i]!r}")


def fractions_used(z, b) -> np.ndarray:
    """theta_i = (b_i - z_(i-1)) / (z_(i) - z_(i-1)) actually used, i >= 2 (float64)."""
    return (b[1:] - z[:-1]) / (z[1:] - z[:-1])
