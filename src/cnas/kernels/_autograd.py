"""Backward formulas of ``cnas::mixed_bn_sum`` and ``cnas::mixed_sum``.

Both mixing ops save their inputs as they are (no normalized or weighted copies) and
call a ``*_backward`` op, which every backend implements (the reference with stock
kernels, the Triton backend fused: one pass that reduces, one that writes the input
gradients). ``max_pool2d`` saves only its input and recomputes the argmax in backward.
"""

from __future__ import annotations

from typing import Any

import torch

from ._ops import LIBRARY

__all__: list[str] = []


def _per_input(grads: list[torch.Tensor], needed: Any) -> list[torch.Tensor | None]:
    """One gradient (or None) per tensor of a ``Tensor[]`` argument: autograd expects the
    structure of the input."""
    return [g if need else None for g, need in zip(grads, needed, strict=True)]


def _bn_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ys, w, _running_mean, _running_var, training, _momentum, _eps = inputs
    _out, mean, invstd = output
    ctx.mark_non_differentiable(mean, invstd)
    ctx.save_for_backward(w, mean, invstd, *ys)
    ctx.training = training


def _bn_backward(
    ctx: Any, grad: torch.Tensor, _grad_mean: Any, _grad_invstd: Any
) -> tuple[Any, ...]:
    w, mean, invstd, *ys = ctx.saved_tensors
    grad_ys, grad_w = torch.ops.cnas.mixed_bn_sum_backward(grad, ys, w, mean, invstd, ctx.training)
    needs_ys, needs_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    return (
        _per_input(grad_ys, needs_ys),
        grad_w if needs_w else None,
        None,
        None,
        None,
        None,
        None,
    )


def _sum_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    xs, w = inputs
    ctx.save_for_backward(w, *xs)


def _sum_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, Any]:
    w, *xs = ctx.saved_tensors
    needs_w = bool(ctx.needs_input_grad[1])
    grad_xs, grad_w = torch.ops.cnas.mixed_sum_backward(grad, xs, w, needs_w)
    return (_per_input(grad_xs, ctx.needs_input_grad[0]), grad_w if needs_w else None)


def _pool_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    x, kernel_size, stride, padding = inputs
    ctx.save_for_backward(x)
    ctx.geometry = (kernel_size, stride, padding)


def _pool_backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None, None]:
    (x,) = ctx.saved_tensors
    kernel_size, stride, padding = ctx.geometry
    # The argmax positions, recomputed from the input rather than saved (int64, twice the
    # size of a float32 output): the same ATen kernel picks the same positions.
    _, indices = torch.ops.aten.max_pool2d_with_indices(x, kernel_size, stride, padding)
    grad_x = torch.ops.aten.max_pool2d_with_indices_backward(
        grad, x, kernel_size, stride, padding, [1, 1], False, indices
    )
    return grad_x, None, None, None


torch.library.register_autograd(
    "cnas::mixed_bn_sum", _bn_backward, setup_context=_bn_setup_context, lib=LIBRARY
)
torch.library.register_autograd(
    "cnas::mixed_sum", _sum_backward, setup_context=_sum_setup_context, lib=LIBRARY
)
torch.library.register_autograd(
    "cnas::max_pool2d", _pool_backward, setup_context=_pool_setup_context, lib=LIBRARY
)
