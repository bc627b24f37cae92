"""BatchNorm for CPU training on channels-last tensors, reduced with matrix-vector products.

The backward pass of ATen's channels-last BatchNorm kernel on CPU slows down when it
runs on more than one thread (seen with torch 2.14 on 2 cores: erratic, often 2-4x the
single-thread time for ``[32, 36, 32, 32]``). A channels-last ``[N, C, H, W]`` tensor is
a row-major ``[N*H*W, C]`` matrix, so its per-channel sums are one matrix-vector product
with a vector of ones, which BLAS runs well on any number of threads; the rest is
elementwise. ``GemvBatchNorm2d`` computes the backward pass that way for training steps
on the CPU with more than one intra-op thread, and the forward pass too where ATen's
forward kernel is slow (channel counts that are not a multiple of 8); it hands
everything else (eval mode, GPUs, NCHW tensors, reduced precision, autocast,
``torch.compile``, one thread) to ``nn.BatchNorm2d``. Measurements: docs/performance.md.

Backward formulas (per channel, over the ``M = N*H*W`` positions, with the batch
``mean`` and ``invstd`` the forward pass saved; ``d = x - mean``, ``k = weight*invstd``):
``sum_g = 1ᵀg``, ``sum_gd = 1ᵀ(g*x) - mean*sum_g``,
``dx = k*g - k*invstd²*sum_gd/M * d - k*sum_g/M``, ``dweight = invstd*sum_gd``,
``dbias = sum_g``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GemvBatchNorm2d", "switch_batchnorm", "use_gemv_batchnorm"]


def _rows(x: torch.Tensor) -> torch.Tensor:
    """A channels-last ``[N, C, H, W]`` tensor as the ``[N*H*W, C]`` matrix it is (a view)."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n * h * w, c)


# ATen's channels-last forward kernel runs well when the channel count is a multiple of
# 8 and 1.5-3x slower per value otherwise (torch 2.14, AVX-512, 2 threads: 2.4 ms for
# [32, 36, 32, 32] against 0.9 ms for 40 or 48 channels); other counts take
# _gemv_batch_norm.
_ATEN_CHANNEL_MULTIPLE = 8


class _GemvBatchNormFn(torch.autograd.Function):
    """Training-mode batch normalization of a channels-last tensor (which also updates the
    running statistics): ATen's forward or ``_gemv_batch_norm``, a matrix-vector backward."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        running_mean: torch.Tensor | None,
        running_var: torch.Tensor | None,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        if x.shape[1] % _ATEN_CHANNEL_MULTIPLE == 0:
            y, mean, invstd = torch.native_batch_norm(
                x, weight, bias, running_mean, running_var, True, momentum, eps
            )
        else:
            y, mean, invstd = _gemv_batch_norm(
                x, weight, bias, running_mean, running_var, momentum, eps
            )
        ctx.save_for_backward(x, weight, bias, mean, invstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, bias, mean, invstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():
            # create_graph=True (a gradient of a gradient): differentiate ATen's batch
            # norm, whose backward is itself differentiable.
            grads = _differentiable_grads(x, weight, bias, ctx.eps, g, (need_x, need_w, need_b))
            return (*grads, None, None, None, None)
        x2 = _rows(x)
        g2 = _rows(g.contiguous(memory_format=torch.channels_last))
        m = x2.shape[0]
        ones = x2.new_ones(m)
        sum_g = ones @ g2
        # sum(g * (x - mean)) in one pass over x; the cancellation this risks stays
        # within a few times ATen's own float32 error (measured up to |mean|/std = 500)
        sum_gd = torch.addcmul(ones @ (g2 * x2), mean, sum_g, value=-1)
        k = invstd if weight is None else invstd * weight
        dx = None
        if need_x:
            b = k * invstd * invstd * sum_gd / -m  # the coefficient of d = x - mean
            c = k * sum_g / -m - b * mean  # the constant, with -b * mean moved into it
            dx = torch.empty_like(x, memory_format=torch.channels_last)
            dx2 = _rows(dx)  # a view of dx: the result is written straight into it
            torch.addcmul(c, g2, k, out=dx2)
            dx2.addcmul_(x2, b)
        dw = sum_gd * invstd if weight is not None and need_w else None
        db = sum_g if bias is not None and need_b else None
        return dx, dw, db, None, None, None, None


def _gemv_batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.native_batch_norm`` in training for a channels-last ``x``, its statistics
    from matrix-vector products: ``(y, mean, invstd)``; the running statistics are updated
    as ATen does (the unbiased variance).

    Two passes as ATen's kernel (the mean, then the squared deviations from it), so no
    cancellation; ``(x - mean)²`` is one elementwise kernel (``mse_loss``).
    """
    x2 = _rows(x)
    m = x2.shape[0]
    ones = x2.new_ones(m)
    mean = (ones @ x2).div_(m)
    sq = F.mse_loss(x2, mean.expand_as(x2), reduction="none")  # [M, C]: channels-last rows
    var = (ones @ sq).div_(m)
    invstd = (var + eps).rsqrt_()
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else torch.addcmul(bias, mean, scale, value=-1)
    del sq
    y = torch.empty_like(x, memory_format=torch.channels_last)
    torch.addcmul(shift, x2, scale, out=_rows(y))  # a view of y: written straight into it
    if running_mean is not None:
        running_mean.lerp_(mean.to(running_mean.dtype), momentum)
    if running_var is not None:
        running_var.lerp_((var * (m / (m - 1))).to(running_var.dtype), momentum)
    return y, mean, invstd


