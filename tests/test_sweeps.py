"""Sweeps: definitions, the runner's backends, the results store, resuming after kill -9."""

import json
import os
from fractions import Fraction
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harness
import harness.linalg.bounds
from harness.sweep.runner import ROUNDING_LEVEL_COLUMNS, compute_row, run_sweep
from harness.sweep.store import finished_ids, list_runs, load_run, read_run_info
from harness.sweep.sweepspec import load_sweep, parse_sweep

TINY = """
name = "tiny"
seed = 3
seeds = 2
metrics = ["fit", "conditioning", "solve"]

[axes]
n = [16, 48]
d = [3]
bias = ["midpoint", "fraction:0.75"]
fmt = ["float64", "bfloat16"]
"""


def _spec(tmp_path, text=TINY, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return load_sweep(p)


@pytest.mark.parametrize("text, words", [
    ('name = "x"\ncolour = 3\n[axes]\nn = [4]\n', ["colour", "line 2", "unknown key"]),
    ('name = "x"\n[axes]\nn = [4]\nshape = [1]\n', ["axes.shape", "line 4", "unknown axis"]),
    ('name = "x"\n[axes]\nn = [4]\nbias = ["middle"]\n', ["axes.bias", "line 4", "unknown bias 'middle'"]),
    ('name = "x"\n[axes]\nn = { log = [100, 10] }\n', ["axes.n", "line 3", "LO <= HI"]),
    ('name = "x"\n[axes]\nn = [1]\n', ["axes.n", ">= 2"]),
    ('name = "x"\nseeds = 0\n[axes]\nn = [4]\n', ["seeds", "line 2"]),
    ('name = "x"\nmetrics = ["speed"]\n[axes]\nn = [4]\n', ["metrics", "line 2"]),
    ('name = "x"\n[[exclude]]\nsize = 3\n[axes]\nn = [4]\n', ["exclude[0].size", "unknown key"]),
    ('name = "x y"\n[axes]\nn = [4]\n', ["name", "line 1"]),
    ('name = "x"\n', ["[axes]"]),
    ('name = "x\n', ["not valid TOML"]),
])
def test_bad_sweep_files_name_file_key_and_line(tmp_path, text, words):
    with pytest.raises(harness.HarnessError) as info:
        _spec(tmp_path, text, "bad.toml")
    msg = str(info.value)
    assert "bad.toml" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_points_expand_deterministically_with_order_free_seeds(tmp_path):
    spec = _spec(tmp_path)
    pts = spec.points()
    assert len(pts) == 2 * 2 * 2 * 2
    assert len({p.key for p in pts}) == len(pts) and len({p.seed for p in pts}) == len(pts)
    # the same axes written in another order give the same keys and seeds
    shuffled = TINY.replace('fmt = ["float64", "bfloat16"]', 'fmt = ["bfloat16", "float64"]')
    other = {p.key: p.seed for p in _spec(tmp_path, shuffled, "t.toml").points()}
    assert {p.key: p.seed for p in pts} == other
    ranged = parse_sweep('name = "r"\n[axes]\nn = { log = [16, 1024], points = 4 }\n')
    assert ranged.axis("n") == (16, 64, 256, 1024)
    excl = parse_sweep('name = "e"\n[axes]\nn = [10, 100]\nsolver = ["lapack", "recurrence"]\n'
                       '[[exclude]]\nsolver = "lapack"\nn_above = 50\n')
    assert sorted((p.n, p.solver) for p in excl.points()) == [(10, "lapack"), (10, "recurrence"), (100, "recurrence")]
    real = parse_sweep('name = "d"\n[axes]\nn = [20]\nd = [4, 8]\ndata = ["digits", "uniform"]\n')
    assert sorted((p.data, p.d) for p in real.points()) == [("digits", 64), ("uniform", 4), ("uniform", 8)]


def test_also_grids_and_the_rounding_axis():
    spec = parse_sweep('name = "g"\n[axes]\nn = [10, 20]\nfmt = ["float32"]\n'
                       '[[also]]\nn = [20, 30]\nrounding = ["nearest", "stochastic"]\n')
    got = sorted((p.n, p.rounding) for p in spec.points())
    # main grid 10, 20 (nearest); also-grid 20, 30 x both roundings; (20, nearest) only once
    assert got == [(10, "nearest"), (20, "nearest"), (20, "stochastic"), (30, "nearest"), (30, "stochastic")]
    with pytest.raises(harness.HarnessError, match="also\\[0\\].colour"):
        parse_sweep('name = "g"\n[axes]\nn = [10]\n[[also]]\ncolour = [1]\n')
    with pytest.raises(harness.HarnessError, match="unknown rounding 'up'"):
        parse_sweep('name = "g"\n[axes]\nn = [10]\nrounding = ["up"]\n')
    for f in ("quick", "nightly", "paper"):  # the shipped sweeps parse
        assert load_sweep(Path(__file__).parents[1] / "configs" / f"{f}.toml").points()


def test_local_run_writes_rows_store_and_provenance(tmp_path):
    spec = _spec(tmp_path)
    run = run_sweep(spec, tmp_path / "out", workers=2, progress=False)
    df = pd.read_parquet(run / "results.parquet")  # one call
    assert len(df) == 16 and df.key.is_unique and set(df.status) == {"ok"}
    assert set(df.failure) <= {"", "collision", "overflow", "misfit"}
    assert {"cond_log2_cond1_exact", "solve_norm_rel", "outcome_fraction", "time_point"} <= set(df.columns)
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(run / "results.parquet").metadata[b"harness"])
    prov = meta["provenance"]
    for k in ("harness", "git_commit", "git_dirty", "packages", "cpu", "cpu_count", "timestamp", "mpmath_backend",
              "row_schema_version", "run_format_version"):
        assert k in prov, k
    assert meta["sweep"]["sha256"] == spec.sha256 and prov["packages"]["numba"]
    info = read_run_info(run)
    assert info["status"] == "finished" and info["points_total"] == 16
    # a row equals computing its point directly (the worker is not special)
    p = spec.points()[5]
    direct = compute_row(p.to_dict(), spec.metrics)
    row = df.set_index("key").loc[p.key]
    for k, v in direct.items():
        if "time" in k or k in ROUNDING_LEVEL_COLUMNS or k == "key":
            continue
        assert (row[k] == v) or (pd.isna(row[k]) and pd.isna(v)), k


