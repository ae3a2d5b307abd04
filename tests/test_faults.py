"""Fault tests (issue 14): a sweep killed with SIGKILL during consolidation and during the
run.json rewrite, a full disk, SIGTERM, and a Dask worker killed mid-point. Each ends with
every finished point present exactly once, the run readable, and (after --resume) complete
with the same values as an undisturbed run."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from _integrity import check_once, values as _values
from harness.sweep.runner import run_sweep
from harness.sweep.store import load_run, read_run_info
from harness.sweep.sweepspec import load_sweep

FAST = """
name = "faults"
seed = 5
seeds = 3
metrics = ["fit"]

[axes]
n = [8, 24]
d = [2]
fmt = ["float64", "float16"]
"""
#: Points of ~0.7 s each (n = 3000 with the solve metrics): long enough to be caught mid-run.
SLOW = """
name = "slow"
seed = 5
seeds = 4
metrics = ["fit", "solve"]
time_limit = 600

[axes]
n = [3000]
d = [8]
"""


def _spec(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p, load_sweep(p)


_once = check_once


def _temps(run):
    return [p for p in Path(run).rglob(".tmp-*")]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kw)


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    root = tmp_path_factory.mktemp("undisturbed")
    f, spec = _spec(root, FAST)
    return load_run(run_sweep(spec, root / "r", workers=1, progress=False))


#: Runs a sweep in its own process and SIGKILLs it at a chosen rename (os.replace) of the store.
KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from harness.sweep.runner import run_sweep
    from harness.sweep.sweepspec import load_sweep

    real = os.replace


    def replace(src, dst):
        if Path(dst).name == TARGET and MARKER.encode() in Path(src).read_bytes():
            os.kill(os.getpid(), signal.SIGKILL)  # between the complete temp file and its rename
        return real(src, dst)


    if __name__ == "__main__":  # (the spawned workers import this file too)
        sweep, out, TARGET, MARKER = sys.argv[1:5]
        os.replace = replace
        run_sweep(load_sweep(sweep), out, workers=1, progress=False)
""")


@pytest.mark.parametrize("target, marker", [("results.parquet", "harness"), ("run.json", '"status": "finished"')],
                         ids=["during-consolidation", "during-run.json-rewrite"])
def test_sigkill_then_resume_keeps_every_point_once(tmp_path, undisturbed, target, marker):
    f, spec = _spec(tmp_path, FAST)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    r = subprocess.run([sys.executable, str(script), str(f), str(tmp_path / "out"), target, marker],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr
    (run,) = list((tmp_path / "out").iterdir())
    info = read_run_info(run)  # the old run.json is intact (the new one never replaced it)
    assert info["status"] == "running"
    assert _temps(run), "the killed writer's temp file should be there"
    if target == "results.parquet":
        assert not (run / "results.parquet").exists()
    _once(run, spec, reference=undisturbed)  # readable from its parts, every point once
    r = _cli("sweep", f, "--resume", run, "--workers", 1, "--quiet")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert read_run_info(run)["status"] == "finished" and not _temps(run)
    _once(run, spec, reference=undisturbed)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def test_full_disk_is_an_error_and_loses_nothing(tmp_path, undisturbed, monkeypatch):
    """A small tmpfs where mount is allowed (root); otherwise an ENOSPC injected into the
    consolidation (this process's writes)."""
    f, spec = _spec(tmp_path, FAST)
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, "160k")
    try:
        if mounted:
            r = _cli("sweep", f, "--out", disk, "--workers", 1, "--quiet")
            code, err = r.returncode, r.stderr
        else:
            import pyarrow.parquet as pq

            def full(*a, **k):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(a[1]))

            monkeypatch.setattr(pq, "write_table", full)
            from harness.cli import main
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stderr(buf):
                code = main(["sweep", str(f), "--out", str(disk), "--workers", "1", "--quiet"])
            err = buf.getvalue()
            monkeypatch.undo()
        assert code == 2 and "No space left on device" in err and "Traceback" not in err, err
        (run,) = list(disk.iterdir())
        assert not _temps(run), f"temp files left behind: {_temps(run)}"
        info = read_run_info(run)  # run.json intact
        assert info["status"] in ("running", "interrupted")
        kept = _once(run, spec, complete=False, reference=undisturbed)
        moved = tmp_path / "moved"
        subprocess.run(["cp", "-a", str(run), str(moved)], check=True)  # the user frees space (a bigger disk)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)
    r = _cli("sweep", f, "--resume", moved, "--workers", 1, "--quiet")
    assert r.returncode == 0, r.stderr
    df = _once(moved, spec, reference=undisturbed)
    assert set(kept["key"]) <= set(df["key"])


