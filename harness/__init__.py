"""harness: numerical robustness of Zhang et al.'s finite-sample expressivity construction.

The public API is re-exported here; heavy modules (numba, mpmath, scipy) load on
first use, not at ``import harness``.
"""

from __future__ import annotations

from importlib import import_module

from .errors import CollisionError, FormatOverflowError, HarnessError

__version__ = "0.1.0"

__all__ = [
    "HarnessError", "CollisionError", "FormatOverflowError", "construct", "Network", "TwoLayer",
    "exact_weights", "hp_weights", "fit", "FitReport", "seed_example", "get_format", "FORMATS",
    "DIRECTIONS", "BIASES", "SOLVERS", "EVALUATORS", "DATA", "LABELS", "CRITERIA",
    "analyze", "analyze_config", "Analysis", "growth_scan", "condition", "Conditioning",
    "failure_point", "FailureConfig", "FailurePoint", "bits_needed", "BitsNeeded",
]

_LAZY = {
    "construct": "construction", "Network": "network", "TwoLayer": "network",
    "exact_weights": "reference", "hp_weights": "reference", "fit": "fitting",
    "FitReport": "fitting", "seed_example": "seed", "get_format": "formats",
    "FORMATS": "formats", "DIRECTIONS": "directions", "BIASES": "biases",
    "SOLVERS": "solvers", "EVALUATORS": "evaluators", "DATA": "data", "LABELS": "data",
    "CRITERIA": "failure", "analyze": "metrics", "analyze_config": "metrics", "Analysis": "metrics",
    "growth_scan": "metrics", "condition": "conditioning", "Conditioning": "conditioning",
    "failure_point": "failure", "FailureConfig": "failure", "FailurePoint": "failure",
    "bits_needed": "precision", "BitsNeeded": "precision",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
