"""Precision needed: the fewest significand bits p with which the construction still fits.

A trial at precision p runs the whole construction in a generic binary format with a
p-bit significand, round to nearest even, and exponents within +-960 (so that
precision, not range, is what is measured): inputs and direction rounded to p bits,
projections, knots, the recurrence solve and the sequential forward pass at the
training points, every operation rounded, in exactly the kernels' order. It passes when
no failure criterion of :mod:`harness.analysis.failure` fires.

Two engines, one operation order:

* p <= 25: the Numba kernels themselves, through the registry format ``fp:P`` (the
  float64 carrier rounds exactly: 53 >= 2p + 2);
* p > 25: mpmath's raw arithmetic (``mpmath.libmp``: each +, -, *, / rounded to p bits,
  nearest-even), with overflow beyond the format's range to inf. The engines agree
  bit for bit where both apply (the tests hold them to it).

The mpmath engine supports the directions ``ones``, ``gaussian``, ``best-of:K``, the
biases ``midpoint``, ``left``, ``fraction:theta``, ``random``, the ``recurrence``
solver and the ``sequential`` evaluator, round to nearest. Its default first offset is
the mean gap computed in float64 (as :func:`harness.construct` does).

:func:`bits_needed` finds the least passing p per seed by bisection (assuming a trial
that passes at p passes at every larger p; the curve records every trial so that a
violation shows), and reports it beside log2 cond_1(M) of the float64 construction.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from functools import cmp_to_key

import numpy as np

from ..core.errors import HarnessError
from ..core.seeding import trial_seed
from .failure import FailureConfig, Trial, judge, run_trial
from ..core.formats import GENERIC_EMAX, GENERIC_MAX_P

__all__ = ["MpFormat", "MpBuild", "mp_construct", "mp_forward", "mp_trial", "precision_trial", "bits_needed",
           "BitsNeeded", "PrecisionTrial", "P_MAX", "P_EXACT", "STAGES", "stage_trial", "stage_bits", "StageBits"]

#: Widest precision searched by default: enough for theta = 3/4 at n ~ 150.
P_MAX = 256
#: The precision that stands for exact in a stage search (the other stages' arithmetic).
P_EXACT = 256
#: The parts of the construction a stage search puts at p bits (the rest exact):
#: ``projection`` (inputs, direction and projections: judged by collisions only), ``build``
#: (projections, knots and the solve; forward pass exact), ``forward`` (weights solved exactly,
#: stored and evaluated at p bits), ``whole`` (everything: :func:`bits_needed`).
STAGES = ("projection", "build", "forward", "whole")
#: mpmath operations per forward-pass evaluation in a trial (~1 us each): beyond
#: budget // n points, a seeded sample plus the smallest gaps' neighbours.
MP_EVAL_BUDGET = 2 * 10**6

MP_DIRECTIONS = ("ones", "gaussian", "best-of")
MP_BIASES = ("midpoint", "left", "fraction", "random")


class MpFormat:
    """p-bit arithmetic on mpmath raw values (sign, man, exp, bc), overflow to inf."""

    def __init__(self, p: int, emax: int = GENERIC_EMAX):
        from mpmath import libmp

        self.p = int(p)
        self.emax = int(emax)
        self.L = libmp
        self.rnd = libmp.round_nearest

    def _chk(self, x):
        L = self.L
        if x in (L.finf, L.fninf, L.fnan) or x == L.fzero:
            return x
        if x[2] + x[3] - 1 > self.emax:  # |x| >= 2^(emax + 1): beyond the largest finite
            return L.fninf if x[0] else L.finf
        return x

    def add(self, x, y):
        return self._chk(self.L.mpf_add(x, y, self.p, self.rnd))

    def sub(self, x, y):
        return self._chk(self.L.mpf_sub(x, y, self.p, self.rnd))

    def mul(self, x, y):
        return self._chk(self.L.mpf_mul(x, y, self.p, self.rnd))

    def div(self, x, y):
        return self._chk(self.L.mpf_div(x, y, self.p, self.rnd))

    def cast(self, v: float):
        """A float rounded once to p bits."""
        return self._chk(self.L.from_float(float(v), self.p, self.rnd))

    def round(self, x):
        return self._chk(self.L.mpf_pos(x, self.p, self.rnd))

    def le(self, x, y) -> bool:
        return self.L.mpf_le(x, y)

    def next_down(self, x):
        """Largest p-bit value below x."""
        L = self.L
        if x == L.fzero:
            return L.from_man_exp(-1, -GENERIC_EMAX - self.p)
        sign, man, exp, bc = x
        e = exp + bc - 1                       # floor(log2 |x|)
        q = e - self.p + 1                     # quantum in |x|'s binade
        if not sign and man == 1:              # a positive power of two: the binade below is finer
            q -= 1
        return self.round(L.mpf_sub(x, L.from_man_exp(1, q), self.p + 2, self.rnd))

    def to_float(self, x) -> float:
        return self.L.to_float(x)


def _mp_dot(F: MpFormat, row, a):
    acc = F.mul(row[0], a[0])
    for j in range(1, len(a)):
        acc = F.add(acc, F.mul(row[j], a[j]))
    return acc


def _mp_direction(F, name, Xp, d, seed, attempt):
    from ..core.seeding import rng_for
    from ..core.registry import int_param

    head, _, param = name.partition(":")
    if head == "ones":
        return [F.cast(1.0)] * d
    rng = rng_for(seed, "direction", attempt)
    if head == "gaussian":
        return [F.cast(v) for v in rng.standard_normal(d)]
    k = int_param(f"direction best-of:{param} (K)", param, 1)
    best, best_gap = None, None
    for _ in range(k):
        a = [F.cast(v) for v in rng.standard_normal(d)]
        z = sorted((_mp_dot(F, r, a) for r in Xp), key=cmp_to_key(F.L.mpf_cmp))
        gap = min((F.L.mpf_sub(z[i + 1], z[i], 10**6, F.rnd) for i in range(len(z) - 1)),
                  key=cmp_to_key(F.L.mpf_cmp), default=F.L.finf)
        if best is None or F.L.mpf_gt(gap, best_gap):
            best, best_gap = a, gap
    return best


def _mp_first_knot(F, z, first_offset):
    """b_1 = z_1 - offset, offset the mean gap in float64 unless given (as construct)."""
    L = F.L
    if first_offset is None:
        n = len(z)
        off = 1.0 if n < 2 else float((F.to_float(z[-1]) - F.to_float(z[0])) / (n - 1))
    else:
        off = float(first_offset)
    offm = L.from_float(off)
    if F.p <= 53:  # construct subtracts in float64, then rounds to the format
        return F.round(L.mpf_sub(z[0], offm, 53, F.rnd))
    return F.sub(z[0], offm)


def _mp_knots(F, bias, z, seed, first_offset):
    from ..core.seeding import rng_for

    L = F.L
    n = len(z)
    head, _, param = bias.partition(":")
    if head not in MP_BIASES:
        raise HarnessError(f"the mpmath precision engine supports biases {', '.join(MP_BIASES)}; got {bias!r}")
    if head == "random":
        th = [F.cast(v) for v in rng_for(seed, "bias").random(max(n - 1, 0))]
        one_below = F.next_down(F.cast(1.0))
        th = [t if L.mpf_lt(t, one_below) else one_below for t in th]
    else:
        theta = {"midpoint": 0.5, "left": 0.0}.get(head)
        if theta is None:
            from ..build.biases import _parse_theta

            theta = _parse_theta(param)
        th = [F.cast(theta)] * max(n - 1, 0)
    b = [_mp_first_knot(F, z, first_offset)]
    for i in range(1, n):
        g = F.sub(z[i], z[i - 1])
        b.append(F.add(z[i - 1], F.mul(th[i - 1], g)))
    b = [bi if L.mpf_lt(bi, zi) else F.next_down(zi) for bi, zi in zip(b, z)]
    return b


@dataclass(frozen=True)
class PrecisionTrial:
    """One construction at p bits: did it pass, and if not, why."""

    p: int
    engine: str               # "numba" (fp:P) or "mpmath"
    passed: bool
    failed_by: tuple
    fraction: float
    seconds: float


@dataclass(frozen=True)
class MpBuild:
    """The construction at p bits in mpmath: raw values, neurons in sorted order.

    ``status`` is ``ok``, ``collision`` or ``overflow`` (then the arrays are empty).
    """

    status: str
    a: tuple = ()
    z: tuple = ()
    b: tuple = ()
    W: tuple = ()               # k columns of n raw values
    keep: tuple = ()            # training row of each neuron
    Xp: tuple = ()              # rounded inputs, per training row
    Yp: tuple = ()              # rounded labels, per training row

    def floats(self, name: str) -> np.ndarray:
        """An array of raw values as float64 (exact while p <= 53)."""
        from mpmath.libmp import to_float

        vals = getattr(self, name)
        if name == "W":
            return np.array([[to_float(v) for v in col] for col in vals]).T
        return np.array([to_float(v) for v in vals])


def _check_engine(cfg):
    if cfg.solver != "recurrence" or cfg.evaluator != "sequential" or cfg.rounding != "nearest":
        raise HarnessError("the mpmath precision engine runs the recurrence solver, the sequential "
                           "evaluator and round-to-nearest only")
    if cfg.direction.split(":")[0] not in MP_DIRECTIONS:
        raise HarnessError(f"the mpmath precision engine supports directions {', '.join(MP_DIRECTIONS)}; "
                           f"got {cfg.direction!r}")


def mp_construct(cfg: FailureConfig, X, y, p: int, seed: int, first_offset=None) -> MpBuild:
    """Theorem 1's construction with every operation rounded to p bits (mpmath), in the
    order of :func:`harness.construct` and the Numba kernels."""
    from ..build.construction import DEFAULT_MAX_RETRIES
    from ..build.directions import RANDOM_DIRECTIONS

    _check_engine(cfg)
    F = MpFormat(p)
    L = F.L
    X = np.asarray(X, np.float64)
    Y = np.asarray(y, np.float64).reshape(X.shape[0], -1)
    bad = (L.finf, L.fninf, L.fnan)
    Xp = [[F.cast(v) for v in row] for row in X]
    if any(v in bad for row in Xp for v in row):
        return MpBuild("overflow")
    Yp = [[F.cast(v) for v in row] for row in Y]
    if any(v in bad for row in Yp for v in row):
        return MpBuild("overflow")
    retry = cfg.direction.split(":")[0] in RANDOM_DIRECTIONS
    tries = 1 + ((DEFAULT_MAX_RETRIES if cfg.max_retries is None else cfg.max_retries) if retry else 0)
    cmp = cmp_to_key(L.mpf_cmp)
    for attempt in range(tries):
        a = _mp_direction(F, cfg.direction, Xp, X.shape[1], seed, attempt)
        z_all = [_mp_dot(F, r, a) for r in Xp]
        if any(v in bad for v in z_all):
            return MpBuild("overflow")
        order = sorted(range(len(z_all)), key=lambda i: cmp(z_all[i]))
        keep, collided = [], False
        for pos, i in enumerate(order):
            if pos and L.mpf_eq(z_all[i], z_all[order[pos - 1]]):
                j = keep[-1]
                if Xp[i] == Xp[j]:
                    if Yp[i] != Yp[j]:
                        return MpBuild("collision")
                    continue  # a duplicate point: merged
                collided = True
                break
            keep.append(i)
        if not collided:
            break
    else:
        return MpBuild("collision")
    z = [z_all[i] for i in keep]
    b = _mp_knots(F, cfg.bias, z, seed, first_offset)
    if b and b[0] in bad:
        return MpBuild("overflow")
    W = []
    for c in range(Y.shape[1]):  # the recurrence, in the kernel's order
        S = T = L.fzero
        col = []
        for zi, bi, i in zip(z, b, keep):
            num = F.add(F.sub(Yp[i][c], F.mul(zi, S)), T)
            w = F.div(num, F.sub(zi, bi))
            col.append(w)
            S = F.add(S, w)
            T = F.add(T, F.mul(w, bi))
        W.append(tuple(col))
    return MpBuild("ok", tuple(a), tuple(z), tuple(b), tuple(W), tuple(keep), tuple(map(tuple, Xp)),
                   tuple(map(tuple, Yp)))


def mp_forward(build: MpBuild, p: int, positions) -> np.ndarray:
    """The sequential forward pass at p bits at the training points of the given neuron
    positions: (len(positions), k) floats."""
    F = MpFormat(p)
    L = F.L
    bad = (L.finf, L.fninf, L.fnan)
    finite = all(v not in bad for col in build.W for v in col)
    k, n = len(build.W), len(build.z)
    out = np.empty((len(positions), k))
    for r, q in enumerate(positions):
        t = _mp_dot(F, build.Xp[build.keep[q]], build.a)
        for c in range(k):
            acc = L.fzero
            for j in range(n):
                h = F.sub(t, build.b[j])
                if F.le(h, L.fzero):  # relu; past the first zero activation every term is 0
                    if finite:
                        break
                    h = L.fzero
                acc = F.add(acc, F.mul(build.W[c][j], h))
            out[r, c] = F.to_float(acc)
    return out


def _round_build(build: MpBuild, p: int) -> MpBuild:
    """A build's stored values (direction, knots, weights, inputs) rounded to p bits: the network
    stored in a p-bit format."""
    F = MpFormat(p)
    r = lambda vals: tuple(F.round(v) for v in vals)  # noqa: E731
    return replace(build, a=r(build.a), b=r(build.b), W=tuple(r(col) for col in build.W),
                   Xp=tuple(r(row) for row in build.Xp))


def mp_trial(cfg: FailureConfig, n: int, index: int, p: int, X=None, y=None, first_offset=None,
             stage: str = "whole"):
    """A precision trial in mpmath: build at p bits, run the forward pass at (a sample of)
    the training points, judge by the failure criteria. X, y default to the trial's
    generated data (those of :func:`harness.analysis.failure.run_trial`).

    ``stage`` puts only part of the construction at p bits (:data:`STAGES`): ``projection``
    (the build at p bits, judged by the config's criteria on the build alone: give
    criteria=("collision",)), ``build`` (the build at p bits, the
    forward pass at P_EXACT bits), ``forward`` (the build at P_EXACT bits, stored in p bits,
    the forward pass at p bits), ``whole`` (everything at p bits)."""
    from ..build.data import label_kind
    from ..build.problems import make_problem
    from .outcome import REAL_LABEL_RTOL, reproduced
    from ..build.sampling import eval_positions

    t0 = time.perf_counter()
    _check_engine(cfg)
    seed = trial_seed(cfg.seed, index)
    if X is None:
        X, y = make_problem(n, cfg.d, cfg.data, cfg.labels, direction=cfg.direction, fmt="float64", seed=seed)
    Y = np.asarray(y, np.float64).reshape(np.shape(X)[0], -1)

    def result(collided=False, overflowed=False, fraction=math.nan, points=0):
        t = judge(Trial(fmt=f"mp:{p}", n=n, seed=seed, collided=collided, overflowed=overflowed, fraction=fraction,
                        max_error=math.nan, points=points, sampled=False, message=build.status,
                        seconds=time.perf_counter() - t0), cfg)
        return PrecisionTrial(p, "mpmath", not t.failed_by, t.failed_by, fraction, t.seconds)

    if stage not in STAGES:
        raise HarnessError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    build = mp_construct(cfg, X, y, max(p, P_EXACT) if stage == "forward" else p, seed, first_offset)
    if build.status != "ok" or stage == "projection":
        return result(collided=build.status == "collision", overflowed=build.status == "overflow",
                      fraction=1.0 if build.status == "ok" else math.nan)
    if stage == "forward":
        build = _round_build(build, p)
    fp = max(p, P_EXACT) if stage == "build" else p
    zf = build.floats("z")
    budget_points = max(1, MP_EVAL_BUDGET // max(len(zf), 1))
    pos, _ = eval_positions(zf, seed, budget=budget_points * len(zf))
    out = mp_forward(build, fp, pos.tolist())
    L = MpFormat(p).L
    finite = all(v not in (L.finf, L.fninf, L.fnan) for col in build.W for v in col)
    finite = finite and bool(np.all(np.isfinite(out)))
    Yn = Y[np.asarray(build.keep)[pos]]
    with np.errstate(invalid="ignore"):
        # the real-label tolerance of a p-bit format (outcome.real_label_rtol): max(1%, 2u), u = 2^-p
        frac = float(np.mean(reproduced(out, Yn, label_kind(Y), max(REAL_LABEL_RTOL, 2.0 ** (1 - p)))))
    return result(overflowed=not finite, fraction=frac, points=len(pos))


def precision_trial(cfg: FailureConfig, n: int, index: int, p: int) -> PrecisionTrial:
    """The construction at p bits: the Numba kernels (fp:P) for p <= 25, else mpmath."""
    if p <= GENERIC_MAX_P:
        t = run_trial(cfg, f"fp:{p}", n, index)
        return PrecisionTrial(p, "numba", not t.failed_by, t.failed_by, t.fraction, t.seconds)
    return mp_trial(cfg, n, index, p)


@dataclass(frozen=True)
class BitsNeeded:
    """Least passing precision per seed at one n, with the float64 conditioning beside it."""

    n: int
    config: FailureConfig
    p_min: tuple               # per seed (None: not reached up to p_max)
    p_median: float
    p_lo: int | None
    p_hi: int | None
    cause_below: tuple         # per seed: what failed at p_min - 1
    log2_cond1: float          # median over seeds, float64 construction (NaN if it failed)
    trials: tuple              # every PrecisionTrial, per seed
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


def bits_needed(n: int, config: FailureConfig | None = None, p_min: int = 2, p_max: int = P_MAX,
                progress=None, **overrides) -> BitsNeeded:
    """Fewest significand bits at which the construction fits n points, per seed."""
    from ..linalg.conditioning import cond_structured
    from ..build.construction import construct
    from ..build.problems import make_problem

    cfg = replace(config or FailureConfig(), **overrides).validate()
    if not 2 <= p_min <= p_max:
        raise HarnessError(f"need 2 <= p_min <= p_max, got {p_min}, {p_max}")
    t0 = time.perf_counter()
    per_seed, causes, all_trials, conds = [], [], [], []
    for s in range(cfg.seeds):
        done = {}

        def trial(p):
            if p not in done:
                done[p] = precision_trial(cfg, n, s, p)
                if progress:
                    tr = done[p]
                    progress(f"n = {n:,} seed {s + 1}/{cfg.seeds}: p = {p} ({tr.engine}) "
                             f"{'passes' if tr.passed else 'fails (' + ','.join(tr.failed_by) + ')'}")
            return done[p]

        lo, hi = p_min - 1, p_max  # invariant: fails at lo (or lo < p_min), passes at hi
        if not trial(p_max).passed:
            per_seed.append(None)
            causes.append(trial(p_max).failed_by)
        else:
            if GENERIC_MAX_P < p_max and p_min <= GENERIC_MAX_P:  # settle the cheap engine first
                if trial(GENERIC_MAX_P).passed:
                    hi = GENERIC_MAX_P
                else:
                    lo = GENERIC_MAX_P
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if trial(mid).passed:
                    hi = mid
                else:
                    lo = mid
            per_seed.append(hi)
            causes.append(done[lo].failed_by if lo in done else ())
        all_trials.append(tuple(done[p] for p in sorted(done)))
        seed = trial_seed(cfg.seed, s)
        X, y = make_problem(n, cfg.d, cfg.data, cfg.labels, direction=cfg.direction, fmt="float64", seed=seed)
        try:
            net = construct(X, y, direction=cfg.direction, bias=cfg.bias, fmt="float64", seed=seed)
            conds.append(cond_structured(net.z, net.b)[0])
        except HarnessError:
            pass
    reached = [p for p in per_seed if p is not None]
    return BitsNeeded(
        n=n, config=cfg, p_min=tuple(per_seed),
        p_median=float(np.median([p if p is not None else math.inf for p in per_seed])),
        p_lo=min(reached) if reached else None, p_hi=max(reached) if reached else None,
        cause_below=tuple(causes), log2_cond1=float(np.median(conds)) if conds else math.nan,
        trials=tuple(all_trials), seconds=time.perf_counter() - t0,
    )


def stage_trial(cfg: FailureConfig, n: int, index: int, p: int, stage: str) -> PrecisionTrial:
    """One trial with only ``stage`` (:data:`STAGES`) at p bits. p <= 25: the Numba kernels
    (``fp:P``; "exact" is float64, the forward pass compensated), else mpmath
    (:func:`mp_trial`; "exact" is P_EXACT bits). ``projection`` is judged by collision and overflow
    alone (the knots and weights come after it: their overflow is the other stages'), every other stage
    by the config's criteria."""
    if stage not in STAGES:
        raise HarnessError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    c = replace(cfg, criteria=("collision",)) if stage == "projection" else cfg
    if p > GENERIC_MAX_P:
        return mp_trial(c, n, index, p, stage=stage)
    F = f"fp:{p}"
    if stage == "forward":
        t = run_trial(replace(c, deploy=F, deploy_evaluator="sequential"), "float64", n, index)
    elif stage == "build":
        t = run_trial(replace(c, deploy="float64", deploy_evaluator="compensated"), F, n, index)
    else:
        t = run_trial(c, F, n, index)
    return PrecisionTrial(p, "numba", not t.failed_by, t.failed_by, t.fraction, t.seconds)


@dataclass(frozen=True)
class StageBits:
    """Least passing precision per seed of each stage at one n (where the bits go)."""

    n: int
    config: FailureConfig
    p_max: int
    stages: tuple              # the stage names, in STAGES order
    p_min: tuple               # per stage: per seed (None: not reached up to p_max)
    median: tuple              # per stage: median over seeds (inf where more than half not reached)
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


def stage_bits(n: int, config: FailureConfig | None = None, stages=STAGES, p_min: int = 2, p_max: int = 64,
               progress=None, **overrides) -> StageBits:
    """For each stage, the fewest significand bits at which the construction still fits n points with
    only that stage at p bits (:func:`stage_trial`), per seed, by bisection (assuming a stage that
    passes at p passes at every larger p), the cheap engine settled first at p = 25."""
    cfg = replace(config or FailureConfig(), **overrides).validate()
    for s in stages:
        if s not in STAGES:
            raise HarnessError(f"stage {s!r} is not one of {', '.join(STAGES)}")
    if not 2 <= p_min <= p_max:
        raise HarnessError(f"need 2 <= p_min <= p_max, got {p_min}, {p_max}")
    t0 = time.perf_counter()
    per_stage, medians = [], []
    for stage in stages:
        seeds = []
        for s in range(cfg.seeds):
            done = {}

            def ok(p):
                if p not in done:
                    done[p] = stage_trial(cfg, n, s, p, stage)
                    if progress:
                        progress(f"{stage}: n = {n:,} seed {s + 1}/{cfg.seeds}: p = {p} "
                                 f"{'passes' if done[p].passed else 'fails'}")
                return done[p].passed

            lo, hi = p_min - 1, p_max
            if p_min <= GENERIC_MAX_P < p_max:
                if ok(GENERIC_MAX_P):
                    hi = GENERIC_MAX_P
                else:
                    lo = GENERIC_MAX_P
            if hi == p_max and not ok(p_max):
                seeds.append(None)
                continue
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if ok(mid):
                    hi = mid
                else:
                    lo = mid
            seeds.append(hi)
        per_stage.append(tuple(seeds))
        medians.append(float(np.median([math.inf if p is None else p for p in seeds])))
    return StageBits(n=n, config=cfg, p_max=p_max, stages=tuple(stages), p_min=tuple(per_stage),
                     median=tuple(medians), seconds=time.perf_counter() - t0)
