"""Model builders: ``cnas_imagenet``, ``cnas_cifar10`` and the published DARTS-family cells.

Every builder takes ``pretrained`` (also positionally, as the original release's
``cnas_imagenet(pretrained=True)``), then as keywords ``weights=`` (a member of its
weights enum or its name, ``"hf-hub:ORG/NAME[@REVISION]"``, or a local path),
``progress``, ``cache_dir`` and the network's own arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from ._defaults import DEFAULT_NETWORKS
from ._loading import HF_HUB_PREFIX, from_pretrained, load_into, load_state_dict, parse_hf_hub
from ._network import NetworkCIFAR, NetworkImageNet
from ._registry import register_model
from ._state_dict import read_state_dict
from ._weights import CNAS_CIFAR10_Weights, CNAS_ImageNet_Weights, Weights, WeightsEnum

__all__ = [
    "WeightsArg",
    "cnas_cifar10",
    "cnas_imagenet",
    "darts_v1_cifar10",
    "darts_v1_imagenet",
    "darts_v2_cifar10",
    "darts_v2_imagenet",
    "pc_darts_cifar10",
    "pc_darts_imagenet",
    "pdarts_cifar10",
    "pdarts_imagenet",
]

WeightsArg = WeightsEnum | Weights | str | os.PathLike[str] | None
"""What ``weights=`` takes: an enum member or its name, a ``Weights`` record,
``"hf-hub:ORG/NAME[@REVISION]"``, a weights file or a saved-model folder, or ``None``."""

N = TypeVar("N", NetworkCIFAR, NetworkImageNet)

_CIFAR = {
    "C": DEFAULT_NETWORKS["cifar10"].init_channels,
    "num_classes": 10,
    "layers": DEFAULT_NETWORKS["cifar10"].layers,
    "auxiliary": True,
}
_IMAGENET = {
    "C": DEFAULT_NETWORKS["imagenet"].init_channels,
    "num_classes": 1000,
    "layers": DEFAULT_NETWORKS["imagenet"].layers,
    "auxiliary": True,
}


def _with_pretrained(
    pretrained: bool, weights: WeightsArg, enum: type[WeightsEnum] | None, name: str
) -> WeightsArg:
    """``weights`` with ``pretrained=True`` spelled out: the enum's ``DEFAULT``."""
    if not isinstance(pretrained, bool):
        raise TypeError(
            f"{name}: pretrained must be True or False, got {pretrained!r}; pass other "
            "weights as weights=..."
        )
    if not pretrained:
        return weights
    if weights is not None:
        raise ValueError(
            f"{name}: pass pretrained=True or weights=, not both (pretrained=True means "
            f"weights={enum.__name__ + '.DEFAULT' if enum is not None else '...'})"
        )
    if enum is None:
        raise ValueError(
            f"{name} has no pretrained weights, so pretrained=True cannot load any; pass "
            "weights= a file, a folder or 'hf-hub:ORG/NAME' (models with weights: "
            "cnas.models.list_models(with_weights=True))"
        )
    return enum.from_str("DEFAULT")


def _resolve(
    weights: WeightsArg, enum: type[WeightsEnum] | None, name: str
) -> Weights | str | Path | None:
    """A ``Weights`` record, an ``hf-hub:`` spec, a local path, or ``None``."""
    if weights is None or isinstance(weights, Weights):
        return weights
    if isinstance(weights, WeightsEnum):
        if enum is None or not isinstance(weights, enum):
            fits = f"{enum.__name__} members" if enum is not None else "a file or hf-hub: repo"
            raise ValueError(f"{name} cannot load {weights}; it takes {fits}")
        return weights.value
    if isinstance(weights, str) and weights.startswith(HF_HUB_PREFIX):
        parse_hf_hub(weights)  # fail early on a malformed spec
        return weights
    if enum is not None and isinstance(weights, str):
        try:
            return enum.from_str(weights).value
        except KeyError:
            pass
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if path.exists():
            return path
        members = f" a member of {enum.__name__} ({', '.join(enum.__members__)})," if enum else ""
        raise FileNotFoundError(
            f"{name}: weights={str(weights)!r} is neither{members} 'hf-hub:ORG/NAME', nor "
            "an existing file or folder"
        )
    raise TypeError(
        f"{name}: weights must be a weights enum member, a string or a path, "
        f"got {type(weights).__name__}"
    )