def _differentiable_grads(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
    g: torch.Tensor,
    needs: tuple[bool, ...],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    candidates = zip((x, weight, bias), needs, strict=False)
    inputs = [t for t, need in candidates if need and t is not None]
    with torch.enable_grad():
        y = F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)
    grads = iter(torch.autograd.grad(y, inputs, g, create_graph=True, allow_unused=True))
    return tuple(  # type: ignore[return-value]
        next(grads) if need and t is not None else None
        for t, need in zip((x, weight, bias), needs, strict=False)
    )


def _takes_gemv_route(x: torch.Tensor) -> bool:
    return (
        x.dim() == 4
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.numel() > x.shape[1]  # more than one value per channel (else ATen's error)
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
        and torch.get_num_threads() > 1
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


class GemvBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose CPU training steps on channels-last tensors reduce with
    matrix-vector products: the backward pass, and the forward pass for channel counts
    that are not a multiple of 8 (see the module docstring for when, and why).

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm2d``; the same outputs,
    running statistics and gradients to float rounding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` (batch statistics in training, running ones in eval)."""
        if not (self.training and _takes_gemv_route(x)):
            return super().forward(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        track = self.track_running_stats
        return _GemvBatchNormFn.apply(  # type: ignore[no-any-return]
            x,
            self.weight,
            self.bias,
            self.running_mean if track else None,
            self.running_var if track else None,
            momentum,
            self.eps,
        )


def switch_batchnorm(module: nn.Module, cls: type[nn.BatchNorm2d]) -> nn.Module:
    """Switch every plain ``nn.BatchNorm2d`` in ``module`` to ``cls``, in place.

    ``cls`` is a subclass that changes behaviour only, so parameters, buffers and
    state-dict keys stay as they are; subclasses of ``nn.BatchNorm2d`` already there
    (SyncBatchNorm, CPUSyncBatchNorm, your own) are left alone. Returns ``module``.
    """
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = cls
    return module


def use_gemv_batchnorm(module: nn.Module) -> nn.Module:
    """Switch every plain ``nn.BatchNorm2d`` in ``module`` to ``GemvBatchNorm2d``, in place
    (see ``switch_batchnorm``). Returns ``module``."""
    return switch_batchnorm(module, GemvBatchNorm2d)
