"""Every docstring example in the package runs and prints what it says (doctest)."""

import doctest
import importlib
import pkgutil

import pytest

import harness

MODULES = sorted(m.name for m in pkgutil.walk_packages(harness.__path__, "harness.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_exist_and_none_is_skipped():
    """The examples are run, not skipped: no '+SKIP' directive in the package's docstrings."""
    import pathlib

    root = pathlib.Path(harness.__file__).parent
    skipped = [str(p) for p in root.rglob("*.py") if "doctest: +SKIP" in p.read_text(encoding="utf-8")]
    assert not skipped, skipped
    total = sum(len(doctest.DocTestFinder().find(importlib.import_module(n))) for n in MODULES)
    assert total > 20
