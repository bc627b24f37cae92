"""Evaluation networks built from a genotype: ``NetworkCIFAR`` and ``NetworkImageNet``.

Parameter names follow the original CNAS release (``stem``/``stem0``/``stem1``,
``cells.N.preprocess0``, ``cells.N._ops.K``, ``auxiliary_head``, ``classifier``) so its
checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .._genotype import Edge, Genotype
from .._validation import check_images, check_network_sizes
from ..genotypes import resolve
from ..kernels import layout_of
from ..ops import FactorizedReduce, ReLUConvBN, get_op
from ..ops import _preactivated_tail as preactivated_tail
from ..ops import _Tail as Tail

__all__ = [
    "AuxiliaryHeadCIFAR",
    "AuxiliaryHeadImageNet",
    "Cell",
    "NetworkCIFAR",
    "NetworkImageNet",
    "drop_path",
]

GenotypeLike = Genotype | str | os.PathLike[str]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob`` and rescale the rest."""
    if drop_prob <= 0.0:
        return x
    return x * _drop_mask(x, drop_prob)


def _drop_mask(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Per-sample ``[N, 1, 1, 1]`` multipliers of ``drop_path``: 0 or ``1 / keep``."""
    keep = 1.0 - drop_prob
    mask = torch.empty((x.size(0), 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return mask.div_(keep)  # scale the small mask, not the activation


class _GlobalMean(torch.autograd.Function):
    """Mean over the spatial dims, ``[N, C, H, W] -> [N, C]``, gradient in the input's layout.

    ``AdaptiveAvgPool2d(1)`` becomes ``mean`` whose backward expands the gradient into an
    NCHW tensor; with a channels-last network every op of the last cell would then get its
    gradient in the other layout, which is a slow path on CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.shape, ctx.layout = x.shape, layout_of(x)
        return x.mean((2, 3))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        n, c, h, w = ctx.shape
        scaled = grad.div(h * w)[:, :, None, None].expand(n, c, h, w)
        return scaled.contiguous(memory_format=ctx.layout)


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Average ``x`` over its spatial dims (``[N, C, H, W] -> [N, C]``)."""
    return _GlobalMean.apply(x)  # type: ignore[no-any-return]


class Cell(nn.Module):
    """One cell of an evaluation network, compiled from a genotype's normal or reduce cell.

    Args:
        genotype: The architecture.
        C_prev_prev: Channels of the cell input two steps back.
        C_prev: Channels of the previous cell's output.
        C: Channels of each intermediate node.
        reduction: Whether this is a reduction cell (stride 2 on edges from nodes 0 and 1).
        reduction_prev: Whether the previous cell reduced (then input 0 is reduced too).
    """

    def __init__(
        self,
        genotype: Genotype,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C)
            if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)
        edges, concat = genotype.cell("reduce" if reduction else "normal")
        self._edges: tuple[Edge, ...] = edges
        self._concat: tuple[int, ...] = concat
        self.multiplier = len(concat)
        self._ops = nn.ModuleList(
            get_op(e.op)(C, 2 if reduction and e.src < 2 else 1, True) for e in edges
        )
        self._drop = [not isinstance(op, nn.Identity) for op in self._ops]
        # Ops that start with ReLU share one ReLU per input node (same result, less work).
        self._tails = [preactivated_tail(op) for op in self._ops]
        self._pre0 = preactivated_tail(self.preprocess0)
        self._pre1 = preactivated_tail(self.preprocess1)

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        drop_prob: float = 0.0,
        relu_s0: torch.Tensor | None = None,
        relu_s1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Compute the cell output from the two previous cell outputs.

        ``relu_s0``/``relu_s1`` may pass ``relu(s0)``/``relu(s1)`` when the caller has them.
        """
        x0 = self._pre(self.preprocess0, self._pre0, s0, relu_s0)
        x1 = self._pre(self.preprocess1, self._pre1, s1, relu_s1)
        states: dict[int, torch.Tensor] = {0: x0, 1: x1}
        relued: dict[int, torch.Tensor] = {}
        apply_drop = self.training and drop_prob > 0.0
        for op, tail, edge, droppable in zip(
            self._ops, self._tails, self._edges, self._drop, strict=True
        ):
            if tail is not None:
                r = relued.get(edge.src)
                if r is None:
                    r = relued[edge.src] = torch.relu(states[edge.src])
                h = tail(r)
            else:
                h = op(states[edge.src])
            prev = states.get(edge.dst)
            if apply_drop and droppable:
                # drop_path and the sum over the node's edges in one pass: prev + h * mask
                mask = _drop_mask(h, drop_prob)
                states[edge.dst] = h * mask if prev is None else torch.addcmul(prev, h, mask)
            else:
                states[edge.dst] = h if prev is None else prev + h
        return torch.cat([states[i] for i in self._concat], dim=1)

    @staticmethod
    def _pre(
        module: nn.Module, tail: Tail | None, x: torch.Tensor, relu_x: torch.Tensor | None
    ) -> torch.Tensor:
        if tail is None:
            return module(x)  # type: ignore[no-any-return]
        return tail(relu_x if relu_x is not None else torch.relu(x))


def _check_aux_input(x: torch.Tensor, low: int, high: int | None, images: str) -> None:
    """Refuse feature maps an auxiliary head cannot read, before torch fails inside it."""
    h, w = x.shape[-2:]
    if min(h, w) < low or (high is not None and max(h, w) > high):
        sizes = f"{low}x{low} to {high}x{high}" if high is not None else f"at least {low}x{low}"
        raise ValueError(
            f"the auxiliary head reads feature maps of {sizes} ({images}); these images "
            f"give {h}x{w} there: build the network with auxiliary=False for them"
        )


class AuxiliaryHeadCIFAR(nn.Module):
    """Auxiliary classifier after two thirds of the network (expects 8x8 inputs)."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Auxiliary logits.

        Raises:
            ValueError: ``x`` is smaller than 8x8 or larger than 10x10 (images other than
                about 32x32).
        """
        _check_aux_input(x, 8, 10, "32x32 images, as CIFAR's, give 8x8")
        return self.classifier(self.features(x).flatten(1))  # type: ignore[no-any-return]


class AuxiliaryHeadImageNet(nn.Module):
    """Auxiliary classifier for ImageNet (reads 7x7 maps for 224x224 inputs).

    As in DARTS and the original CNAS code, there is no BatchNorm after the 768-channel
    convolution; the released weights were trained that way.
    """

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Auxiliary logits.

        Raises:
            ValueError: ``x`` is smaller than 7x7 (images under about 112x112).
        """
        _check_aux_input(x, 7, None, "224x224 images give 14x14")
        return self.classifier(self.features(x).flatten(1))  # type: ignore[no-any-return]


class _Network(nn.Module):
    """Shared cell stacking and heads of the CIFAR and ImageNet networks."""

    cells: nn.ModuleList
    auxiliary_head: nn.Module | None
    classifier: nn.Linear
    in_channels: int
    """The channels of the images the network takes."""

    def __init__(self, genotype: GenotypeLike, layers: int, auxiliary: bool) -> None:
        super().__init__()
        self.genotype = resolve(genotype)
        self._layers = layers
        self._auxiliary = auxiliary
        self.drop_path_prob = 0.0
        """Drop-path probability applied in training mode; trainers grow it over time."""

    def _build_cells(
        self,
        C: int,
        C_stem: int,
        reduction_prev: bool,
        num_classes: int,
        aux_cls: type[nn.Module],
    ) -> int:
        C_prev_prev, C_prev, C_curr = C_stem, C_stem, C
        self.cells = nn.ModuleList()
        C_to_auxiliary = C_prev
        for i in range(self._layers):
            reduction = i in (self._layers // 3, 2 * self._layers // 3)
            if reduction:
                C_curr *= 2
            cell = Cell(self.genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            reduction_prev = reduction
            self.cells.append(cell)
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self._aux_index:
                C_to_auxiliary = C_prev
        self.auxiliary_head = aux_cls(C_to_auxiliary, num_classes) if self._auxiliary else None
        return C_prev

    @property
    def _aux_index(self) -> int:
        return 2 * self._layers // 3

    @property
    def auxiliary(self) -> bool:
        """Whether the network has an auxiliary head."""
        return self._auxiliary

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _input_layer(self) -> nn.Module:
        """The layer that takes the images."""
        raise NotImplementedError

    def _check(self, x: torch.Tensor) -> None:
        weight = getattr(self._input_layer(), "weight", None)
        check_images(x, self.in_channels, weight, type(self).__name__)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and auxiliary logits.

        The auxiliary logits are computed only in training mode on a network built with
        ``auxiliary=True``; otherwise the second element is ``None``. Trainers add
        ``auxiliary_weight * loss(aux_logits, target)`` to the loss.
        """
        self._check(x)
        s0, s1 = self._stem(x)
        a0 = torch.relu(s0)
        a1 = a0 if s1 is s0 else torch.relu(s1)
        logits_aux: torch.Tensor | None = None
        last = len(self.cells) - 1
        for i, cell in enumerate(self.cells):
            out = cell(s0, s1, self.drop_path_prob, a0, a1)
            s0, s1 = s1, out
            a0, a1 = a1, (torch.relu(out) if i < last else out)
            if i == self._aux_index and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self._head(s1), logits_aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for a batch of images ``(N, in_channels, H, W)``.

        Raises:
            TypeError: ``x`` is not floating point, or of another dtype than the weights
                (outside autocast).
            ValueError: ``x`` is not 4-D or has another number of channels.
        """
        self._check(x)
        s0, s1 = self._stem(x)
        a0 = torch.relu(s0)
        a1 = a0 if s1 is s0 else torch.relu(s1)
        last = len(self.cells) - 1
        for i, cell in enumerate(self.cells):
            out = cell(s0, s1, self.drop_path_prob, a0, a1)
            s0, s1 = s1, out
            a0, a1 = a1, (torch.relu(out) if i < last else out)
        return self._head(s1)


class NetworkCIFAR(_Network):
    """The CIFAR network: a 3x3 stem, then ``layers`` cells, reductions at 1/3 and 2/3.

    Args:
        C: Channels of the first cells' nodes (36 in the paper).
        num_classes: Output classes.
        layers: Number of cells (20 in the paper).
        auxiliary: Add the auxiliary head after cell ``2 * layers // 3``.
        genotype: A ``cnas.Genotype``, a registered name (``"CNAS"``) or a path to
            a genotype JSON file.
        in_channels: Input image channels.

    Examples:
        >>> import torch, cnas
        >>> net = cnas.NetworkCIFAR(16, 10, 8, True, cnas.genotypes.CNAS).eval()
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        C: int,
        num_classes: int,
        layers: int,
        auxiliary: bool,
        genotype: GenotypeLike,
        *,
        in_channels: int = 3,
    ) -> None:
        check_network_sizes(C, num_classes, layers, in_channels)
        super().__init__(genotype, layers, auxiliary)
        self.in_channels = in_channels
        C_stem = 3 * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_stem),
        )
        C_prev = self._build_cells(C, C_stem, False, num_classes, AuxiliaryHeadCIFAR)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s

    def _input_layer(self) -> nn.Module:
        return self.stem[0]

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(global_mean(x))  # type: ignore[no-any-return]


