"""Floating-point formats: their parameters as data, and casts into them.

================  ====  ======  =====  ================  ==========================
name              p     emin    emax   largest finite    how
================  ====  ======  =====  ================  ==========================
float64           53    -1022   1023   1.8e308           native
float32           24    -126    127    3.4e38            native (float32 cast)
tf32              11    -126    127    3.4e38            emulated (float32's range)
bfloat16          8     -126    127    3.39e38           emulated
float16           11    -14     15     65504             emulated
float8_e4m3       4     -6      8      448               emulated, OCP E4M3: no inf,
                                                         overflow gives NaN (the
                                                         format ml_dtypes calls
                                                         ``float8_e4m3fn``)
float8_e5m2       3     -14     15     57344             emulated, IEEE-style
================  ====  ======  =====  ================  ==========================

All formats keep subnormals (gradual underflow). Emulated formats are computed by
per-operation correct rounding (see :mod:`harness.core.rounding`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import HarnessError
from .registry import Registry

__all__ = ["Format", "FORMATS", "get_format", "ROUNDING_MODES", "ROUNDINGS", "GENERIC_EMAX", "GENERIC_MAX_P"]

#: Rounding modes for arithmetic (casts of inputs and weights always round to nearest).
ROUNDING_MODES = ("nearest", "stochastic")


@dataclass(frozen=True)
class Format:
    """A binary floating-point format.

    Attributes
    ----------
    name : str
    p : int
        Precision in bits, implicit leading bit included.
    emin, emax : int
        Exponents of the smallest and largest normal binades.
    max_finite : float
        Largest finite value.
    overflow : {"inf", "nan"}
        What a result beyond ``max_finite`` becomes.
    storage : str
        dtype used to hand values to users (numpy name or ``ml_dtypes`` name).
    ml_dtype : str or None
        The ``ml_dtypes`` type our rounding is checked against bit for bit.
    native : bool
        Whether numpy/BLAS compute in it directly (the ``dense`` evaluator needs this).
    """

    name: str
    p: int
    emin: int
    emax: int
    max_finite: float
    overflow: str
    storage: str
    ml_dtype: str | None
    native: bool

    @property
    def u(self) -> float:
        """Unit roundoff 2**-p (round to nearest)."""
        return math.ldexp(1.0, -self.p)

    @property
    def tiny(self) -> float:
        """Smallest positive normal value."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        return math.ldexp(1.0, self.emin - self.p + 1)

    def kernel_spec(self, rounding: str = "nearest") -> tuple:
        """The tuple ``F`` the Numba kernels take (see :mod:`harness.core.rounding`)."""
        if rounding not in ROUNDING_MODES:
            raise HarnessError(f"unknown rounding {rounding!r}; valid: {', '.join(ROUNDING_MODES)}")
        sr = 1 if rounding == "stochastic" else 0
        if sr and self.name == "float64":
            # Stochastic rounding needs the exact result, and float64 is our widest carrier.
            raise HarnessError("stochastic rounding is not available for float64 "
                               "(it needs a wider carrier than float64); use it with float32 or narrower")
        kind = {"float64": 0, "float32": 1}.get(self.name, 3 if self.overflow == "nan" else 2)
        return (int(kind), int(self.p), int(self.emin), float(self.max_finite), int(sr))

    def require_native(self, what: str, F: tuple) -> None:
        """Raise unless numpy/BLAS compute in this format with round-to-nearest (for ``what``)."""
        if not self.native:
            raise HarnessError(f"{what} runs in float64 or float32 only (numpy/BLAS), not {self.name}; "
                               "use recurrence/backsub or sequential/compensated for emulated formats")
        if F[4]:
            raise HarnessError(f"{what} cannot round stochastically")

    def storage_dtype(self) -> np.dtype:
        """The numpy dtype whose values are exactly this format's (tf32 lives in float32)."""
        if self.storage.startswith("ml_dtypes."):
            import ml_dtypes

            return np.dtype(getattr(ml_dtypes, self.storage.split(".", 1)[1]))
        return np.dtype(self.storage)

    def to_storage(self, carrier: np.ndarray) -> np.ndarray:
        """Float64 carrier values already in this format -> the storage dtype (exact)."""
        return np.asarray(carrier, dtype=np.float64).astype(self.storage_dtype())

    def cast(self, x, rounding_seed: int = 0) -> np.ndarray:
        """Round an array once to this format (nearest-even); returns float64 carrier values."""
        if self.name == "float64":  # rounding is the identity: a copy, without the per-element loop
            return np.array(x, dtype=np.float64, order="C", copy=True)
        from .rounding import round_array

        arr = np.ascontiguousarray(x, dtype=np.float64)
        return round_array(arr, self.kernel_spec("nearest"), rounding_seed)


    def next_down(self, x) -> np.ndarray:
        """Largest value of this format strictly below each element of x (x in the format)."""
        x = np.asarray(x, dtype=np.float64)
        if self.name == "float64":
            return np.nextafter(x, -np.inf)
        ax = np.abs(x)
        mant, ex = np.frexp(ax)
        e = np.maximum(ex - 1, self.emin)
        q = np.ldexp(1.0, e - self.p + 1)  # spacing in |x|'s binade
        # Just above a power of two (normal range) the spacing below is half as wide.
        q_below = np.where((mant == 0.5) & (ex - 1 > self.emin), q / 2, q)
        out = np.where(x > 0, x - q_below, x - q)
        return np.where(x == 0, -self.smallest_subnormal, out)


    @property
    def width(self) -> int:
        """Storage bits: sign, exponent field, p - 1 stored significand bits."""
        return 1 + math.ceil(math.log2(self.emax - self.emin + 2)) + self.p - 1

    def spacing(self, x) -> np.ndarray:
        """Distance between consecutive format values around |x| (the rounding cell width)."""
        ax = np.abs(np.asarray(x, np.float64))
        with np.errstate(divide="ignore"):
            e = np.where(ax > 0, np.maximum(np.floor(np.log2(np.where(ax > 0, ax, 1.0))), self.emin),
                         self.emin)
        return np.ldexp(1.0, (e - self.p + 1).astype(np.int64))

    def ordinals(self, x) -> np.ndarray:
        """Vectorised :meth:`ordinal` for finite format values (int64)."""
        x = np.asarray(x, np.float64)
        if self.name == "float64":
            bits = x.view(np.int64)
            return np.where(bits < 0, -(bits & np.int64(0x7FFFFFFFFFFFFFFF)), bits)
        ax = np.abs(x)
        mant, ex = np.frexp(ax)
        e = np.maximum(ex - 1, self.emin)
        m = np.ldexp(ax, (self.p - 1 - e)).astype(np.int64)
        out = (e - self.emin).astype(np.int64) * (np.int64(1) << np.int64(self.p - 1)) + m
        out = np.where(ax == 0, 0, out)
        return np.where(x < 0, -out, out)

    def ordinal(self, x: float) -> int:
        """Position of the format value x among all format values (0 -> 0, sign-symmetric)."""
        if x == 0:
            return 0
        if x < 0:
            return -self.ordinal(-x)
        e = max(math.frexp(x)[1] - 1, self.emin)
        m = int(math.ldexp(x, self.p - 1 - e))  # integer significand (exact for format values)
        return (e - self.emin) * 2 ** (self.p - 1) + m

    def count_between(self, lo: float, hi: float) -> int:
        """How many format values lie in [lo, hi] (lo, hi format values)."""
        return self.ordinal(hi) - self.ordinal(lo) + 1


