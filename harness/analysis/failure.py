"""Failure points: the smallest n at which a format stops working, and why.

A *trial* builds and evaluates one network (configuration, format, n, seed) and
records, separately, each way it can fail. The criteria are a registry:

==========  ===========================================================================
collision   distinct points became indistinguishable in the format (projections equal
            after every retried direction, or two points round to one with different
            labels): the construction is impossible
overflow    a projection, knot, weight or output is not finite in the format
misfit      the share of evaluated training labels reproduced (nearest class for class
            labels, within max(1%, 2u) for real ones: outcome.real_label_rtol) fell below
            ``fit_threshold`` (default 1: any missed label). Above n^2 = 10^8 the evaluated points are a seeded sample plus
            the neighbours of the smallest gaps, so a rare miss can go unseen: the
            failure point is then an upper estimate
==========  ===========================================================================

:func:`failure_point` finds the smallest n at which the failure rate over S seeds
reaches 1/2: galloping (n doubles from ``n_min``) until the rate reaches 1/2, then
bisection in log n down to ``rel_tol``, then, if needed, a few more points outward
until the interval's ends are *confident*: its lower end is the largest tested n
whose Wilson 95% upper bound on the failure rate is below 1/2, its upper end the
smallest whose lower bound is above 1/2.

*Failure n* means one thing everywhere (failure points, the sweep's failure tables, the
report, the gate): the smallest n at which at least half of the trials over the seeds
fail (:func:`rate_fails`), a trial failing when any configured criterion fires
(:func:`judge`). A sweep row records the first criterion that fires
(:func:`first_failure`); the per-seed "first failing n" of a sweep's failure table is a
different figure and is named so (``first_fail_*``).

Seed s of a search uses the same seed at every n. Every data source but those in
:data:`harness.build.data.NOT_PREFIX` draws its points so that the data at a smaller n
are a prefix of the data at a larger one (tests/test_data.py checks it): each seed sees one
growing data set. ``equispaced`` is not (its spacing and shuffle depend on n): each n is a
data set of its own, and the search then assumes only that the failure rate rises with n.
Everything is deterministic given the config's seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import numpy as np

from ..core.errors import CollisionError, FormatOverflowError, HarnessError
from ..core.registry import Registry
from ..core.seeding import trial_seed

__all__ = ["CRITERIA", "FailureConfig", "Trial", "RatePoint", "FailurePoint", "run_trial",
           "failure_point", "wilson", "judge", "rate_fails", "first_failure", "built_trial", "failed_trial",
           "ROW_CRITERIA", "failure_record", "failure_grid", "SearchSpec", "load_search"]

class Criterion(Protocol):
    """A failure criterion: whether the trial fails it, under the search's configuration."""

    def __call__(self, trial: "Trial", cfg: "FailureConfig") -> bool: ...


CRITERIA = Registry("failure criterion", Criterion)

#: Forward-pass work per trial (points x neurons): a quarter of fit's, since a search
#: runs hundreds of trials.
TRIAL_EVAL_BUDGET = 10**8
#: z of the two-sided 95% Wilson interval.
WILSON_Z = 1.959963984540054
#: Extra points tried on each side to make the interval's ends confident.
MAX_CONFIRM_STEPS = 3


