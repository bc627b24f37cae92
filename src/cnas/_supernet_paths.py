"""The supernet's fast paths, apart from what it computes: gradients handed on in the
layout of the tensors they reach, and which layers of a candidate mixed mode runs again
in backward instead of keeping their outputs."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from . import kernels
from .ops import FinalBatchNorm, GemvBatchNorm2d, SubsampledDilatedConv2d
from .ops import _Tail as Tail

__all__ = ["dense_grad", "is_channels_last", "recomputing_body"]


class _GradLayout(torch.autograd.Function):
    """Identity whose backward hands on a gradient made contiguous in a given layout.

    Gradients that reach a tensor in another layout than its own (after slicing, ``cat``
    or a layout switch) make the CPU kernels that consume them take slow, strided paths.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
        ctx.layout = layout
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.contiguous(memory_format=ctx.layout), None


def is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def dense_grad(x: torch.Tensor) -> torch.Tensor:
    if x.requires_grad and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return _GradLayout.apply(x, torch.channels_last)  # type: ignore[no-any-return]
    return x


def _is_cheap(layer: nn.Module) -> bool:
    """Whether mixed mode may run ``layer`` again in backward instead of keeping its
    output: a ReLU, a depthwise convolution, or a BatchNorm of batch statistics only (no
    running statistics to update twice, no synchronization across processes)."""
    if isinstance(layer, nn.ReLU):
        return True
    if type(layer) in (nn.Conv2d, SubsampledDilatedConv2d):
        conv = cast(nn.Conv2d, layer)
        return conv.groups == conv.in_channels == conv.out_channels
    if type(layer) in (nn.BatchNorm2d, GemvBatchNorm2d):
        return cast(nn.BatchNorm2d, layer).running_mean is None
    return False


def recomputing_body(module: nn.Module, split: FinalBatchNorm) -> Tail | None:
    """``split.body`` with the second stage of a separable convolution (``BatchNorm ->
    ReLU -> depthwise conv``, then the pointwise convolution) run through
    ``cnas.kernels.recompute_runs``, or None where nothing qualifies (``split.body`` then
    serves unchanged)."""
    seq = getattr(module, "op", module)
    if not isinstance(seq, nn.Sequential):
        return None
    layers = list(seq)[1:-1] if split.preactivated else list(seq)[:-1]
    if any(isinstance(m, nn.MaxPool2d) for m in layers):
        return None  # split.body runs it as cnas.kernels.max_pool2d
    return kernels.recompute_runs(layers, _is_cheap)
