"""The one registry behind ops, models and search strategies.

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
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError

__all__ = ["IDENTIFIER", "Registry", "close_matches"]

logger = logging.getLogger("cnas")

T = TypeVar("T")

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

    # -- writing -----------------------------------------------------------------------------

    def check_name(self, name: object) -> str:
        """Return ``name`` if it follows the name rule.

        Raises:
            ValueError: naming the bad name and the rule.
        """
        if not isinstance(name, str) or not self._pattern.match(name):
            raise ValueError(f"invalid {self.kind} name {name!r}: {self._rule}")
        return name

    def add(self, name: str, value: T, *, override: bool = False) -> None:
        """Register ``value`` under ``name``.

        Raises:
            ValueError: ``name`` breaks the name rule, or is taken and ``override`` is False.
        """
        self.check_name(name)
        with self._lock:
            existing = self._values.get(name)
            if existing is not None and not override:
                by = f" (by {self._owner(existing)})" if self._owner is not None else ""
                raise ValueError(
                    f"{self.kind} {name!r} is already registered{by}; pick another name or "
                    "pass override=True"
                )
            self._values[name] = value
            self._plugin_errors.pop(name, None)

    def remove(self, name: str) -> None:
        """Remove ``name``.

        Raises:
            UnknownNameError: (the registry's subclass) ``name`` is not registered.
        """
        with self._lock:
            if name not in self._values:
                raise self.error(f"cannot unregister unknown {self.kind} {name!r}")
            del self._values[name]

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The value registered as ``name``.

        Raises:
            UnknownNameError: (the registry's subclass) an unknown name; the message
                suggests close matches, or says why a plugin of that name failed to load.
        """
        self._load_plugins()
        value = self._values.get(name) if isinstance(name, str) else None
        if value is not None:
            return value
        if isinstance(name, str) and name in self._plugin_errors:
            raise self.error(
                f"{self.kind} {name!r} failed to load from its plugin: {self._plugin_errors[name]}"
            )
        raise self.error(f"unknown {self.kind} {name!r}{close_matches(str(name), self._values)}")

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._values

    def names(self, pattern: str | None = None) -> list[str]:
        """The registered names, sorted; ``pattern`` keeps those matching a shell wildcard."""
        self._load_plugins()
        with self._lock:
            names = sorted(self._values)
        if pattern is not None:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
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
                if ep.name in self._values:
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
    matches = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    return f"{hint or ';'} known: {', '.join(known_sorted)}"
