"""The package layout: subpackages by pipeline stage, each importing only downward.

Every import in the package is read from the source (module level and inside functions),
resolved to the subpackage it lands in, and held to the stage order below. A module
that imports upward, or a new top-level module, fails here with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness

PKG = Path(harness.__file__).parent
#: The stages, bottom first: each may import itself and those before it.
STAGES = ("core", "linalg", "build", "analysis", "sweep", "report")
TOP = {"cli": len(STAGES), "__init__": -1, "__main__": len(STAGES) + 1}


def _stage_of(parts: tuple) -> int | None:
    """Rank of a module given its path parts below harness/ (None: the package itself)."""
    if not parts:
        return None
    if parts[0] in STAGES:
        return STAGES.index(parts[0])
    return TOP.get(parts[0].removesuffix(".py"))


def _imports(path: Path):
    rel = path.relative_to(PKG).with_suffix("").parts
    pkg = rel[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = base + tuple((node.module or "").split(".")) if node.module else base
                names = [a.name for a in node.names] if not node.module else [None]
                for nm in names:
                    yield node.lineno, tuple(p for p in target if p) + ((nm,) if nm else ())
            elif node.module and node.module.split(".")[0] == "harness":
                yield node.lineno, tuple(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "harness":
                    yield node.lineno, tuple(a.name.split(".")[1:])


def _graph():
    edges, bad = set(), []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("").parts
        src = _stage_of(rel)
        for line, target in _imports(path):
            dst = _stage_of(target)
            if dst is None or src is None:
                if target and target[0] == "__version__" or not target:
                    continue  # the package's own version
            if dst is None:
                continue
            if src == -1:  # harness/__init__ re-exports lazily; checked below
                continue
            if rel[0] in STAGES and target[0] in STAGES and rel[0] != target[0]:
                edges.add((rel[0], target[0]))
            if dst > src:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {'.'.join(target)} (upward)")
    return edges, bad


def test_layout_counts():
    top = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= 4, top
    subs = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert len(subs) >= 5, subs
    assert set(subs) == set(STAGES), subs
    for s in subs:
        mods = [p for p in (PKG / s).glob("*.py") if p.stem != "__init__"]
        assert 1 <= len(mods) <= 14, (s, len(mods))


def test_imports_only_downward():
    edges, bad = _graph()
    assert not bad, "\n".join(bad)
    # and therefore no cycle: the stage order is a topological order of the edges
    for a, b in edges:
        assert STAGES.index(b) < STAGES.index(a), (a, b)


def test_lazy_exports_resolve():
    """Every name of harness.__all__ resolves (the lazy table points at real modules)."""
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_registries_refuse_duplicates_and_wrong_signatures():
    import pytest

    from harness.build.solvers import SOLVERS
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match="already registered"):
        SOLVERS.register("recurrence")(lambda z, b, Y, fmt, F, seed: Y)
    with pytest.raises(HarnessError, match="does not match the Solver signature"):
        SOLVERS.register("two-args")(lambda z, b: z)
    assert "two-args" not in SOLVERS and SOLVERS.get("recurrence").func.__name__ == "recurrence"

    def copy(z, b, Y, fmt, F, seed):
        """a strategy is one function"""
        return Y

    SOLVERS.register("copy-for-test")(copy)
    try:
        assert SOLVERS.get("copy-for-test").func is copy
    finally:
        SOLVERS.unregister("copy-for-test")
    assert "copy-for-test" not in SOLVERS


def test_every_registry_has_a_protocol():
    import harness
    from harness.core.formats import ROUNDINGS

    for name in ("FORMATS", "DIRECTIONS", "BIASES", "SOLVERS", "EVALUATORS", "DATA", "LABELS", "CRITERIA"):
        assert getattr(harness, name).protocol is not None, name
    assert ROUNDINGS.protocol is not None


def test_axes_and_point_fields_agree():
    from dataclasses import fields

    from harness.report.compare import SERIES_KEYS
    from harness.sweep.axes import AXES, SERIES_AXES
    from harness.sweep.sweepspec import Point

    assert tuple(f.name for f in fields(Point)) == (*AXES, "seed_index", "seed")
    assert SERIES_KEYS == SERIES_AXES == AXES[1:]