@dataclass(frozen=True)
class FailureConfig:
    """Everything but the format and n that defines a trial (defaults: the issue's configuration)."""

    d: int = 16
    data: str = "uniform"
    labels: str = "binary"
    direction: str = "gaussian"
    bias: str = "midpoint"
    solver: str = "recurrence"
    evaluator: str = "sequential"
    rounding: str = "nearest"
    seed: int = 0
    seeds: int = 8                 # trials per n
    fit_threshold: float = 1.0     # misfit below this share of reproduced labels
    criteria: tuple = ("collision", "overflow", "misfit")
    n_min: int = 2
    n_max: int = 1 << 23           # ~8.4 million: float64 fails near 2 million here
    rel_tol: float = 0.1           # bisection stops at hi / lo <= 1 + rel_tol
    max_retries: int | None = None  # directions tried after a collision (None: construct's default)
    deploy: str | None = None      # evaluate in this format / arithmetic instead of the solve's (a pipeline)
    deploy_evaluator: str = "sequential"

    def validate(self) -> "FailureConfig":
        from ..build.biases import BIASES
        from ..build.data import DATA, LABELS
        from ..build.directions import DIRECTIONS
        from ..build.evaluators import EVALUATORS
        from ..build.solvers import SOLVERS

        for reg, name in ((DATA, self.data), (LABELS, self.labels), (BIASES, self.bias),
                          (SOLVERS, self.solver), (EVALUATORS, self.evaluator)):
            reg.get(name)
        DIRECTIONS.get(self.direction)
        for c in self.criteria:
            CRITERIA.get(c)
        if self.deploy is not None:
            from ..core.arith import resolve

            resolve(self.deploy)
            EVALUATORS.get(self.deploy_evaluator)
        if self.seeds < 1:
            raise HarnessError(f"seeds must be at least 1, got {self.seeds}")
        if not 1 <= self.n_min <= self.n_max:
            raise HarnessError(f"need 1 <= n_min <= n_max, got n_min = {self.n_min}, n_max = {self.n_max}")
        if not self.rel_tol > 0:
            raise HarnessError(f"rel_tol must be positive, got {self.rel_tol}")
        if not 0 < self.fit_threshold <= 1:
            raise HarnessError(f"fit_threshold must be in (0, 1], got {self.fit_threshold}")
        if self.d < 1:
            raise HarnessError(f"d must be at least 1, got {self.d}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


#: The judgement of every sweep row: all criteria, misfit at any missed label.
ROW_CRITERIA = FailureConfig()


@dataclass(frozen=True)
class Trial:
    """One build-and-evaluate: what happened, each failure mode recorded separately."""

    fmt: str
    n: int
    seed: int
    collided: bool
    overflowed: bool
    fraction: float            # share of evaluated labels reproduced (NaN if not built)
    max_error: float
    points: int
    sampled: bool
    message: str               # the construction error, if any
    seconds: float
    failed_by: tuple = ()      # criteria that this trial fails

    def to_dict(self) -> dict:
        return asdict(self)


@CRITERIA.register("collision")
def collision(trial: Trial, cfg: FailureConfig) -> bool:
    """distinct points indistinguishable in the format (construction impossible)"""
    return trial.collided


@CRITERIA.register("overflow")
def overflow(trial: Trial, cfg: FailureConfig) -> bool:
    """a projection, knot, weight or output is not finite"""
    return trial.overflowed


@CRITERIA.register("misfit")
def misfit(trial: Trial, cfg: FailureConfig) -> bool:
    """share of reproduced labels below fit_threshold"""
    return not trial.collided and not trial.overflowed and not trial.fraction >= cfg.fit_threshold


def run_trial(cfg: FailureConfig, fmt: str, n: int, index: int) -> Trial:
    """Build and evaluate one network; never raises for a format failure."""
    from ..build.construction import DEFAULT_MAX_RETRIES, construct
    from ..build.problems import make_problem
    from .outcome import evaluate_training

    t0 = time.perf_counter()
    seed = trial_seed(cfg.seed, index)
    X, y = make_problem(n, cfg.d, cfg.data, cfg.labels, direction=cfg.direction, fmt=fmt,
                        rounding=cfg.rounding, seed=seed, stream=None)  # large generated X: streamed
    retries = DEFAULT_MAX_RETRIES if cfg.max_retries is None else cfg.max_retries
    try:
        net = construct(X, y, direction=cfg.direction, bias=cfg.bias, fmt=fmt, solver=cfg.solver, seed=seed,
                        rounding=cfg.rounding, max_retries=retries)
    except (CollisionError, FormatOverflowError) as exc:
        return judge(failed_trial(exc, fmt=fmt, n=n, seed=seed, seconds=time.perf_counter() - t0), cfg)
    # a pipeline's deployment, or the network's own format (fmt=None)
    ev = evaluate_training(net, X, y, evaluator=cfg.deploy_evaluator if cfg.deploy else cfg.evaluator,
                           fmt=cfg.deploy, budget=TRIAL_EVAL_BUDGET)
    return judge(built_trial(net, ev, fmt=fmt, n=n, seconds=time.perf_counter() - t0), cfg)


def built_trial(net, ev, *, fmt: str, n: int, seconds: float) -> Trial:
    """The Trial of a network that was built and evaluated, not yet judged. ``ev`` has
    ``fraction``, ``max_error`` (inf iff an output is not finite: the labels are finite),
    ``points`` and ``sampled`` (a :class:`~harness.analysis.outcome.TrainingEval`, or an
    analysis's ``Outcome``)."""
    finite = bool(np.all(np.isfinite(np.asarray(net.w, np.float64))) and math.isfinite(ev.max_error))
    return Trial(fmt=fmt, n=n, seed=net.seed, collided=False, overflowed=not finite, fraction=ev.fraction,
                 max_error=ev.max_error, points=int(ev.points), sampled=bool(ev.sampled), message="",
                 seconds=seconds)


def failed_trial(exc: Exception, *, fmt: str, n: int, seed: int, seconds: float) -> Trial:
    """The Trial of a construction that raised CollisionError or FormatOverflowError (not yet judged)."""
    return Trial(fmt=fmt, n=n, seed=seed, points=0, sampled=False, collided=isinstance(exc, CollisionError),
                 overflowed=isinstance(exc, FormatOverflowError), fraction=math.nan, max_error=math.inf,
                 message=str(exc), seconds=seconds)


def judge(trial: Trial, cfg: FailureConfig) -> Trial:
    """The trial with ``failed_by`` set: the configured criteria (CRITERIA) that it fails."""
    return replace(trial, failed_by=tuple(c for c in cfg.criteria if CRITERIA.get(c).func(trial, cfg)))


def rate_fails(failures: int, trials: int) -> bool:
    """The rule that defines "fails at n" everywhere: at least half of the trials at n fail."""
    return trials > 0 and 2 * failures >= trials


def first_failure(trial: Trial) -> str:
    """The criterion a results row records for a judged trial ('' if none): the first of
    ``failed_by`` in criteria order (collision, overflow, misfit)."""
    return trial.failed_by[0] if trial.failed_by else ""


def wilson(k: int, n: int, z: float = WILSON_Z) -> tuple:
    """Wilson score interval for a binomial proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RatePoint:
    """The failure rate at one n over the search's seeds."""

    n: int
    trials: int
    failures: int
    rate: float
    lo: float                  # Wilson 95% interval on the failure probability
    hi: float
    by_cause: tuple            # ((criterion, failures), ...) in criteria order
    median_fraction: float     # median share of labels reproduced (built networks)
    seconds: float

    @property
    def failed(self) -> bool:
        return rate_fails(self.failures, self.trials)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FailurePoint:
    """Where a format fails on one configuration, with the evidence.

    ``n_fail`` is the smallest tested n whose failure rate reaches 1/2 (None if none up
    to n_max: ``censored = "above"``); ``n_pass`` the largest tested n below it with rate
    < 1/2 (None if n_min already fails: ``censored = "below"``). The 50% point lies in
    (n_pass, n_fail]. ``interval`` = (confident pass, confident fail): the true 50% point
    lies between them with ~95% confidence (either end None if not established).
    """

    fmt: str
    config: FailureConfig
    n_fail: int | None
    n_pass: int | None
    censored: str
    interval: tuple
    cause: str                 # the criterion behind most failures at n_fail
    causes: tuple              # ((criterion, failures at n_fail), ...)
    curve: tuple               # RatePoint per tested n, increasing n
    trials: int
    seconds: float
    schema_version: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d


def _rate(cfg, fmt, n, progress) -> RatePoint:
    t0 = time.perf_counter()
    trials = []
    for s in range(cfg.seeds):
        trials.append(run_trial(cfg, fmt, n, s))
        if progress:
            progress(f"{fmt}: n = {n:,} seed {s + 1}/{cfg.seeds}"
                     f" {'FAIL(' + ','.join(trials[-1].failed_by) + ')' if trials[-1].failed_by else 'ok'}")
    fails = sum(1 for t in trials if t.failed_by)
    lo, hi = wilson(fails, len(trials))
    fr = [t.fraction for t in trials if not math.isnan(t.fraction)]
    return RatePoint(n=n, trials=len(trials), failures=fails, rate=fails / len(trials), lo=lo, hi=hi,
                     by_cause=tuple((c, sum(1 for t in trials if c in t.failed_by)) for c in cfg.criteria),
                     median_fraction=float(np.median(fr)) if fr else math.nan,
                     seconds=time.perf_counter() - t0)


def failure_point(fmt, config: FailureConfig | None = None, progress=None, **overrides) -> FailurePoint:
    """Smallest n at which the failure rate over ``config.seeds`` seeds reaches 1/2.

    ``overrides`` replace fields of ``config`` (``failure_point("float32", seeds=4)``).
    ``progress`` is called with a message after every trial.

    Examples
    --------
    >>> fp = failure_point("bfloat16", seeds=2, n_max=64, d=4)
    >>> fp.n_fail, fp.cause
    (8, 'misfit')
    """
    from ..core.arith import resolve

    cfg = replace(config or FailureConfig(), **overrides).validate()
    name = resolve(fmt).name
    t0 = time.perf_counter()
    seen: dict = {}

    def rate(n):
        if n not in seen:
            seen[n] = _rate(cfg, name, n, progress)
        return seen[n]

    n_pass = n_fail = None
    n = cfg.n_min
    while True:  # gallop
        if rate(n).failed:
            n_fail = n
            break
        n_pass = n
        if n >= cfg.n_max:
            break
        n = min(2 * n, cfg.n_max)
    if n_fail is not None and n_pass is not None:  # bisect in log n
        while n_fail > n_pass * (1 + cfg.rel_tol) and n_fail - n_pass > 1:
            mid = int(round(math.sqrt(n_pass * n_fail)))
            mid = min(max(mid, n_pass + 1), n_fail - 1)
            if rate(mid).failed:
                n_fail = mid
            else:
                n_pass = mid
    # make the interval's ends confident, a few points outward at most
    if n_fail is not None:
        n = n_fail
        for _ in range(MAX_CONFIRM_STEPS):
            if any(p.lo > 0.5 for m, p in seen.items() if m >= n_fail) or n >= cfg.n_max:
                break
            n = min(2 * n, cfg.n_max)
            rate(n)
    if n_pass is not None:
        n = n_pass
        for _ in range(MAX_CONFIRM_STEPS):
            if any(p.hi < 0.5 for m, p in seen.items() if m <= n_pass) or n <= cfg.n_min:
                break
            n = max(n // 2, cfg.n_min)
            rate(n)
    curve = tuple(seen[m] for m in sorted(seen))
    conf_pass = max((p.n for p in curve if p.hi < 0.5 and (n_fail is None or p.n < n_fail)), default=None)
    conf_fail = min((p.n for p in curve if p.lo > 0.5 and (n_pass is None or p.n > n_pass)), default=None)
    causes, cause = (), ""
    if n_fail is not None:
        causes = seen[n_fail].by_cause
        cause = max(causes, key=lambda c: c[1])[0] if any(c[1] for c in causes) else ""
    return FailurePoint(fmt=name, config=cfg, n_fail=n_fail, n_pass=n_pass,
                        censored="above" if n_fail is None else ("below" if n_pass is None else "none"),
                        interval=(conf_pass, conf_fail), cause=cause, causes=causes, curve=curve,
                        trials=sum(p.trials for p in curve), seconds=time.perf_counter() - t0)


def failure_record(fp: FailurePoint, **extra) -> dict:
    """A failure point as a JSON-ready record (the report's headline and the pipelines' rows):
    ``fmt``, ``bias``, ``n_fail``, ``n_pass``, ``interval``, ``censored``, ``cause``, ``n_min``,
    ``n_max``, ``seeds``, ``trials``, ``seconds``, the curve's ``(n, failures, trials)`` and
    ``extra``."""
    return {"fmt": fp.fmt, "bias": fp.config.bias, "n_fail": fp.n_fail, "n_pass": fp.n_pass,
            "interval": list(fp.interval), "censored": fp.censored, "cause": fp.cause,
            "n_min": fp.config.n_min, "n_max": fp.config.n_max, "seeds": fp.config.seeds,
            "trials": fp.trials, "seconds": fp.seconds,
            "curve": [[p.n, p.failures, p.trials] for p in fp.curve], "config": fp.config.to_dict(),
            "skipped": False, **extra}


def failure_grid(formats, biases, config: FailureConfig | None = None, progress=None, n_max=None) -> list:
    """The failure point of every (format, bias strategy) on one configuration: records of
    :func:`failure_record`, formats outermost. ``n_max`` ({format: n}) caps some formats' searches
    (a capped search that never fails is censored "above" at that n). Each record is what
    ``harness failure-point --fmt F --bias B`` (with that ``--n-max``) prints for the same config."""
    cfg = config or FailureConfig()
    out = []
    for fmt in formats:
        for bias in biases:
            over = {"bias": bias}
            if n_max and fmt in n_max:
                over["n_max"] = int(n_max[fmt])
            fp = failure_point(fmt, cfg, progress=progress, **over)
            out.append(failure_record(fp, target=fmt))
    return out


@dataclass(frozen=True)
class SearchSpec:
    """A failure-point search file: the formats and bias strategies to search, one config."""

    fmts: tuple
    biases: tuple
    config: FailureConfig
    path: str
    description: str = ""


def load_search(path) -> SearchSpec:
    """Read a search file (TOML; ``configs/wall.toml``)::

        description = "..."
        fmt = ["float64"]
        bias = ["midpoint", "left"]
        d = 4
        seeds = 4
        n_min = 3
        n_max = 100663296

    Every other key is a :class:`FailureConfig` field; unknown keys and wrong types are errors
    naming the file and the key."""
    import tomllib
    from dataclasses import fields
    from pathlib import Path

    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"no such search file: {p}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HarnessError(f"{p}: not a readable TOML file: {exc}") from None
    known = {f.name: f for f in fields(FailureConfig)}
    kw = {}
    for key, v in raw.items():
        if key in ("fmt", "bias", "description"):
            continue
        if key not in known:
            raise HarnessError(f"{p}: {key}: unknown key; valid: fmt, bias, description, {', '.join(known)}")
        default = getattr(FailureConfig(), key)
        want = type(default) if default is not None else (int if key == "max_retries" else str)
        if want is tuple:
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
            v = tuple(v) if ok else v
        elif want is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        else:
            ok = isinstance(v, want) and not isinstance(v, bool)
        if not ok:
            raise HarnessError(f"{p}: {key}: expected {want.__name__}, got {v!r}")
        kw[key] = v
    names = {}
    for key in ("fmt", "bias"):
        v = raw.get(key)
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x.strip() == x and x for x in v):
            raise HarnessError(f"{p}: {key}: a list of names, got {raw.get(key)!r}")
        names[key] = tuple(v)
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        raise HarnessError(f"{p}: description: must be text, got {desc!r}")
    cfg = FailureConfig(**{**kw, "bias": names["bias"][0]}).validate()
    for b in names["bias"][1:]:
        replace(cfg, bias=b).validate()
    from ..core.arith import resolve

    fmts = tuple(resolve(f).name for f in names["fmt"])
    return SearchSpec(fmts, names["bias"], cfg, str(p), desc)
