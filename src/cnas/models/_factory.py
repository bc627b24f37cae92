"""``get_model``: a model by name, one floor above the registry.

A registered name goes to its builder; ``"hf-hub:ORG/NAME[@REVISION]"`` is resolved
here, by loading the repository with ``from_pretrained`` (timm's ``create_model`` sits
above its registry the same way), so the registry itself knows nothing of the Hub.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ._loading import HF_HUB_PREFIX, from_pretrained
from ._registry import model_spec

__all__ = ["get_model"]


def get_model(name: str, weights: Any = None, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``, optionally with pretrained weights.

    Args:
        name: A registered name (see ``list_models``), or ``"hf-hub:ORG/NAME[@REVISION]"``
            for a Hub repository written by ``cnas train`` or ``save_pretrained``.
        weights: What the builder's ``weights=`` takes: a member of its weights enum, its
            name (``"DEFAULT"``), ``"hf-hub:..."`` or a local path.
        **kwargs: Passed to the builder (``pretrained``, ``progress``, ``cache_dir``,
            network arguments). For an ``hf-hub:`` name: ``progress``, ``cache_dir`` and
            ``from_pretrained``'s overrides.

    Returns:
        The model: in eval mode when weights were loaded, else in training mode as
        PyTorch builds modules.

    Raises:
        UnknownModelError: ``name`` is not registered; the message suggests close
            matches.
        ValueError: ``weights=`` or ``pretrained=False`` with an ``hf-hub:`` name, whose
            weights come from the Hub.

    Examples:
        >>> import cnas
        >>> net = cnas.models.get_model("cnas_cifar10", C=8, layers=5)
        >>> type(net).__name__
        'NetworkCIFAR'
    """
    if isinstance(name, str) and name.startswith(HF_HUB_PREFIX):
        if weights is not None:
            raise ValueError(f"get_model({name!r}) takes its weights from the Hub; drop weights=")
        if kwargs.pop("pretrained", True) is not True:
            raise ValueError(
                f"get_model({name!r}) loads the repository's weights; drop pretrained="
            )
        return from_pretrained(name, **kwargs)
    builder = model_spec(name).builder
    # a builder of your own need not take weights=: it is passed only when given
    return builder(**kwargs) if weights is None else builder(weights=weights, **kwargs)