class NetworkImageNet(_Network):
    """The ImageNet network: two strided stems (224 -> 28), then ``layers`` cells.

    Args:
        C: Channels of the first cells' nodes (48 in the paper); must be even.
        num_classes: Output classes.
        layers: Number of cells (14 in the paper).
        auxiliary: Add the auxiliary head after cell ``2 * layers // 3``.
        genotype: A ``cnas.Genotype``, a registered name or a genotype JSON path.
        dropout: Dropout probability before the classifier.
        in_channels: Input image channels.
    """

    def __init__(
        self,
        C: int,
        num_classes: int,
        layers: int,
        auxiliary: bool,
        genotype: GenotypeLike,
        *,
        dropout: float = 0.0,
        in_channels: int = 3,
    ) -> None:
        check_network_sizes(C, num_classes, layers, in_channels)
        if C % 2:
            raise ValueError(f"NetworkImageNet needs an even C (the stem halves it), got {C}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        super().__init__(genotype, layers, auxiliary)
        self.in_channels = in_channels
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        C_prev = self._build_cells(C, C, True, num_classes, AuxiliaryHeadImageNet)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)

    def _input_layer(self) -> nn.Module:
        return self.stem0[0]

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(global_mean(x))
        return self.classifier(out)  # type: ignore[no-any-return]
