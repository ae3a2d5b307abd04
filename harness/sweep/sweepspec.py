"""Sweep definitions: a TOML file naming the axes to cross, read and checked.

A sweep file::

    name = "quick"
    seed = 0                 # the sweep seed; each point's seed derives from it and the point
    seeds = 2                # repetitions (seed indices) per configuration
    metrics = ["fit", "conditioning", "solve"]
    time_limit = 120         # seconds per point (local backend); the point is recorded as timeout
    memory_limit_gb = 8      # points whose estimate exceeds it are recorded as "skipped: memory"

    [axes]
    n = [64, 256, 1024]                  # or { log = [64, 65536], points = 5 }
    d = [8]
    data = ["uniform"]
    labels = ["binary"]
    direction = ["gaussian"]
    bias = ["midpoint", "fraction:0.75"]
    fmt = ["float64", "float32"]
    solver = ["recurrence"]
    evaluator = ["sequential"]

    [[also]]                 # more points: the main axes with these replaced (a union)
    solver = ["backsub", "lapack"]
    n = [64, 1024]

    [[exclude]]              # skip every point matching all of these
    solver = "lapack"
    n_above = 10000          # optional bounds on n: n_above, n_below

Metric groups: ``fit`` (construction and the fit outcome: always recorded),
``conditioning`` (the O(n) closed form and the estimate; exact and LAPACK within
their size limits), ``solve`` (reference-based solve, backward and evaluation errors;
costly above a few 10^4 points). Unknown keys, bad ranges and unknown strategy names
are errors naming the file, the key and, where it can be found, the line.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.errors import HarnessError
from ..core.seeding import point_seed
from .axes import AXES, DEFAULTS, point_key, registry_for

__all__ = ["SweepSpec", "Point", "load_sweep", "parse_sweep", "AXES", "METRIC_GROUPS", "SPEC_VERSION"]

#: Version of the sweep-file format (bump on any change of keys or meaning).
SPEC_VERSION = 1
METRIC_GROUPS = ("fit", "conditioning", "solve")
_TOP = {"name", "seed", "seeds", "metrics", "time_limit", "memory_limit_gb", "axes", "also", "exclude",
        "description"}
#: A log-range may not expand past this many n values (a typo guard).
MAX_LOG_POINTS = 200
#: Whole-number axis values and seeds stay below this: exact in float64 and in int64 columns.
MAX_WHOLE = 2**53
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"


@dataclass(frozen=True)
class Point:
    """One configuration and seed index of a sweep; ``seed`` derives from the sweep seed and the key."""

    n: int
    d: int
    data: str
    labels: str
    direction: str
    bias: str
    fmt: str
    solver: str
    evaluator: str
    rounding: str
    deploy: str
    seed_index: int
    seed: int

    @property
    def key(self) -> str:
        """A stable, human-readable identity (independent of seed derivation): :func:`point_key`."""
        return point_key(asdict(self), self.seed_index)

    @property
    def seed_key(self) -> str:
        """The text the point's seed derives from: the key without the axes that do not seed."""
        return point_key(asdict(self), self.seed_index, for_seed=True)

    @property
    def file_id(self) -> str:
        """Short file name for this point's result (hash of the key)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:24]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep definition (see the module docstring)."""

    name: str
    seed: int
    seeds: int
    metrics: tuple
    time_limit: float
    memory_limit_gb: float
    axes: tuple            # ((axis, (values...)), ...) in AXES order
    also: tuple            # (axes tuple like ``axes``, ...): further grids, each the main one with overrides
    exclude: tuple         # (dict, ...)
    source: str            # the file's text
    path: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def axis(self, name: str) -> tuple:
        return dict(self.axes)[name]

    def count(self) -> int:
        """An upper bound on the number of points (grids crossed, times seeds; before exclusions
        and overlaps), computed without listing them."""
        return sum(math.prod(len(v) for _, v in grid) for grid in (self.axes, *self.also)) * self.seeds

    def points(self) -> list:
        """Every point, in a deterministic order (axes crossed in AXES order, then seeds).
        Real data sets take their own d (:func:`harness.build.data.native_dim`)."""
        from ..build.data import native_dim

        out, seen = [], set()
        for grid in (self.axes, *self.also):
            values = [dict(grid)[a] for a in AXES]
            for combo in itertools.product(*values):
                cfg = dict(zip(AXES, combo))
                if any(_excluded(cfg, ex) for ex in self.exclude):
                    continue
                own = native_dim(cfg["data"])
                if own is not None:  # real data have their own d: the d axis does not apply
                    cfg["d"] = own
                if tuple(cfg.values()) in seen:  # grids may overlap
                    continue
                seen.add(tuple(cfg.values()))
                for s in range(self.seeds):
                    p = Point(**cfg, seed_index=s, seed=0)
                    out.append(Point(**{**p.to_dict(), "seed": point_seed(self.seed, p.seed_key)}))
        return out


