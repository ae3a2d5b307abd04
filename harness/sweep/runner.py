"""Running a sweep: every point computed once, on local processes or a Dask cluster.

:func:`compute_row` turns one point into one row and never raises: a point whose format
defeats the construction is a result (``failure`` = ``collision`` / ``overflow`` /
``misfit``); a point that raises is recorded as ``status = error`` with its message;
one whose memory estimate exceeds the sweep's budget as ``skipped: memory``.

Backends (the same rows bit for bit, timings aside — every point is seeded by its key):

local (default)
    persistent worker processes (``spawn``: Numba's cached kernels load once per worker),
    one point at a time each; a point past the sweep's ``time_limit`` has its worker
    killed and replaced and is recorded as ``timeout``; a worker that dies (out of memory,
    a crash) is replaced and its point recorded as ``error``.
dask
    ``scheduler="tcp://HOST:PORT"`` connects to a running cluster; ``scheduler="local"``
    starts a LocalCluster on loopback. Workers return rows to this process, which writes
    them, so no shared file system is needed. A point that ran past ``time_limit`` is
    recorded ``timeout`` as locally (its values discarded; Dask cannot stop a running task,
    so the limit is applied to the measured time); a point whose worker died past Dask's
    retries (``KilledWorker``) is recorded ``error`` as locally. The connection is made before
    the run folder, so an unreachable scheduler leaves nothing behind.

A sweep above :data:`CONFIRM_POINTS` points runs only when confirmed (``yes=True``, the
CLI's ``--yes``); above :data:`MAX_POINTS` it is refused (split it into several files).
SIGTERM is handled as SIGINT: the run is marked ``interrupted`` and keeps every finished
point. One process at a time writes a run (:func:`harness.sweep.store.run_lock`).

Rows are written as they arrive (:mod:`harness.sweep.store`), so an interrupted run keeps every
finished point and ``resume`` recomputes only the missing ones.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque

from ..core.errors import CollisionError, FormatOverflowError, HarnessError, Terminated
from .sweepspec import Point

__all__ = ["compute_row", "memory_estimate", "run_sweep", "SWEEP_COND_LIMITS", "ROUNDING_LEVEL_COLUMNS",
           "CONFIRM_POINTS", "MAX_POINTS"]

#: A sweep with more points than this needs confirmation (--yes): a typo guard.
CONFIRM_POINTS = 20_000
#: A sweep with more points than this is refused: its point list alone would not fit.
MAX_POINTS = 5_000_000
#: Seconds to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = 20

#: Columns reproducible only to rounding, not bit for bit, across processes: LAPACK's
#: xTRCON sums with OpenBLAS SIMD kernels over work arrays that SciPy allocates at
#: addresses we do not control, and the summation order follows the address. Their
#: values agree to gamma_n relative (last bits); every other column is bit-identical.
ROUNDING_LEVEL_COLUMNS = ("cond_log2_cond1_lapack", "cond_log2_condinf_lapack")

#: Condition methods' size limits inside sweeps (exact ~0.3 s at 128; LAPACK 128 MiB at 4096).
SWEEP_COND_LIMITS = {"exact_max_n": 128, "lapack_max_n": 4096}
#: Analysis fields renamed or dropped in rows (the point's own columns say the same).
_RENAME = {"n": "net_n", "d": "net_d", "time_total": "time_analyze"}
_DROP = {"fmt", "direction", "bias", "solver", "rounding", "seed", "schema_version", "arith"}


def memory_estimate(p: Point, metrics) -> int:
    """Bytes one point may need (an upper-side estimate, for the sweep's memory budget)."""
    from ..build.data import native_dim

    from ..build.problems import streams
    from ..build.streams import BLOCK_BYTES

    d = native_dim(p.data) or p.d
    # a streamed X (harness.build.problems.streams) holds a block or two of rows, not n x d
    b = (4 * BLOCK_BYTES if streams(p.n, d, p.data) else p.n * d * 8 * 4) + p.n * 8 * 40
    if p.solver == "lapack":
        b += 2 * p.n * p.n * 8
    if "conditioning" in metrics and p.n <= SWEEP_COND_LIMITS["lapack_max_n"]:
        b += 2 * p.n * p.n * 8
    if "solve" in metrics:
        b += min(p.n, 50_000) * 4096
    if p.evaluator == "dense":
        b += 256 * 2**20 + p.n * d * 8
    return int(b)


def compute_row(point: dict, metrics=("fit",), memory_limit_gb: float = math.inf) -> dict:
    """One point's row (see the module docstring); never raises.

    BLAS and LAPACK run single-threaded inside (threadpoolctl): a blocked LAPACK routine
    rounds differently with another thread count, and rows must not depend on where they
    were computed (Dask workers default to one thread, local processes would not).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _compute_row(point, metrics, memory_limit_gb)


def _compute_row(point: dict, metrics, memory_limit_gb) -> dict:
    from ..analysis.failure import ROW_CRITERIA, built_trial, failed_trial, first_failure, judge
    from ..analysis.metrics import analyze
    from ..build.construction import construct
    from ..build.problems import make_problem
    from .store import ROW_SCHEMA_VERSION

    p = Point(**point)
    t0 = time.perf_counter()
    row = {"key": p.key, "file_id": p.file_id, **p.to_dict(), "status": "ok", "failure": "", "message": "",
           "schema_version": ROW_SCHEMA_VERSION}
    est = memory_estimate(p, metrics)
    row["memory_estimate_gb"] = est / 2**30
    if est > memory_limit_gb * 2**30:
        row.update(status="skipped: memory", message=f"estimated {est / 2**30:.1f} GiB > the sweep's "
                                                      f"memory_limit_gb = {memory_limit_gb:g}")
        row["time_point"] = time.perf_counter() - t0
        return row
    try:
        X, y = make_problem(p.n, p.d, p.data, p.labels, direction=p.direction, fmt=p.fmt, rounding=p.rounding,
                            seed=p.seed, stream=None)
        t1 = time.perf_counter()
        net = construct(X, y, direction=p.direction, bias=p.bias, fmt=p.fmt, solver=p.solver, seed=p.seed,
                        rounding=p.rounding)
        row["time_construct"] = time.perf_counter() - t1
        methods = ("structured", "estimate", "exact", "lapack") if "conditioning" in metrics else ()
        a = analyze(net, X, y, evaluators=(p.evaluator,), check="solve" in metrics, cond_methods=methods,
                    cond_limits=SWEEP_COND_LIMITS)
        for k, v in a.to_row().items():
            if k not in _DROP:
                row[_RENAME.get(k, k)] = v
        seen = a.outcome
        if p.deploy != "none":  # the user's deployment: its outcome decides the row's failure
            from ..analysis.metrics import ANALYZE_EVAL_BUDGET
            from ..analysis.outcome import evaluate_training

            t2 = time.perf_counter()
            seen = evaluate_training(net, X, y, evaluator=p.evaluator, fmt=p.deploy, budget=ANALYZE_EVAL_BUDGET)
            row.update(deploy_max_error=seen.max_error, deploy_fraction=seen.fraction,
                       time_deploy=time.perf_counter() - t2)
        row["failure"] = first_failure(judge(built_trial(net, seen, fmt=p.fmt, n=p.n, seconds=0.0), ROW_CRITERIA))
    except (CollisionError, FormatOverflowError) as exc:
        trial = judge(failed_trial(exc, fmt=p.fmt, n=p.n, seed=p.seed, seconds=0.0), ROW_CRITERIA)
        row.update(failure=first_failure(trial), message=str(exc))
    except HarnessError as exc:
        row.update(status="error", message=str(exc))
    except Exception as exc:  # a bug or a resource error: recorded, the sweep goes on
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
    row["time_point"] = time.perf_counter() - t0
    return row


def _limit_row(point: Point, status: str, message: str) -> dict:
    from .store import ROW_SCHEMA_VERSION

    return {"key": point.key, "file_id": point.file_id, **point.to_dict(), "status": status, "failure": "",
            "message": message, "schema_version": ROW_SCHEMA_VERSION}


_WARMUP = dict(n=8, d=2, data="uniform", labels="binary", direction="gaussian", bias="midpoint", fmt="float32",
               solver="recurrence", evaluator="sequential", rounding="nearest", deploy="float16@float32", seed_index=0,
               seed=0)


def _worker_main(conn, run_dir, metrics, memory_limit_gb, threads, sweep_sha256):
    """A local worker: compute points sent over ``conn`` and write their rows, until None."""
    from .store import write_part

    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # pragma: no cover - numba missing threads support
        pass
    # warm up (imports, Numba's cached or freshly compiled kernels) before taking points,
    # so that a point's time limit measures the point, not the worker's start
    compute_row(_WARMUP, metrics)
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            return
        row = compute_row(msg, metrics, memory_limit_gb)
        try:
            write_part(run_dir, row["file_id"], row, sweep_sha256)
        except OSError as exc:  # a full disk, a folder gone: the parent reports it (no traceback here)
            conn.send(("oserror", exc.errno, exc.strerror or str(exc), exc.filename))
            return
        conn.send(row["file_id"])


class _Worker:
    def __init__(self, ctx, run_dir, metrics, memory_limit_gb, threads, sweep_sha256):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, str(run_dir), tuple(metrics), memory_limit_gb,
                                                           threads, sweep_sha256), daemon=True)
        self.proc.start()
        child.close()
        self.point = None
        self.started = 0.0
        self.ready = False

    def give(self, point: Point):
        self.conn.send(point.to_dict())
        self.point, self.started = point, time.perf_counter()

    def stop(self):
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def _run_local(todo, run_dir, spec, workers, tick):
    import multiprocessing as mp

    from .store import write_part

    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    make = lambda: _Worker(ctx, run_dir, spec.metrics, spec.memory_limit_gb, threads, spec.sha256)  # noqa: E731
    pool = [make() for _ in range(min(workers, len(todo)))]
    queue = deque(todo)
    try:
        while queue or any(w.point is not None for w in pool):
            for i, w in enumerate(pool):
                if not w.ready:
                    if w.conn.poll():
                        try:
                            w.ready = w.conn.recv() == "ready"
                        except EOFError:
                            pass
                    if not w.ready and not w.proc.is_alive():
                        raise HarnessError(f"a sweep worker failed to start (exit code {w.proc.exitcode})")
                    continue
                if w.point is None:
                    if queue:
                        w.give(queue.popleft())
                    continue
                if w.conn.poll():
                    try:
                        got = w.conn.recv()
                    except EOFError:
                        got = None
                    if isinstance(got, tuple) and got[0] == "oserror":
                        raise OSError(*got[1:])
                    if got is not None:
                        w.point = None
                        tick()
                        continue
                elapsed = time.perf_counter() - w.started
                if not w.proc.is_alive() or elapsed > spec.time_limit:
                    p = w.point
                    if w.proc.is_alive():
                        w.proc.kill()
                        row = _limit_row(p, "timeout", f"stopped after {elapsed:.0f} s > the sweep's "
                                                       f"time_limit = {spec.time_limit:g} s")
                    else:
                        row = _limit_row(p, "error", f"worker died (exit code {w.proc.exitcode}) while computing "
                                                     "this point (out of memory?)")
                    w.proc.join()
                    row["time_point"] = elapsed
                    write_part(run_dir, p.file_id, row, spec.sha256)
                    tick()
                    pool[i] = make()
            time.sleep(0.01)
    finally:
        for w in pool:
            if w.point is not None and w.proc.is_alive():
                w.proc.kill()
            w.stop()


def _connect_dask(scheduler: str, workers: int):
    """(client, cluster or None) for ``scheduler``; a HarnessError naming the address when it is
    not one, cannot be reached, or does not speak Dask's protocol."""
    import re

    if scheduler == "local":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        return Client(cluster), cluster
    if not re.fullmatch(r"(tcp|tls|ucx|inproc)://[^\s/:]+(:\d{1,5})?/?", scheduler):
        raise HarnessError(f"--scheduler {scheduler!r}: not a Dask scheduler address; give tcp://HOST:PORT "
                           "(e.g. tcp://127.0.0.1:8786), or --dask local for a cluster on this machine")
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT}s"), None
    except (OSError, TimeoutError) as exc:
        raise HarnessError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    except Exception as exc:  # something else listens there (a web server: its bytes are no Dask frame)
        raise HarnessError(f"{scheduler} did not answer as a Dask scheduler ({type(exc).__name__}: "
                           f"{str(exc)[:160]})") from None


