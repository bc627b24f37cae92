"""The network cnas builds for a dataset unless told otherwise: one table, read by the
training presets, the cost model's ``NetworkSpec.for_dataset``, export and the model
builders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_NETWORKS",
    "IMAGENET_STEM_SIZE",
    "DefaultNetwork",
    "default_network",
    "network_for_images",
]

IMAGENET_STEM_SIZE = 112
"""An image folder's images of this side or more get ``NetworkImageNet``'s strided stem
(112 / 8 = 14 pixels reach the first cell, as 224 / 16 does after ImageNet's stem and
first reduction); smaller ones the CIFAR stem."""


@dataclass(frozen=True)
class DefaultNetwork:
    """The evaluation network of a dataset.

    Attributes:
        network: ``"NetworkCIFAR"`` (a 3x3 stem for small images) or
            ``"NetworkImageNet"`` (a strided stem for 224x224 images).
        init_channels: Channels of the first cells (C).
        layers: Cells.
        source: Where the sizes come from.
    """

    network: Literal["NetworkCIFAR", "NetworkImageNet"]
    init_channels: int
    layers: int
    source: str


DEFAULT_NETWORKS: dict[str, DefaultNetwork] = {
    "cifar10": DefaultNetwork(
        "NetworkCIFAR", 36, 20, "the paper (CIFAR-10: C=36, 20 cells) and the original README"
    ),
    "imagenet": DefaultNetwork(
        "NetworkImageNet", 48, 14, "the paper (ImageNet: C=48, 14 cells) and the original README"
    ),
    "digits": DefaultNetwork("NetworkCIFAR", 16, 8, "cnas: the search supernet's size, 8x8 images"),
    "synthetic": DefaultNetwork("NetworkCIFAR", 8, 5, "cnas: a tiny network for tests"),
    "folder": DefaultNetwork(
        "NetworkCIFAR",
        16,
        8,
        "cnas: the search supernet's size, for a few thousand images; images of "
        f"{IMAGENET_STEM_SIZE}x{IMAGENET_STEM_SIZE} or more get NetworkImageNet "
        "(network_for_images)",
    ),
}
"""The default network of each dataset cnas knows (``folder``: an image folder)."""


def network_for_images(dataset: str, image_size: int) -> Literal["NetworkCIFAR", "NetworkImageNet"]:
    """The network class for ``dataset``'s images: its default network's, except that an
    image folder's images of at least ``IMAGENET_STEM_SIZE`` pixels get
    ``NetworkImageNet`` (whose stem divides the side by 8) and smaller ones
    ``NetworkCIFAR`` (a 3x3 stem that keeps it): decided by the images, not the name."""
    if dataset == "folder":
        return "NetworkImageNet" if image_size >= IMAGENET_STEM_SIZE else "NetworkCIFAR"
    return default_network(dataset).network


def default_network(dataset: str) -> DefaultNetwork:
    """The network cnas trains for ``dataset`` unless told otherwise.

    Raises:
        ValueError: an unknown dataset.

    Examples:
        >>> from cnas.models import default_network
        >>> net = default_network("cifar10")
        >>> net.network, net.init_channels, net.layers
        ('NetworkCIFAR', 36, 20)
    """
    try:
        return DEFAULT_NETWORKS[dataset]
    except KeyError:
        raise ValueError(
            f"no default network for dataset {dataset!r}; known: {', '.join(DEFAULT_NETWORKS)}"
        ) from None
