"""The one registry behind ops, models, genotypes and search strategies.

A ``Registry`` maps names to values under a lock. It checks names against a pattern,
refuses a taken name unless told to override it, suggests close matches for an unknown
name, filters names with shell-style wildcards and, when it has an entry-point group,
registers what installed packages declare there, once, the first time it is read. A
plugin that fails to load never breaks cnas: the failure is logged, and asking for its
name says why it is missing.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from ._io import shorten
from .errors import UnknownNameError

__all__ = ["ENTRY_POINT_GROUPS", "IDENTIFIER", "Registry", "close_matches"]

logger = logging.getLogger("cnas")

T = TypeVar("T")

ENTRY_POINT_GROUPS: Mapping[str, str] = MappingProxyType(
    {
        "genotypes": "cnas.genotypes",
        "models": "cnas.models",
        "ops": "cnas.ops",
        "strategies": "cnas.strategies",
    }
)
"""The entry-point group of each kind of plugin an installed package can contribute
(``[project.entry-points."cnas.ops"]`` in its ``pyproject.toml``): kind -> group."""

IDENTIFIER = (
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "use letters, digits and underscores, not starting with a digit",
)
"""A name pattern and the rule it states, for ``Registry(name_rule=...)``."""


class Registry(Generic[T]):
    """Names to values, thread-safe, with entry-point plugins.

    Args:
        kind: What the values are, for messages ("op", "model", "strategy").
        error: The ``UnknownNameError`` subclass raised for an unknown name.
        name_rule: ``(regular expression, the rule in words)`` every name must follow.
        entry_point_group: The entry-point group plugins declare their values in, if any.
        from_entry_point: ``f(name, loaded_object, distribution_name) -> value``: turns
            what an entry point loads into a value (default: the object itself). It may
            raise to reject the plugin.
        owner: ``f(value) -> str``: who registered a value, for the "already registered"
            message.
        case_insensitive: Look names up regardless of case (an exact match wins), and
            count a name that differs from a registered one only in case as taken.
        protected: Names that can be neither replaced nor removed (built-in entries).
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[UnknownNameError],
        name_rule: tuple[str, str] = IDENTIFIER,
        entry_point_group: str | None = None,
        from_entry_point: Callable[[str, Any, str], T] | None = None,
        owner: Callable[[T], str] | None = None,
        case_insensitive: bool = False,
        protected: Iterable[str] = (),
    ) -> None:
        self.kind = kind
        self.error = error
        self._pattern = re.compile(name_rule[0])
        self._rule = name_rule[1]
        self.entry_point_group = entry_point_group
        self._from_entry_point = from_entry_point
        self._owner = owner
        self._values: dict[str, T] = {}
        self._lock = threading.RLock()
        self._plugins_loaded = entry_point_group is None
        self._plugin_errors: dict[str, str] = {}
        self.case_insensitive = case_insensitive
        self._protected = {self._fold(n) for n in protected}

    def _fold(self, name: str) -> str:
        return name.casefold() if self.case_insensitive else name

    def _key(self, name: object) -> str | None:
        """The registered spelling of ``name`` (exact first, then folded), if any."""
        if not isinstance(name, str):
            return None
        if name in self._values or not self.case_insensitive:
            return name if name in self._values else None
        folded = self._fold(name)
        return next((k for k in self._values if self._fold(k) == folded), None)

    def protect(self, *names: str) -> None:
        """Make ``names`` permanent: ``add(..., override=True)`` and ``remove`` refuse them."""
        with self._lock:
            self._protected.update(self._fold(n) for n in names)

    # -- writing -----------------------------------------------------------------------------

    def check_name(self, name: object) -> str:
        """Return ``name`` if it follows the name rule.

        Raises:
            ValueError: naming the bad name and the rule.
        """
        if not isinstance(name, str) or not self._pattern.match(name):
            raise ValueError(f"invalid {self.kind} name {shorten(name)}: {self._rule}")
        return name

    def add(self, name: str, value: T, *, override: bool = False) -> None:
        """Register ``value`` under ``name``.

        Raises:
            ValueError: ``name`` breaks the name rule, or is taken and ``override`` is False.
        """
        self.check_name(name)
        with self._lock:
            key = self._key(name)
            if key is not None and self._fold(key) in self._protected:
                raise ValueError(f"{self.kind} {key!r} is built in and cannot be replaced")
            if key is not None and not override:
                existing = self._values[key]
                by = f" (by {self._owner(existing)})" if self._owner is not None else ""
                raise ValueError(
                    f"{self.kind} {key!r} is already registered{by}; pick another name or "
                    "pass override=True"
                )
            if key is not None:
                del self._values[key]
            self._values[name] = value
            self._plugin_errors.pop(name, None)

    def remove(self, name: str) -> None:
        """Remove ``name``.

        Raises:
            UnknownNameError: (the registry's subclass) ``name`` is not registered.
        """
        with self._lock:
            key = self._key(name)
            if key is None:
                raise self.error(f"cannot unregister unknown {self.kind} {shorten(name)}")
            if self._fold(key) in self._protected:
                raise ValueError(f"{self.kind} {key!r} is built in and cannot be removed")
            del self._values[key]

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The value registered as ``name``.

        Raises:
            UnknownNameError: (the registry's subclass) an unknown name; the message
                suggests close matches, or says why a plugin of that name failed to load.
        """
        self._load_plugins()
        key = self._key(name)
        if key is not None:
            return self._values[key]
        if isinstance(name, str) and name in self._plugin_errors:
            raise self.error(
                f"{self.kind} {name!r} failed to load from its plugin: {self._plugin_errors[name]}"
            )
        raise self.error(
            f"unknown {self.kind} {shorten(name)}{close_matches(str(name), self._values)}"
        )

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return self._key(name) is not None

    def names(self, pattern: str | None = None) -> list[str]:
        """The registered names, sorted; ``pattern`` keeps those matching a shell wildcard."""
        self._load_plugins()
        with self._lock:
            names = sorted(self._values)
        if pattern is not None:
            fold = self._fold
            names = [n for n in names if fnmatch.fnmatchcase(fold(n), fold(pattern))]
        return names

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, value)`` pairs, sorted by name (a snapshot: safe to register meanwhile)."""
        self._load_plugins()
        with self._lock:
            pairs = sorted(self._values.items())
        return iter(pairs)

    def name_of(self, value: object) -> str | None:
        """The first name (sorted) under which ``value`` itself is registered, if any."""
        for name, registered in self.items():
            if registered is value:
                return name
        return None

    # -- plugins ------------------------------------------------------------------------------

    def _load_plugins(self) -> None:
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True
            assert self.entry_point_group is not None
            for ep in metadata.entry_points(group=self.entry_point_group):
                dist = ep.dist.name if ep.dist is not None else ep.value
                if self._key(ep.name) is not None:
                    logger.warning(
                        "%s %r from plugin %s ignored: the name is already registered%s",
                        self.kind,
                        ep.name,
                        dist,
                        f" by {self._owner(self._values[ep.name])}" if self._owner else "",
                    )
                    continue
                try:
                    loaded = ep.load()
                    value = (
                        self._from_entry_point(ep.name, loaded, dist)
                        if self._from_entry_point is not None
                        else loaded
                    )
                    self.add(ep.name, value)
                except Exception as exc:  # a broken plugin must not break cnas
                    self._plugin_errors[ep.name] = (
                        f"{dist} ({ep.value}): {type(exc).__name__}: {exc}"
                    )
                    logger.warning(
                        "could not load %s %r from plugin %s: %s", self.kind, ep.name, dist, exc
                    )


def close_matches(name: str, known: Iterable[str]) -> str:
    """Return a "did you mean ...?" fragment and the list of known names, for messages."""
    known_sorted = sorted(known)
    # a name far longer than any known one matches none (and difflib would take minutes)
    longest = max((len(k) for k in known_sorted), default=0)
    close = len(name) <= 2 * longest + 10
    matches = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6) if close else []
    hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    return f"{hint or ';'} known: {', '.join(known_sorted)}"
