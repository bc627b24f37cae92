"""Building blocks of the DARTS op family.

Module and attribute names (``op``, ``conv_1``, ``conv_2``, ``bn``) follow the original
release so that its checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import kernels

__all__ = [
    "DilConv",
    "FactorizedReduce",
    "FinalBatchNorm",
    "ReLUConvBN",
    "SepConv",
    "SubsampledDilatedConv2d",
    "Tail",
    "Zero",
    "preactivated_tail",
    "split_final_batchnorm",
]


class ReLUConvBN(nn.Module):
    """ReLU, then a convolution without bias, then BatchNorm."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int | tuple[int, int],
        stride: int,
        padding: int | tuple[int, int],
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ReLU-Conv-BN."""
        return self.op(x)  # type: ignore[no-any-return]


class DilConv(nn.Module):
    """ReLU, dilated depthwise convolution, pointwise convolution, BatchNorm."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__()
        subsampled = stride == 2 and dilation == 2 and padding % 2 == 0
        conv_cls = SubsampledDilatedConv2d if subsampled else nn.Conv2d
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            conv_cls(
                C_in,
                C_in,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=C_in,
                bias=False,
            ),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the dilated separable convolution."""
        return self.op(x)  # type: ignore[no-any-return]


class SepConv(nn.Module):
    """Two stacked (ReLU, depthwise conv, pointwise conv, BatchNorm) blocks; the first strides."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False
            ),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            # In place: the BatchNorm output is used only here (its backward needs its
            # input, not its output), so this saves a full-size activation per SepConv.
            nn.ReLU(inplace=True),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the separable convolution."""
        return self.op(x)  # type: ignore[no-any-return]


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return zeros of the output shape."""
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 stride-2 convolutions, concatenated.

    Odd inputs are padded by one row and column on the top-left first, as the original
    CNAS code does, so both branches see the same output size.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(
                f"FactorizedReduce needs an even number of output channels, got {C_out}"
            )
        self.relu = nn.ReLU(inplace=False)
        # 1x1 convolutions applied to the even / odd pixels (a stride-2 1x1 convolution
        # reads exactly those); the weights are those of the original's strided convs.
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reduce the resolution by 2."""
        return self.forward_preactivated(self.relu(x))

    def forward_preactivated(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` for an input that already went through ReLU."""
        return self.bn(self._unnormalized(x))  # type: ignore[no-any-return]

    def _unnormalized(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_preactivated`` without the final BatchNorm."""
        if x.size(2) % 2 or x.size(3) % 2:
            x = F.pad(x, (x.size(3) % 2, 0, x.size(2) % 2, 0))
        # A 1x1 convolution at stride 2 reads every other pixel: take those pixels first
        # (a quarter of the data) and convolve at stride 1. Same result, less traffic.
        even, odd = _strided_pixels(x, ((0, 0), (1, 1)))
        return torch.cat([self.conv_1(even), self.conv_2(odd)], dim=1)


def _strided_pixels(
    x: torch.Tensor, offsets: tuple[tuple[int, int], ...]
) -> tuple[torch.Tensor, ...]:
    """``x[:, :, i::2, j::2]`` for each ``(i, j)`` in ``offsets`` (``_StridedPixels``).

    While tracing (the TorchScript ONNX exporter), plain slices: a traced autograd
    Function becomes a PythonOp with a subgraph, and that exporter fails an internal
    assert when the network never reads the op's output (a cell that ignores its input
    0 leaves its preprocessing dead).
    """
    if torch._C._get_tracing_state() is not None:  # torch.jit.is_tracing(), typed
        return tuple(x[:, :, i::2, j::2] for i, j in offsets)
    return _StridedPixels.apply(x, offsets)  # type: ignore[no-any-return]


class _StridedPixels(torch.autograd.Function):
    """``x[:, :, i::2, j::2]`` for each ``(i, j)`` in ``offsets``, dense in ``x``'s layout.

    Autograd's own slice backward makes one zero-filled, NCHW-contiguous gradient per
    slice and adds them; for a channels-last input every op upstream then meets a
    gradient in the other layout (a slow path). Here the backward writes all slices'
    gradients into one zero-filled buffer in the input's layout.
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, offsets: tuple[tuple[int, int], ...]
    ) -> tuple[torch.Tensor, ...]:
        layout = kernels.layout_of(x)
        ctx.shape, ctx.dtype, ctx.layout, ctx.offsets = x.shape, x.dtype, layout, offsets
        return tuple(x[:, :, i::2, j::2].contiguous(memory_format=layout) for i, j in offsets)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        device = next(g for g in grads if g is not None).device
        grad = torch.empty(
            ctx.shape, dtype=ctx.dtype, device=device, memory_format=ctx.layout
        ).zero_()
        for (i, j), g in zip(ctx.offsets, grads, strict=True):
            if g is not None:
                grad[:, :, i::2, j::2] = g
        return grad, None