def _same_rows(a: pd.DataFrame, b: pd.DataFrame):
    """Bit-identical rows, but for ROUNDING_LEVEL_COLUMNS: xTRCON sums n terms in another order,
    so each cond differs by <= gamma_n relative, and its log2 by <= log2((1+g)/(1-g)) plus the
    log2's own rounding (2 ulps of the value)."""
    assert list(a.key) == list(b.key) and set(a.columns) == set(b.columns)
    g = float(harness.linalg.bounds.gamma(int(a.n.max()), Fraction(1, 2**53)))
    for c in a.columns:
        if "time_" in c:
            continue
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if c in ROUNDING_LEVEL_COLUMNS:
            x, y = x.astype(float), y.astype(float)
            tol = np.log2((1 + g) / (1 - g)) + 2 * np.spacing(np.maximum(np.abs(x), np.abs(y)))
            same = (np.abs(x - y) <= tol) | (np.isnan(x) & np.isnan(y)) | (x == y)
            assert np.all(same), (c, x[~same], y[~same])
        elif x.dtype.kind == "f":
            assert np.all((x.view(np.int64) == y.view(np.int64)) | (np.isnan(x) & np.isnan(y))), c
        else:
            assert np.all((x == y) | (pd.isna(x) & pd.isna(y))), c


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    """--dask local, and an existing cluster reached by its tcp:// address (a LocalCluster this
    test starts on loopback), give the local backend's rows."""
    from distributed import LocalCluster

    spec = _spec(tmp_path)
    local = load_run(run_sweep(spec, tmp_path / "a", workers=1, progress=False))
    dask = load_run(run_sweep(spec, tmp_path / "b", workers=2, scheduler="local", progress=False))
    _same_rows(local, dask)
    assert "dask-local" in read_run_info(next((tmp_path / "b").iterdir()))["provenance"]["backend"]
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = load_run(run_sweep(spec, tmp_path / "c", scheduler=cluster.scheduler_address, progress=False))
    _same_rows(local, remote)


