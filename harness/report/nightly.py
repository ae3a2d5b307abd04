"""The nightly job: sweep, benchmarks, report, history, and the regression gate.

:func:`run_nightly` runs the sweep (``configs/nightly.toml``), the benchmarks
(pytest-benchmark, JSON), writes the HTML report to ``reports/nightly/<date>/`` and
``reports/latest/`` (compared with the baseline, with a History page), appends the
run's tracked figures to ``reports/history.jsonl``, and compares them with the baseline
committed in the repository (``reports/baseline/<sweep>.json``: a digest,
:func:`harness.report.compare.digest`, written only by ``harness baseline update``). It returns
the changes; the command exits 1 when any is a regression, with a readable summary:

* numerical: a failure point moved to smaller n beyond the baseline's range, an error
  quantile grew by more than its tolerance, an exact-reference figure changed;
* performance: a benchmark ratio (time over its same-run reference) worse by more than
  ``bench_factor`` (ratios, not seconds, because machines differ).

A benchmark target missed (an assertion in ``benchmarks/``) is reported, but only a
regression against the baseline fails the gate.
"""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys
from pathlib import Path

from ..core.errors import HarnessError
from ..sweep.axes import SERIES_AXES

__all__ = ["run_nightly", "gate", "update_baseline", "load_baseline", "append_history", "load_history",
           "summarize"]


def load_baseline(path) -> dict:
    p = Path(path)
    if p.is_dir():
        raise HarnessError(f"baseline {p} is a folder; name its digest file (e.g. {p}/nightly.json)")
    if not p.exists():
        raise HarnessError(f"no baseline at {p}; create one with 'harness baseline update RUN --to {p}'")
    try:
        d = json.loads(p.read_text())
    except ValueError as exc:
        raise HarnessError(f"{p}: not a digest (JSON): {exc}") from None
    from .compare import DIGEST_VERSION, upgrade_digest

    d = upgrade_digest(d) if isinstance(d, dict) else d
    if not isinstance(d, dict) or d.get("digest_version") != DIGEST_VERSION:
        raise HarnessError(f"{p}: digest version {d.get('digest_version') if isinstance(d, dict) else None}, "
                          f"this harness reads {DIGEST_VERSION}")
    return d


def update_baseline(run, to, bench=None) -> Path:
    """Write the digest of ``run`` (and benchmark JSON ``bench``) to ``to``: the committed baseline."""
    from .compare import digest
    from ..core.jsonio import json_safe
    from ..sweep.store import load_run

    from ..sweep.store import read_run_info

    d = digest(load_run(run), bench, info=read_run_info(run))
    d["source"] = {"run": Path(run).name, "bench": Path(bench).name if bench else None}
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text(json.dumps(json_safe(d), indent=1, sort_keys=True) + "\n")
    return to


def gate(run, baseline, bench=None) -> list:
    """Changes of ``run`` (with benchmark JSON ``bench``) against the baseline digest file."""
    from .compare import compare_digests, digest
    from ..sweep.store import load_run, read_run_info

    return compare_digests(digest(load_run(run), bench, info=read_run_info(run)), load_baseline(baseline))


def summarize(changes) -> str:
    """A readable summary: every regression and improvement, then the counts."""
    reg = [c for c in changes if c.verdict == "regression"]
    imp = [c for c in changes if c.verdict == "improvement"]
    lines = [f"REGRESSION  {c.kind}: {c.what}: {c.reason} (baseline {c.baseline}, now {c.current})" for c in reg]
    lines += [f"improvement {c.kind}: {c.what}: {c.reason}" for c in imp]
    notes = [c for c in changes if c.verdict == "note"]
    lines += [f"note        {c.kind}: {c.what}: {c.baseline} -> {c.current} ({c.reason})" for c in notes]
    judged = len(changes) - len(notes)
    lines.append(f"{len(reg)} regression(s), {len(imp)} improvement(s), "
                 f"{sum(c.verdict == 'same' for c in changes)} unchanged of {judged} tracked figures"
                 + (f"; {len(notes)} note(s)" + (" - compared across environments" if any(c.kind == "environment"
                                                                                       for c in notes) else "")
                    if notes else ""))
    return "\n".join(lines)


