"""Fitted growth exponents and rates, with confidence intervals.

A measured metric (given as log2, so that values past float64's range still fit) is
regressed by ordinary least squares on ``log2 n`` (a power law: the slope is the
exponent) or on ``n`` (geometric growth: the slope is log2 of the rate per point).
The interval is the Student-t interval on the slope at the requested level, from the
residual scatter; with only two points it is unbounded (NaN), since nothing measures
the scatter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import HarnessError

__all__ = ["GrowthFit", "fit_power", "fit_rate", "fit_law"]


@dataclass(frozen=True)
class GrowthFit:
    """Least-squares slope of log2(metric) on log2(n) (kind ``power``) or on n (``rate``)."""

    kind: str
    slope: float          # the exponent (power) or log2 of the rate per point (rate)
    lo: float             # confidence interval on the slope
    hi: float
    intercept: float
    r2: float
    points: int
    level: float

    @property
    def rate(self) -> float:
        """Growth factor per point (kind ``rate``)."""
        return 2.0 ** self.slope

    def contains(self, value: float) -> bool:
        """Whether ``value`` (an exponent, or log2 of a rate) lies in the interval."""
        return self.lo <= value <= self.hi

    def to_dict(self) -> dict:
        return asdict(self)


def _ols(x, y, kind, level) -> GrowthFit:
    from scipy import stats

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    k = x.size
    if k < 2 or np.ptp(x) == 0:
        raise HarnessError(f"a growth fit needs at least 2 distinct finite points, got {k}")
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * x)
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((y - ym) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    if k > 2:
        se = math.sqrt(ss_res / (k - 2) / sxx)
        t = float(stats.t.ppf(0.5 + level / 2, k - 2))
        lo, hi = slope - t * se, slope + t * se
    else:
        lo = hi = math.nan
    return GrowthFit(kind, slope, lo, hi, intercept, r2, k, level)


def fit_power(n, log2_values, level: float = 0.95) -> GrowthFit:
    """Exponent of ``metric ~ C n^k``: slope of log2(metric) on log2(n)."""
    return _ols(np.log2(np.asarray(n, np.float64)), log2_values, "power", level)


def fit_rate(n, log2_values, level: float = 0.95) -> GrowthFit:
    """Rate of ``metric ~ C r^n``: slope of log2(metric) on n (``GrowthFit.rate`` = r)."""
    return _ols(np.asarray(n, np.float64), log2_values, "rate", level)


def fit_law(law, n, log2_values, level: float = 0.95, n_from: int = 16) -> GrowthFit | None:
    """The fit a growth law calls for (:class:`harness.analysis.laws.Law`), over the sizes n >= n_from
    (the laws are asymptotic): ``power`` laws fit the exponent of n (:func:`fit_power`); ``geometric``
    laws ``n^k r^n`` fit the rate r per point on log2(metric) - k log2 n (:func:`fit_rate`, so
    ``GrowthFit.rate`` is r); ``random-walk`` has no law to fit (None). None too with fewer than 3
    sizes."""
    n = np.asarray(n, np.float64)
    y = np.asarray(log2_values, np.float64)
    keep = (n >= n_from) & np.isfinite(y)
    n, y = n[keep], y[keep]
    if law.kind == "random-walk" or n.size < 3:
        return None
    if law.kind == "geometric":
        return fit_rate(n, y - law.exponent * np.log2(n), level)
    return fit_power(n, y, level)
