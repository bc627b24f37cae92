"""Operator schemas of the ``cnas`` namespace, their input checks, and their fake kernels.

This module only *declares* the operators; the backends (``_reference``, ``_triton``)
register implementations and ``_autograd`` registers the backward formulas. A fake
kernel says what an op returns (shape, dtype, memory format, device) without touching
data; ``torch.compile``, ``torch.export`` and FX tracing run on it.

Why ``mixed_bn_sum`` is functional (no ``Tensor(a!)`` running statistics in its schema):
``torch.library.register_autograd`` accepts only functional schemas (see
``torch/_library/utils.py:is_functional_schema``), and an op needs autograd here. So the
op returns the statistics it normalized with, and the Python entry point
``cnas.kernels.mixed_bn_sum`` updates the running statistics from them, exactly as
BatchNorm does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "LIBRARY",
    "SCHEMAS",
    "check_mixed_bn_inputs",
    "check_mixed_inputs",
    "layout_of",
    "same_layout",
    "stats_dtype",
]

LIBRARY = torch.library.Library("cnas", "FRAGMENT")  # type: ignore[no-untyped-call]

_TAGS = (torch.Tag.pt2_compliant_tag,)

SCHEMAS = {
    "mixed_bn_sum": "(Tensor[] ys, Tensor w, Tensor? running_mean, Tensor? running_var, "
    "bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    "mixed_bn_sum_backward": "(Tensor grad, Tensor[] ys, Tensor w, Tensor mean, "
    "Tensor invstd, bool training) -> (Tensor[], Tensor)",
    "mixed_sum": "(Tensor[] xs, Tensor w) -> Tensor",
    "mixed_sum_backward": "(Tensor grad, Tensor[] xs, Tensor w, bool w_grad) -> (Tensor[], Tensor)",
    "max_pool2d": "(Tensor x, int[2] kernel_size, int[2] stride, int[2] padding) -> Tensor",
}
"""The schema of every ``cnas`` op, by name."""

for _name, _schema in SCHEMAS.items():
    LIBRARY.define(_name + _schema, tags=_TAGS)  # type: ignore[no-untyped-call]


def _register_fake(name: str) -> Callable[[_F], _F]:
    def register(fn: _F) -> _F:
        torch.library.register_fake(f"cnas::{name}", fn, lib=LIBRARY)
        return fn

    return register


_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def layout_of(x: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for a 4-D tensor laid out that way (and not also plain contiguous),
    else ``contiguous_format``: the layout the ops keep."""
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def same_layout(xs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.memory_format]:
    """``xs`` made dense in the layout of the first one, and that layout."""
    fmt = layout_of(xs[0])
    return [x.contiguous(memory_format=fmt) for x in xs], fmt


def stats_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype statistics and sums are accumulated in: float64 for float64, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_mixed_inputs(name: str, xs: Sequence[torch.Tensor], w: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``xs`` are same-shaped floating tensors on one device
    and ``w`` holds one weight per tensor."""
    if len(xs) == 0:
        raise ValueError(f"{name}: needs at least one input tensor, got an empty list")
    first = xs[0]
    if first.dtype not in _FLOATS:
        raise ValueError(f"{name}: inputs must be floating point, got {first.dtype}")
    for i, x in enumerate(xs[1:], 1):
        if x.shape != first.shape:
            raise ValueError(
                f"{name}: input {i} has shape {tuple(x.shape)}, input 0 has "
                f"{tuple(first.shape)}; all inputs must have the same shape"
            )
        if x.dtype != first.dtype:
            raise ValueError(
                f"{name}: input {i} has dtype {x.dtype}, input 0 has {first.dtype}; "
                "all inputs must have the same dtype"
            )
        if x.device != first.device:
            raise ValueError(
                f"{name}: input {i} is on {x.device}, input 0 on {first.device}; "
                "all inputs must be on one device"
            )
    if w.dim() != 1 or w.shape[0] != len(xs):
        raise ValueError(
            f"{name}: w must have shape ({len(xs)},), one weight per input, got {tuple(w.shape)}"
        )
    if w.dtype not in _FLOATS:
        raise ValueError(f"{name}: w must be floating point, got {w.dtype}")
    if w.device != first.device:
        raise ValueError(f"{name}: w is on {w.device}, the inputs on {first.device}")


def check_mixed_bn_inputs(
    ys: Sequence[torch.Tensor],
    w: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
) -> None:
    """``check_mixed_inputs`` plus BatchNorm's own requirements: inputs ``(N, C, ...)`` and
    running statistics of shape ``(K, C)`` (needed in eval mode)."""
    check_mixed_inputs("mixed_bn_sum", ys, w)
    y = ys[0]
    if y.dim() < 2:
        raise ValueError(
            f"mixed_bn_sum: inputs must be (N, C, ...) with channels in dim 1, got shape "
            f"{tuple(y.shape)}"
        )
    expected = (len(ys), y.shape[1])
    for label, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is None:
            if not training:
                raise ValueError(f"mixed_bn_sum: eval mode (training=False) needs {label}")
            continue
        if tuple(stat.shape) != expected:
            raise ValueError(
                f"mixed_bn_sum: {label} must have shape {expected} (one row per input, one "
                f"column per channel), got {tuple(stat.shape)}"
            )
        if stat.device != y.device:
            raise ValueError(f"mixed_bn_sum: {label} is on {stat.device}, the inputs on {y.device}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("mixed_bn_sum: pass both running_mean and running_var, or neither")


# -- fake kernels ------------------------------------------------------------------------


@_register_fake("mixed_bn_sum")
def _mixed_bn_sum_fake(
    ys: list[torch.Tensor],
    w: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_mixed_bn_inputs(ys, w, running_mean, running_var, training)
    y = ys[0]
    out = torch.empty_like(y, memory_format=layout_of(y))
    stats = y.new_empty((len(ys), y.shape[1]), dtype=stats_dtype(y.dtype))
    return out, stats, torch.empty_like(stats)


@_register_fake("mixed_bn_sum_backward")
def _mixed_bn_sum_backward_fake(
    grad: torch.Tensor,
    ys: list[torch.Tensor],
    w: torch.Tensor,
    mean: torch.Tensor,
    invstd: torch.Tensor,
    training: bool,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    return [torch.empty_like(y, memory_format=layout_of(y)) for y in ys], torch.empty_like(w)


@_register_fake("mixed_sum")
def _mixed_sum_fake(xs: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    check_mixed_inputs("mixed_sum", xs, w)
    return torch.empty_like(xs[0], memory_format=layout_of(xs[0]))


@_register_fake("mixed_sum_backward")
def _mixed_sum_backward_fake(
    grad: torch.Tensor, xs: list[torch.Tensor], w: torch.Tensor, w_grad: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    return [torch.empty_like(x, memory_format=layout_of(x)) for x in xs], torch.empty_like(w)


@_register_fake("max_pool2d")
def _max_pool2d_fake(
    x: torch.Tensor, kernel_size: list[int], stride: list[int], padding: list[int]
) -> torch.Tensor:
    return torch.nn.functional.max_pool2d(x, kernel_size, stride, padding)