SLOWISH = """
name = "killme"
seed = 1
seeds = 4
metrics = ["fit", "conditioning", "solve"]

[axes]
n = [300, 600, 900]
d = [4]
bias = ["midpoint", "left", "fraction:0.3"]
fmt = ["float64", "float32"]
"""


def test_kill_9_then_resume_has_every_point_exactly_once(tmp_path):
    """Start a sweep, kill -9 its whole process group once some points are stored, then
    --resume: every point ends up present once, and the ones stored before the kill are
    not recomputed (their files are untouched)."""
    sweep = tmp_path / "k.toml"
    sweep.write_text(SLOWISH)
    out = tmp_path / "out"
    total = len(load_sweep(sweep).points())
    proc = subprocess.Popen([sys.executable, "-m", "harness", "sweep", str(sweep), "--out", str(out), "--quiet",
                             "--workers", "2"], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    run = None
    while time.time() < deadline:
        runs = list_runs(out)
        if runs and len(finished_ids(runs[0][0])) >= total // 4:
            run = runs[0][0]
            break
        time.sleep(0.05)
    assert run is not None, proc.stderr.read()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    before = {p.name: p.stat().st_mtime_ns for p in (run / "parts").glob("*.parquet") if not p.name.startswith(".tmp")}
    assert 0 < len(before) < total
    assert read_run_info(run)["status"] == "running"  # killed: it never said it finished
    r = subprocess.run([sys.executable, "-m", "harness", "sweep", str(sweep), "--out", str(out), "--resume",
                        "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    df = load_run(run)
    assert len(df) == total and df.key.is_unique
    assert sorted(df.key) == sorted(p.key for p in load_sweep(sweep).points())
    after = {p.name: p.stat().st_mtime_ns for p in (run / "parts").glob("*.parquet")}
    assert all(after[name] == t for name, t in before.items())
    assert len(list_runs(out)) == 1 and read_run_info(run)["status"] == "finished"


def test_timeout_memory_and_error_rows(tmp_path):
    """Event-driven, not speed-driven: the point that must time out reads a CIFAR batch that is a
    named pipe nobody writes, so it blocks for ever on any machine; the limit (20 s) is generous
    for the points that must finish."""
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    os.mkfifo(cifar / "data_batch_1")
    spec = _spec(tmp_path, f"""
name = "limits"
time_limit = 20.0
memory_limit_gb = 2
metrics = ["fit", "solve"]
[axes]
n = [40, 2000, 100000000]
d = [2]
data = ["uniform", "digits"]
[[also]]
n = [40]
data = ["cifar10:{cifar}"]
""")
    df = load_run(run_sweep(spec, tmp_path / "o", workers=2, progress=False))
    status = {(r.data, r.n): (r.status, r.message) for r in df.itertuples()}
    assert status[("uniform", 40)][0] == status[("digits", 40)][0] == status[("uniform", 2000)][0] == "ok"
    assert status[("digits", 2000)][0] == "error" and "1797 distinct points" in status[("digits", 2000)][1]
    blocked = status[(f"cifar10:{cifar}", 40)]
    assert blocked[0] == "timeout" and "time_limit" in blocked[1]
    for key in (("uniform", 100000000), ("digits", 100000000)):
        assert status[key][0] == "skipped: memory" and "GiB" in status[key][1], key


def test_results_command_list_show_export(tmp_path):
    spec = _spec(tmp_path)
    run = run_sweep(spec, tmp_path / "out", workers=1, progress=False)

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "harness", *a], capture_output=True, text=True)

    r = cli("results", "list", "--out", str(tmp_path / "out"))
    assert r.returncode == 0 and run.name in r.stdout and "16/16" in r.stdout and "finished" in r.stdout
    r = cli("results", "show", str(run), "--columns", "n,fmt,bias,status,outcome_fraction")
    assert r.returncode == 0 and "bfloat16" in r.stdout and "harness" in r.stdout
    r = cli("results", "export", str(run), "--csv", str(tmp_path / "x.csv"))
    assert r.returncode == 0 and len(pd.read_csv(tmp_path / "x.csv")) == 16
    for args, words in ((("results", "show", str(run), "--columns", "nope"), "unknown column"),
                        (("results", "show", str(tmp_path / "none")), "no such run"),
                        (("results", "export", str(run)), "--csv"),
                        (("sweep", str(tmp_path / "missing.toml")), "no such sweep file"),
                        (("sweep", str(tmp_path / "s.toml"), "--dask", "remote"), "--dask takes 'local'"),
                        (("sweep", str(tmp_path / "s.toml"), "--resume", "--out", str(tmp_path / "empty")),
                         "no unfinished run")):
        r = cli(*args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


# --- data ---------------------------------------------------------------------------------

def test_new_generators_are_seeded_and_shaped():
    from harness.core.seeding import rng_for
    from harness.build.data import make_dataset

    for kind in ("clustered:4", "near-duplicates:1e-5", "low-rank:2", "digits", "patches"):
        a, ya = make_dataset(kind, 300, 8, rng_for(1, "data"))
        b, yb = make_dataset(kind, 300, 8, rng_for(1, "data"))
        assert a.tobytes() == b.tobytes(), kind
        assert (ya is None) == (kind not in ("digits", "patches"))
    X, _ = make_dataset("near-duplicates:1e-5", 10, 3, rng_for(0, "data"))
    # pairs are rows (2j, 2j + 1); the step is scaled to 1e-5 (a few ulps of it), then added to a base
    # in [0, 1) and subtracted back: each of the 3 coordinates moves by at most 2 ulps of 1
    eps = np.finfo(float).eps
    tol = (2 * np.sqrt(3) * eps + 4 * eps * 1e-5) / 1e-5
    np.testing.assert_allclose(np.linalg.norm(X[0::2] - X[1::2], axis=1), 1e-5, rtol=tol, atol=0)
    L, _ = make_dataset("low-rank:2", 50, 6, rng_for(0, "data"))
    assert np.linalg.matrix_rank(L) == 2  # numpy's tolerance: sigma_max * max(m, n) * eps
    with pytest.raises(harness.HarnessError, match="K must be <= d"):
        make_dataset("low-rank:9", 5, 3, rng_for(0, "data"))
    P, yp = make_dataset("patches", 100, 1, rng_for(0, "data"))
    assert P.shape == (100, 3072) and np.all(P == np.round(P)) and P.max() <= 255


def test_real_data_true_and_randomized_labels():
    net, rep = harness.fit(400, 64, "digits", "true")
    assert rep.label_kind == "integer" and rep.d == 64 and rep.fit_fraction == 1.0
    from harness.build.problems import make_problem

    X, yt = make_problem(400, 64, "digits", "true")
    _, yr = make_problem(400, 64, "digits", "randomized")
    assert set(np.unique(yt)) == set(range(10)) and set(np.unique(yr)) <= set(range(10))
    assert np.mean(yt == yr) < 0.3  # random labels, not the true ones
    with pytest.raises(harness.HarnessError, match="no labels of its own"):
        make_problem(10, 2, "uniform", "true")


def _cifar_batch(path, m, seed):
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"test", b"labels": rng.integers(0, 10, m).tolist(),
                     b"data": rng.integers(0, 256, (m, 3072), dtype=np.uint8), b"filenames": [b"x"] * m}, f)