def _build(
    name: str,
    cls: type[N],
    defaults: dict[str, Any],
    genotype: str,
    enum: type[WeightsEnum] | None,
    pretrained: bool,
    weights: WeightsArg,
    progress: bool,
    cache_dir: str | os.PathLike[str] | None,
    kwargs: dict[str, Any],
) -> N:
    weights = _with_pretrained(pretrained, weights, enum, name)
    spec = _resolve(weights, enum, name)
    if isinstance(spec, str) or (isinstance(spec, Path) and spec.is_dir()):
        model = from_pretrained(spec, cache_dir=cache_dir, progress=progress, **kwargs)
        if not isinstance(model, cls):
            raise ValueError(
                f"{spec} holds a {type(model).__name__}, but {name} builds a {cls.__name__}; "
                f"load it with cnas.models.from_pretrained({str(spec)!r})"
            )
        return model
    args = {**defaults, "genotype": genotype, **kwargs}
    if isinstance(spec, Weights):
        if args["num_classes"] != spec.num_classes:
            raise ValueError(
                f"{name}: the weights have {spec.num_classes} classes, not "
                f"num_classes={args['num_classes']}"
            )
        model = cls(**args)
        label = next((str(m) for m in enum or () if m.value is spec), str(weights))
        state = load_state_dict(spec, cache_dir=cache_dir, progress=progress, name=label)
        load_into(model, state, label)
        return model.eval()
    model = cls(**args)
    if isinstance(spec, Path):
        load_into(model, read_state_dict(spec), str(spec))
        return model.eval()
    return model