def _tracked(d: dict) -> dict:
    """Flat {figure: value} of a digest, for the history."""
    out = {}
    for r in d.get("failure_points", []):
        if r.get("first_fail_median") is not None:
            out["first failing n | " + " ".join(f"{k}={r[k]}" for k in SERIES_AXES)] = r["first_fail_median"]
    for r in d.get("error_quantiles", []):
        out[f"bits lost median | fmt={r['fmt']}"] = r["bits_lost_median"]
        out[f"bits lost p90 | fmt={r['fmt']}"] = r["bits_lost_p90"]
    for name, ratios in d.get("bench", {}).items():
        for k, v in ratios.items():
            out[f"bench {k} | {name}"] = v
    return out


def _tracked_search(recs) -> dict:
    """The headline's failure n per format and bias (a search that never failed: not tracked)."""
    return {f"failure n (search) | fmt={r['target']} bias={r['bias']}": r["n_fail"]
            for r in recs or [] if not r.get("skipped") and r.get("n_fail") is not None}


def append_history(path, run, d: dict, headline=None) -> None:
    from ..core.jsonio import json_safe
    from ..sweep.store import provenance

    prov = provenance()
    entry = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "run": Path(run).name,
             "git_commit": prov.get("git_commit"), "figures": {**_tracked(d), **_tracked_search(headline)}}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(json_safe(entry)) + "\n")


def load_history(path) -> list:
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise HarnessError(f"{p}: line {i} is not JSON") from None
    return out


def run_slow_tests(tests_dir="tests", quiet: bool = False) -> int:
    """The slow acceptance tests (``pytest -m slow`` on a checkout's ``tests/``: the float64 failure
    point among them); returns pytest's exit code."""
    tests = Path(tests_dir).resolve()
    if not tests.is_dir():
        raise HarnessError(f"no test folder {tests_dir} (run from a checkout, or give --no-slow)")
    cmd = [sys.executable, "-m", "pytest", str(tests), "-q", "-m", "slow", "-p", "no:cacheprovider",
           "--rootdir", str(tests.parent)]
    r = subprocess.run(cmd, cwd=tests.parent, capture_output=quiet, text=True)
    return r.returncode


def run_benchmarks(json_out: Path, bench_dir="benchmarks", quiet: bool = False) -> int:
    """Run the benchmark folder (a checkout's ``benchmarks/``) with pytest-benchmark, writing its
    JSON; returns pytest's exit code."""
    bench = Path(bench_dir).resolve()
    if not bench.is_dir():
        raise HarnessError(f"no benchmark folder {bench_dir} (run from a checkout, or give --bench-dir, "
                           "or --no-bench)")
    root = bench.parent
    cmd = [sys.executable, "-m", "pytest", str(bench), "-q", "-m", "slow or not slow", "-p", "no:cacheprovider",
           f"--benchmark-json={Path(json_out).resolve()}", "--benchmark-columns=min,rounds", "--rootdir", str(root)]
    r = subprocess.run(cmd, cwd=root, capture_output=quiet, text=True)
    return r.returncode


#: The nightly's framework crosscheck: the acceptance grid at fewer seeds (~30 s here).
NIGHTLY_CROSSCHECK = dict(d=3072, ns=(30, 100, 300, 1000), biases=("left", "midpoint"), seeds=6,
                          ariths=("bfloat16@float32", "float16@float32", "bfloat16", "float16"))
#: Committed framework references (e.g. a CUDA run) drawn beside the nightly's own.
REFERENCE_CROSSCHECKS = "reports/reference"


#: The nightly's user pipelines: the failure n of each stack on the Summary page, with the settings of
#: a plain `harness failure-point --pipeline ... --d 16` (the same seeds, the same numbers; ~10 s here).
NIGHTLY_PIPELINES = dict(names=("numpy", "torch", "harness", "harness-best"), targets=("float32", "bfloat16", "float16"),
                         d=16, seeds=8)