def _max_finite(p: int, emax: int) -> float:
    return math.ldexp(2.0 - math.ldexp(1.0, 1 - p), emax)


class FormatFactory(Protocol):
    """A format entry: the :class:`Format` (families get their parameter text)."""

    def __call__(self, param: str | None = None) -> "Format": ...


FORMATS = Registry("format", FormatFactory)


def _add(fmt: Format, doc: str) -> None:
    def factory(param=None):
        return fmt

    factory.__doc__ = doc
    FORMATS.register(fmt.name)(factory)


_add(Format("float64", 53, -1022, 1023, _max_finite(53, 1023), "inf", "float64", None, True),
     "IEEE double (native)")
_add(Format("float32", 24, -126, 127, _max_finite(24, 127), "inf", "float32", None, True),
     "IEEE single (native)")
_add(Format("tf32", 11, -126, 127, _max_finite(11, 127), "inf", "float32", None, False),
     "TensorFloat-32: float32 range, 11-bit precision (emulated)")
_add(Format("bfloat16", 8, -126, 127, _max_finite(8, 127), "inf", "ml_dtypes.bfloat16", "bfloat16", False),
     "bfloat16 (emulated)")
_add(Format("float16", 11, -14, 15, _max_finite(11, 15), "inf", "float16", "float16", False),
     "IEEE half (emulated: Numba's CPU target has no float16)")
# OCP E4M3 gives up infinities and the all-ones mantissa at the top binade: 448, not 480.
_add(Format("float8_e4m3", 4, -6, 8, 448.0, "nan", "ml_dtypes.float8_e4m3fn", "float8_e4m3fn", False),
     "OCP FP8 E4M3 (no inf; overflow -> NaN; emulated)")
_add(Format("float8_e5m2", 3, -14, 15, _max_finite(3, 15), "inf", "ml_dtypes.float8_e5m2", "float8_e5m2", False),
     "OCP FP8 E5M2 (IEEE-style; emulated)")


#: Exponent limit of the generic ``fp:P`` formats: wide enough that precision alone is
#: measured, narrow enough that every float64 carrier result of an operation on them is
#: a normal float64 (53 >= 2P + 2 then guarantees correct rounding).
GENERIC_EMAX = 960
#: Largest P the float64 carrier emulates exactly (53 >= 2P + 2).
GENERIC_MAX_P = 25


@FORMATS.register("fp", param="P")
def generic(param):
    """P-bit significand (2 <= P <= 25), exponents within +-960: precision in isolation (emulated)"""
    from .registry import int_param

    p = int_param(f"format fp:{param} (P)", param, 2)
    if p > GENERIC_MAX_P:
        raise HarnessError(f"format fp:{p}: the float64 carrier emulates at most {GENERIC_MAX_P} bits exactly "
                           f"(53 >= 2P + 2); harness.analysis.precision runs wider formats in mpmath")
    return Format(f"fp:{p}", p, -GENERIC_EMAX, GENERIC_EMAX, _max_finite(p, GENERIC_EMAX), "inf",
                  "float64", None, False)


#: The rounding modes as a registry (the sweeps' ``rounding`` axis checks names against it).
class RoundingMode(Protocol):
    """A rounding mode entry: its name (the kernels read the mode from the format tuple)."""

    def __call__(self) -> str: ...


ROUNDINGS = Registry("rounding", RoundingMode)


@ROUNDINGS.register("nearest")
def _nearest():
    """round to nearest, ties to even"""
    return "nearest"


@ROUNDINGS.register("stochastic")
def _stochastic():
    """stochastic rounding: up with probability the distance from the lower neighbour in ulps"""
    return "stochastic"


assert tuple(sorted(ROUNDINGS.names())) == tuple(sorted(ROUNDING_MODES))


def get_format(name) -> Format:
    """Look up a format by name (a :class:`Format` passes through)."""
    if isinstance(name, Format):
        return name
    entry = FORMATS.get(name)
    return entry.func(entry.param) if entry.param is not None else entry.func()
