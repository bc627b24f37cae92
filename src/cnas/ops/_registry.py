"""The registry of candidate operations, with entry-point plugins (group ``cnas.ops``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .._registry import ENTRY_POINT_GROUPS, Registry
from ..errors import UnknownOpError

__all__ = [
    "OpFactory",
    "OpSpec",
    "get_op",
    "is_registered",
    "list_ops",
    "register_op",
    "unregister_op",
]

OpFactory = Callable[[int, int, bool], nn.Module]
"""``factory(C, stride, affine) -> nn.Module``: an op mapping ``C`` channels to ``C`` channels,
downsampling by ``stride``; ``affine`` says whether its BatchNorms learn scale and shift."""


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


def _from_entry_point(name: str, factory: object, dist: str) -> OpSpec:
    if not callable(factory):
        raise TypeError(f"op {name!r}: factory must be callable, got {type(factory).__name__}")
    pooling = bool(getattr(factory, "cnas_pooling", False))
    return OpSpec(name=name, factory=factory, pooling=pooling, source=dist)


_REGISTRY: Registry[OpSpec] = Registry(
    "op",
    error=UnknownOpError,
    entry_point_group=ENTRY_POINT_GROUPS["ops"],
    from_entry_point=_from_entry_point,
    owner=lambda spec: spec.source,
)


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
    _REGISTRY.check_name(name)

    def decorator(factory: OpFactory) -> OpFactory:
        if not callable(factory):
            raise TypeError(f"op {name!r}: factory must be callable, got {type(factory).__name__}")
        spec = OpSpec(name=name, factory=factory, pooling=pooling, source=source)
        _REGISTRY.add(name, spec, override=override)
        return factory

    return decorator


def unregister_op(name: str) -> None:
    """Remove ``name`` from the registry.

    Raises:
        UnknownOpError: ``name`` is not registered.
    """
    _REGISTRY.remove(name)


def get_op(name: str) -> OpSpec:
    """Return the registered op ``name``.

    Raises:
        UnknownOpError: ``name`` is not registered; the message suggests close matches.
    """
    return _REGISTRY.get(name)


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered op (plugins included)."""
    return name in _REGISTRY


def list_ops(pattern: str | None = None) -> list[str]:
    """The registered op names, sorted; ``pattern`` filters with shell-style wildcards.

    Examples:
        >>> import cnas
        >>> cnas.ops.list_ops("sep_conv_*")
        ['sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7']
    """
    return _REGISTRY.names(pattern)