def _wait_for_parts(run_root: Path, k: int, proc, limit=300.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and proc.poll() is None:
        parts = [p for p in run_root.glob("*/parts/*.parquet") if not p.name.startswith(".tmp-")]
        if len(parts) >= k:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {k} parts after {limit} s (exit {proc.poll()})")


def test_sigterm_marks_the_run_interrupted_and_resume_completes(tmp_path):
    f, spec = _spec(tmp_path, SLOW.replace("seeds = 4", "seeds = 12"))  # SIGTERM lands after the first of 12
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "sweep", str(f), "--out", str(out), "--workers", "1",
                             "--quiet"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _wait_for_parts(out, 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    (run,) = list(out.iterdir())
    info = read_run_info(run)
    assert info["status"] == "interrupted" and info["history"][-1].get("signal") == "SIGTERM"
    first = _once(run, spec, complete=False)
    assert 1 <= len(first) < len(spec.points())
    r = _cli("sweep", f, "--resume", run, "--workers", 1, "--quiet")
    assert r.returncode == 0, r.stderr
    df = _once(run, spec)
    pd.testing.assert_frame_equal(_values(df[df["key"].isin(first["key"])]), _values(first))


def _dask_kill_mid_point(tmp_path, allowed_failures):
    import dask
    from distributed import Client, LocalCluster

    f, spec = _spec(tmp_path, SLOW)
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    client = Client(cluster)
    box = {}

    def sweep():
        try:
            box["run"] = run_sweep(spec, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False)
        except BaseException as exc:  # reported by the test
            box["error"] = exc

    t = threading.Thread(target=sweep)
    t.start()
    try:
        killed = None
        t0 = time.monotonic()
        while killed is None and time.monotonic() - t0 < 300:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:  # at once: every task the worker holds when it dies counts (no timing guess)
                pids = client.run(os.getpid)
                w = next(iter(busy))
                killed = set(busy[w])  # the running task and those queued on that worker
                os.kill(pids[w], signal.SIGKILL)
            time.sleep(0.02)
        assert killed is not None, "no task was ever running"
        t.join(timeout=600)
        assert not t.is_alive()
    finally:
        client.close()
        cluster.close()
    assert "error" not in box, repr(box.get("error"))
    return spec, box["run"], killed


@pytest.mark.slow
def test_dask_worker_killed_mid_point_is_retried(tmp_path):
    spec, run, killed = _dask_kill_mid_point(tmp_path, allowed_failures=3)
    df = _once(run, spec)
    assert (df["status"] == "ok").all(), df[["key", "status", "message"]]


def test_dask_worker_killed_past_retries_gives_an_error_row(tmp_path):
    spec, run, killed = _dask_kill_mid_point(tmp_path, allowed_failures=0)
    df = _once(run, spec)
    bad = df[df["status"] != "ok"]  # Dask fails every task the dead worker held
    assert len(bad) >= 1 and (bad["status"] == "error").all(), df[["key", "status", "message"]]
    assert bad["message"].str.contains("KilledWorker").all()
    assert {f"harness-{i}" for i in bad["file_id"]} & killed, "the task that was running is not an error row"
    assert read_run_info(run)["status"] == "finished"


def test_dask_time_limit_is_recorded_as_locally(tmp_path):
    """A point past time_limit is 'timeout' on both backends (locally stopped; on Dask its values
    discarded): the rows agree on status and failure."""
    # a point of ~5 s here (n = 20,000 with the solve metrics) against a 0.1 s limit: a 50x margin
    f, spec = _spec(tmp_path, SLOW.replace("time_limit = 600", "time_limit = 0.1").replace("seeds = 4", "seeds = 1")
                    .replace("n = [3000]", "n = [20000]"))
    local = load_run(run_sweep(spec, tmp_path / "local", workers=1, progress=False))
    dask_rows = load_run(run_sweep(spec, tmp_path / "dask", scheduler="local", workers=1, progress=False))
    assert (local["status"] == "timeout").all() and (dask_rows["status"] == "timeout").all()
    cols = ["key", "status", "failure", "seed"]
    pd.testing.assert_frame_equal(local[cols].reset_index(drop=True), dask_rows[cols].reset_index(drop=True))
    assert set(local.columns) == set(dask_rows.columns)
    (run,) = list((tmp_path / "dask").iterdir())
    assert read_run_info(run)["status"] == "finished"
