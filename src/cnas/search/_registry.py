"""The strategy registry: ``register_strategy``, ``get_strategy``, ``list_strategies``.

Installed packages contribute strategies through the entry-point group
``cnas.strategies``; each entry point names a ``Strategy`` subclass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .._registry import ENTRY_POINT_GROUPS, Registry
from ..errors import UnknownStrategyError
from ._strategy import Strategy

__all__ = [
    "build_strategy",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "unregister_strategy",
]

S = TypeVar("S", bound=type[Strategy])


def _check_class(name: str, cls: object) -> type[Strategy]:
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(
            f"strategy {name!r}: expected a subclass of cnas.search.Strategy, got {cls!r}"
        )
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TypeError(f"strategy {name!r}: {cls.__name__} does not implement {missing}")
    return cls


def _from_entry_point(name: str, cls: object, dist: str) -> type[Strategy]:
    checked = _check_class(name, cls)
    if "name" not in checked.__dict__ or not checked.__dict__["name"]:
        checked.name = name
    return checked


_REGISTRY: Registry[type[Strategy]] = Registry(
    "strategy",
    error=UnknownStrategyError,
    name_rule=(
        r"^[a-z][a-z0-9_-]*$",
        "use lower-case letters, digits, '_' and '-', starting with a letter",
    ),
    entry_point_group=ENTRY_POINT_GROUPS["strategies"],
    from_entry_point=_from_entry_point,
    owner=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)


def register_strategy(name: str, *, override: bool = False) -> Callable[[S], S]:
    """Register a ``Strategy`` subclass under ``name``; use as a class decorator.

    ``Searcher(..., strategy=name)`` and ``cnas search --strategy name`` then build it
    with its default settings. The class's ``name`` becomes ``name`` (checkpoints record
    it) unless the class sets one itself.

    Args:
        name: Lower-case letters, digits, ``_`` and ``-``, starting with a letter.
        override: Replace an existing registration instead of refusing it.

    Raises:
        ValueError: a bad name, or a taken one without ``override``.
        TypeError: not a ``Strategy`` subclass, or one with unimplemented methods.

    Examples:
        >>> import cnas
        >>> @cnas.search.register_strategy("doc-uniform")
        ... class Uniform(cnas.search.RandomSearch):
        ...     '''Random search under another name.'''
        >>> "doc-uniform" in cnas.search.list_strategies()
        True
        >>> cnas.search.unregister_strategy("doc-uniform")
    """
    _REGISTRY.check_name(name)

    def decorator(cls: S) -> S:
        _check_class(name, cls)
        _REGISTRY.add(name, cls, override=override)
        if not cls.__dict__.get("name"):
            cls.name = name
        return cls

    return decorator


def unregister_strategy(name: str) -> None:
    """Remove ``name`` from the registry.

    Raises:
        UnknownStrategyError: ``name`` is not registered.
    """
    _REGISTRY.remove(name)


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered as ``name``.

    Raises:
        UnknownStrategyError: ``name`` is not registered; the message suggests close
            matches.

    Examples:
        >>> import cnas
        >>> cnas.search.get_strategy("cnas").__name__
        'Reinforce'
    """
    return _REGISTRY.get(name)


def list_strategies(pattern: str | None = None) -> list[str]:
    """The registered strategy names (plugins included), sorted; ``pattern`` filters with
    shell-style wildcards.

    Examples:
        >>> import cnas
        >>> cnas.search.list_strategies()
        ['cnas', 'darts', 'evolution', 'gdas', 'random']
    """
    return _REGISTRY.names(pattern)


def build_strategy(strategy: str | Strategy, **settings: Any) -> Strategy:
    """``strategy`` itself, or a new instance of the strategy registered under that name.

    Raises:
        UnknownStrategyError: an unknown name.
        TypeError: neither a name nor a ``Strategy``, or settings given with an instance.
    """
    if isinstance(strategy, Strategy):
        if settings:
            raise TypeError("settings go to the strategy's constructor, not with an instance")
        return strategy
    if isinstance(strategy, str):
        return get_strategy(strategy)(**settings)
    raise TypeError(
        f"strategy must be a registered name or a cnas.search.Strategy, got {strategy!r}"
    )
