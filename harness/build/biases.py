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

__all__ = ["BIASES", "place", "check_interleave", "default_first_offset", "fractions_used"]

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


#: Strategies with one theta for every gap: float64 knots in one Numba pass (:func:`_knots_f64`).
_FIXED_THETA = {"midpoint": lambda param: 0.5, "left": lambda param: 0.0, "fraction": _parse_theta}


@njit(cache=True)
def _knots_f64(z, b0, theta, b):
    """Fill b; (knots moved, first index that fails to interleave or -1). In float64: exactly
    ``concatenate([b0], z[:-1] + theta * (z[1:] - z[:-1]))``, each knot on or past its
    projection moved to the next float below it, as :func:`place` does with arrays
    (tests/test_biases.py holds the two equal)."""
    n = z.size
    moved = 0
    bad = -1
    for i in range(n):
        v = b0 if i == 0 else z[i - 1] + theta * (z[i] - z[i - 1])
        if v >= z[i]:
            v = np.nextafter(z[i], -np.inf)
            moved += 1
        b[i] = v
        if bad < 0 and not (v < z[i] and (i == 0 or v >= z[i - 1])):
            bad = i
    return moved, bad


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
    off = default_first_offset(z) if first_offset is None else float(first_offset)
    if not np.isfinite(off) or off <= 0:
        raise HarnessError(f"first_offset must be a positive finite number, got {first_offset!r}")
    b0 = fmt.cast(np.array([z[0] - off]))
    if fmt.name == "float64" and entry.name in _FIXED_THETA and z.dtype == np.float64:
        # one pass: the knots, the moves and the interleaving check (the same values as below)
        b = np.empty(z.size)  # numpy's allocation: huge pages for large arrays, fewer page faults
        moved, bad = _knots_f64(np.ascontiguousarray(z), float(b0[0]), _FIXED_THETA[entry.name](entry.param), b)
        if not np.isfinite(b[0]):
            raise FormatOverflowError(f"first bias z_(1) - first_offset = {z[0]} - {off} overflows {fmt.name}")
        if bad >= 0:
            check_interleave(z, b)
        return b, int(moved)
    interior = entry.func(z, fmt, rng, off, entry.param)
    b = np.concatenate([b0, interior])
    over = b >= z
    moved = int(np.count_nonzero(over))
    if moved:
        b[over] = fmt.next_down(z[over])
    if not np.isfinite(b[0]):
        raise FormatOverflowError(f"first bias z_(1) - first_offset = {z[0]} - {off} overflows {fmt.name}")
    check_interleave(z, b)
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
