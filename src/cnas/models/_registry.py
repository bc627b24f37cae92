"""The model registry and its weights lookup.

``register_model``, ``get_model_weights``, ``list_models``, ``unregister_model`` and the
lookups of registered weights by name (``find_weights``) or by file (``known_weights``).
Nothing here builds from the Hub: ``hf-hub:`` names are resolved one floor up, in
``_factory.get_model``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, overload

from torch import nn

from .._registry import ENTRY_POINT_GROUPS, Registry
from ..errors import UnknownModelError
from ._hashes import sha256_file
from ._weights import UrlSource, WeightsEnum

__all__ = [
    "ModelSpec",
    "find_weights",
    "get_model_weights",
    "known_weights",
    "list_models",
    "model_spec",
    "model_specs",
    "register_model",
    "unregister_model",
]

logger = logging.getLogger("cnas")

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name, builder and weights enum.

    Attributes:
        name: The registered name, e.g. ``"cnas_imagenet"``.
        builder: The function that builds the model; it takes the keyword arguments of
            ``get_model``.
        weights: The enum of the builder's pretrained weights, or ``None`` when it has
            none.
    """

    name: str
    builder: Builder
    weights: type[WeightsEnum] | None = None


def _from_entry_point(name: str, value: object, dist: str) -> ModelSpec:
    if isinstance(value, ModelSpec):
        return ModelSpec(name=name, builder=value.builder, weights=value.weights)
    if not callable(value):
        raise TypeError(f"model {name!r}: expected a builder function, got {type(value).__name__}")
    return ModelSpec(name=name, builder=value)


_REGISTRY: Registry[ModelSpec] = Registry(
    "model",
    error=UnknownModelError,
    name_rule=(
        r"^[a-z_][a-z0-9_]*$",
        "use lower-case letters, digits and underscores, not starting with a digit",
    ),
    entry_point_group=ENTRY_POINT_GROUPS["models"],
    from_entry_point=_from_entry_point,
    owner=lambda spec: spec.builder.__module__,
)


@overload
def register_model(builder: B, /) -> B: ...


@overload
def register_model(
    *, name: str | None = None, weights: type[WeightsEnum] | None = None, override: bool = False
) -> Callable[[B], B]: ...


def register_model(
    builder: B | None = None,
    /,
    *,
    name: str | None = None,
    weights: type[WeightsEnum] | None = None,
    override: bool = False,
) -> B | Callable[[B], B]:
    """Register a model builder; use as ``@register_model`` or ``@register_model(...)``.

    Args:
        builder: The builder function (when used without parentheses).
        name: The registered name; default: the function's name. Lower-case letters,
            digits and underscores.
        weights: The enum of the builder's pretrained weights, if any; ``get_model_weights``
            returns it and ``list_models(with_weights=True)`` lists the model.
        override: Replace an existing registration of ``name`` instead of refusing it.

    Returns:
        The builder, unchanged (or a decorator that registers and returns it).

    Raises:
        ValueError: the name is not valid, or is already registered and ``override`` is
            False.

    Examples:
        >>> import cnas
        >>> @cnas.models.register_model
        ... def tiny_cnas(**kwargs):
        ...     return cnas.NetworkCIFAR(8, 10, 5, False, "CNAS", **kwargs)
        >>> cnas.models.list_models("tiny_*")
        ['tiny_cnas']
        >>> cnas.models.unregister_model("tiny_cnas")
    """

    def decorator(fn: B) -> B:
        if not callable(fn):
            raise TypeError(f"register_model: expected a function, got {type(fn).__name__}")
        key = name if name is not None else getattr(fn, "__name__", "")
        _REGISTRY.add(key, ModelSpec(name=key, builder=fn, weights=weights), override=override)
        return fn

    if builder is not None:
        return decorator(builder)
    return decorator


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry.

    Raises:
        UnknownModelError: ``name`` is not registered.
    """
    _REGISTRY.remove(name)


def model_spec(name: str) -> ModelSpec:
    """The registration of ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; the message suggests close
            matches.
    """
    return _REGISTRY.get(name)


def model_specs() -> Iterator[ModelSpec]:
    """Every registration, sorted by name (a snapshot: safe to register meanwhile)."""
    return (spec for _, spec in _REGISTRY.items())


def list_models(pattern: str | None = None, *, with_weights: bool = False) -> list[str]:
    """The registered model names, sorted.

    Args:
        pattern: Keep only names matching this shell-style wildcard (``"*_cifar10"``).
        with_weights: Keep only models with published pretrained weights (weights that
            are declared but not published yet, like ``cnas_cifar10``'s, do not count;
            ``get_model_weights`` still returns their enum).

    Examples:
        >>> import cnas
        >>> cnas.models.list_models("cnas_*")
        ['cnas_cifar10', 'cnas_imagenet']
    """
    names = _REGISTRY.names(pattern)
    if with_weights:
        names = [n for n in names if _has_published_weights(_REGISTRY.get(n).weights)]
    return names


def _has_published_weights(enum: type[WeightsEnum] | None) -> bool:
    return enum is not None and any(member.value.published for member in enum)


def get_model_weights(name: str) -> type[WeightsEnum] | None:
    """The weights enum of the registered model ``name``, or ``None`` when it has none.

    Raises:
        UnknownModelError: ``name`` is not registered.

    Examples:
        >>> import cnas
        >>> cnas.models.get_model_weights("cnas_imagenet").DEFAULT.name
        'IMAGENET1K_V1'
    """
    return model_spec(name).weights


def _weights_enums() -> list[type[WeightsEnum]]:
    enums: list[type[WeightsEnum]] = []
    for spec in model_specs():
        if spec.weights is not None and spec.weights not in enums:
            enums.append(spec.weights)
    return enums


def find_weights(name: str) -> WeightsEnum:
    """The registered weights called ``"EnumName.MEMBER"``, as ``str()`` of a member
    spells it (and ``config.json`` records it).

    Args:
        name: For example ``"CNAS_ImageNet_Weights.IMAGENET1K_V1"`` or
            ``"CNAS_ImageNet_Weights.DEFAULT"``.

    Raises:
        KeyError: no registered model declares such weights; the message lists the
            known ones.

    Examples:
        >>> import cnas
        >>> str(cnas.models.find_weights("CNAS_ImageNet_Weights.DEFAULT"))
        'CNAS_ImageNet_Weights.IMAGENET1K_V1'
    """
    known: dict[str, WeightsEnum] = {}
    for enum in _weights_enums():
        for key, member in enum.__members__.items():
            known[f"{enum.__name__}.{key}"] = member
    if name not in known:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def known_weights(path: Path) -> WeightsEnum | None:
    """The registered weights whose URL file ``path`` is (same name, matching hash).

    A file named like a registered one whose hash does not match is not recognised
    (with a warning in the log).
    """
    digest: str | None = None
    for enum in _weights_enums():
        for member in enum:
            for source in member.sources:
                if isinstance(source, UrlSource) and source.filename == path.name:
                    digest = digest or sha256_file(path)
                    expected = source.sha256 or source.hash_prefix or "-"
                    if digest.startswith(expected):
                        return member
                    logger.warning(
                        "%s is named like %s's file but its SHA-256 %s does not match %s; "
                        "converting it without that metadata",
                        path,
                        member,
                        digest,
                        expected,
                    )
    return None