def nightly_pipelines(dated: Path, say) -> list:
    """The failure point of every user pipeline (records of ``pipeline_failures``), saved beside the report."""
    from ..analysis.failure import FailureConfig
    from ..analysis.pipelines import pipeline_failures
    from ..core.jsonio import to_json

    s = NIGHTLY_PIPELINES
    say("user pipelines' failure points")
    recs = pipeline_failures(s["names"], s["targets"], FailureConfig(d=s["d"], seeds=s["seeds"]))
    (dated / "pipelines.json").write_text(to_json({"config": FailureConfig(d=s["d"], seeds=s["seeds"]).to_dict(),
                                                   "pipelines": recs}) + "\n")
    return recs


#: The nightly's headline: the failure point of every format and bias strategy of the main slice (the
#: Summary's first chart), with the settings of a plain `harness failure-point --fmt F --bias B` (the
#: same seeds, the same numbers); float64 searches stop at n = 2^20 (--n-max 1048576), where they cost
#: ~30 s each here: beyond that is the float64 wall's own run.
NIGHTLY_HEADLINE = dict(formats=("float64", "float32", "tf32", "bfloat16", "float16", "float8_e4m3", "float8_e5m2"),
                        biases=("midpoint", "left", "fraction:0.25", "fraction:0.75", "random"), d=16, seeds=8,
                        n_max={"float64": 1 << 20})


def nightly_headline(dated: Path, say) -> list:
    """The records of ``failure_grid`` for NIGHTLY_HEADLINE, saved beside the report as headline.json
    (the JSON of ``harness failure-point --bias A,B,... --json``)."""
    from ..analysis.failure import FailureConfig, failure_grid
    from ..core.jsonio import to_json

    s = NIGHTLY_HEADLINE
    cfg = FailureConfig(d=s["d"], seeds=s["seeds"])
    recs = []
    for fmt in s["formats"]:
        say(f"headline failure points: {fmt} x {len(s['biases'])} bias strategies")
        recs += failure_grid([fmt], s["biases"], cfg, n_max=s["n_max"])
    (dated / "headline.json").write_text(to_json({"config": cfg.to_dict(), "records": recs}) + "\n")
    return recs


#: The nightly's precision curves (the Failure points page): for each bias strategy and n, the fewest
#: significand bits the whole construction needs and where they go (projection, build, forward pass),
#: with the settings of `harness precision --stages --n ... --bias B --seeds 3 --p-max 64`.
NIGHTLY_PRECISION = dict(ns=(2, 4, 8, 16, 32, 64, 128, 256, 512), biases=("midpoint", "left", "fraction:0.75", "random"),
                         d=16, seeds=3, p_max=64)


def nightly_precision(dated: Path, say) -> dict:
    """The :func:`harness.analysis.precision.stage_bits` records of NIGHTLY_PRECISION, saved beside the
    report as precision.json (the JSON of ``harness precision --stages --json``)."""
    from ..analysis.failure import FailureConfig
    from ..analysis.precision import stage_bits
    from ..core.jsonio import json_safe, to_json

    s = NIGHTLY_PRECISION
    recs = []
    for bias in s["biases"]:
        say(f"precision by stage: bias {bias}, n = {s['ns'][0]}..{s['ns'][-1]}")
        cfg = FailureConfig(d=s["d"], seeds=s["seeds"], bias=bias)
        recs += [json_safe(stage_bits(n, cfg, p_max=s["p_max"]).to_dict()) for n in s["ns"]]
    data = {"stages": recs}
    (dated / "precision.json").write_text(to_json(data) + "\n")
    return data


#: The nightly's locality runs (the Locality page): digits, true vs randomized labels, per configuration
#: the settings of `harness locality` (seeds 0..2; ~30 s here in all).
NIGHTLY_LOCALITY = (dict(data="digits", fmt="float64", bias="midpoint", seeds=3),
                    dict(data="digits", fmt="float64", bias="left", seeds=3),
                    dict(data="digits", fmt="float32", bias="midpoint", seeds=3))