def _excluded(cfg: dict, ex: dict) -> bool:
    for k, v in ex.items():
        if k == "n_above":
            if not cfg["n"] > v:
                return False
        elif k == "n_below":
            if not cfg["n"] < v:
                return False
        elif cfg.get(k) != v:
            return False
    return True


def _line(text: str, key: str) -> str:
    m = re.search(rf"^\s*{re.escape(key)}\s*=", text, flags=re.M)
    return f" (line {text[:m.start()].count(chr(10)) + 1})" if m else ""


def _err(path, text, key, msg):
    return HarnessError(f"{path}: {key}{_line(text, key.split('.')[-1])}: {msg}")


def _int_values(path, text, key, v, minimum=1):
    if isinstance(v, dict):
        unknown = set(v) - {"log", "points"}
        if unknown or "log" not in v:
            raise _err(path, text, key, "a range is { log = [LO, HI], points = K }"
                       + (f"; unknown {sorted(unknown)}" if unknown else ""))
        lo_hi, k = v["log"], v.get("points", 5)
        if (not isinstance(lo_hi, list) or len(lo_hi) != 2 or not all(_whole(x) for x in lo_hi)
                or not _whole(k)):
            raise _err(path, text, key, f"log = [LO, HI] takes two whole numbers and points one; got {v}")
        lo, hi = lo_hi
        if not minimum <= lo <= hi < MAX_WHOLE:
            raise _err(path, text, key, f"log range needs {minimum} <= LO <= HI < 2^53, got [{lo}, {hi}]")
        if not 1 <= k <= MAX_LOG_POINTS:
            raise _err(path, text, key, f"points must be 1..{MAX_LOG_POINTS}, got {k}")
        vals = sorted({int(round(x)) for x in np.geomspace(lo, hi, k)}) if k > 1 else [lo]
        return tuple(vals)
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise _err(path, text, key, "needs at least one value")
    for x in vals:
        if not _whole(x) or x < minimum:
            raise _err(path, text, key, f"values must be whole numbers >= {minimum}, got {x!r}")
        if x >= MAX_WHOLE:
            raise _err(path, text, key, f"{x} is too large (values stay below 2^53)")
    return _distinct(path, text, key, vals)


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _distinct(path, text, key, vals) -> tuple:
    seen = set()
    for x in vals:
        if x in seen:
            raise _err(path, text, key, f"{x!r} is given twice")
        seen.add(x)
    return tuple(vals)


def _names(path, text, key, v, registry):
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise _err(path, text, key, "needs at least one value")
    for x in vals:
        if not isinstance(x, str):
            raise _err(path, text, key, f"values must be names (strings), got {x!r}")
        if x != x.strip() or not x:
            raise _err(path, text, key, f"{x!r}: a name has no spaces around it")
        try:
            registry.get(x)
        except HarnessError as exc:
            raise _err(path, text, key, str(exc)) from None
    return _distinct(path, text, key, vals)


