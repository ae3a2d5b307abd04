"""The results store: one folder per run, one Parquet file per finished point.

::

    results/<name>-<UTC time>/
        run.json            the sweep (text and hash), provenance, progress; rewritten atomically
        parts/<id>.parquet  one row per point, written to a temp file and renamed: a point
                            is finished exactly when its file exists, so a killed run
                            loses nothing finished, and --resume reruns only what is missing
        results.parquet     every row, consolidated when the run ends (provenance in the
                            Parquet metadata under b"harness"); pandas.read_parquet reads it
        parts/rejected/     parts that failed verification, moved aside (never deleted)
        .lock               held (flock) by the one process writing the run

A part is trusted only once verified (:func:`verify_parts`): it must be a readable one-row
Parquet file of this row schema, its key must hash to its file name, it must carry this
run's sweep hash, and its point must belong to the run's sweep. A part that fails is moved
to ``parts/rejected/`` with a warning and, on ``--resume``, recomputed; consolidation reads
verified parts only, so a corrupt or foreign file never makes a readable run unreadable.

:func:`load_run` returns a run's rows as a pandas DataFrame (consolidating the parts if
the run has not ended). Rows carry the point's configuration, ``status`` (``ok``,
``error``, ``timeout``, ``skipped: memory``), ``failure`` (``collision`` / ``overflow``
when the format defeated the construction: a result, not an error), the metrics and
timings.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import HarnessError

__all__ = ["RUN_FORMAT_VERSION", "ROW_SCHEMA_VERSION", "new_run", "write_part", "finished_ids", "consolidate",
           "load_run", "list_runs", "read_run_info", "provenance", "find_resumable", "verify_parts", "run_lock",
           "RunWarning"]


class RunWarning(UserWarning):
    """Something in a run folder was not as written (a rejected part); the CLI prints it as
    ``harness: warning: ...``."""

#: Version of the run-folder layout and run.json (bump on change; history below).
#: 1: first layout (run.json, parts/, results.parquet).
RUN_FORMAT_VERSION = 1
#: Version of the row columns (bump when a column changes meaning).
ROW_SCHEMA_VERSION = 1


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename: a reader sees the old file
    or the new one, never a part; a failed write (a full disk) leaves the old file and no temp."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, obj) -> None:
    from ..core.jsonio import json_safe

    _atomic_write_bytes(path, json.dumps(json_safe(obj), indent=2).encode())


def read_run_info(run) -> dict:
    p = Path(run) / "run.json"
    if not p.exists():
        raise HarnessError(f"{run}: not a run folder (no run.json)")
    try:
        info = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{p}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(info, dict):
        raise HarnessError(f"{p}: not a run description (a JSON object), got a JSON {type(info).__name__}")
    return info


def _git(*args):
    here = Path(__file__).resolve().parent
    try:
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(backend: str = "", workers: int = 0) -> dict:
    """Where and with what a run was made."""
    from importlib import metadata

    from .. import __version__

    def ver(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    try:
        import mpmath.libmp

        mp_backend = mpmath.libmp.BACKEND
    except ImportError:  # pragma: no cover
        mp_backend = None
    commit = _git("rev-parse", "HEAD")
    try:  # the BLAS numpy and SciPy call (its kernels round differently on another CPU or version)
        import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
        from threadpoolctl import threadpool_info

        blas = sorted({f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or '?'})"
                       for i in threadpool_info() if i.get("user_api") == "blas"})
    except Exception:  # pragma: no cover - provenance never fails a run
        blas = []
    return {
        "harness": __version__, "git_commit": commit or None,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None,
        "packages": {p: ver(p) for p in ("numpy", "numba", "llvmlite", "mpmath", "gmpy2", "python-flint", "scipy", "ml_dtypes",
                                         "pyarrow", "pandas", "dask", "distributed")},
        "mpmath_backend": mp_backend, "python": platform.python_version(), "cpu": cpu, "blas": ", ".join(blas),
        "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "backend": backend, "workers": workers,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_format_version": RUN_FORMAT_VERSION, "row_schema_version": ROW_SCHEMA_VERSION,
    }


def new_run(out, spec, points_total: int, backend: str, workers: int) -> Path:
    """Create a run folder for ``spec`` under ``out`` and its run.json."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(out)
    run = out / f"{spec.name}-{stamp}"
    k = 1
    while run.exists():
        k += 1
        run = out / f"{spec.name}-{stamp}-{k}"
    (run / "parts").mkdir(parents=True)
    _write_json(run / "run.json", {
        "name": spec.name, "sweep": {"path": spec.path, "sha256": spec.sha256, "text": spec.source},
        "points_total": points_total, "status": "running", "provenance": provenance(backend, workers),
        "history": [{"event": "started", "at": _now()}],
    })
    return run


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def note_event(run, event: str, **extra) -> None:
    info = read_run_info(run)
    info.setdefault("history", []).append({"event": event, "at": _now(), **extra})
    if event in ("finished", "interrupted"):
        info["status"] = event
    if event == "resumed":
        info["status"] = "running"
    _write_json(Path(run) / "run.json", info)


