"""The regression history survives CI: two consecutive nightly runs, each in a fresh clone
(as a scheduled job starts), share one history through the history branch (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from conftest import small_sweep
from harness.report.history import restore_history, save_history

TINY = small_sweep("tiny", 2)


def _git(cwd, *args):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _harness(cwd, *args):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def _fresh_clone(origin: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(origin), str(where)], capture_output=True, timeout=120, check=True)
    for k, v in (("user.name", "t"), ("user.email", "t@t.invalid")):
        _git(where, "config", k, v)
    return where


def _nightly_job(clone: Path, cfg: Path):
    """What nightly.yml does: restore the history, run the nightly, save the history."""
    r = _harness(clone, "history", "restore")
    assert r.returncode == 0, r.stderr
    r = _harness(clone, "nightly", "--config", cfg, "--baseline", "none", "--no-bench", "--no-crosscheck",
                 "--no-locality", "--no-slow", "--no-headline", "--no-precision", "--quiet")
    assert r.returncode == 0, r.stderr
    r = _harness(clone, "history", "save")
    assert r.returncode == 0, r.stderr


def test_two_ci_runs_in_fresh_clones_share_one_history(tmp_path):
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(origin))
    seed = _fresh_clone(origin, tmp_path / "seed")  # the project's main branch (a first commit)
    (seed / "README").write_text("x\n")
    _git(seed, "add", "README")
    _git(seed, "commit", "--quiet", "-m", "first")
    _git(seed, "push", "--quiet", "origin", "HEAD")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)

    first = _fresh_clone(origin, tmp_path / "run1")
    _nightly_job(first, cfg)
    second = _fresh_clone(origin, tmp_path / "run2")
    assert not (second / "reports").exists()  # a fresh checkout holds no history of its own
    _nightly_job(second, cfg)

    lines = (second / "reports" / "history-tiny.jsonl").read_text().splitlines()
    runs = [json.loads(line)["run"] for line in lines]
    assert len(runs) == 2 and runs[0] == json.loads((first / "reports" / "history-tiny.jsonl").read_text())["run"]
    page = (second / "reports" / "latest" / "history.html").read_text()
    assert "2 run(s) in the history" in page
    # the branch holds the history alone, one commit per save, never the project's files
    log = _git(second, "log", "--format=%s", "origin/nightly-history").split("\n")
    assert [x for x in log if x] == ["nightly history", "nightly history"]
    assert _git(second, "ls-tree", "--name-only", "origin/nightly-history").split() == ["history-tiny.jsonl"]
    assert _git(second, "rev-parse", "--abbrev-ref", "HEAD").strip() in ("main", "master")
    assert not _git(second, "status", "--porcelain", "--untracked-files=no")


def test_save_refuses_to_drop_the_branch_history(tmp_path):
    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(origin))
    a = _fresh_clone(origin, tmp_path / "a")
    (a / "reports").mkdir()
    (a / "reports" / "history-x.jsonl").write_text('{"run": "r1"}\n{"run": "r2"}\n')
    save_history(a, a / "reports")
    b = _fresh_clone(origin, tmp_path / "b")
    (b / "reports").mkdir()
    (b / "reports" / "history-x.jsonl").write_text('{"run": "r3"}\n')  # a run that did not restore first
    with pytest.raises(HarnessError, match="does not extend the history"):
        save_history(b, b / "reports")
    restored = restore_history(b, b / "reports")  # restoring keeps the local line after the branch's
    assert restored and (b / "reports" / "history-x.jsonl").read_text().splitlines() == [
        '{"run": "r1"}', '{"run": "r2"}', '{"run": "r3"}']
    save_history(b, b / "reports")
    c = _fresh_clone(origin, tmp_path / "c")
    assert restore_history(c, c / "reports")
    assert len((c / "reports" / "history-x.jsonl").read_text().splitlines()) == 3