def parse_sweep(text: str, path: str = "<sweep>") -> SweepSpec:
    """Check and parse a sweep definition (the TOML text)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise _err(path, text, unknown[0], f"unknown key; valid: {', '.join(sorted(_TOP))}")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        # it names folders (results/NAME-..., reports/NAME): no '..', no leading dot, no separators
        raise _err(path, text, "name", "needs a name of letters, digits, '_', '-', '.' (<= 64) that starts with "
                                       f"a letter or digit, got {name!r}")
    if "description" in raw and not isinstance(raw["description"], str):
        raise _err(path, text, "description", f"must be text (a string), got {raw['description']!r}")
    for key, default, top in (("seed", 0, 2**63), ("seeds", 1, 10**6)):
        v = raw.get(key, default)
        if not _whole(v) or not (0 if key == "seed" else 1) <= v < top:
            raise _err(path, text, key, f"must be a whole number in [{0 if key == 'seed' else 1}, {top:.0e}), "
                                        f"got {v!r}")
    metrics = raw.get("metrics", ["fit", "conditioning"])
    if not isinstance(metrics, list) or any(m not in METRIC_GROUPS for m in metrics):
        raise _err(path, text, "metrics", f"a list of {', '.join(METRIC_GROUPS)}; got {metrics!r}")
    limits = {}
    for key, default in (("time_limit", 600.0), ("memory_limit_gb", 8.0)):
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise _err(path, text, key, f"must be a positive number, got {v!r}")
        limits[key] = float(v)
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, dict) or "n" not in axes_raw:
        raise HarnessError(f"{path}: needs an [axes] table with at least n")

    def grid(table, where, base):
        bad = sorted(set(table) - set(AXES))
        if bad:
            raise _err(path, text, f"{where}.{bad[0]}", f"unknown axis; valid: {', '.join(AXES)}")
        out = []
        for a in AXES:
            if a not in table:
                out.append((a, base[a]))
            elif a in ("n", "d"):
                out.append((a, _int_values(path, text, f"{where}.{a}", table[a], minimum=2 if a == "n" else 1)))
            else:
                out.append((a, _names(path, text, f"{where}.{a}", table[a], registry_for(a))))
        return tuple(out)

    defaults = {a: None for a in AXES}
    main_table = {**{a: [v] for a, v in DEFAULTS.items()}, **axes_raw}
    axes = grid(main_table, "axes", defaults)
    also_raw = raw.get("also", [])
    if not isinstance(also_raw, list) or not all(isinstance(t, dict) and t for t in also_raw):
        raise _err(path, text, "also", "must be an array of non-empty tables ([[also]])")
    also = tuple(grid(t, f"also[{i}]", dict(axes)) for i, t in enumerate(also_raw))
    excl = raw.get("exclude", [])
    if not isinstance(excl, list):
        raise _err(path, text, "exclude", "must be an array of tables ([[exclude]])")
    present = {a: set() for a in AXES}  # every value each axis takes, over all grids
    for g in (axes, *also):
        for a, vals in g:
            present[a].update(vals)
    for i, ex in enumerate(excl):
        if not isinstance(ex, dict) or not ex:
            raise HarnessError(f"{path}: exclude[{i}] must be a non-empty table")
        for k, v in ex.items():
            where = f"{path}: exclude[{i}].{k}{_line(text, k)}"
            if k in ("n_above", "n_below"):
                if not _whole(v):
                    raise HarnessError(f"{where}: must be a whole number, got {v!r}")
            elif k not in AXES:
                raise HarnessError(f"{where}: unknown key; valid: {', '.join(AXES)}, n_above, n_below")
            elif isinstance(v, (list, dict)):
                raise HarnessError(f"{where}: one value per key (a table per excluded value), got {v!r}")
            elif v not in present[k] or type(v) is not type(next(iter(present[k]))):
                # an exclusion that matches nothing is a mistake (a typo, a wrong case, "16" for 16)
                shown = ", ".join(repr(x) for x in sorted(present[k], key=str))
                raise HarnessError(f"{where}: {v!r} matches no value of the {k} axis ({shown}); one value per "
                                   "key, spelled as on the axis")
    return SweepSpec(name=name, seed=int(raw.get("seed", 0)), seeds=int(raw.get("seeds", 1)),
                     metrics=tuple(dict.fromkeys(["fit", *metrics])), time_limit=limits["time_limit"],
                     memory_limit_gb=limits["memory_limit_gb"], axes=axes, also=also, exclude=tuple(excl),
                     source=text, path=str(path))


def load_sweep(path) -> SweepSpec:
    """Read and check a sweep file."""
    p = Path(path)
    if not p.exists():
        raise HarnessError(f"no such sweep file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{p}: cannot read: {exc}") from None
    return parse_sweep(text, str(p))
