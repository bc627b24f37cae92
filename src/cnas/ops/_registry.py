"""The registry of candidate operations, with entry-point plugins (group ``cnas.ops``)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from torch import nn

from .._errors import UnknownNameError, close_matches

__all__ = [
    "ENTRY_POINT_GROUP",
    "OpFactory",
    "OpSpec",
    "UnknownOpError",
    "get_op",
    "is_registered",
    "list_ops",
    "register_op",
    "unregister_op",
]

logger = logging.getLogger("cnas")

ENTRY_POINT_GROUP = "cnas.ops"
"""Entry-point group through which installed packages contribute ops."""

OpFactory = Callable[[int, int, bool], nn.Module]
"""``factory(C, stride, affine) -> nn.Module``: an op mapping ``C`` channels to ``C`` channels,
downsampling by ``stride``; ``affine`` says whether its BatchNorms learn scale and shift."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnknownOpError(UnknownNameError):
    """An op name that is not in the registry (a ``KeyError``)."""


@dataclass(frozen=True)
class OpSpec:
    """A registered op: its name, factory and what the search needs to know about it.

    Calling the spec builds the module: ``get_op("sep_conv_3x3")(16, 1, True)``.

    Attributes:
        name: The registered name.
        factory: ``factory(C, stride, affine) -> nn.Module``.
        pooling: True for parameter-free pooling ops; the supernet follows them with a
            BatchNorm, as the original implementation does.
        source: ``"cnas"`` for built-in ops, ``"user"`` for ``register_op`` calls, or the
            distribution name of the plugin package that provided it.
    """

    name: str
    factory: OpFactory
    pooling: bool = False
    source: str = "user"

    def __call__(self, C: int, stride: int, affine: bool) -> nn.Module:
        """Build the op for ``C`` channels and the given stride."""
        return self.factory(C, stride, affine)


_REGISTRY: dict[str, OpSpec] = {}
_LOCK = threading.RLock()
_plugins_loaded = False
_plugin_errors: dict[str, str] = {}


def register_op(
    name: str, *, pooling: bool = False, override: bool = False, source: str = "user"
) -> Callable[[OpFactory], OpFactory]:
    """Register an op factory under ``name``; use as a decorator.

    Args:
        name: A Python-identifier-like name, unique in the registry.
        pooling: Mark a parameter-free pooling op (the supernet adds a BatchNorm after it).
        override: Replace an existing registration instead of refusing it.
        source: Who provides the op; shown by ``get_op(name).source``.

    Returns:
        A decorator that registers the factory and returns it unchanged.

    Raises:
        ValueError: ``name`` is not a valid name, or is taken and ``override`` is False.

    Examples:
        >>> import torch.nn as nn, cnas
        >>> @cnas.ops.register_op("doc_identity")
        ... def doc_identity(C, stride, affine):
        ...     return nn.Identity()
        >>> "doc_identity" in cnas.ops.list_ops()
        True
        >>> cnas.ops.unregister_op("doc_identity")
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"invalid op name {name!r}: use letters, digits and underscores, "
            "not starting with a digit"
        )

    def decorator(factory: OpFactory) -> OpFactory:
        if not callable(factory):
            raise TypeError(f"op {name!r}: factory must be callable, got {type(factory).__name__}")
        with _LOCK:
            existing = _REGISTRY.get(name)
            if existing is not None and not override:
                raise ValueError(
                    f"op {name!r} is already registered (by {existing.source}); "
                    "pick another name or pass override=True"
                )
            _REGISTRY[name] = OpSpec(name=name, factory=factory, pooling=pooling, source=source)
        return factory

    return decorator


def unregister_op(name: str) -> None:
    """Remove ``name`` from the registry.

    Raises:
        UnknownOpError: ``name`` is not registered.
    """
    with _LOCK:
        if name not in _REGISTRY:
            raise UnknownOpError(f"cannot unregister unknown op {name!r}")
        del _REGISTRY[name]


def _load_plugins() -> None:
    """Register the ops that installed packages declare in the ``cnas.ops`` group, once."""
    global _plugins_loaded
    with _LOCK:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else ep.value
            if ep.name in _REGISTRY:
                logger.warning(
                    "op %r from plugin %s ignored: the name is already registered by %s",
                    ep.name,
                    dist,
                    _REGISTRY[ep.name].source,
                )
                continue
            try:
                factory = ep.load()
                pooling = bool(getattr(factory, "cnas_pooling", False))
                register_op(ep.name, pooling=pooling, source=dist)(factory)
            except Exception as exc:  # a broken plugin must not break cnas
                _plugin_errors[ep.name] = f"{dist} ({ep.value}): {type(exc).__name__}: {exc}"
                logger.warning("could not load op %r from plugin %s: %s", ep.name, dist, exc)


def get_op(name: str) -> OpSpec:
    """Return the registered op ``name``.

    Raises:
        UnknownOpError: ``name`` is not registered; the message suggests close matches.
    """
    _load_plugins()
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is not None:
        return spec
    if isinstance(name, str) and name in _plugin_errors:
        raise UnknownOpError(f"op {name!r} failed to load from its plugin: {_plugin_errors[name]}")
    raise UnknownOpError(f"unknown op {name!r}{close_matches(str(name), _REGISTRY)}")


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered op (plugins included)."""
    _load_plugins()
    return name in _REGISTRY


def list_ops(pattern: str | None = None) -> list[str]:
    """The registered op names, sorted; ``pattern`` filters with shell-style wildcards.

    Examples:
        >>> import cnas
        >>> cnas.ops.list_ops("sep_conv_*")
        ['sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7']
    """
    import fnmatch

    _load_plugins()
    names = sorted(_REGISTRY)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names