def _dask_row(fut, point: Point, spec) -> dict:
    """The row a finished future stands for, with the local backend's rules: past the time
    limit a timeout, a worker lost past Dask's retries an error."""
    try:
        row = fut.result()
    except Exception as exc:  # KilledWorker, a cancelled task, a worker-side failure
        return {**_limit_row(point, "error", f"worker died ({type(exc).__name__}: {str(exc)[:200]}) while "
                                            "computing this point (out of memory?)"), "time_point": float("nan")}
    t = row.get("time_point", 0.0)
    if row.get("status") == "ok" and t > spec.time_limit:
        return {**_limit_row(point, "timeout", f"ran {t:.0f} s > the sweep's time_limit = {spec.time_limit:g} s "
                                              "(Dask: its values are discarded, as a local worker is stopped)"),
                "time_point": t}
    return row


def _run_dask(todo, run_dir, spec, client, tick):
    from distributed import as_completed

    from .store import write_part

    by_key = {}
    futures = []
    for p in todo:
        fut = client.submit(compute_row, p.to_dict(), spec.metrics, spec.memory_limit_gb, pure=False,
                            key=f"harness-{p.file_id}")
        by_key[fut.key] = p
        futures.append(fut)
    for fut in as_completed(futures):
        p = by_key[fut.key]
        row = _dask_row(fut, p, spec)
        write_part(run_dir, p.file_id, row, spec.sha256)
        fut.release()
        tick()


