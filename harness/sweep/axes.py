"""The sweep axes: one list, read by sweep files, rows, failure tables, digests and the report.

An axis is a column of every results row and a key of every sweep point. ``n`` is the
growth axis; the others (:data:`SERIES_AXES`), with the seed index, identify a growth
series. Adding an axis is adding one :class:`Axis` here and a field to
:class:`harness.sweep.sweepspec.Point` (a test holds the two equal); the sweep parser,
the failure tables, the digest, the history and the report's slices follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

__all__ = ["Axis", "AXIS_SPECS", "AXES", "SERIES_AXES", "DEFAULTS", "registry_for", "point_key"]


@dataclass(frozen=True)
class Axis:
    """One axis: its name, the value a sweep uses where a file leaves it out, the registry
    (``module:NAME``) that checks its names (None for whole numbers), and whether a point's
    key names it at its default (axes added later do not: every earlier key, and so every
    earlier seed and stored row, stays what it was)."""

    name: str
    default: object
    registry: str | None
    keyed_at_default: bool = True
    seeds: bool = True         # whether the point's seed depends on it (a deployment does not:
                               # the same network is deployed each way)


AXIS_SPECS = (
    Axis("n", None, None),
    Axis("d", 8, None),
    Axis("data", "uniform", "harness.build.data:DATA"),
    Axis("labels", "binary", "harness.build.data:LABELS"),
    Axis("direction", "gaussian", "harness.build.directions:DIRECTIONS"),
    Axis("bias", "midpoint", "harness.build.biases:BIASES"),
    Axis("fmt", "float64", "harness.core.arith:FORMAT_OR_ARITH"),
    Axis("solver", "recurrence", "harness.build.solvers:SOLVERS"),
    Axis("evaluator", "sequential", "harness.build.evaluators:EVALUATORS"),
    Axis("rounding", "nearest", "harness.core.formats:ROUNDINGS"),
    # the weights' forward pass again in another format or arithmetic: a user's deployment
    Axis("deploy", "none", "harness.core.arith:DEPLOYMENTS", keyed_at_default=False, seeds=False),
)
AXES = tuple(a.name for a in AXIS_SPECS)
#: With n and the seed index, these identify a row; without n, a growth series.
SERIES_AXES = AXES[1:]
#: The value of each axis (but n) where a sweep file does not give it.
DEFAULTS = {a.name: a.default for a in AXIS_SPECS if a.default is not None}


def registry_for(axis: str):
    """The registry that checks the names of ``axis`` (None for whole-number axes)."""
    spec = {a.name: a for a in AXIS_SPECS}[axis]
    if spec.registry is None:
        return None
    mod, name = spec.registry.split(":")
    return getattr(import_module(mod), name)


def point_key(values: dict, seed_index: int, for_seed: bool = False) -> str:
    """A point's stable, human-readable identity: ``axis=value|...|s=INDEX`` in axis order,
    leaving out axes that are at their default and not keyed there; ``for_seed``: the text
    its seed derives from (without the axes that do not seed)."""
    parts = [f"{a.name}={values[a.name]}" for a in AXIS_SPECS
             if (a.keyed_at_default or values[a.name] != a.default) and (a.seeds or not for_seed)]
    return "|".join(parts + [f"s={seed_index}"])
