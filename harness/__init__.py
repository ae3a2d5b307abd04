"""harness: numerical robustness of Zhang et al.'s finite-sample expressivity construction.

The public API is re-exported here; heavy modules (numba, mpmath, scipy) load on
first use, not at ``import harness``.
"""

from __future__ import annotations

from importlib import import_module

from .core.errors import CollisionError, FormatOverflowError, HarnessError

__version__ = "0.1.0"

__all__ = [
    "HarnessError", "CollisionError", "FormatOverflowError", "construct", "Network", "TwoLayer",
    "exact_weights", "hp_weights", "fit", "FitReport", "seed_example", "get_format", "FORMATS",
    "DIRECTIONS", "BIASES", "SOLVERS", "EVALUATORS", "DATA", "LABELS", "CRITERIA",
    "analyze", "analyze_config", "Analysis", "growth_scan", "condition", "Conditioning",
    "failure_point", "FailureConfig", "FailurePoint", "bits_needed", "BitsNeeded", "label_radius", "LabelRadius",
    "locality", "Locality",
]

_LAZY = {
    "construct": "build.construction", "Network": "build.network", "TwoLayer": "build.network",
    "exact_weights": "linalg.reference", "hp_weights": "linalg.reference", "fit": "analysis.fitting",
    "FitReport": "analysis.fitting", "seed_example": "analysis.seed", "get_format": "core.formats",
    "FORMATS": "core.formats", "DIRECTIONS": "build.directions", "BIASES": "build.biases",
    "SOLVERS": "build.solvers", "EVALUATORS": "build.evaluators", "DATA": "build.data", "LABELS": "build.data",
    "CRITERIA": "analysis.failure", "analyze": "analysis.metrics", "analyze_config": "analysis.metrics", "Analysis": "analysis.metrics",
    "growth_scan": "analysis.metrics", "condition": "linalg.conditioning", "Conditioning": "linalg.conditioning",
    "failure_point": "analysis.failure", "FailureConfig": "analysis.failure", "FailurePoint": "analysis.failure",
    "bits_needed": "analysis.precision", "BitsNeeded": "analysis.precision",
    "label_radius": "analysis.locality", "LabelRadius": "analysis.locality", "locality": "analysis.locality",
    "Locality": "analysis.locality",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