def run_sweep(spec, out="results", *, resume=None, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, yes: bool = False) -> "os.PathLike":
    """Run (or resume) ``spec``; returns the run folder.

    ``resume``: None (a new run), True (the newest unfinished run of the same sweep file
    under ``out``) or a run folder. ``scheduler``: None (local processes), ``"local"`` (a
    Dask LocalCluster) or a Dask scheduler address. ``workers``: None for every core.
    ``yes``: run a sweep above :data:`CONFIRM_POINTS` points.
    """
    from pathlib import Path

    from .store import find_resumable, new_run, note_event, read_run_info, run_lock

    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise HarnessError(f"workers must be a whole number >= 1, got {workers!r} (leave it out for every core)")
    count = spec.count()
    if count > MAX_POINTS:
        raise HarnessError(f"{spec.path}: up to {count:,} points, more than {MAX_POINTS:,}; split the sweep into "
                           "several files")
    if count > CONFIRM_POINTS and not yes:
        raise HarnessError(f"{spec.path}: up to {count:,} points (more than {CONFIRM_POINTS:,}); if that is meant, "
                           "run it with --yes")
    points = spec.points()
    if not points:
        raise HarnessError(f"{spec.path}: the sweep has no points (everything excluded?)")
    backend = "local" if scheduler is None else ("dask-local" if scheduler == "local" else f"dask {scheduler}")
    if resume:
        run = find_resumable(out, spec) if resume is True else Path(resume)
        if run is None:
            raise HarnessError(f"no unfinished run of sweep {spec.name!r} (same file) under {out} to resume")
        info = read_run_info(run)
        if info.get("sweep", {}).get("sha256") != spec.sha256:
            raise HarnessError(f"{run} was made from a different sweep file; resume it with that file")
    client = cluster = None
    if scheduler is not None:  # connect first: an unreachable scheduler leaves no empty run behind
        client, cluster = _connect_dask(scheduler, workers)
    try:
        if resume:
            with run_lock(run):
                _clear_temps(run)
                note_event(run, "resumed", backend=backend)
                return _execute(run, spec, points, workers, client, progress)
        run = new_run(out, spec, len(points), backend, workers)
        with run_lock(run):
            return _execute(run, spec, points, workers, client, progress)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _clear_temps(run):
    from pathlib import Path

    for folder in (Path(run), Path(run) / "parts"):
        for tmp in folder.glob(".tmp-*"):  # left by a writer killed mid-write: never a finished row
            tmp.unlink(missing_ok=True)


