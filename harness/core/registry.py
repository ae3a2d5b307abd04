"""Registries of named strategies (plain functions), with parameterised names.

A registry maps a name to a plain function. Names may carry one parameter after a
colon (``fraction:0.25``, ``best-of:8``, ``classes:10``); the registered entry for
such a family is ``fraction:`` and receives the text after the colon. Unknown names
raise :class:`~harness.core.errors.HarnessError` listing every valid name.

Every entry of a registry has one signature, documented by the registry's ``Protocol``
(its ``__call__``): registering a function whose parameters differ, or a name (or
alias) that is already taken, raises at import time rather than misbehaving later.
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Tuple

from .errors import HarnessError

__all__ = ["Registry", "Resolved", "int_param"]


def int_param(label: str, param: str, minimum: int, maximum: int | None = None) -> int:
    """Parse a family's whole-number parameter (``best-of:8``), naming it on error; ``maximum``
    bounds the work or memory a parameter asks for (a typo guard)."""
    try:
        value = int(param)
    except (TypeError, ValueError):
        raise HarnessError(f"{label}: {param!r} is not a whole number") from None
    if value < minimum:
        raise HarnessError(f"{label}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise HarnessError(f"{label}: at most {maximum:,}, got {value:,}")
    return value


@dataclass(frozen=True)
class Resolved:
    """A looked-up strategy: its canonical name, function and parsed parameter."""

    name: str
    func: Callable
    param: str | None


class Registry:
    """A named collection of strategy functions.

    Examples
    --------
    >>> r = Registry("colour")
    >>> @r.register("red")
    ... def red():
    ...     return "#f00"
    >>> r.get("red").func()
    '#f00'
    """

    def __init__(self, kind: str, protocol: type | None = None):
        self.kind = kind
        #: The Protocol whose ``__call__`` every entry's parameters must match (None: unchecked).
        self.protocol = protocol
        self._params = None if protocol is None else _param_names(protocol.__call__)[1:]
        self._plain: Dict[str, Callable] = {}
        self._families: Dict[str, Tuple[Callable, str]] = {}
        self._aliases: Dict[str, str] = {}
        self._docs: Dict[str, str] = {}

    def register(self, name: str, *, param: str | None = None, aliases: Tuple[str, ...] = ()):
        """Decorator: register ``func`` under ``name`` (a family if ``param`` names its argument)."""

        def deco(func: Callable) -> Callable:
            for taken in (name, *aliases):
                if taken in self._plain or taken in self._families or taken in self._aliases:
                    raise HarnessError(f"{self.kind} {taken!r} is already registered")
            if self._params is not None and _param_names(func) != self._params:
                raise HarnessError(f"{self.kind} {name!r}: {func.__name__}{inspect.signature(func)} does not "
                                   f"match the {self.protocol.__name__} signature ({', '.join(self._params)})")
            if param is not None:
                self._families[name] = (func, param)
            else:
                self._plain[name] = func
            for alias in aliases:
                self._aliases[alias] = name
            self._docs[name] = (func.__doc__ or "").strip().split("\n")[0]
            return func

        return deco

    @contextlib.contextmanager
    def substituted(self, name: str, func: Callable):
        """Temporarily serve ``func`` under the plain entry ``name`` (to inject a variant — e.g. a
        deliberately degraded kernel that a regression test must catch); restored on exit."""
        if name not in self._plain:
            raise HarnessError(f"{self.kind} {name!r} is not a plain entry; valid: {', '.join(sorted(self._plain))}")
        old = self._plain[name]
        self._plain[name] = func
        try:
            yield
        finally:
            self._plain[name] = old

    def unregister(self, name: str) -> None:
        """Remove the entry ``name`` and its aliases (tests that register a temporary strategy)."""
        self._plain.pop(name, None)
        self._families.pop(name, None)
        self._docs.pop(name, None)
        for a in [a for a, target in self._aliases.items() if target == name]:
            del self._aliases[a]

    def names(self) -> list[str]:
        """Every valid name, families written as ``name:PARAM``."""
        out = sorted(self._plain) + sorted(self._aliases)
        out += sorted(f"{k}:{p}" for k, (_, p) in self._families.items())
        return out

    def describe(self) -> Iterator[Tuple[str, str]]:
        """(name, first docstring line) for every entry."""
        for n in sorted(self._plain):
            yield n, self._docs[n]
        for a, target in sorted(self._aliases.items()):
            yield a, f"alias of {target}"
        for n, (_, p) in sorted(self._families.items()):
            yield f"{n}:{p}", self._docs[n]

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except HarnessError:
            return False
        return True

    def get(self, name: str) -> Resolved:
        """Look up ``name``; raise HarnessError listing the valid names if unknown."""
        if not isinstance(name, str):
            raise HarnessError(f"{self.kind} must be a name, got {name!r}; valid: {', '.join(self.names())}")
        key = name.strip()
        key = self._aliases.get(key, key)
        if key in self._plain:
            return Resolved(key, self._plain[key], None)
        head, sep, arg = key.partition(":")
        if sep and head in self._families:
            if not arg:
                raise HarnessError(f"{self.kind} {name!r} needs a parameter after the colon "
                                   f"({head}:{self._families[head][1]})")
            return Resolved(key, self._families[head][0], arg)
        if not sep and head in self._families:
            raise HarnessError(f"{self.kind} {name!r} needs a parameter: write "
                               f"{head}:{self._families[head][1]}")
        raise HarnessError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")


def _param_names(func) -> tuple:
    return tuple(inspect.signature(func).parameters)
