"""User pipelines: what a user's own stack does, as (solve format, solver, evaluator, deployment).

The failure point of the construction depends on more than the format: the same float32
weights solved with LAPACK, or evaluated framework-style, fail at about half the n of the
harness's own recurrence + sequential pass. A pipeline names one such stack for a target
format ``F``; ``harness failure-point --pipeline`` finds the failure n of each, so a user
sees what their stack does and what the careful pipeline buys.

============  ===============================================================================
numpy         solve in F with LAPACK (``strsv`` / ``dtrsv`` via SciPy), forward pass with BLAS
              (``dense``) in F: native F only (float32, float64)
torch         weights solved in float64 (recurrence), deployed as a framework runs F:
              ``F@float32`` (storage F, exact products, float32 accumulation, one rounding per
              layer; float32 gives ``float32@float32``, float64 plain float64)
harness       the harness's per-operation model: recurrence and sequential pass in F, every
              operation rounded to F
harness-best  the careful pipeline: weights solved in float64 (recurrence), rounded once to F,
              evaluated with Neumaier-compensated summation in F
============  ===============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..core.errors import HarnessError
from ..core.registry import Registry

__all__ = ["PIPELINES", "PipelineSpec", "pipeline", "pipeline_failures"]


@dataclass(frozen=True)
class PipelineSpec:
    """What a pipeline runs for one target format."""

    name: str
    target: str
    fmt: str                   # the format the weights are solved in
    solver: str
    evaluator: str             # the evaluator of the solve format (without deployment)
    deploy: str | None         # the format / arithmetic of the deployed forward pass (None: fmt itself)
    deploy_evaluator: str

    def overrides(self) -> dict:
        """FailureConfig fields for this pipeline."""
        return dict(solver=self.solver, evaluator=self.evaluator, deploy=self.deploy,
                    deploy_evaluator=self.deploy_evaluator)


class Pipeline(Protocol):
    """A pipeline: its spec for the target format F (a format name)."""

    def __call__(self, target: str) -> PipelineSpec: ...


PIPELINES = Registry("pipeline", Pipeline)


@PIPELINES.register("numpy")
def numpy_pipeline(target):
    """LAPACK solve and BLAS forward pass in F (native F only)"""
    if target not in ("float32", "float64"):
        raise HarnessError(f"pipeline numpy runs in float32 or float64 (numpy/BLAS), not {target}")
    return PipelineSpec("numpy", target, target, "lapack", "dense", None, "dense")


@PIPELINES.register("torch")
def torch_pipeline(target):
    """float64 solve, deployed as a framework runs F: F@float32 (storage F, float32 accumulation)"""
    deploy = "float64" if target == "float64" else f"{target}@float32"
    return PipelineSpec("torch", target, "float64", "recurrence", "sequential", deploy, "sequential")


@PIPELINES.register("harness")
def harness_pipeline(target):
    """per-operation model: recurrence and sequential pass in F"""
    return PipelineSpec("harness", target, target, "recurrence", "sequential", None, "sequential")


@PIPELINES.register("harness-best")
def best_pipeline(target):
    """float64 solve, weights rounded once to F, compensated forward pass in F"""
    return PipelineSpec("harness-best", target, "float64", "recurrence", "sequential", target, "compensated")


def pipeline(name: str, target: str) -> PipelineSpec:
    """The spec of pipeline ``name`` for target format ``target``."""
    from ..core.formats import get_format

    return PIPELINES.get(name).func(get_format(target).name)


def pipeline_failures(names, targets, config=None, progress=None) -> list:
    """The failure point of every (pipeline, target) that runs: a list of JSON-ready records
    (``pipeline``, ``target``, the spec, ``n_fail``, ``n_pass``, ``interval``, ``censored``,
    ``cause``, ``n_min``, ``n_max``, ``seeds``), and one ``skipped`` record (with ``reason``)
    per pair that does not run (``numpy`` in bfloat16)."""
    from dataclasses import replace

    from .failure import FailureConfig, failure_point, failure_record

    cfg = config or FailureConfig()
    out = []
    for t in targets:
        for name in names:
            PIPELINES.get(name)  # an unknown name is an error, not a skip
            try:
                spec = pipeline(name, t)
            except HarnessError as exc:
                out.append({"pipeline": name, "target": t, "skipped": True, "reason": str(exc)})
                continue
            fp = failure_point(spec.fmt, replace(cfg, **spec.overrides()).validate(), progress=progress)
            out.append(failure_record(fp, pipeline=spec.name, target=spec.target, solver=spec.solver,
                                      evaluator=spec.evaluator, deploy=spec.deploy,
                                      deploy_evaluator=spec.deploy_evaluator))
    return out