def write_part(run, file_id: str, row: dict, sweep_sha256: str) -> None:
    """One point's row, written atomically to parts/<file_id>.parquet, stamped with its sweep's
    hash (what :func:`verify_parts` checks)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{**row, "sweep_sha256": sweep_sha256}])
    path = Path(run) / "parts" / f"{file_id}.parquet"
    tmp = path.with_name(f".tmp-{file_id}-{os.getpid()}.parquet")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _part_files(run) -> list:
    return sorted(p for p in (Path(run) / "parts").glob("*.parquet") if not p.name.startswith(".tmp-"))


def finished_ids(run) -> set:
    """File ids of the points whose row is on disk (temp files of killed writers are ignored;
    :func:`verify_parts` first where the files may not be what was written)."""
    return {p.stem for p in _part_files(run)}


def _expected_ids(info: dict):
    """The file ids of the run's sweep points (from the sweep text in run.json), or None."""
    from .sweepspec import parse_sweep

    text = (info.get("sweep") or {}).get("text")
    if not isinstance(text, str):
        return None
    try:
        return {p.file_id for p in parse_sweep(text, "run.json sweep").points()}
    except HarnessError:  # a sweep this version no longer reads: hash and key checks still hold
        return None


def _check_part(path: Path, table, sha: str | None, expected) -> str:
    """Why the part at ``path`` is not this run's row for its file name ('' when it is)."""
    if table.num_rows != 1:
        return f"holds {table.num_rows} rows, not 1"
    cols = set(table.column_names)
    for c in ("key", "file_id", "schema_version"):
        if c not in cols:
            return f"has no {c!r} column"
    row = {c: table.column(c)[0].as_py() for c in ("key", "file_id", "schema_version")}
    if row["schema_version"] != ROW_SCHEMA_VERSION:
        return f"row schema {row['schema_version']!r}, this harness writes {ROW_SCHEMA_VERSION}"
    key = row["key"]
    if not isinstance(key, str) or hashlib.sha256(key.encode()).hexdigest()[:24] != path.stem:
        return f"holds the row of another point ({key!r})"
    if row["file_id"] != path.stem:
        return f"its file_id {row['file_id']!r} is not its file name"
    if sha is not None:
        if "sweep_sha256" not in cols:
            return "carries no sweep hash"
        got = table.column("sweep_sha256")[0].as_py()
        if got != sha:
            return f"belongs to another sweep (sha256 {str(got)[:12]}, this run's {sha[:12]})"
    if expected is not None and path.stem not in expected:
        return f"point {key!r} is not in this run's sweep"
    return ""