def _execute(run, spec, points, workers, client, progress):
    import signal
    import threading

    from .store import consolidate, finished_ids, note_event, verify_parts

    verify_parts(run, move=True)  # a corrupt, swapped or foreign part is set aside and recomputed
    done = finished_ids(run)
    todo = [p for p in points if p.file_id not in done]
    bar = None
    if progress:
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread
        bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=spec.name, unit="pt", file=sys.stderr,
                   dynamic_ncols=True)
    tick = bar.update if bar is not None else (lambda k=1: None)

    def on_term(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() else None
    try:
        if todo:
            if client is None:
                _run_local(todo, run, spec, workers, tick)
            else:
                _run_dask(todo, run, spec, client, tick)
        consolidate(run)
    except KeyboardInterrupt:  # SIGINT, and SIGTERM (Terminated)
        note_event(run, "interrupted", signal="SIGTERM" if isinstance(sys.exc_info()[1], Terminated) else "SIGINT")
        raise
    except BaseException as exc:  # a full disk, a lost scheduler: the run stays readable and resumable
        try:
            note_event(run, "interrupted", reason=f"{type(exc).__name__}: {str(exc)[:200]}")
        except Exception:  # pragma: no cover - the disk that failed may refuse this too
            pass
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        if bar is not None:
            bar.close()
    note_event(run, "finished", points=len(finished_ids(run)))
    return run