def test_cifar10_loader_reads_the_standard_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _cifar_batch(folder / "data_batch_1", 30, 0)
    _cifar_batch(folder / "data_batch_2", 20, 1)
    from harness.build.datafiles import load_cifar10

    X, y = load_cifar10(folder)
    assert X.shape == (50, 3072) and X.dtype == np.uint8 and y.shape == (50,)
    net, rep = harness.fit(40, 1, f"cifar10:{folder}", "true")
    assert rep.d == 3072 and rep.n_input == 40
    with pytest.raises(harness.HarnessError, match="has 50 distinct points"):
        harness.fit(60, 1, f"cifar10:{folder}", "true")


def test_cifar10_loader_refuses_a_hostile_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    folder = tmp_path / "evil"
    folder.mkdir()
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    from harness.build.datafiles import load_cifar10

    with pytest.raises(harness.HarnessError, match="refuses to load"):
        load_cifar10(folder)
    assert not (tmp_path / "pwned").exists()


DEPLOY = """
name = "dep"
seed = 5
seeds = 2
metrics = ["fit", "solve"]

[axes]
n = [16, 48]
d = [4]
fmt = ["float64", "bfloat16@float32"]
deploy = ["none", "bfloat16@float32", "float16@float32+rz"]
"""


def test_arithmetic_and_deploy_axes(tmp_path):
    """fmt takes arithmetics S@A and deploy re-runs the same network in another; a deployment
    does not change the point's seed (the same network is deployed each way), and points
    without the axis keep the keys and seeds they had before it existed."""
    from harness.analysis.failure import ROW_CRITERIA, first_failure, judge
    from harness.analysis.outcome import evaluate_training
    from harness.build.problems import make_problem

    spec = _spec(tmp_path, DEPLOY)
    pts = spec.points()
    assert len(pts) == 2 * 2 * 3 * 2
    none = [p for p in pts if p.deploy == "none"]
    assert all("deploy=" not in p.key for p in none)
    by = {}
    for p in pts:
        by.setdefault((p.n, p.fmt, p.seed_index), set()).add(p.seed)
    assert all(len(s) == 1 for s in by.values())
    run = run_sweep(spec, tmp_path / "out", workers=1, progress=False)
    df = load_run(run)
    assert set(df.status) == {"ok"}
    for r in df[df.deploy != "none"].itertuples():
        X, y = make_problem(r.n, r.d, "uniform", "binary", fmt=r.fmt, seed=r.seed)
        if r.failure == "collision":
            with pytest.raises(harness.CollisionError):
                harness.construct(X, y, fmt=r.fmt, seed=r.seed)
            continue
        net = harness.construct(X, y, fmt=r.fmt, seed=r.seed)
        ev = evaluate_training(net, X, y, fmt=r.deploy, budget=10**8)
        assert ev.fraction == r.deploy_fraction and ev.max_error == r.deploy_max_error
        from harness.analysis.failure import built_trial

        assert r.failure == first_failure(judge(built_trial(net, ev, fmt=r.fmt, n=r.n, seconds=0), ROW_CRITERIA))
    with pytest.raises(harness.HarnessError, match="narrower than its storage"):
        parse_sweep(DEPLOY.replace('"float16@float32+rz"', '"bfloat16@float8_e4m3"'), "dep.toml")


def test_analyze_in_an_arithmetic_claims_only_what_it_derives():
    X = np.random.default_rng(1).random((24, 6))
    y = (X[:, 0] > 0.5) * 1.0
    net = harness.construct(X, y, fmt="bfloat16@float32")
    a = harness.analyze(net, X, y)
    assert a.arith == "bfloat16@float32" and a.fmt == "bfloat16"
    assert np.isnan(a.solve.bound_apriori)
    assert a.solve.bound_holds == (a.solve.norm_rel <= a.solve.bound_backward)
    # the user's evaluation is the network's own arithmetic
    from harness.analysis.outcome import evaluate_training

    ev = evaluate_training(net, X, y, positions=np.arange(net.n))
    assert a.outcome.fraction == ev.fraction
