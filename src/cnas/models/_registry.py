"""The model registry: ``register_model``, ``list_models``, ``get_model``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from torch import nn

from .._registry import Registry
from ..errors import UnknownModelError

if TYPE_CHECKING:
    from ._weights import WeightsEnum

__all__ = [
    "ModelSpec",
    "get_model",
    "get_model_weights",
    "list_models",
    "register_model",
    "unregister_model",
]

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

HF_HUB_PREFIX = "hf-hub:"


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


_REGISTRY: Registry[ModelSpec] = Registry(
    "model",
    error=UnknownModelError,
    name_rule=(
        r"^[a-z_][a-z0-9_]*$",
        "use lower-case letters, digits and underscores, not starting with a digit",
    ),
    owner=lambda spec: spec.builder.__module__,
)


@overload
def register_model(builder: B, /) -> B: ...


@overload
def register_model(
    *, name: str | None = None, weights: type[WeightsEnum] | None = None
) -> Callable[[B], B]: ...


def register_model(
    builder: B | None = None,
    /,
    *,
    name: str | None = None,
    weights: type[WeightsEnum] | None = None,
) -> B | Callable[[B], B]:
    """Register a model builder; use as ``@register_model`` or ``@register_model(...)``.

    Args:
        builder: The builder function (when used without parentheses).
        name: The registered name; default: the function's name. Lower-case letters,
            digits and underscores.
        weights: The enum of the builder's pretrained weights, if any; ``get_model_weights``
            returns it and ``list_models(with_weights=True)`` lists the model.

    Returns:
        The builder, unchanged (or a decorator that registers and returns it).

    Raises:
        ValueError: the name is not valid or is already registered.

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
        if key in _REGISTRY:  # models are never replaced silently: unregister first
            raise ValueError(
                f"model {key!r} is already registered (by "
                f"{_REGISTRY.get(key).builder.__module__}); pick another name or "
                "unregister_model() it first"
            )
        _REGISTRY.add(key, ModelSpec(name=key, builder=fn, weights=weights))
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


def _spec(name: str) -> ModelSpec:
    return _REGISTRY.get(name)


def list_models(pattern: str | None = None, *, with_weights: bool = False) -> list[str]:
    """The registered model names, sorted.

    Args:
        pattern: Keep only names matching this shell-style wildcard (``"*_cifar10"``).
        with_weights: Keep only models that declare pretrained weights.

    Examples:
        >>> import cnas
        >>> cnas.models.list_models("cnas_*")
        ['cnas_cifar10', 'cnas_imagenet']
    """
    names = _REGISTRY.names(pattern)
    if with_weights:
        names = [n for n in names if _REGISTRY.get(n).weights is not None]
    return names


def get_model(name: str, weights: Any = None, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``, optionally with pretrained weights.

    Args:
        name: A registered name (see ``list_models``), or ``"hf-hub:ORG/NAME[@REVISION]"``
            for a Hub repository written by ``cnas train`` or ``save_pretrained``.
        weights: What the builder's ``weights=`` takes: a member of its weights enum, its
            name (``"DEFAULT"``), ``"hf-hub:..."`` or a local path.
        **kwargs: Passed to the builder (``progress``, ``cache_dir``, network arguments).

    Returns:
        The model: in eval mode when weights were loaded, else in training mode as
        PyTorch builds modules.

    Raises:
        UnknownModelError: ``name`` is not registered; the message suggests close
            matches.

    Examples:
        >>> import cnas
        >>> net = cnas.models.get_model("cnas_cifar10", C=8, layers=5)
        >>> type(net).__name__
        'NetworkCIFAR'
    """
    if isinstance(name, str) and name.startswith(HF_HUB_PREFIX):
        if weights is not None:
            raise ValueError(f"get_model({name!r}) takes its weights from the Hub; drop weights=")
        from ._pretrained import from_pretrained

        return from_pretrained(name, **kwargs)
    return _spec(name).builder(weights=weights, **kwargs)


def get_model_weights(name: str) -> type[WeightsEnum] | None:
    """The weights enum of the registered model ``name``, or ``None`` when it has none.

    Raises:
        UnknownModelError: ``name`` is not registered.

    Examples:
        >>> import cnas
        >>> cnas.models.get_model_weights("cnas_imagenet").DEFAULT.name
        'IMAGENET1K_V1'
    """
    return _spec(name).weights
