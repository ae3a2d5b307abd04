"""Emulation against a real framework: the same float64-built network run both ways.

For each case (n, bias, seed) the network is built in float64 (``recurrence``), then
evaluated at every training point in each emulated arithmetic (``bfloat16@float32``,
``float16@float32``, or a per-operation format like ``bfloat16``) and by PyTorch in the
matching dtype (:mod:`harness.build.torch_eval`, CPU or CUDA). A record per
(n, bias, arithmetic, engine) gives the label accuracy (mean over seeds, with the 10th and
90th percentiles of the seeds), the largest output error, and the share of outputs equal
bit for bit between the emulation and the framework.

``scripts/cuda_crosscheck.sh`` runs it on a CUDA device and writes the JSON that the
report's "Emulation vs framework" page draws beside the CPU run
(``reports/reference/crosscheck-*.json``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import HarnessError

__all__ = ["CrossRecord", "Crosscheck", "crosscheck", "agreement", "CROSSCHECK_VERSION", "load_crosscheck"]

#: Version of the crosscheck JSON layout (bump on any change of fields or meaning).
CROSSCHECK_VERSION = 1


@dataclass(frozen=True)
class CrossRecord:
    """One (n, bias, arithmetic, engine) cell over the seeds."""

    n: int
    bias: str
    arith: str
    engine: str                # "emulated", "torch-cpu" or "torch-cuda"
    seeds: int
    label_accuracy: float      # mean over seeds of the share of labels reproduced
    accuracy_p10: float        # 10th / 90th percentile of the seeds' accuracies
    accuracy_p90: float
    max_error: float           # largest |f - y| over seeds and points (inf if not finite)
    bitwise_equal: float       # share of outputs equal bit for bit, emulation vs framework
    accuracies: tuple          # per seed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Crosscheck:
    """Every record of one crosscheck, with its settings and the framework's provenance."""

    records: tuple
    settings: dict
    framework: dict
    seconds: float
    version: int = CROSSCHECK_VERSION

    def to_dict(self) -> dict:
        return {"version": self.version, "settings": self.settings, "framework": self.framework,
                "seconds": self.seconds, "records": [r.to_dict() for r in self.records]}


def _same(a, b) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def crosscheck(d: int = 3072, ns=(30, 100, 300, 1000), biases=("left", "midpoint"), seeds: int = 12,
               ariths=("bfloat16@float32", "float16@float32"), device: str = "cpu", data: str = "uniform",
               labels: str = "binary", direction: str = "gaussian", seed: int = 0, progress=None) -> Crosscheck:
    """Run the crosscheck (see the module docstring); ``progress`` gets a message per case."""
    from ..build.construction import construct
    from ..build.problems import make_problem
    from ..build.torch_eval import require_torch, torch_dtype, torch_info
    from ..core.arith import resolve
    from ..core.seeding import trial_seed
    from .outcome import evaluate_training

    require_torch()
    if device not in ("cpu", "cuda"):
        raise HarnessError(f"--device must be cpu or cuda, got {device!r}")
    info = torch_info(device)
    if device == "cuda" and "gpu" not in info:
        raise HarnessError("--device cuda: no CUDA GPU is available to PyTorch here; use --device cpu")
    if seeds < 1:
        raise HarnessError(f"--seeds must be at least 1, got {seeds}")
    ariths = tuple(resolve(a).name for a in ariths)
    for a in ariths:
        torch_dtype(a)  # refuses arithmetics the framework has no dtype for, naming them
    engine = f"torch-{device}"
    evaluator = "torch" if device == "cpu" else "torch-cuda"
    t0 = time.perf_counter()
    cells: dict = {}
    for n in ns:
        for bias in biases:
            for s in range(seeds):
                sd = trial_seed(seed, s)
                X, y = make_problem(int(n), d, data, labels, direction=direction, seed=sd)
                net = construct(X, y, direction=direction, bias=bias, fmt="float64", seed=sd)
                budget = net.n * net.n  # every training point
                for a in ariths:
                    emu = evaluate_training(net, X, y, fmt=a, budget=budget)
                    fw = evaluate_training(net, X, y, fmt=a, evaluator=evaluator, budget=budget)
                    eq = float(np.mean(_same(emu.outputs, fw.outputs)))
                    for eng, ev in (("emulated", emu), (engine, fw)):
                        cells.setdefault((int(n), bias, a, eng), []).append((ev.fraction, ev.max_error, eq))
                if progress:
                    progress(f"crosscheck: n = {n:,} bias {bias} seed {s + 1}/{seeds}")
    records = []
    for (n, bias, a, eng), vals in cells.items():
        acc = np.array([v[0] for v in vals])
        errs = [v[1] for v in vals]
        records.append(CrossRecord(
            n=n, bias=bias, arith=a, engine=eng, seeds=len(vals), label_accuracy=float(np.mean(acc)),
            accuracy_p10=float(np.quantile(acc, 0.1)), accuracy_p90=float(np.quantile(acc, 0.9)),
            max_error=max(errs) if all(math.isfinite(e) for e in errs) else math.inf,
            bitwise_equal=float(np.mean([v[2] for v in vals])), accuracies=tuple(float(x) for x in acc)))
    settings = dict(d=d, n=[int(n) for n in ns], biases=list(biases), seeds=seeds, ariths=list(ariths),
                    device=device, data=data, labels=labels, direction=direction, seed=seed)
    return Crosscheck(records=tuple(records), settings=settings, framework=info, seconds=time.perf_counter() - t0)


def agreement(cc) -> tuple:
    """(cells where the emulated accuracy lies in the framework's 10-90% seed band, cells)."""
    recs = cc["records"] if isinstance(cc, dict) else [r.to_dict() for r in cc.records]
    fw = {(r["n"], r["bias"], r["arith"]): r for r in recs if r["engine"] != "emulated"}
    inside = total = 0
    for r in recs:
        if r["engine"] != "emulated":
            continue
        f = fw.get((r["n"], r["bias"], r["arith"]))
        if f is None:
            continue
        total += 1
        inside += f["accuracy_p10"] <= r["label_accuracy"] <= f["accuracy_p90"]
    return inside, total


def load_crosscheck(path) -> dict:
    """A crosscheck JSON (as ``harness crosscheck --json`` writes it), checked for its version."""
    import json
    from pathlib import Path

    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{p}: not a crosscheck JSON: {exc}") from None
    if not isinstance(d, dict) or d.get("version") != CROSSCHECK_VERSION or not isinstance(d.get("records"), list):
        raise HarnessError(f"{p}: crosscheck version {d.get('version') if isinstance(d, dict) else None}, "
                           f"this harness reads {CROSSCHECK_VERSION}")
    return d
