"""``NetworkSpec``: the evaluation network a cost is counted on, and the shapes inside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from .._genotype import Edge, Genotype
from .._validation import check_int

__all__ = ["CellShape", "NetworkSpec", "empty_genotype"]

Kind = Literal["cifar", "imagenet"]


@dataclass(frozen=True)
class NetworkSpec:
    """The evaluation network a genotype becomes: what its costs are counted on.

    A cell's cost depends on where it sits (its channels, its resolution, whether it
    reduces), so parameters, multiply-adds and latency are counted on one configuration
    of ``NetworkCIFAR`` or ``NetworkImageNet``, without the auxiliary head (it is dropped
    after training).

    Attributes:
        kind: ``"cifar"`` (``NetworkCIFAR``) or ``"imagenet"`` (``NetworkImageNet``).
        C: Channels of the first cells' nodes (36 in the paper's CIFAR-10 network).
        layers: Cells (20 for CIFAR-10).
        num_classes: Classes of the classifier.
        in_channels: Image channels.
        image_size: Height and width of the input images.

    Raises:
        ValueError: a size below 1 or an unknown kind.

    Examples:
        >>> import cnas
        >>> cnas.costs.NetworkSpec.for_dataset("cifar10")
        NetworkSpec(kind='cifar', C=36, layers=20, num_classes=10, in_channels=3, image_size=32)
    """

    kind: Kind = "cifar"
    C: int = 36
    layers: int = 20
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32

    def __post_init__(self) -> None:
        if self.kind not in ("cifar", "imagenet"):
            raise ValueError(f"kind must be 'cifar' or 'imagenet', got {self.kind!r}")
        for name in ("C", "layers", "num_classes", "in_channels", "image_size"):
            check_int(name, getattr(self, name))
        if self.layers < 3:
            raise ValueError(f"layers must be at least 3 (two reductions), got {self.layers}")

    @classmethod
    def for_dataset(cls, dataset: str, **overrides: Any) -> NetworkSpec:
        """The network ``cnas train`` builds for ``dataset`` by default (its preset's
        channels and layers, the dataset's classes, channels and image size). For
        ``folder`` (an image folder) give its ``num_classes``, ``in_channels`` and
        ``image_size`` (default 10, 3 and 32); the image size picks the network
        (``cnas.models.network_for_images``).

        Raises:
            ValueError: an unknown dataset.
        """
        from ..data import DATASETS, DatasetInfo
        from ..models import default_network, network_for_images

        known = [*DATASETS, "imagenet", "folder"]
        if dataset not in known:
            raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(known)}")
        network = default_network(dataset)
        info = DATASETS.get(dataset)
        if dataset == "folder":
            size = int(overrides.get("image_size", 32))
            kind = network_for_images(dataset, size)
            info = DatasetInfo("folder", 3, 10, size)
        else:
            kind = network.network
        values: dict[str, Any] = {
            "kind": "imagenet" if kind == "NetworkImageNet" else "cifar",
            "C": network.init_channels,
            "layers": network.layers,
            "num_classes": info.num_classes if info else 1000,
            "in_channels": info.in_channels if info else 3,
            "image_size": info.image_size if info else 224,
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSpec:
        """Read ``to_dict`` output back.

        Raises:
            ValueError: missing or unknown fields, or bad values.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a network configuration is a JSON object, got {data!r}")
        fields = set(cls.__dataclass_fields__)
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown network field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def build(self, genotype: Genotype) -> nn.Module:
        """The evaluation network of ``genotype`` (no auxiliary head), in eval mode."""
        from ..models import NetworkCIFAR, NetworkImageNet

        net: nn.Module
        if self.kind == "cifar":
            net = NetworkCIFAR(
                self.C, self.num_classes, self.layers, False, genotype,
                in_channels=self.in_channels,
            )  # fmt: skip
        else:
            net = NetworkImageNet(
                self.C, self.num_classes, self.layers, False, genotype,
                in_channels=self.in_channels,
            )  # fmt: skip
        return net.eval()

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(in_channels, image_size, image_size)``."""
        return (self.in_channels, self.image_size, self.image_size)

    def describe(self) -> str:
        """One line, for messages: ``NetworkCIFAR C=36, 20 layers, 10 classes, 3x32x32``."""
        name = "NetworkCIFAR" if self.kind == "cifar" else "NetworkImageNet"
        return (
            f"{name} C={self.C}, {self.layers} layers, {self.num_classes} classes, "
            f"{self.in_channels}x{self.image_size}x{self.image_size}"
        )


@dataclass(frozen=True)
class CellShape:
    """Where one cell sits in the network.

    Attributes:
        index: The cell's position, from 0.
        reduction: Whether it is a reduction cell.
        C: Channels of its nodes.
        in_size: ``(H, W)`` of its inputs after preprocessing (the stride-2 edges of a
            reduction cell read this).
        out_size: ``(H, W)`` of its nodes (every other edge reads this).
    """

    index: int
    reduction: bool
    C: int
    in_size: tuple[int, int]
    out_size: tuple[int, int]

    def edge_input(self, stride: int) -> tuple[int, int, int]:
        """``(C, H, W)`` that an edge of this stride reads."""
        h, w = self.in_size if stride == 2 else self.out_size
        return (self.C, h, w)


def empty_genotype(
    n_nodes: int, n_concat: int | None = None, n_concat_reduce: int | None = None
) -> Genotype:
    """A genotype whose every edge is ``none`` (from node 0): the network around the cells'
    ops. Its normal cell concatenates the first ``n_concat`` nodes (all by default), its
    reduction cell the first ``n_concat_reduce`` (as many as the normal cell's)."""
    n_concat = n_nodes if n_concat is None else n_concat
    n_concat_reduce = n_concat if n_concat_reduce is None else n_concat_reduce
    edges = [Edge("none", 0, t) for t in range(2, n_nodes + 2) for _ in range(2)]
    return Genotype(
        edges,
        list(range(2, n_concat + 2)),
        edges,
        list(range(2, n_concat_reduce + 2)),
    )


def cell_shapes(spec: NetworkSpec) -> tuple[CellShape, ...]:
    """The position of every cell of ``spec``'s network, read from one forward pass."""
    with torch.device("meta"):  # shapes only: no compute, no random draws
        net = spec.build(empty_genotype(1))
    cells = getattr(net, "cells")  # noqa: B009 - the networks' ModuleList
    sizes: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {}
    handles = []
    for i, cell in enumerate(cells):

        def hook(_m: nn.Module, args: tuple[Any, ...], result: torch.Tensor, i: int = i) -> None:
            s1 = args[1]
            sizes[i] = (
                (int(s1.shape[2]), int(s1.shape[3])),
                (int(result.shape[2]), int(result.shape[3])),
            )

        handles.append(cell.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(torch.zeros(1, *spec.input_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    shapes = []
    for i, cell in enumerate(cells):
        conv = next(m for m in cell.preprocess1.modules() if isinstance(m, nn.Conv2d))
        shapes.append(CellShape(i, bool(cell.reduction), conv.out_channels, *sizes[i]))
    return tuple(shapes)