@register_model(weights=CNAS_ImageNet_Weights)
def cnas_imagenet(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkImageNet:
    """CNAS on ImageNet: ``NetworkImageNet(48, 1000, 14, True, CNAS)``, as the original
    release built it (5.3M parameters, 576M multiply-adds).

    Args:
        pretrained: ``True``: load the official weights, as the original release's
            ``cnas_imagenet(pretrained=True)`` does (also positionally,
            ``cnas_imagenet(True)``); the same as ``weights="DEFAULT"``. ``False`` (the
            default): random initialization, unless ``weights=`` names weights.
        weights: ``CNAS_ImageNet_Weights.IMAGENET1K_V1`` (or ``.DEFAULT``, or the string
            ``"DEFAULT"``): the official checkpoint, 75.4% top-1. Also
            ``"hf-hub:ORG/NAME[@REVISION]"``, a local ``.safetensors``/``.pth`` file or
            a folder written by ``cnas train``/``save_pretrained``. ``None``: no weights
            (unless ``pretrained=True``). Not together with ``pretrained=True``.
        progress: Show a download progress bar.
        cache_dir: Where downloads are cached (default: the Hub cache for Hub files,
            ``$TORCH_HOME/hub/checkpoints`` for URL files).
        **kwargs: ``NetworkImageNet`` arguments overriding the defaults (``C``,
            ``num_classes``, ``layers``, ``auxiliary``, ``genotype``, ``dropout``,
            ``in_channels``). With weights, ``auxiliary=False`` leaves the auxiliary
            head (and its tensors) out.

    Returns:
        The network; in eval mode when weights were loaded.

    Raises:
        ValueError: ``pretrained=True`` together with ``weights=``.
        WeightsNotFoundError: the weights cannot be found or downloaded.
        WeightsIntegrityError: a downloaded or cached file failed its hash check.
        WeightsFormatError: the file is unreadable, refused, or does not fit.

    Examples:
        >>> import cnas
        >>> net = cnas.models.cnas_imagenet()  # random weights
        >>> cnas.utils.count_params(net)
        5318368

        With the official weights (downloaded once, then cached)::

            model = cnas.models.cnas_imagenet(pretrained=True)
            weights = cnas.models.CNAS_ImageNet_Weights.DEFAULT  # the same weights
            batch = weights.transforms()(image).unsqueeze(0)
            label = weights.categories[model(batch).argmax().item()]
    """
    return _build(
        "cnas_imagenet",
        NetworkImageNet,
        _IMAGENET,
        "CNAS",
        CNAS_ImageNet_Weights,
        pretrained,
        weights,
        progress,
        cache_dir,
        kwargs,
    )


@register_model(weights=CNAS_CIFAR10_Weights)
def cnas_cifar10(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkCIFAR:
    """CNAS on CIFAR-10: ``NetworkCIFAR(36, 10, 20, True, CNAS)`` (3.7M parameters).

    Args:
        pretrained: ``True``: load ``CNAS_CIFAR10_Weights.DEFAULT`` (the same as
            ``weights="DEFAULT"``; declared, not yet published, so this raises
            ``WeightsNotFoundError`` for now). ``False`` (the default): random
            initialization, unless ``weights=`` names weights.
        weights: ``CNAS_CIFAR10_Weights.CIFAR10_V1`` (declared; not yet published on
            the Hub), ``"hf-hub:ORG/NAME[@REVISION]"``, a local file or folder, or
            ``None`` (no weights). Not together with ``pretrained=True``.
        progress: Show a download progress bar.
        cache_dir: Where downloads are cached (default: the Hub cache).
        **kwargs: ``NetworkCIFAR`` arguments overriding the defaults (``C``,
            ``num_classes``, ``layers``, ``auxiliary``, ``genotype``, ``in_channels``).

    Returns:
        The network; in eval mode when weights were loaded.

    Examples:
        >>> import cnas
        >>> cnas.utils.count_params(cnas.models.cnas_cifar10())
        3695374
    """
    return _build(
        "cnas_cifar10",
        NetworkCIFAR,
        _CIFAR,
        "CNAS",
        CNAS_CIFAR10_Weights,
        pretrained,
        weights,
        progress,
        cache_dir,
        kwargs,
    )


def _cifar(
    name: str,
    genotype: str,
    pretrained: bool,
    weights: WeightsArg,
    progress: bool,
    cache_dir: str | os.PathLike[str] | None,
    kwargs: dict[str, Any],
) -> NetworkCIFAR:
    return _build(
        name, NetworkCIFAR, _CIFAR, genotype, None, pretrained, weights, progress, cache_dir, kwargs
    )


def _imagenet(
    name: str,
    genotype: str,
    pretrained: bool,
    weights: WeightsArg,
    progress: bool,
    cache_dir: str | os.PathLike[str] | None,
    kwargs: dict[str, Any],
) -> NetworkImageNet:
    return _build(
        name,
        NetworkImageNet,
        _IMAGENET,
        genotype,
        None,
        pretrained,
        weights,
        progress,
        cache_dir,
        kwargs,
    )


@register_model
def darts_v1_cifar10(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkCIFAR:
    """The DARTS (first order) cell in ``NetworkCIFAR(36, 10, 20, True, ...)``; no
    pretrained weights (``pretrained=True`` is an error; ``weights=`` takes a file, a folder
    or ``hf-hub:``)."""
    return _cifar("darts_v1_cifar10", "DARTS_V1", pretrained, weights, progress, cache_dir, kwargs)


@register_model
def darts_v2_cifar10(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkCIFAR:
    """The DARTS (second order) cell in ``NetworkCIFAR(36, 10, 20, True, ...)``; no
    pretrained weights (``pretrained=True`` is an error; ``weights=`` takes a file, a folder
    or ``hf-hub:``)."""
    return _cifar("darts_v2_cifar10", "DARTS_V2", pretrained, weights, progress, cache_dir, kwargs)


@register_model
def pc_darts_cifar10(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkCIFAR:
    """The PC-DARTS cell in ``NetworkCIFAR(36, 10, 20, True, ...)``; no pretrained weights
    (``pretrained=True`` is an error; ``weights=`` takes a file, a folder or ``hf-hub:``)."""
    return _cifar("pc_darts_cifar10", "PC_DARTS", pretrained, weights, progress, cache_dir, kwargs)


@register_model
def pdarts_cifar10(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkCIFAR:
    """The P-DARTS cell in ``NetworkCIFAR(36, 10, 20, True, ...)``; no pretrained weights
    (``pretrained=True`` is an error; ``weights=`` takes a file, a folder or ``hf-hub:``)."""
    return _cifar("pdarts_cifar10", "PDARTS", pretrained, weights, progress, cache_dir, kwargs)


@register_model
def darts_v1_imagenet(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkImageNet:
    """The DARTS (first order) cell in ``NetworkImageNet(48, 1000, 14, True, ...)``; no
    pretrained weights (``pretrained=True`` is an error; ``weights=`` takes a file, a folder
    or ``hf-hub:``)."""
    return _imagenet(
        "darts_v1_imagenet", "DARTS_V1", pretrained, weights, progress, cache_dir, kwargs
    )


@register_model
def darts_v2_imagenet(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkImageNet:
    """The DARTS (second order) cell in ``NetworkImageNet(48, 1000, 14, True, ...)``; no
    pretrained weights (``pretrained=True`` is an error; ``weights=`` takes a file, a folder
    or ``hf-hub:``)."""
    return _imagenet(
        "darts_v2_imagenet", "DARTS_V2", pretrained, weights, progress, cache_dir, kwargs
    )


@register_model
def pc_darts_imagenet(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkImageNet:
    """The PC-DARTS cell (searched on CIFAR-10) in ``NetworkImageNet(48, 1000, 14, True,
    ...)``; no pretrained weights (``pretrained=True`` is an error; ``weights=`` takes a
    file, a folder or ``hf-hub:``)."""
    return _imagenet(
        "pc_darts_imagenet", "PC_DARTS", pretrained, weights, progress, cache_dir, kwargs
    )


@register_model
def pdarts_imagenet(
    pretrained: bool = False,
    *,
    weights: WeightsArg = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> NetworkImageNet:
    """The P-DARTS cell in ``NetworkImageNet(48, 1000, 14, True, ...)``; no pretrained
    weights (``pretrained=True`` is an error; ``weights=`` takes a file, a folder or
    ``hf-hub:``)."""
    return _imagenet("pdarts_imagenet", "PDARTS", pretrained, weights, progress, cache_dir, kwargs)