def nightly_locality(dated: Path, say) -> list:
    """Every NIGHTLY_LOCALITY run's JSON (saved beside the report as locality-K.json)."""
    from ..analysis.locality import locality
    from ..core.jsonio import json_safe, to_json

    out = []
    for i, kw in enumerate(NIGHTLY_LOCALITY):
        say(f"locality {i + 1} of {len(NIGHTLY_LOCALITY)}: " + ", ".join(f"{k} {v}" for k, v in kw.items()))
        loc = json_safe(locality(**kw).to_dict())
        (dated / f"locality-{i}.json").write_text(to_json(loc) + "\n")
        out.append(loc)
    return out


def nightly_crosscheck(dated: Path, say) -> list:
    """Run the crosscheck where PyTorch is installed (its JSON into ``dated``); with the committed
    references, the crosschecks the report draws. Without torch: only the references, said."""
    from ..analysis.crosscheck import crosscheck
    from ..core.jsonio import to_json

    found = [str(p) for p in sorted(Path(REFERENCE_CROSSCHECKS).glob("crosscheck-*.json"))]
    try:
        import torch  # noqa: F401
    except ImportError:
        say("crosscheck skipped: PyTorch (the optional extra torch) is not installed")
        return found
    say("framework crosscheck (PyTorch CPU)")
    cc = crosscheck(**NIGHTLY_CROSSCHECK)
    path = dated / "crosscheck.json"
    path.write_text(to_json(cc.to_dict()) + "\n")
    return [str(path)] + [f for f in found if not f.endswith("crosscheck-cpu.json")]


def run_nightly(config="configs/nightly.toml", *, results="results", reports="reports", baseline=None,
                bench: bool = True, bench_dir="benchmarks", quiet: bool = False, workers=None,
                crosscheck: bool = True, pipelines: bool = True, locality: bool = True, slow: bool = False,
                headline: bool = True, precision: bool = True,
                tests_dir="tests"):
    """The whole nightly job; returns (run folder, report index, changes, benchmark exit code, slow-test
    exit code (None when not run))."""
    from .pages import build_report, publish
    from ..sweep.runner import run_sweep
    from ..sweep.sweepspec import load_sweep

    spec = load_sweep(config)
    say = (lambda m: None) if quiet else (lambda m: print(f"nightly: {m}", file=sys.stderr, flush=True))
    reports = Path(reports)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    dated = reports / spec.name / stamp
    dated.mkdir(parents=True, exist_ok=True)
    say(f"sweep {spec.path} ({len(spec.points())} points)")
    run = run_sweep(spec, results, workers=workers, progress=not quiet)
    bench_json, bench_code = None, None
    if bench:
        say("benchmarks")
        bench_json = dated / "benchmarks.json"
        bench_code = run_benchmarks(bench_json, bench_dir, quiet)
        if not bench_json.exists():
            bench_json = None
    from .compare import digest
    from ..core.jsonio import json_safe
    from ..sweep.store import load_run, read_run_info

    d = digest(load_run(run), bench_json, info=read_run_info(run))
    (dated / "digest.json").write_text(json.dumps(json_safe(d), indent=1, sort_keys=True))
    history = reports / f"history-{spec.name}.jsonl"
    changes, base = None, None
    if baseline is not None:
        from .compare import compare_digests

        base = load_baseline(baseline)
        changes = compare_digests(d, base)
    ccs = nightly_crosscheck(dated, say) if crosscheck else []
    heads = nightly_headline(dated, say) if headline else None
    append_history(history, run, d, heads)
    pipes = nightly_pipelines(dated, say) if pipelines else None
    prec = nightly_precision(dated, say) if precision else None
    locs = nightly_locality(dated, say) if locality else None
    slow_code = None
    if slow:
        say("slow acceptance tests (pytest -m slow)")
        slow_code = run_slow_tests(tests_dir, quiet)
    say("report")
    wall = Path(REFERENCE_CROSSCHECKS) / "wall-float64.json"  # committed: a long search (its time in the file)
    index = build_report(run, dated, baseline_digest=base, current_digest=d, history=load_history(history),
                         crosschecks=ccs, pipelines=pipes, localities=locs, headline=heads, precision=prec,
                         wall=wall if wall.exists() else None)
    publish(index, reports / "latest")
    return run, index, changes, bench_code, slow_code
