"""Theory to put beside measurement: growth laws, amplification, spacing and collisions.

**Conditioning on equispaced projections** (knots at the fraction theta of each gap,
first offset = the gap; MATH.md §4, with constants measured by the harness's exact and
closed-form condition numbers to 4 decimals in log2 for n = 256..16384):

    theta < 1/2 :  cond_1(M) ~ 2 n^2 / (1 - 2 theta)
    theta = 1/2 :  cond_1(M) ~ 4 n^3
    theta > 1/2 :  cond_1(M) = Theta(n^2 r^n),   r = theta / (1 - theta)

(the constant for theta > 1/2 is not known in closed form: ~4.6, 0.78, 0.15 at
theta = 0.6, 0.75, 0.9). Random theta_i ~ U(0, 1) have ``E log r_i = 0`` and
``sd log r_i = pi / sqrt 3``: no geometric trend, but a random walk whose largest rise
grows like sqrt(n).

**Amplification along the chain.** A slope error made at neuron j reaches neuron i
multiplied by ``r_(j+1) ... r_i`` (MATH.md §4); :func:`amplification_log2` is the
largest such product over j < i, from the theta actually used: the exact-arithmetic
error growth the recurrence must survive.

**Spacing and collisions** for n projections drawn from a density f: the expected
smallest gap is about ``1 / (n^2 int f^2)``, and two projections round to the same value
of a format with spacing q(z) with probability ``int f^2 q``, so the expected number of
colliding pairs is ``lambda = C(n, 2) int f^2 q`` and ``P(collision) ~ 1 - exp(-lambda)``.
:func:`collision_estimate` estimates ``int f^2 q`` from the projections themselves
(k-nearest-neighbour density) and gives the n at which P reaches 1/2:
``n_50 = sqrt(2 ln 2 / int f^2 q)``, i.e. n^2 u ~ 1 for data of unit scale. Meaningful
for continuous data, not for lattices or equispaced points.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import HarnessError

__all__ = ["Law", "cond_law", "law_for_bias", "amplification_log2", "CollisionEstimate",
           "collision_estimate", "RANDOM_THETA_LOG_SD"]

#: sd of log(theta/(1-theta)) for theta ~ U(0,1): the logistic distribution's pi/sqrt(3).
RANDOM_THETA_LOG_SD = math.pi / math.sqrt(3)


@dataclass(frozen=True)
class Law:
    """A predicted growth law ``log2 cond_1 ~ exponent log2 n + n log2 rate + log2 constant``.

    ``kind`` is ``power`` (rate 1), ``geometric`` (rate > 1) or ``random-walk`` (random
    theta: no fixed rate); ``constant`` is NaN where only the shape is known.
    """

    kind: str
    exponent: float
    rate: float
    constant: float
    text: str

    def log2_shape(self, n: int) -> float:
        """log2 of the law's shape ``n^exponent rate^n`` (constant left out; NaN for random-walk)."""
        if self.kind == "random-walk":
            return math.nan
        return self.exponent * math.log2(n) + n * math.log2(self.rate)

    def log2_cond1(self, n: int) -> float:
        """The law's log2 cond_1 at n (NaN if the constant is unknown or kind is random-walk)."""
        if math.isnan(self.constant):
            return math.nan
        return self.log2_shape(n) + math.log2(self.constant)

    def to_dict(self) -> dict:
        return asdict(self)


def cond_law(theta: float) -> Law:
    """The equispaced-projection law for a constant bias fraction theta in [0, 1)."""
    if not 0.0 <= theta < 1.0:
        raise HarnessError(f"theta must be in [0, 1), got {theta}")
    if theta < 0.5:
        c = 2.0 / (1.0 - 2.0 * theta)
        return Law("power", 2.0, 1.0, c, f"cond_1 ~ 2 n^2 / (1 - 2 theta) = {c:.4g} n^2 "
                   f"(theta = {theta:g} < 1/2: errors damped by r = {theta / (1 - theta):.3g} per step)")
    if theta == 0.5:
        return Law("power", 3.0, 1.0, 4.0, "cond_1 ~ 4 n^3 (theta = 1/2: neutral, r = 1, polynomial growth)")
    r = theta / (1.0 - theta)
    return Law("geometric", 2.0, r, math.nan,
               f"cond_1 = Theta(n^2 r^n), r = theta/(1 - theta) = {r:.4g} per step (theta = {theta:g} > 1/2)")


