"""Network configs: the JSON dict that identifies a network, and the saved-model layout.

A saved model is a folder (or a Hub repository) with ``model.safetensors``, a
``config.json`` whose network keys ``network_config`` writes and ``network_from_config``
reads, and a ``README.md`` model card. ``cnas train`` checkpoints carry the same dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._genotype import Genotype
from .._io import parse_json
from .._memory import check_fits
from ..errors import WeightsFormatError
from ._network import NetworkCIFAR, NetworkImageNet

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "NETWORK_KEYS",
    "WEIGHTS_NAME",
    "infer_network_config",
    "network_config",
    "network_from_config",
    "read_config",
]

CONFIG_NAME = "config.json"
"""The file of a saved model that describes its network (and dataset, metrics, ...)."""

WEIGHTS_NAME = "model.safetensors"
"""The file of a saved model that holds its state dict."""

CARD_NAME = "README.md"
"""The file of a saved model that holds its model card."""

NETWORK_KEYS = (
    "network",
    "genotype",
    "init_channels",
    "layers",
    "num_classes",
    "auxiliary",
    "in_channels",
)
"""The keys of ``network_config``, in the order it writes them."""

Network = NetworkCIFAR | NetworkImageNet

_NETWORKS: dict[str, type[NetworkCIFAR] | type[NetworkImageNet]] = {
    "NetworkCIFAR": NetworkCIFAR,
    "NetworkImageNet": NetworkImageNet,
}
_OVERRIDABLE = ("auxiliary", "dropout")


def network_config(model: nn.Module) -> dict[str, Any]:
    """The dict that identifies ``model``'s network: enough to build it again, untrained.

    Its keys are ``network`` (the class name), ``genotype`` (``Genotype.to_dict()``),
    ``init_channels``, ``layers``, ``num_classes``, ``auxiliary`` and ``in_channels``;
    every value is JSON-ready. ``save_pretrained`` writes it into ``config.json`` and
    ``cnas train`` stores it in its checkpoints; ``from_pretrained`` builds the network
    from it.

    Args:
        model: A ``NetworkCIFAR`` or ``NetworkImageNet``.

    Returns:
        A new dict (the caller may add keys to it).

    Raises:
        TypeError: ``model`` is not a ``NetworkCIFAR`` or ``NetworkImageNet``.

    Examples:
        >>> import cnas
        >>> config = cnas.models.network_config(cnas.NetworkCIFAR(16, 10, 8, False, "CNAS"))
        >>> {k: config[k] for k in ("network", "init_channels", "layers", "num_classes")}
        {'network': 'NetworkCIFAR', 'init_channels': 16, 'layers': 8, 'num_classes': 10}
    """
    if isinstance(model, NetworkImageNet):
        first, last = model.stem0[0], model.stem0[3]
    elif isinstance(model, NetworkCIFAR):
        first = last = model.stem[0]
    else:
        raise TypeError(f"expected a NetworkCIFAR or NetworkImageNet, got {type(model).__name__}")
    assert isinstance(first, nn.Conv2d)
    assert isinstance(last, nn.Conv2d)
    # the CIFAR stem has 3 * C channels, the ImageNet stem0 ends with C
    C = last.out_channels // 3 if isinstance(model, NetworkCIFAR) else last.out_channels
    return {
        "network": type(model).__name__,
        "genotype": model.genotype.to_dict(),
        "init_channels": int(C),
        "layers": len(model.cells),
        "num_classes": model.classifier.out_features,
        "auxiliary": model.auxiliary,
        "in_channels": first.in_channels,
    }


def network_from_config(
    config: Mapping[str, Any], origin: str = CONFIG_NAME, **overrides: Any
) -> Network:
    """Build the network a ``network_config`` dict describes (untrained).

    Args:
        config: The dict (a parsed ``config.json``, say).
        origin: Where the config came from, for messages.
        **overrides: ``auxiliary=False`` (build without the auxiliary head) or
            ``dropout=`` (``NetworkImageNet`` only).

    Raises:
        WeightsFormatError: the config lacks a key or names an unknown network.
        TypeError: an override other than ``auxiliary`` or ``dropout``.
    """
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise TypeError(
            f"{origin} fixes the architecture; only {', '.join(_OVERRIDABLE)} can be "
            f"changed, not {', '.join(unknown)}"
        )
    missing = [k for k in NETWORK_KEYS if k != "in_channels" and k not in config]
    if missing:
        raise WeightsFormatError(
            f"{origin} does not describe a cnas network: missing {', '.join(missing)}"
        )
    cls = _NETWORKS.get(str(config["network"]))
    if cls is None:
        raise WeightsFormatError(
            f"{origin}: unknown network {config['network']!r}; known: {', '.join(_NETWORKS)}"
        )
    try:
        genotype = Genotype.from_dict(config["genotype"])
    except ValueError as exc:
        raise WeightsFormatError(f"{origin}: {exc}") from None
    sizes = {key: config.get(key, 3) for key in ("init_channels", "num_classes", "layers")}
    sizes["in_channels"] = config.get("in_channels", 3)
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise WeightsFormatError(f"{origin}: {key} must be an integer, got {shown}")
    if not isinstance(config["auxiliary"], bool):
        raise WeightsFormatError(
            f"{origin}: auxiliary must be true or false, got {config['auxiliary']!r:.40}"
        )
    auxiliary = bool(overrides.pop("auxiliary", config["auxiliary"]))
    if auxiliary and not config["auxiliary"]:
        raise ValueError(f"{origin} has no auxiliary head to load; drop auxiliary=True")
    if "dropout" in overrides and cls is not NetworkImageNet:
        raise TypeError("dropout= applies to NetworkImageNet only")
    try:
        args = (sizes["init_channels"], sizes["num_classes"], sizes["layers"], auxiliary, genotype)
        in_channels = sizes["in_channels"]
        # a config.json is a user's file: refuse a network too large to hold before building it
        check_fits(lambda: cls(*args, in_channels=in_channels, **overrides), copies=1)
        return cls(*args, in_channels=in_channels, **overrides)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WeightsFormatError(f"{origin}: {exc}") from None


def infer_network_config(
    state: Mapping[str, torch.Tensor], genotype: Genotype, origin: str
) -> dict[str, Any]:
    """The ``network_config`` of the network that ``state`` (an original-format state
    dict) was saved from; the genotype cannot be read from shapes, so it is given.

    Raises:
        WeightsFormatError: ``state`` is not the state dict of a cnas network.
    """
    if "stem0.0.weight" in state and "stem0.3.weight" in state:
        network, C = "NetworkImageNet", state["stem0.3.weight"].shape[0]
        in_channels = state["stem0.0.weight"].shape[1]
    elif "stem.0.weight" in state:
        network, C = "NetworkCIFAR", state["stem.0.weight"].shape[0] // 3
        in_channels = state["stem.0.weight"].shape[1]
    else:
        raise WeightsFormatError(
            f"{origin} is not the state dict of a NetworkCIFAR or NetworkImageNet "
            "(no stem.0.weight or stem0.0.weight)"
        )
    cells = {int(k.split(".")[1]) for k in state if k.startswith("cells.")}
    if "classifier.weight" not in state or not cells:
        raise WeightsFormatError(f"{origin} has no cells or no classifier")
    return {
        "network": network,
        "genotype": genotype.to_dict(),
        "init_channels": int(C),
        "layers": max(cells) + 1,
        "num_classes": int(state["classifier.weight"].shape[0]),
        "auxiliary": any(k.startswith("auxiliary_head.") for k in state),
        "in_channels": int(in_channels),
    }


def read_config(path: Path, origin: str) -> dict[str, Any]:
    """The JSON object in ``path`` (a ``config.json``).

    Raises:
        WeightsFormatError: not readable JSON, or not an object.
    """
    try:
        config = parse_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise WeightsFormatError(f"{origin} is not readable JSON: {exc}") from None
    if not isinstance(config, dict):
        raise WeightsFormatError(f"{origin} is not a JSON object")
    return config
