"""Reliability: a tagged case table of mistakes and faults over the API, the CLI, input files,
sweep files, the store, the gate, reports and Dask (issue 14).

Every case asserts its exit code (CLI) or exception type (API), that the message names the
problem, and that no traceback reaches the user. Store and gate cases also assert row
integrity: every point exactly once, nothing foreign, the run still readable, and the values
of recomputed points bit-identical to the first run's.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

import harness
from _integrity import check_once
from conftest import small_sweep
from harness.build.datafiles import load_xy
from harness.cli import main
from harness.core.errors import HarnessError
from harness.sweep import runner
from harness.sweep.store import RunWarning, load_run, read_run_info, run_lock
from harness.sweep.sweepspec import load_sweep, parse_sweep

SWEEP = small_sweep("rel", 1)
#: The same points, another sweep seed: the same file ids, another sweep hash.
SWEEP_RESEEDED = SWEEP.replace("seed = 1", "seed = 2")
#: Another sweep (its own name), with points this sweep does not have.
SWEEP_OTHER = SWEEP.replace("n = [8, 24]", "n = [40]").replace('name = "rel"', 'name = "rel-other"')


# ---------------------------------------------------------------------------------------------
# helpers


def cli(*argv):
    """(exit code, stdout, stderr) of the command line, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always", RunWarning)
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def cli_proc(*argv, **kw):
    """(exit code, stdout, stderr) of ``python -m harness`` in its own process."""
    r = subprocess.run([sys.executable, "-m", "harness", *map(str, argv)], capture_output=True, text=True,
                       timeout=600, **kw)
    return r.returncode, r.stdout, r.stderr


def api(fn):
    """(exception type or None, message) of calling ``fn``."""
    try:
        fn()
    except Exception as exc:  # the case table checks the type
        return type(exc), str(exc)
    return None, ""


