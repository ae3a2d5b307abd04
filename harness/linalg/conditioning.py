"""Condition numbers of the interpolation matrix M, computed four ways.

========== ============== ==================================================================
method     n              how
========== ============== ==================================================================
exact      <= 400         exact rationals: ``M`` and ``M^-1`` (n exact solves), norms exact
lapack     <= 12,000      LAPACK xTRCON (SciPy) on the dense float64 ``M``: Hager-Higham
                          estimate of ``||M^-1||``, exact ``||M||``; underflows to 0 (cond
                          inf) past float64's range
structured any, O(n)      the closed form of ``|M^-1|`` (:mod:`harness.linalg.operators`), relative
                          error <= gamma_K, K = 8n + 16; extended exponent: finite log2
                          however ill-conditioned
estimate   any, O(n)      matrix-free two-start Hager-Higham (:mod:`harness.linalg.normest`) over
                          the O(n) solves; lower bound, within DOCUMENTED_FACTOR on the
                          tests' table; inf past float64's range
========== ============== ==================================================================

All four describe the same M: the one the format's z and b define, taken exactly.
``||M||_1`` and ``||M||_inf`` (column and row sums of a non-negative matrix, relative
error <= gamma_2n) are shared by every method but ``exact`` and ``lapack``.

Skeel's condition numbers (Higham, *Accuracy and Stability*, §7.2):
``cond(M, w) = || |M^-1| |M| |w| ||_inf / ||w||_inf`` (how much a componentwise relative
backward error of size u can move w) and ``cond(M) = || |M^-1| |M| ||_inf``, both
through the closed form in O(n).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import HarnessError

__all__ = ["Conditioning", "condition", "cond_exact", "cond_lapack", "cond_structured",
           "cond_estimate", "skeel", "matrix_norms", "EXACT_COND_MAX_N", "LAPACK_COND_MAX_N",
           "METHODS"]

#: Exact rational M^-1 costs O(n^2) operations on O(n p)-bit numbers: ~2 s at n = 256,
#: ~8 s at 400 here.
EXACT_COND_MAX_N = 400
#: Dense float64 M for xTRCON: 12,000^2 * 8 B = 1.1 GB (plus SciPy's Fortran copy).
LAPACK_COND_MAX_N = 12_000
METHODS = ("exact", "lapack", "structured", "estimate")


def _f(z, b):
    return (np.ascontiguousarray(z, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64))


def matrix_norms(z, b) -> tuple:
    """(||M||_1, ||M||_inf): largest column and row sums of the non-negative M, O(n)."""
    from .operators import apply, apply_t

    z, b = _f(z, b)
    ones = np.ones(z.size)
    return float(np.max(apply_t(z, b, ones))), float(np.max(apply(z, b, ones)))


def _log2(x: float) -> float:
    return math.log2(x) if 0 < x < math.inf else (math.inf if x == math.inf else -math.inf)


def cond_structured(z, b, norms=None) -> tuple:
    """(log2 cond_1, log2 cond_inf) from the closed form of |M^-1|: O(n), any n."""
    from .operators import absinv_apply, absinv_apply_t, x_log2

    z, b = _f(z, b)
    n1, ninf = norms or matrix_norms(z, b)
    ones = np.ones(z.size)
    inv1 = float(np.max(x_log2(*absinv_apply_t(z, b, ones))))    # max column sum of |M^-1|
    invinf = float(np.max(x_log2(*absinv_apply(z, b, ones))))    # max row sum
    return _log2(n1) + inv1, _log2(ninf) + invinf


#: cond_estimate runs its two norm estimates on two threads from this n on (below, a thread's
#: start costs more than it saves).
ESTIMATE_THREADS_FROM = 1 << 16


def cond_estimate(z, b, norms=None) -> tuple:
    """(cond_1, cond_inf, NormEstimate for ||M^-1||_1, for ||M^-1||_inf): matrix-free, O(n).

    The two estimates are independent chains of O(n) solves (Numba, GIL released): for n >=
    ESTIMATE_THREADS_FROM they run on two threads, each the same computation as alone (nothing
    is shared), so the same bits (tests/test_conditioning.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from .normest import onenorm_estimate
    from .operators import solve, solve_t

    z, b = _f(z, b)
    n = z.size
    n1, ninf = norms or matrix_norms(z, b)

    def estimate(matvec, rmatvec):
        with np.errstate(over="ignore", invalid="ignore"):  # per thread: numpy's error state is
            return onenorm_estimate(lambda v: matvec(z, b, v), lambda v: rmatvec(z, b, v), n)

    # ||M^-1||_inf = ||M^-T||_1
    if n < ESTIMATE_THREADS_FROM:
        e1, einf = estimate(solve, solve_t), estimate(solve_t, solve)
    else:
        with ThreadPoolExecutor(2, thread_name_prefix="cond-estimate") as pool:
            f1, finf = pool.submit(estimate, solve, solve_t), pool.submit(estimate, solve_t, solve)
            e1, einf = f1.result(), finf.result()
    return n1 * e1.value, ninf * einf.value, e1, einf


def cond_lapack(z, b) -> tuple:
    """(cond_1, cond_inf) from LAPACK xTRCON on the dense float64 M (n <= LAPACK_COND_MAX_N)."""
    from scipy.linalg.lapack import dtrcon

    from .dense import dense_matrix

    z, b = _f(z, b)
    if z.size > LAPACK_COND_MAX_N:
        raise HarnessError(f"cond by lapack needs a dense {z.size} x {z.size} matrix; "
                           f"limited to n <= {LAPACK_COND_MAX_N} (use structured or estimate)")
    M = dense_matrix(z, b, np.dtype(np.float64), order="F")
    out = []
    for norm in ("1", "I"):
        rcond, info = dtrcon(M, norm=norm, uplo="L", diag="N")
        if info != 0:  # pragma: no cover - only for malformed arguments
            raise HarnessError(f"LAPACK dtrcon failed with info = {info}")
        out.append(1.0 / rcond if rcond > 0 else math.inf)
    return tuple(out)


@dataclass(frozen=True)
class ExactCond:
    """Exact norms of M and M^-1 (Fractions) and the condition numbers' log2."""

    norm1: object
    norminf: object
    inv_norm1: object
    inv_norminf: object

    @property
    def log2_cond1(self) -> float:
        from ..core.exact import log2_fraction

        return log2_fraction(self.norm1 * self.inv_norm1)

    @property
    def log2_condinf(self) -> float:
        from ..core.exact import log2_fraction

        return log2_fraction(self.norminf * self.inv_norminf)


def cond_exact(z, b) -> ExactCond:
    """Exact ``||M||`` and ``||M^-1||`` in the 1- and inf-norms (n <= EXACT_COND_MAX_N)."""
    from ..core.exact import inverse_exact, matrix_exact

    n = len(z)
    if n > EXACT_COND_MAX_N:
        raise HarnessError(f"exact condition numbers are limited to n <= {EXACT_COND_MAX_N} "
                           f"(O(n^2) operations on growing rationals); got n = {n}")
    M = matrix_exact(z, b)
    inv = inverse_exact(z, b)
    col = lambda A, j: sum((abs(A[i][j]) for i in range(n)), 0)  # noqa: E731
    row = lambda A, i: sum((abs(v) for v in A[i]), 0)  # noqa: E731
    return ExactCond(norm1=max(col(M, j) for j in range(n)), norminf=max(row(M, i) for i in range(n)),
                     inv_norm1=max(col(inv, j) for j in range(n)),
                     inv_norminf=max(row(inv, i) for i in range(n)))


def skeel(z, b, w=None) -> float:
    """log2 of Skeel's ``cond(M, w)`` (w given) or ``cond(M)`` (w None), O(n).

    ``|M| |w| = M |w|`` since M >= 0; the result carries the closed form's extended
    exponent, so it is finite whatever the conditioning.
    """
    from .operators import absinv_apply, apply, x_log2

    z, b = _f(z, b)
    if w is None:
        u = apply(z, b, np.ones(z.size))
        return float(np.max(x_log2(*absinv_apply(z, b, u))))
    aw = np.abs(np.asarray(w, np.float64))
    top = float(np.max(aw)) if aw.size else 0.0
    if not math.isfinite(top):
        return math.inf
    if top == 0:
        return -math.inf
    u = apply(z, b, aw / top)  # scaled so M|w| cannot overflow
    return float(np.max(x_log2(*absinv_apply(z, b, u))))


@dataclass(frozen=True)
class Conditioning:
    """Every condition figure of one M (NaN: not computed, e.g. n above a method's limit).

    Condition numbers are given as log2 (finite however ill-conditioned) and as floats
    (inf past float64's range).
    """

    n: int
    norm1: float
    norminf: float
    log2_cond1_exact: float
    log2_cond1_lapack: float
    log2_cond1_structured: float
    log2_cond1_estimate: float
    log2_condinf_exact: float
    log2_condinf_lapack: float
    log2_condinf_structured: float
    log2_condinf_estimate: float
    log2_skeel_w: float          # Skeel's cond(M, w) for the computed weights
    log2_skeel: float            # Skeel's cond(M)
    estimate_products: int
    estimate_start: str
    time_exact: float
    time_lapack: float
    time_structured: float
    time_estimate: float
    schema_version: int = 1

    @property
    def cond1(self) -> float:
        """The best available cond_1: exact, else structured, else the estimate."""
        for v in (self.log2_cond1_exact, self.log2_cond1_structured, self.log2_cond1_estimate):
            if not math.isnan(v):
                return 2.0 ** v if v < 1024 else math.inf
        return math.nan

    def to_dict(self) -> dict:
        return asdict(self)


def condition(z, b, w=None, methods=METHODS, exact_max_n: int = EXACT_COND_MAX_N,
              lapack_max_n: int = LAPACK_COND_MAX_N) -> Conditioning:
    """All condition figures for the system (z, b) and computed weights w (1-D or first column).

    Methods above their size limit are skipped (NaN), not refused.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise HarnessError(f"unknown condition method(s) {unknown}; valid: {', '.join(METHODS)}")
    z, b = _f(z, b)
    n = z.size
    norms = matrix_norms(z, b)
    nan = math.nan
    vals = dict(ex1=nan, exi=nan, la1=nan, lai=nan, st1=nan, sti=nan, es1=nan, esi=nan)
    times = dict(exact=0.0, lapack=0.0, structured=0.0, estimate=0.0)
    prods, start = 0, ""
    if "exact" in methods and n <= exact_max_n:
        t0 = time.perf_counter()
        ex = cond_exact(z.tolist(), b.tolist())
        vals["ex1"], vals["exi"] = ex.log2_cond1, ex.log2_condinf
        times["exact"] = time.perf_counter() - t0
    if "lapack" in methods and n <= lapack_max_n:
        t0 = time.perf_counter()
        c1, ci = cond_lapack(z, b)
        vals["la1"], vals["lai"] = _log2(c1), _log2(ci)
        times["lapack"] = time.perf_counter() - t0
    if "structured" in methods:
        t0 = time.perf_counter()
        vals["st1"], vals["sti"] = cond_structured(z, b, norms)
        times["structured"] = time.perf_counter() - t0
    if "estimate" in methods:
        t0 = time.perf_counter()
        c1, ci, e1, _ = cond_estimate(z, b, norms)
        vals["es1"], vals["esi"] = _log2(c1), _log2(ci)
        prods, start = e1.products, e1.start
        times["estimate"] = time.perf_counter() - t0
    n1, ninf = norms
    W = None if w is None else np.asarray(w, np.float64).reshape(n, -1)[:, 0]
    return Conditioning(
        n=n, norm1=n1, norminf=ninf,
        log2_cond1_exact=vals["ex1"], log2_cond1_lapack=vals["la1"], log2_cond1_structured=vals["st1"],
        log2_cond1_estimate=vals["es1"], log2_condinf_exact=vals["exi"], log2_condinf_lapack=vals["lai"],
        log2_condinf_structured=vals["sti"], log2_condinf_estimate=vals["esi"],
        log2_skeel_w=skeel(z, b, W) if W is not None else nan, log2_skeel=skeel(z, b),
        estimate_products=prods, estimate_start=start,
        time_exact=times["exact"], time_lapack=times["lapack"], time_structured=times["structured"],
        time_estimate=times["estimate"],
    )