def verify_parts(run, move: bool = True):
    """(verified tables by file id, [(file, reason)] rejected). ``move``: rejected parts go to
    ``parts/rejected/`` (kept, never deleted) so that ``--resume`` recomputes their points;
    a warning names each."""
    import pyarrow.parquet as pq

    run = Path(run)
    info = read_run_info(run)
    sha = (info.get("sweep") or {}).get("sha256")
    expected = _expected_ids(info)
    good, bad = {}, []
    for f in _part_files(run):
        try:
            table = pq.read_table(f)
            why = _check_part(f, table, sha, expected)
        except Exception as exc:  # truncated, garbage, not Parquet: pyarrow raises several kinds
            table, why = None, f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"
        if not why:
            good[f.stem] = table
            continue
        bad.append((f, why))
        msg = f"{f}: rejected: {why}"
        if move:
            dest = run / "parts" / "rejected"
            dest.mkdir(exist_ok=True)
            target = dest / f.name
            k = 1
            while target.exists():
                k += 1
                target = dest / f"{f.stem}-{k}.parquet"
            os.replace(f, target)
            msg += f"; moved to {target.relative_to(run)}, its point will be recomputed on --resume"
        warnings.warn(msg, RunWarning, stacklevel=2)
    return good, bad


def _read_parts(run, move: bool = False):
    import pyarrow as pa

    good, _ = verify_parts(run, move=move)
    if not good:
        return None
    tables = [good[k] for k in sorted(good)]
    return pa.concat_tables(tables, promote_options="default")


def consolidate(run) -> Path | None:
    """Write results.parquet from the verified parts (sorted by point key), provenance in its
    metadata; rejected parts are moved aside first."""
    import pyarrow.parquet as pq

    table = _read_parts(run, move=True)
    if table is None:
        return None
    table = table.sort_by("key")
    info = read_run_info(run)
    meta = dict(table.schema.metadata or {})
    meta[b"harness"] = json.dumps({"name": info.get("name"), "sweep": info.get("sweep"),
                                   "provenance": info.get("provenance")}).encode()
    table = table.replace_schema_metadata(meta)
    path = Path(run) / "results.parquet"
    tmp = path.with_name(f".tmp-results-{os.getpid()}.parquet")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def run_lock(run):
    """Hold the run's lock (``.lock``, flock) while writing it: a second process resuming the
    same run gets a HarnessError naming the holder instead of duplicated work."""
    import fcntl

    path = Path(run) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise HarnessError(f"{run} is being written by another process (pid {holder}); wait for it to end "
                               "or stop it, then --resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def load_run(run):
    """A run's rows as a pandas DataFrame (the folder, or a results.parquet path). Rows of runs
    made before an axis existed get that axis's default (the value they were computed at)."""
    import pandas as pd

    run = Path(run)
    if run.is_file():
        return _with_axes(pd.read_parquet(run))
    info = read_run_info(run)
    done = finished_ids(run)
    res = run / "results.parquet"
    if res.exists() and info.get("status") == "finished":
        try:
            df = pd.read_parquet(res)
        except Exception as exc:  # a damaged results file: the parts still hold every row
            warnings.warn(f"{res}: unreadable ({type(exc).__name__}); reading the parts", RunWarning, stacklevel=2)
            df = None
        if df is not None and len(df) == len(done):
            return _with_axes(df)
    table = _read_parts(run)
    if table is None:
        raise HarnessError(f"{run}: no finished points yet")
    return _with_axes(table.sort_by("key").to_pandas())


def _with_axes(df):
    from .axes import DEFAULTS

    missing = {a: v for a, v in DEFAULTS.items() if a not in df.columns}
    return df.assign(**missing) if missing else df


def list_runs(out) -> list:
    """[(folder, run.json dict, finished points)] under ``out``, newest first."""
    out = Path(out)
    if not out.is_dir():
        return []
    runs = []
    for d in sorted(out.iterdir(), reverse=True):
        if (d / "run.json").exists():
            try:
                info = read_run_info(d)
            except HarnessError as exc:  # listed as such: one bad folder does not hide the others
                info = {"status": "unreadable", "error": str(exc)}
            try:
                done = len(finished_ids(d)) if (d / "parts").is_dir() else 0
            except OSError:
                done = 0
            runs.append((d, info, done))
    return runs


def find_resumable(out, spec) -> Path | None:
    """The newest unfinished run of the same sweep (name and file hash) under ``out``."""
    for d, info, done in list_runs(out):
        if (info.get("name") == spec.name and info.get("sweep", {}).get("sha256") == spec.sha256
                and done < info.get("points_total", 0)):
            return d
    return None