class SubsampledDilatedConv2d(nn.Conv2d):
    """A depthwise convolution with stride 2 and dilation 2, computed on the even pixels.

    With stride 2, dilation 2 and an even padding ``p``, every tap reads an even input
    position, so the result equals a stride-1, undilated convolution (padding ``p / 2``)
    of ``x[:, :, ::2, ::2]``: a quarter of the input and a kernel that CPUs run well
    (dilated strided kernels are slow there, above all in channels-last). Parameters and
    their names are those of ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve the even pixels with the undilated kernel."""
        pad_h, pad_w = (int(p) for p in self.padding)
        (even,) = _strided_pixels(x, ((0, 0),))
        return F.conv2d(even, self.weight, self.bias, 1, (pad_h // 2, pad_w // 2), 1, self.groups)


Tail = Callable[[torch.Tensor], torch.Tensor]
"""What ``preactivated_tail`` returns: a function of one tensor that runs part of an op."""


def _run_layers(layers: tuple[Tail, ...], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


def _sequence(layers: Iterable[Tail]) -> Tail:
    """Apply ``layers`` in order. A ``functools.partial`` rather than a closure, so that
    ``copy.deepcopy`` of the owning module copies the layers it refers to (a closure would
    keep running the original's)."""
    return functools.partial(_run_layers, tuple(layers))


def preactivated_tail(module: nn.Module) -> Tail | None:
    """The part of ``module`` after its leading ReLU, if it starts with one.

    Several ops of an edge (and both preprocessing steps of a cell) apply ReLU to the same
    input; the supernet computes that ReLU once per input and runs only the tails. The
    tails reuse the module's own layers, so parameters and their names are unchanged,
    and a deep copy of the owner gets tails over its own layers.
    """
    if isinstance(module, FactorizedReduce):
        return module.forward_preactivated
    seq = getattr(module, "op", module)
    if isinstance(seq, nn.Sequential) and len(seq) > 1 and isinstance(seq[0], nn.ReLU):
        return _sequence(list(seq)[1:])
    return None


@dataclass(frozen=True)
class FinalBatchNorm:
    """A module seen as ``bn(body(x))`` (or ``bn(body(relu(x)))``): its final BatchNorm apart.

    The supernet's mixed mode runs ``body`` of several candidate ops and normalizes and
    mixes their outputs in one fused kernel (``cnas.kernels.mixed_bn_sum``).

    Attributes:
        body: Everything before the final BatchNorm (after the leading ReLU when
            ``preactivated``); it reuses the module's own layers.
        bn: The final BatchNorm (affine-free).
        preactivated: Whether ``body`` expects an input that already went through ReLU.
    """

    body: Tail
    bn: nn.BatchNorm2d
    preactivated: bool


def split_final_batchnorm(module: nn.Module) -> FinalBatchNorm | None:
    """``module`` as body and final affine-free BatchNorm, or None if it does not end so.

    Recognized: ``FactorizedReduce`` and modules whose ``op`` (or which themselves) are an
    ``nn.Sequential`` ending in ``nn.BatchNorm2d(affine=False)`` (the separable, dilated
    and plain convolutions, and the supernet's pooling + BatchNorm pairs). A leading
    ReLU is left out of ``body`` so that the supernet can share it between ops. Max
    pooling in ``body`` runs as ``cnas.kernels.max_pool2d``, which saves no argmax.
    """
    if isinstance(module, FactorizedReduce):
        return (
            FinalBatchNorm(module._unnormalized, module.bn, True) if not module.bn.affine else None
        )
    seq = getattr(module, "op", module)
    if not isinstance(seq, nn.Sequential) or len(seq) < 2:
        return None
    layers = list(seq)
    bn = layers[-1]
    if type(bn) is not nn.BatchNorm2d or bn.affine:
        return None
    preactivated = isinstance(layers[0], nn.ReLU)
    body = _sequence(_lean(m) for m in (layers[1:-1] if preactivated else layers[:-1]))
    return FinalBatchNorm(body, bn, preactivated)


def _lean_max_pool(layer: nn.MaxPool2d, x: torch.Tensor) -> torch.Tensor:
    # cnas.kernels.max_pool2d is looked up per call, so a benchmark can swap it
    return kernels.max_pool2d(x, layer.kernel_size, layer.stride, layer.padding)


def _lean(layer: nn.Module) -> Tail:
    """``layer`` itself, or for plain max pooling ``cnas.kernels.max_pool2d`` with its
    settings (same result; backward recomputes the argmax instead of saving it)."""
    if (
        isinstance(layer, nn.MaxPool2d)
        and not layer.return_indices
        and not layer.ceil_mode
        and layer.dilation in (1, (1, 1))
    ):
        return functools.partial(_lean_max_pool, layer)
    return layer
