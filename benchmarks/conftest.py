"""Benchmark helpers: a reference timed in the same run, so targets are ratios, not seconds.

Run with ``tox -e bench`` (or ``pytest benchmarks``). Kernels are compiled before timing
(a warm-up call); cold-start compile time is recorded separately where it matters.
"""

import time

import pytest

#: Rounds of every benchmark that is cheap enough to repeat: each round's time is kept
#: (``samples_vs_*``), and the gate's Mann-Whitney test needs at least
#: harness.report.compare.TOLERANCES["bench_min_samples"] (5) of them in both runs to call a
#: change significant. Benchmarks of a minute or more run once and are judged by the factor alone.
ROUNDS = 5


def best_time(fn, repeat: int = 3) -> float:
    """Shortest wall time of ``repeat`` calls (the usual estimate of a reference's cost)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.fixture
def ratio(benchmark):
    """``ratio(reference_seconds, name)``: the benchmark's min time over the reference,
    recorded in extra_info with every round's time over it (``samples_vs_NAME``: what the
    gate's Mann-Whitney test compares); returns the ratio for the target assertion."""

    def record(ref_seconds: float, name: str) -> float:
        r = benchmark.stats.stats.min / ref_seconds
        benchmark.extra_info[f"ratio_vs_{name}"] = r
        benchmark.extra_info[f"{name}_seconds"] = ref_seconds
        benchmark.extra_info[f"samples_vs_{name}"] = [t / ref_seconds for t in benchmark.stats.stats.data]
        return r

    return record