@dataclass
class Ctx:
    """One case's workspace: a private copy of the finished runs and their sweep files."""

    tmp: Path
    base: Path        # a finished run of SWEEP (the case's own copy)
    base_rows: pd.DataFrame
    reseeded: Path    # a finished run of SWEEP_RESEEDED
    other: Path       # a finished run of SWEEP_OTHER
    sweep: Path       # SWEEP's file
    spec: object

    def part(self, run, i=0) -> Path:
        return sorted((Path(run) / "parts").glob("*.parquet"))[i]

    def intact(self, run, complete=True):
        """Every point of the sweep at most once (exactly once if ``complete``), nothing foreign,
        the run readable, values equal to the first run's."""
        return check_once(run, self.spec, complete, reference=self.base_rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    made = {}
    for name, text in (("base", SWEEP), ("reseeded", SWEEP_RESEEDED), ("other", SWEEP_OTHER)):
        f = root / f"{name}.toml"
        f.write_text(text)
        made[name] = (f, runner.run_sweep(load_sweep(f), root / name, workers=1, progress=False))
    return root, made


@pytest.fixture
def ctx(runs, tmp_path):
    root, made = runs
    copies = {}
    for name, (f, run) in made.items():
        copies[name] = Path(shutil.copytree(run, tmp_path / name / Path(run).name))
        shutil.copy(f, tmp_path / f.name)
    spec = load_sweep(tmp_path / "base.toml")
    return Ctx(tmp_path, copies["base"], load_run(made["base"][1]), copies["reseeded"], copies["other"],
               tmp_path / "base.toml", spec)


def _write(ctx, name, text, mode="w"):
    p = ctx.tmp / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _csv(ctx, text, name="d.csv"):
    return _write(ctx, name, text)


def _sweepfile(ctx, text):
    return _write(ctx, "s.toml", text)


def _resume(ctx, run=None):
    return cli("sweep", ctx.sweep, "--out", ctx.tmp / "out", "--resume", run or ctx.base, "--workers", "1",
               "--quiet")


def _unfinish(run):
    """Mark a run interrupted (as a killed sweep leaves it)."""
    info = read_run_info(run)
    info["status"] = "interrupted"
    (Path(run) / "run.json").write_text(json.dumps(info))
    (Path(run) / "results.parquet").unlink(missing_ok=True)


X4 = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 0.25], [3.0, 2.0]])
Y4 = np.array([1.0, 0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------------------------
# store actions (each damages a copy of the finished run, then resumes or reads it)


def _truncated_part(ctx):
    p = ctx.part(ctx.base, 0)
    p.write_bytes(p.read_bytes()[:40])
    _unfinish(ctx.base)
    return _resume(ctx)


def _garbage_part(ctx):
    p = ctx.part(ctx.base, 1)
    p.write_bytes(os.urandom(3000))
    _unfinish(ctx.base)
    return _resume(ctx)


def _swapped_parts(ctx):
    a, b = ctx.part(ctx.base, 0), ctx.part(ctx.base, 1)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    _unfinish(ctx.base)
    return _resume(ctx)


def _copied_over_part(ctx):  # one point's row under another's name: a duplicate plus a missing point
    a, b = ctx.part(ctx.base, 0), ctx.part(ctx.base, 1)
    b.write_bytes(a.read_bytes())
    _unfinish(ctx.base)
    return _resume(ctx)


def _foreign_part_other_points(ctx):
    shutil.copy(ctx.part(ctx.other, 0), ctx.base / "parts")
    _unfinish(ctx.base)
    return _resume(ctx)


def _foreign_part_same_point(ctx):  # same file id, another sweep (hash)
    p = ctx.part(ctx.reseeded, 0)
    (ctx.base / "parts" / p.name).unlink()
    shutil.copy(p, ctx.base / "parts")
    _unfinish(ctx.base)
    return _resume(ctx)


def _consolidate_corrupt(ctx):  # reading a finished run whose part was damaged afterwards
    (ctx.base / "results.parquet").unlink()
    p = ctx.part(ctx.base, 2)
    p.write_bytes(b"PAR1" + b"\0" * 64)
    return cli("results", "show", ctx.base)


def _results_damaged(ctx):
    (ctx.base / "results.parquet").write_bytes(b"not parquet")
    return cli("results", "show", ctx.base)


def _stale_temps(ctx):
    (ctx.base / "parts" / ".tmp-abc-123.parquet").write_bytes(b"half a row")
    (ctx.base / ".tmp-run.json-123").write_text("{")
    ctx.part(ctx.base, 3).unlink()
    _unfinish(ctx.base)
    return _resume(ctx)


def _locked(ctx):
    _unfinish(ctx.base)
    with run_lock(ctx.base):  # another process writing it (flock: another open file description)
        return _resume(ctx)


def _resume_other_file(ctx):
    _unfinish(ctx.base)
    return cli("sweep", _sweepfile(ctx, SWEEP_RESEEDED), "--out", ctx.tmp / "out", "--resume", ctx.base,
               "--workers", "1", "--quiet")


def _run_json_list(ctx):
    (ctx.reseeded / "run.json").write_text("[1, 2, 3]")
    shutil.move(str(ctx.reseeded), str(ctx.base.parent / ctx.reseeded.name))
    code, out, err = cli("results", "list", "--out", ctx.base.parent)
    assert ctx.base.name in out and "unreadable" in out, out  # the other runs still listed
    return code, out, err


def _run_json_list_show(ctx):
    (ctx.base / "run.json").write_text('"a string"')
    return cli("results", "show", ctx.base)


def _run_json_garbage(ctx):
    (ctx.base / "run.json").write_text("{ not json")
    return cli("results", "show", ctx.base)


def _no_run_json(ctx):
    (ctx.base / "run.json").unlink()
    return cli("results", "show", ctx.base)


# ---------------------------------------------------------------------------------------------
# gate and report actions


def _baseline(ctx):
    path = ctx.tmp / "baseline.json"
    code, out, err = cli("baseline", "update", ctx.base, "--to", path)
    assert code == 0, err
    return path


def _gate_missing_rows(ctx):
    base = _baseline(ctx)
    for p in sorted((ctx.base / "parts").glob("*.parquet")):
        if pd.read_parquet(p)["fmt"][0] == "float16":
            p.unlink()  # every float16 row gone: its failure series must be named as missing
    _unfinish(ctx.base)
    return cli("gate", ctx.base, "--baseline", base)


def _gate_other_sweep(ctx):
    return cli("gate", ctx.other, "--baseline", _baseline(ctx))


def _gate_changed_file(ctx):  # same sweep name, another file (seeds changed): every figure looked for
    return cli("gate", ctx.reseeded, "--baseline", _baseline(ctx))


def _gate_not_json(ctx):
    return cli("gate", ctx.base, "--baseline", _write(ctx, "b.json", "{ nope"))


def _gate_wrong_version(ctx):
    d = json.loads(_baseline(ctx).read_text())
    d["digest_version"] = 99
    return cli("gate", ctx.base, "--baseline", _write(ctx, "b.json", json.dumps(d)))


def _gate_same(ctx):
    code, out, err = cli("gate", ctx.base, "--baseline", _baseline(ctx))
    assert "0 regression(s)" in out
    return code, out, err


def _report_other_baseline(ctx):
    return cli("report", ctx.base, "-o", ctx.tmp / "rep", "--baseline", ctx.other, "--quiet")


def _report_out_is_file(ctx):
    return cli("report", ctx.base, "-o", _write(ctx, "afile", "x"), "--quiet")


def _report_read_only(ctx):
    return cli("report", ctx.base, "-o", "/sys/harness-report", "--quiet")


def _report_bad_precision(ctx):
    return cli("report", ctx.base, "-o", ctx.tmp / "rep", "--precision", _write(ctx, "p.json", "[]"), "--quiet")


def _report_bad_headline(ctx):
    return cli("report", ctx.base, "-o", ctx.tmp / "rep", "--headline", _write(ctx, "h.json", "{ x"), "--quiet")


def _report_hostile_name(ctx):
    return cli("sweep", _sweepfile(ctx, SWEEP.replace('name = "rel"', 'name = ".."')), "--out", ctx.tmp / "o")


# ---------------------------------------------------------------------------------------------
# Dask actions


def _broken_pipe(ctx):
    """The reader of stdout goes away (| head): one line on stderr, exit 2, no traceback."""
    p = subprocess.Popen([sys.executable, "-m", "harness", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    return p.wait(timeout=120), "", err


def _no_run_left(ctx, out="o"):
    folder = ctx.tmp / out
    assert not folder.exists() or not any(folder.iterdir()), "an empty run folder was left behind"


def _dask(ctx, *args):
    code, out, err = cli("sweep", ctx.sweep, "--out", ctx.tmp / "o", "--quiet", *args)
    _no_run_left(ctx)
    return code, out, err


def _non_dask_listener(ctx):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            try:
                c.recv(1024)
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
            except OSError:
                pass
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        return _dask(ctx, "--scheduler", f"tcp://127.0.0.1:{srv.getsockname()[1]}")
    finally:
        srv.close()


def _closed_port(ctx, monkeypatch=None):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    old = runner.DASK_CONNECT_TIMEOUT
    runner.DASK_CONNECT_TIMEOUT = 3
    try:
        return _dask(ctx, "--scheduler", f"tcp://127.0.0.1:{port}")
    finally:
        runner.DASK_CONNECT_TIMEOUT = old


# ---------------------------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Case:
    tag: str                       # api, cli, files, sweepfile, store, gate, report, dask
    id: str
    act: Callable                  # act(ctx) -> (exit code or exception type, stdout, stderr) or (type, msg)
    expect: object                 # an exit code, or an exception type
    words: tuple                   # what the message must name
    after: Callable | None = None  # after(ctx): row integrity


def A(id, fn, words, expect=HarnessError):
    return Case("api", id, lambda ctx: api(lambda: fn(ctx)), expect, tuple(words))


def C(tag, id, act, code, words, after=None):
    return Case(tag, id, act, code, tuple(words), after)


def fitc(*args):
    return lambda ctx: cli("fit", "--quiet", *args)


def fit_file(maker, *args):
    return lambda ctx: cli("fit", "--quiet", "--input", maker(ctx), *args)


def sweepc(text):
    return lambda ctx: cli("sweep", _sweepfile(ctx, text), "--out", ctx.tmp / "o", "--quiet")


def _npy(ctx, arr, name="d.npy"):
    p = ctx.tmp / name
    np.save(p, arr)
    return p


def _sweep_axes(extra, top=""):
    return f'name = "x"\n{top}[axes]\n{extra}\n'


def _complete(ctx):
    ctx.intact(ctx.base)


def _partial(ctx):
    ctx.intact(ctx.base, complete=False)


def _rejected_kept(ctx):
    assert any((ctx.base / "parts" / "rejected").iterdir()), "the rejected part was deleted"
    ctx.intact(ctx.base)


CASES = [
    # --- API: refused with a HarnessError naming the value ---
    A("complex-X", lambda c: harness.construct(X4 + 1j, Y4), ["complex", "real"]),
    A("complex-y", lambda c: harness.construct(X4, Y4 + 0.5j), ["y is complex"]),
    A("complex-list", lambda c: harness.construct([[1 + 1j, 0], [2, 1]], [0, 1]), ["complex"]),
    A("longdouble-inexact", lambda c: harness.construct(np.array([[1, 2], [3, 4]], np.longdouble) / 3, [0, 1]),
      ["row 0, column 0", "not exactly a float64"]),
    A("int64-beyond-2^53", lambda c: harness.construct(np.array([[2**53 + 1, 0], [0, 1]], np.int64), [0, 1]),
      ["row 0, column 0", str(2**53 + 1), "2^53"]),
    A("uint64-beyond-2^53", lambda c: harness.construct(np.array([[1, 0], [2**64 - 1, 1]], np.uint64), [0, 1]),
      ["row 1, column 0", "2^53"]),
    A("int-y-beyond-2^53", lambda c: harness.construct(X4, np.array([0, 1, 2**60 + 1, 0], np.int64)),
      ["y row 2", "2^53"]),
    A("seed-negative", lambda c: harness.construct(X4, Y4, seed=-1), ["seed", "-1", "[0, 2^63)"]),
    A("seed-huge", lambda c: harness.construct(X4, Y4, seed=10**23), ["seed", str(10**23)]),
    A("seed-float", lambda c: harness.construct(X4, Y4, seed=1.5), ["seed", "1.5"]),
    A("seed-bool", lambda c: harness.construct(X4, Y4, seed=True), ["seed", "True"]),
    A("fit-X-without-y", lambda c: harness.fit(X=X4), ["labels y are required"]),
    A("best-of-too-many", lambda c: harness.construct(X4, Y4, direction="best-of:100000"), ["at most 4,096"]),
    A("classes-too-many", lambda c: harness.fit(100, 2, labels="classes:70000", check=False), ["at most 65,536"]),
    A("clusters-too-many", lambda c: harness.fit(100, 2, data="clustered:2000000", check=False),
      ["at most 1,048,576"]),
    A("memory-estimate", lambda c: harness.fit(10**12, 8), ["GiB of memory", "this machine has"]),
    A("workers-0", lambda c: runner.run_sweep(c.spec, c.tmp / "o", workers=0, progress=False), ["workers", "0"]),
    A("workers-negative", lambda c: runner.run_sweep(c.spec, c.tmp / "o", workers=-2, progress=False),
      ["workers", "-2"]),
    A("sweep-unconfirmed", lambda c: runner.run_sweep(
        parse_sweep(_sweep_axes("n = { log = [2, 100000], points = 200 }\nd = [1, 2, 3, 4, 5]", "seeds = 40\n")),
        c.tmp / "o", progress=False), ["--yes"]),
    A("labels-file-with-csv", lambda c: load_xy(_csv(c, "1,2,0\n"), "y.npy"),
      ["applies to a .npy"]),

    # --- CLI: exit 2, one line naming the problem ---
    C("cli", "fit-seed-negative", fitc("--n", 10, "--seed", -1), 2, ["seed", "-1"]),
    C("cli", "fit-seed-huge", fitc("--n", 10, "--seed", "99999999999999999999999"), 2,
      ["seed", "99999999999999999999999"]),
    C("cli", "fit-n-huge", fitc("--n", 10**12), 2, ["n = 1,000,000,000,000", "GiB of memory"]),
    C("cli", "fit-d-huge", fitc("--d", 10**7, "--stream", "no"), 2, ["d = 10,000,000", "GiB of memory"]),
    C("cli", "fit-d-huge-gaussian-data", fitc("--d", 10**7, "--data", "clustered:2"), 2,
      ["d = 10,000,000", "GiB of memory"]),  # a generator that cannot stream: the estimate holds X
    C("cli", "fit-classes-huge", fitc("--labels", f"classes:{10**8}"), 2, ["classes", "at most"]),
    C("cli", "fit-clusters-huge", fitc("--data", f"clustered:{10**9}"), 2, ["clustered", "at most"]),
    C("cli", "fit-best-of-huge", fitc("--direction", "best-of:1000000000"), 2, ["best-of", "at most 4,096"]),
    C("cli", "fit-export-missing-folder", lambda c: cli("fit", "--n", 10, "--quiet", "--export",
                                                        c.tmp / "nope" / "w.npz"), 2, ["nope", "No such file"]),
    C("cli", "sweep-workers-0", lambda c: cli("sweep", c.sweep, "--out", c.tmp / "o", "--workers", 0), 2,
      ["workers", "got 0"]),
    C("cli", "sweep-workers-negative", lambda c: cli("sweep", c.sweep, "--out", c.tmp / "o", "--workers", -3), 2,
      ["workers", "got -3"]),
    C("cli", "sweep-needs-yes", sweepc(_sweep_axes("n = { log = [2, 100000], points = 200 }\nd = [1, 2, 3]",
                                                   "seeds = 50\n")), 2, ["more than 20,000", "--yes"]),
    C("cli", "sweep-out-read-only", lambda c: cli("sweep", c.sweep, "--out", "/sys/harness-out", "--quiet"), 2,
      ["/sys/harness-out", "not permitted"]),
    C("cli", "sweep-out-is-a-file", lambda c: cli("sweep", c.sweep, "--out", _write(c, "f", "x"), "--quiet"), 2,
      ["f", "Not a directory"]),
    C("cli", "broken-pipe", _broken_pipe, 2, ["broken pipe"]),
    C("cli", "results-show-missing", lambda c: cli("results", "show", c.tmp / "none"), 2, ["no such run"]),
    C("cli", "results-export-missing-folder", lambda c: cli("results", "export", c.base, "--csv",
                                                            c.tmp / "no" / "x.csv"), 2, ["x.csv", "no such folder"]),
    C("cli", "results-show-bad-column", lambda c: cli("results", "show", c.base, "--columns", "n,colour"), 2,
      ["colour"]),
    C("cli", "dask-and-scheduler", lambda c: _dask(c, "--dask", "local", "--scheduler", "tcp://h:1"), 2,
      ["not both"]),

    # --- input files ---
    C("files", "csv-header-not-guessed", fit_file(lambda c: _csv(c, "a,b,label\n0,1,0\n1,0,1\n2,2,0\n")), 2,
      ["line 1, column 1", "'a'", "--header"]),
    C("files", "csv-nonnumeric-line", fit_file(lambda c: _csv(c, "0,1,0\n1,0,1\n2,x,0\n")), 2,
      ["line 3, column 2", "'x'"]),
    C("files", "csv-nan-line", fit_file(lambda c: _csv(c, "a,b,y\n0,1,0\n1,0,1\n2,nan,0\n"), "--header"), 2,
      ["line 4, column 2", "nan", "finite"]),
    C("files", "csv-ragged", fit_file(lambda c: _csv(c, "0,1,0\n1,0\n")), 2, ["line 2 has 2 columns", "expected 3"]),
    C("files", "csv-empty", fit_file(lambda c: _csv(c, "\n\n")), 2, ["no data rows"]),
    C("files", "csv-not-utf8", fit_file(lambda c: _write(c, "d.csv", b"0,1,0\n\xff\xfe,1,1\n", "wb")), 2,
      ["not UTF-8"]),
    C("files", "csv-dup-lines", fit_file(lambda c: _csv(c, "x,y,l\n0,1,0\n1,0,1\n0,1,1\n"), "--header"), 2,
      ["different labels", "lines 2 and 4"]),
    C("files", "npy-zero-bytes", fit_file(lambda c: _write(c, "d.npy", b"", "wb")), 2, ["empty file (0 bytes)"]),
    C("files", "npy-truncated", fit_file(lambda c: _write(c, "d.npy", _npy(c, np.ones((50, 3))).read_bytes()[:150],
                                                          "wb")), 2, ["d.npy", "cannot read"]),
    C("files", "npz-truncated", fit_file(lambda c: _write(c, "t.npz", (np.savez(c.tmp / "f.npz", X=X4, y=Y4),
                                                                       (c.tmp / "f.npz").read_bytes()[:200])[1],
                                                          "wb")), 2, ["t.npz", "cannot read"]),
    C("files", "npz-missing-y", fit_file(lambda c: (np.savez(c.tmp / "m.npz", X=X4), c.tmp / "m.npz")[1]), 2,
      ["missing ['y']"]),
    C("files", "labels-file-with-csv", fit_file(lambda c: _csv(c, "0,1,0\n1,0,1\n"), "--labels-file", "y.npy"), 2,
      ["--labels-file", "applies to a .npy"]),
    C("files", "labels-file-with-npz", fit_file(lambda c: (np.savez(c.tmp / "a.npz", X=X4, y=Y4), c.tmp / "a.npz")[1],
                                                "--labels-file", "y.npy"), 2, ["applies to a .npy", ".npz"]),
    C("files", "labels-file-missing", fit_file(lambda c: _npy(c, X4), "--labels-file", "/nonexistent/y.npy"), 2,
      ["--labels-file", "no such file"]),
    C("files", "labels-file-length", lambda c: cli("fit", "--quiet", "--input", _npy(c, X4), "--labels-file",
                                                   _npy(c, Y4[:3], "y.npy")), 2, ["3 labels for the 4 rows"]),
    C("files", "npy-complex", fit_file(lambda c: _npy(c, np.ones((4, 3)) * 1j)), 2, ["complex"]),
    C("files", "npy-object", fit_file(lambda c: _npy(c, np.array([[1, "a"], [2, "b"]], dtype=object))), 2,
      ["d.npy", "cannot read"]),
    C("files", "unknown-suffix", fit_file(lambda c: _write(c, "d.txt", "0,1,0\n")), 2, ["unknown file type '.txt'"]),
    C("files", "input-is-folder", lambda c: cli("fit", "--quiet", "--input", c.tmp), 2, ["a folder"]),
    C("files", "header-with-npy", fit_file(lambda c: _npy(c, np.ones((4, 3))), "--header"), 2,
      ["--header applies to .csv"]),

    # --- sweep files ---
    C("sweepfile", "exclude-wrong-case", sweepc(_sweep_axes('n = [16]\nfmt = ["float32", "float16"]') +
                                                '[[exclude]]\nfmt = "Float32"\n'), 2,
      ["exclude[0].fmt", "'Float32' matches no value", "'float32'"]),
    C("sweepfile", "exclude-n-as-text", sweepc(_sweep_axes("n = [16, 32]") + '[[exclude]]\nn = "16"\n'), 2,
      ["exclude[0].n", "'16' matches no value"]),
    C("sweepfile", "exclude-list-value", sweepc(_sweep_axes('n = [16]\nfmt = ["float32"]') +
                                                '[[exclude]]\nfmt = ["float32"]\n'), 2, ["one value per key"]),
    C("sweepfile", "exclude-n-above-text", sweepc(_sweep_axes("n = [16]") + '[[exclude]]\nn_above = "9"\n'), 2,
      ["exclude[0].n_above", "whole number"]),
    C("sweepfile", "axis-padded-name", sweepc(_sweep_axes('n = [16]\nfmt = ["float32", " float32"]')), 2,
      ["axes.fmt", "' float32'", "spaces"]),
    C("sweepfile", "axis-duplicate-name", sweepc(_sweep_axes('n = [16]\nfmt = ["float32", "float32"]')), 2,
      ["axes.fmt", "given twice"]),
    C("sweepfile", "axis-duplicate-n", sweepc(_sweep_axes("n = [16, 16]")), 2, ["axes.n", "16 is given twice"]),
    C("sweepfile", "n-huge", sweepc(_sweep_axes("n = [16, 99999999999999999999999]")), 2,
      ["axes.n", "too large", "2^53"]),
    C("sweepfile", "name-dotdot", sweepc('name = ".."\n[axes]\nn = [16]\n'), 2, ["name", "'..'"]),
    C("sweepfile", "name-path", sweepc('name = "../x"\n[axes]\nn = [16]\n'), 2, ["name", "'../x'"]),
    C("sweepfile", "name-hidden", sweepc('name = ".x"\n[axes]\nn = [16]\n'), 2, ["name", "'.x'"]),
    C("sweepfile", "description-number", sweepc('name = "x"\ndescription = 5\n[axes]\nn = [16]\n'), 2,
      ["description", "line 2", "string"]),
    C("sweepfile", "points-bool", sweepc(_sweep_axes("n = { log = [16, 64], points = true }")), 2,
      ["axes.n", "whole numbers"]),
    C("sweepfile", "log-bool", sweepc(_sweep_axes("n = { log = [true, 64] }")), 2, ["axes.n", "whole numbers"]),
    C("sweepfile", "seed-huge", sweepc('name = "x"\nseed = 9223372036854775807\nseeds = 1000000\n[axes]\nn = [4]\n'),
      2, ["seeds", "line 3"]),
    C("sweepfile", "n-bool", sweepc(_sweep_axes("n = [true]")), 2, ["axes.n", "True"]),
    C("sweepfile", "not-toml", sweepc('name = "x\n'), 2, ["s.toml", "not valid TOML"]),
    C("sweepfile", "missing-file", lambda c: cli("sweep", c.tmp / "none.toml"), 2, ["no such sweep file"]),
    C("sweepfile", "search-unknown-key", lambda c: cli("failure-point", "--config", _write(
        c, "w.toml", 'fmt = ["float64"]\nbias = ["left"]\nsize = 3\n')), 2, ["w.toml", "size", "unknown key"]),
    C("sweepfile", "search-wrong-type", lambda c: cli("failure-point", "--config", _write(
        c, "w.toml", 'fmt = ["float64"]\nbias = ["left"]\nseeds = "4"\n')), 2, ["w.toml", "seeds", "expected int"]),
    C("sweepfile", "search-no-bias", lambda c: cli("failure-point", "--config", _write(c, "w.toml", 'fmt = "float64"\n')),
      2, ["w.toml", "bias", "a list of names"]),
    C("sweepfile", "search-unknown-format", lambda c: cli("failure-point", "--config", _write(
        c, "w.toml", 'fmt = ["float99"]\nbias = ["left"]\n')), 2, ["unknown format 'float99'"]),

    # --- the store: damaged parts are set aside (kept) and recomputed; nothing foreign; readable ---
    C("store", "truncated-part", _truncated_part, 0, ["rejected", "unreadable", "recomputed"], _rejected_kept),
    C("store", "garbage-part", _garbage_part, 0, ["rejected", "unreadable"], _rejected_kept),
    C("store", "swapped-parts", _swapped_parts, 0, ["rejected", "another point"], _rejected_kept),
    C("store", "part-copied-over", _copied_over_part, 0, ["rejected", "another point"], _rejected_kept),
    C("store", "foreign-part-other-points", _foreign_part_other_points, 0, ["rejected", "another sweep"],
      _rejected_kept),
    C("store", "foreign-part-same-point", _foreign_part_same_point, 0, ["rejected", "another sweep"], _rejected_kept),
    C("store", "read-with-corrupt-part", _consolidate_corrupt, 0, ["warning", "rejected", "unreadable"], _partial),
    C("store", "results-file-damaged", _results_damaged, 0, ["warning", "reading the parts"], _complete),
    C("store", "stale-temp-files", _stale_temps, 0, [], _complete),
    C("store", "concurrent-resume", _locked, 2, ["being written by another process", f"pid {os.getpid()}"],
      _partial),
    C("store", "resume-other-sweep-file", _resume_other_file, 2, ["different sweep file"], _partial),
    C("store", "run-json-not-object-list", _run_json_list, 0, [], _complete),
    C("store", "run-json-not-object-show", _run_json_list_show, 2, ["not a run description", "str"]),
    C("store", "run-json-garbage", _run_json_garbage, 2, ["run.json", "unreadable"]),
    C("store", "no-run-json", _no_run_json, 2, ["not a run folder"]),

    # --- the gate ---
    C("gate", "figures-missing", _gate_missing_rows, 1, ["REGRESSION", "fmt=float16", "missing"], _partial),
    C("gate", "another-sweep", _gate_other_sweep, 2, ["sweep 'rel'", "sweep 'rel-other'", "its own sweep"],
      _complete),
    C("gate", "sweep-file-changed", _gate_changed_file, 1, ["note", "the sweep file changed", "REGRESSION"],
      _complete),
    C("gate", "baseline-not-json", _gate_not_json, 2, ["b.json"], _complete),
    C("gate", "baseline-other-version", _gate_wrong_version, 2, ["b.json", "99"], _complete),
    C("gate", "baseline-missing", lambda c: cli("gate", c.base, "--baseline", c.tmp / "none.json"), 2,
      ["no baseline"], _complete),
    C("gate", "same-run", _gate_same, 0, [], _complete),

    # --- reports ---
    C("report", "baseline-other-sweep", _report_other_baseline, 2, ["sweep(s) rel-other", "one sweep"]),
    C("report", "out-is-a-file", _report_out_is_file, 2, ["not a folder"]),
    C("report", "out-read-only", _report_read_only, 2, ["/sys/harness-report", "not permitted"]),
    C("report", "bad-precision-file", _report_bad_precision, 2, ["precision file", "p.json"]),
    C("report", "bad-headline-file", _report_bad_headline, 2, ["h.json"]),
    C("report", "missing-run", lambda c: cli("report", c.tmp / "none", "-o", c.tmp / "rep", "--quiet"), 2,
      ["none"]),
    C("report", "name-outside-reports", _report_hostile_name, 2, ["name", "'..'"]),

    # --- Dask: the local backend's guarantees ---
    C("dask", "scheduler-not-a-url", lambda c: _dask(c, "--scheduler", "notaurl"), 2,
      ["'notaurl'", "tcp://HOST:PORT"]),
    C("dask", "scheduler-http-url", lambda c: _dask(c, "--scheduler", "http://127.0.0.1:8786"), 2,
      ["not a Dask scheduler address"]),
    C("dask", "scheduler-closed-port", _closed_port, 2, ["cannot reach the Dask scheduler"]),
    C("dask", "scheduler-not-dask", _non_dask_listener, 2, ["did not answer as a Dask scheduler"]),
    C("dask", "dask-bad-value", lambda c: _dask(c, "--dask", "remote"), 2, ["--dask takes 'local'"]),
    C("dask", "dask-workers-0", lambda c: _dask(c, "--dask", "local", "--workers", 0), 2, ["workers", "got 0"]),
]


def test_the_table_covers_every_class():
    tags = {}
    for c in CASES:
        tags[c.tag] = tags.get(c.tag, 0) + 1
    assert len(CASES) >= 70 and len({(c.tag, c.id) for c in CASES}) == len(CASES)
    assert set(tags) == {"api", "cli", "files", "sweepfile", "store", "gate", "report", "dask"}, tags


@pytest.mark.parametrize("case", CASES, ids=[f"{c.tag}:{c.id}" for c in CASES])
def test_case(case, ctx):
    got = case.act(ctx)
    if case.tag == "api":
        kind, text = got
        assert kind is not None and issubclass(kind, case.expect), f"expected {case.expect.__name__}, got {kind}"
    else:
        kind, out, err = got
        text = err
        assert kind == case.expect, f"exit {kind}, expected {case.expect}: {err or out}"
        assert "Traceback" not in out + err
        if case.expect == 2:
            assert err.startswith("harness: error: ") or "\nharness: error: " in err, err
        if case.tag == "gate":
            text = out + err
    for w in case.words:
        assert w in text, f"{w!r} not in {text!r}"
    if case.after is not None:
        case.after(ctx)


# ---------------------------------------------------------------------------------------------
# what is accepted, and the guards' own behaviour


def test_exact_values_in_wide_types_are_accepted():
    """The refusals above are of values float64 would change; exact ones pass unchanged."""
    X = np.array([[0, 1], [2**53, 3], [-(2**53), 5]], np.int64)
    net = harness.construct(X, [0.0, 1.0, 0.0])
    assert net.n == 3
    L = np.array([[0.5, 1], [2, 3.25]], np.longdouble)  # exactly float64
    assert harness.construct(L, [0, 1]).n == 2


def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeff0.5,1.0,0\n1.5,0.25,1\n2.5,2.0,0\n".encode("utf-8"))
    X, y = load_xy(p)
    assert X.shape == (3, 2) and X[0, 0] == 0.5 and list(y) == [0.0, 1.0, 0.0]
    p.write_bytes("\ufeffa,b,label\n0.5,1.0,0\n1.5,0.25,1\n".encode("utf-8"))
    X, y = load_xy(p, header=True)
    assert X.shape == (2, 2)


def test_large_fits_print_an_eta_from_a_pilot(monkeypatch):
    from harness.analysis import fitting
    from harness.build.sampling import eval_positions

    # the work model is the sampler's own count (points x neurons), where it samples and where not
    for n in (100, 20_000, 3_000_000):
        z = np.arange(n, dtype=np.float64)
        pos, _ = eval_positions(z, 0)
        assert fitting._eval_work(n) >= pos.size * n >= fitting._eval_work(n) - 2 * 16 * n
    monkeypatch.setattr(fitting, "ETA_MIN_N", 2000)
    monkeypatch.setattr(fitting, "ETA_PILOT_N", 500)
    said = []
    harness.fit(4000, 3, check=False, progress=said.append)
    assert any("expected ~" in m and "500-point pilot" in m for m in said), said
    said.clear()
    harness.fit(1000, 3, check=False, progress=said.append)  # below ETA_MIN_N: no pilot
    assert not any("expected" in m for m in said)


def test_sweep_size_guard_counts_without_listing():
    spec = parse_sweep(_sweep_axes("n = { log = [2, 100000], points = 200 }\nd = [1, 2, 3]", "seeds = 50\n"))
    assert spec.count() >= len(spec.points()) > runner.CONFIRM_POINTS
    assert spec.count() == len(spec.axis("n")) * 3 * 50


def test_the_committed_search_files_load():
    """configs/wall.toml (the float64 wall) is a valid search file, and its largest problem fits
    the memory guard of the machine the README measured it on (24 GiB)."""
    from harness.analysis.failure import load_search
    from harness.build.problems import problem_bytes

    spec = load_search(Path(__file__).resolve().parents[1] / "configs" / "wall.toml")
    assert spec.fmts == ("float64",) and set(spec.biases) == {"left", "midpoint"}
    from harness.analysis.failure import wilson

    # 4 seeds: the fewest for which 0/S and S/S are confident ends (Wilson 95% beyond 1/2)
    s = spec.config.seeds
    assert wilson(0, s)[1] < 0.5 < wilson(s, s)[0] and not wilson(0, 3)[1] < 0.5
    assert problem_bytes(spec.config.n_max, spec.config.d) < 24 * 2**30
