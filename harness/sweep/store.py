"""The results store: one folder per run, one Parquet file per finished point.

::

    results/<name>-<UTC time>/
        run.json            the sweep (text and hash), provenance, progress; rewritten atomically
        parts/<id>.parquet  one row per point, written to a temp file and renamed: a point
                            is finished exactly when its file exists, so a killed run
                            loses nothing finished, and --resume reruns only what is missing
        results.parquet     every row, consolidated when the run ends (provenance in the
                            Parquet metadata under b"harness"); pandas.read_parquet reads it

:func:`load_run` returns a run's rows as a pandas DataFrame (consolidating the parts if
the run has not ended). Rows carry the point's configuration, ``status`` (``ok``,
``error``, ``timeout``, ``skipped: memory``), ``failure`` (``collision`` / ``overflow``
when the format defeated the construction: a result, not an error), the metrics and
timings.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path

from ..core.errors import HarnessError

__all__ = ["RUN_FORMAT_VERSION", "ROW_SCHEMA_VERSION", "new_run", "write_part", "finished_ids", "consolidate",
           "load_run", "list_runs", "read_run_info", "provenance", "find_resumable"]

#: Version of the run-folder layout and run.json (bump on change; history below).
#: 1: first layout (run.json, parts/, results.parquet).
RUN_FORMAT_VERSION = 1
#: Version of the row columns (bump when a column changes meaning).
ROW_SCHEMA_VERSION = 1


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj) -> None:
    from ..core.jsonio import json_safe

    _atomic_write_bytes(path, json.dumps(json_safe(obj), indent=2).encode())


def read_run_info(run) -> dict:
    p = Path(run) / "run.json"
    if not p.exists():
        raise HarnessError(f"{run}: not a run folder (no run.json)")
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{p}: unreadable: {exc}") from None


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


def write_part(run, file_id: str, row: dict) -> None:
    """One point's row, written atomically to parts/<file_id>.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row])
    path = Path(run) / "parts" / f"{file_id}.parquet"
    tmp = path.with_name(f".tmp-{file_id}-{os.getpid()}.parquet")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def finished_ids(run) -> set:
    """File ids of the points whose row is on disk (temp files of killed writers are ignored)."""
    parts = Path(run) / "parts"
    return {p.stem for p in parts.glob("*.parquet") if not p.name.startswith(".tmp-")}


def _read_parts(run):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(p for p in (Path(run) / "parts").glob("*.parquet") if not p.name.startswith(".tmp-"))
    if not files:
        return None
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="default")


def consolidate(run) -> Path | None:
    """Write results.parquet from the parts (sorted by point key), provenance in its metadata."""
    import pyarrow.parquet as pq

    table = _read_parts(run)
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
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


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
        df = pd.read_parquet(res)
        if len(df) == len(done):
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
                runs.append((d, read_run_info(d), len(finished_ids(d))))
            except HarnessError:
                continue
    return runs


def find_resumable(out, spec) -> Path | None:
    """The newest unfinished run of the same sweep (name and file hash) under ``out``."""
    for d, info, done in list_runs(out):
        if (info.get("name") == spec.name and info.get("sweep", {}).get("sha256") == spec.sha256
                and done < info.get("points_total", 0)):
            return d
    return None
