"""The standard op family: the eight DARTS ops and the extra ops the original code knew."""

from __future__ import annotations

from torch import nn

from ._blocks import DilConv, FactorizedReduce, ReLUConvBN, SepConv, Zero
from ._registry import OpFactory, register_op

__all__ = ["DARTS_OPS", "EXTRA_OPS"]

DARTS_OPS: tuple[str, ...] = (
    "sep_conv_3x3",
    "sep_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "none",
    "skip_connect",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The DARTS candidate ops in the order the CNAS controller indexes them."""

EXTRA_OPS: tuple[str, ...] = (
    "sep_conv_7x7",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "conv_5x5",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
)
"""Further ops of the original code, usable in custom search spaces."""


def _factorized_pair(C: int, stride: int, affine: bool, k: int) -> nn.Module:
    pad = k // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(C, C, (1, k), stride=(1, stride), padding=(0, pad), bias=False),
        nn.Conv2d(C, C, (k, 1), stride=(stride, 1), padding=(pad, 0), bias=False),
        nn.BatchNorm2d(C, affine=affine),
    )


def _none(C: int, stride: int, affine: bool) -> nn.Module:
    return Zero(stride)


def _skip_connect(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)


def _avg_pool_3x3(C: int, stride: int, affine: bool) -> nn.Module:
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def _max_pool(k: int) -> OpFactory:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return nn.MaxPool2d(k, stride=stride, padding=k // 2)

    return factory


def _sep_conv(k: int) -> OpFactory:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return SepConv(C, C, k, stride, k // 2, affine)

    return factory


def _dil_conv(k: int) -> OpFactory:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return DilConv(C, C, k, stride, k - 1, 2, affine)

    return factory


def _conv(k: int) -> OpFactory:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return ReLUConvBN(C, C, k, stride, k // 2, affine)

    return factory


def _conv_pair(k: int) -> OpFactory:
    def factory(C: int, stride: int, affine: bool) -> nn.Module:
        return _factorized_pair(C, stride, affine, k)

    return factory


def _register_builtins() -> None:
    def reg(name: str, factory: OpFactory, pooling: bool = False) -> None:
        register_op(name, pooling=pooling, source="cnas")(factory)

    reg("none", _none)
    reg("skip_connect", _skip_connect)
    reg("avg_pool_3x3", _avg_pool_3x3, pooling=True)
    for k in (3, 5, 7):
        reg(f"max_pool_{k}x{k}", _max_pool(k), pooling=True)
        reg(f"sep_conv_{k}x{k}", _sep_conv(k))
    for k in (3, 5):
        reg(f"dil_conv_{k}x{k}", _dil_conv(k))
    for k in (1, 3, 5):
        reg(f"conv_{k}x{k}", _conv(k))
    reg("conv_1x3_3x1", _conv_pair(3))
    reg("conv_1x7_7x1", _conv_pair(7))
    # DARTS spells the same (1x7 then 7x1) op "conv_7x1_1x7"; its AmoebaNet uses that name.
    reg("conv_7x1_1x7", _conv_pair(7))


_register_builtins()