def law_for_bias(bias: str, thetas=None) -> Law:
    """The law for a bias strategy name (``explicit``: the geometric mean of the r_i used)."""
    name = bias.strip()
    if name == "midpoint":
        return cond_law(0.5)
    if name == "left":
        return cond_law(0.0)
    if name.startswith("fraction:"):
        return cond_law(float(name.split(":", 1)[1]))
    if name == "random":
        return Law("random-walk", 2.0, 1.0, math.nan,
                   "theta_i ~ U(0,1): log r_i has mean 0 and sd pi/sqrt(3) = 1.81: no geometric trend, "
                   "random-walk excursions ~ exp(1.81 sqrt(n))")
    th = np.asarray(thetas if thetas is not None else [], np.float64)
    th = th[(th > 0) & (th < 1)]
    if th.size == 0:
        return cond_law(0.0)
    r = float(np.exp(np.mean(np.log(th / (1 - th)))))
    return Law("geometric" if r > 1 else "power", 2.0, r, math.nan,
               f"explicit knots: geometric-mean step factor r = {r:.4g}")


def amplification_log2(thetas) -> float:
    """log2 of the largest product ``r_(j+1) ... r_i`` over j < i (0 if every r <= 1).

    The largest rise of the walk ``sum log2 r_l`` (Kadane's scan); theta = 0 gives
    r = 0, which resets it.
    """
    th = np.asarray(thetas, np.float64)
    with np.errstate(divide="ignore"):
        steps = np.log2(th) - np.log2(1.0 - th)
    best = cur = 0.0
    for s in steps.tolist():
        cur = max(0.0, cur + s)
        best = max(best, cur)
    return best


@dataclass(frozen=True)
class CollisionEstimate:
    """Predicted spacing and collisions of n projections in one format."""

    fmt: str
    n: int
    int_f2: float              # estimate of int f^2 (1 / length)
    min_gap_predicted: float   # 1 / (n^2 int f^2)
    expected_pairs: float      # lambda: expected colliding pairs at this n
    probability: float         # 1 - exp(-lambda)
    n50: float                 # n at which the collision probability reaches 1/2

    def to_dict(self) -> dict:
        return asdict(self)


def collision_estimate(z_sorted, fmt, k: int = 16) -> CollisionEstimate:
    """Spacing and collision prediction for the format ``fmt`` from sorted projections.

    The density at each point is the k-nearest-neighbour estimate
    ``f(z_i) ~ (j_hi - j_lo - 1) / (n (z_(j_hi) - z_(j_lo)))`` over the window of
    ``j_hi - j_lo`` spacings around it: a window of m spacings has width ~ Gamma(m, 1/(n f)),
    and ``E[1/width] = n f / (m - 1)``, so m - 1 (not m) makes it unbiased. Then
    ``int f^2 = E f(Z)`` and ``int f^2 q = E f(Z) q(Z)``, with q the format's spacing at z
    (:meth:`Format.spacing`).
    """
    from ..core.formats import get_format

    fmt = get_format(fmt)
    z = np.asarray(z_sorted, np.float64)
    n = z.size
    if n < 3:
        return CollisionEstimate(fmt.name, n, math.nan, math.nan, 0.0, 0.0, math.nan)
    h = max(1, min(k, n - 1) // 2)  # windows span at least 2 spacings (m - 1 >= 1)
    idx = np.arange(n)
    lo = np.clip(idx - h, 0, n - 1)
    hi = np.clip(idx + h, 0, n - 1)
    width = z[hi] - z[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where((width > 0) & (hi - lo >= 2), (hi - lo - 1) / (n * width), np.nan)
    ok = np.isfinite(f)
    f = f[ok]
    if f.size == 0:
        return CollisionEstimate(fmt.name, n, math.nan, math.nan, math.nan, math.nan, math.nan)
    q = fmt.spacing(z[ok])
    int_f2 = float(np.mean(f))
    int_f2q = float(np.mean(f * q))
    lam = n * (n - 1) / 2 * int_f2q
    return CollisionEstimate(fmt.name, n, int_f2, 1.0 / (n * n * int_f2), lam, -math.expm1(-lam),
                             math.sqrt(2 * math.log(2) / int_f2q) if int_f2q > 0 else math.inf)
