"""The regression history across CI runs: kept on a git branch of its own, as asv users keep
their results.

A CI job starts from a fresh checkout, so ``reports/history-<sweep>.jsonl`` (one line per
nightly, :func:`harness.report.nightly.append_history`) would hold one run only. The nightly
workflow therefore runs::

    harness history restore        # history files of the branch -> reports/ (none yet: empty)
    tox -e nightly                 # appends this run's line, draws the History page from all
    harness history save           # reports/history-*.jsonl -> a new commit on the branch, pushed

The branch (default ``nightly-history``) holds only the history files, one commit per save,
each the previous plus this run's lines; it never touches the checked-out branch, the index or
the working tree (git plumbing: hash-object, mktree, commit-tree, push). ``save`` refuses to
drop lines: the saved file must extend the branch's (a run that restored nothing would
otherwise overwrite the history).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..core.errors import HarnessError

__all__ = ["HISTORY_BRANCH", "restore_history", "save_history"]

HISTORY_BRANCH = "nightly-history"
_PATTERN = "history-*.jsonl"


def _git(repo, *args, input_bytes=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    env.setdefault("GIT_AUTHOR_NAME", "harness nightly")
    env.setdefault("GIT_AUTHOR_EMAIL", "nightly@harness.invalid")
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    try:
        r = subprocess.run(["git", "-C", str(repo), *args], input=input_bytes, capture_output=True, env=env,
                           timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HarnessError(f"git {' '.join(args[:2])}: {exc}") from None
    if check and r.returncode != 0:
        raise HarnessError(f"git {' '.join(args)}: {r.stderr.decode(errors='replace').strip()}")
    return r


def _fetch(repo, remote: str, branch: str) -> str | None:
    """The branch's commit on ``remote`` (fetched), or None where it does not exist yet."""
    r = _git(repo, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}", check=False)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace")
        if "couldn't find remote ref" in err or "not found" in err.lower():
            return None
        raise HarnessError(f"git fetch {remote} {branch}: {err.strip()}")
    return _git(repo, "rev-parse", f"refs/remotes/{remote}/{branch}").stdout.decode().strip()


def _files_at(repo, commit: str) -> dict:
    """{file name: bytes} of the history files in ``commit``'s tree."""
    names = _git(repo, "ls-tree", "--name-only", commit).stdout.decode().split()
    return {n: _git(repo, "show", f"{commit}:{n}").stdout for n in names
            if n.startswith("history-") and n.endswith(".jsonl")}


def restore_history(repo=".", reports="reports", remote: str = "origin", branch: str = HISTORY_BRANCH) -> list:
    """Copy the branch's history files into ``reports`` (where the nightly appends); returns the
    files written ([] when the branch does not exist yet: the first run starts the history).
    A local file with lines the branch lacks is kept and the branch's lines put before it."""
    commit = _fetch(repo, remote, branch)
    if commit is None:
        return []
    out = []
    reports = Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(_files_at(repo, commit).items()):
        dest = reports / name
        local = dest.read_bytes() if dest.exists() else b""
        if local and not local.startswith(data):  # lines written here since: kept, after the branch's
            have = set(data.splitlines())
            data = data + b"".join(line + b"\n" for line in local.splitlines() if line and line not in have)
        dest.write_bytes(data)
        out.append(dest)
    return out


def save_history(repo=".", reports="reports", remote: str = "origin", branch: str = HISTORY_BRANCH,
                 message: str = "nightly history") -> str:
    """Commit ``reports/history-*.jsonl`` onto the branch (on top of the remote's) and push it;
    returns the new commit. Refuses a file that does not extend the branch's version."""
    files = sorted(Path(reports).glob(_PATTERN))
    if not files:
        raise HarnessError(f"{reports}: no {_PATTERN} to save (did the nightly run?)")
    parent = _fetch(repo, remote, branch)
    old = _files_at(repo, parent) if parent else {}
    entries = dict(old)
    for f in files:
        data = f.read_bytes()
        prev = old.get(f.name, b"")
        if not data.startswith(prev):
            raise HarnessError(f"{f}: does not extend the history on {branch} ({len(prev.splitlines())} lines there); "
                               "run 'harness history restore' before the nightly")
        entries[f.name] = data
    tree_lines = []
    for name, data in sorted(entries.items()):
        blob = _git(repo, "hash-object", "-w", "--stdin", input_bytes=data).stdout.decode().strip()
        tree_lines.append(f"100644 blob {blob}\t{name}\n")
    tree = _git(repo, "mktree", input_bytes="".join(tree_lines).encode()).stdout.decode().strip()
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    commit = _git(repo, *args).stdout.decode().strip()
    _git(repo, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
    return commit
