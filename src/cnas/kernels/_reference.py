"""The default backend: the ops written with stock PyTorch kernels, for every device.

Registered as ``CompositeExplicitAutograd``, so it serves any device that has no kernel
of its own (CPU always; CUDA when Triton is missing). It is also the reference the
Triton kernels are tested against.

It is built to be no slower than the obvious composition (``F.batch_norm`` per input,
then a weighted sum): each input goes through ATen's own fused BatchNorm kernel once,
with the mixing weight folded into the BatchNorm scale, and the results are added in
place. Backward is one ``native_batch_norm_backward`` per input, again with the weight as
the scale: it returns the input's gradient and, as the scale's gradient, the per-channel
``sum(grad * normalized input)`` whose total is the weight's gradient.
"""

from __future__ import annotations

import torch

from ._ops import (
    LIBRARY,
    check_mixed_bn_inputs,
    check_mixed_inputs,
    same_layout,
    stats_dtype,
)

__all__ = [
    "max_pool2d",
    "mixed_bn_sum",
    "mixed_bn_sum_backward",
    "mixed_sum",
    "mixed_sum_backward",
]

_aten = torch.ops.aten


def _scales(w: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """``(K, C)`` BatchNorm scales: weight ``k`` repeated over the channels."""
    return w.detach().to(dtype)[:, None].expand(w.shape[0], channels).contiguous()


def mixed_bn_sum(
    ys: list[torch.Tensor],
    w: torch.Tensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_mixed_bn_inputs(ys, w, running_mean, running_var, training)
    ys, fmt = same_layout(ys)
    acc = stats_dtype(ys[0].dtype)
    channels = ys[0].shape[1]
    scales = _scales(w, channels, acc)
    means: list[torch.Tensor] = []
    invstds: list[torch.Tensor] = []
    out: torch.Tensor | None = None
    for k, y in enumerate(ys):
        if training:
            z, mean, invstd = _aten._native_batch_norm_legit.no_stats(
                y, scales[k], None, True, 0.0, eps
            )
        else:
            assert running_mean is not None
            assert running_var is not None
            mean = running_mean[k].to(acc)
            invstd = torch.rsqrt(running_var[k].to(acc) + eps)
            z = _aten._native_batch_norm_legit_no_training(
                y, scales[k], None, running_mean[k].to(acc), running_var[k].to(acc), 0.0, eps
            )[0]
        means.append(mean)
        invstds.append(invstd)
        if out is None:
            out = z if z.dtype == acc else z.to(acc)
        else:
            out.add_(z)
    assert out is not None
    result = out.to(ys[0].dtype).contiguous(memory_format=fmt)
    return result, torch.stack(means), torch.stack(invstds)


def mixed_bn_sum_backward(
    grad: torch.Tensor,
    ys: list[torch.Tensor],
    w: torch.Tensor,
    mean: torch.Tensor,
    invstd: torch.Tensor,
    training: bool,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    ys, fmt = same_layout(ys)
    grad = grad.contiguous(memory_format=fmt)
    acc = stats_dtype(ys[0].dtype)
    scales = _scales(w, ys[0].shape[1], acc)
    grads: list[torch.Tensor] = []
    grad_w: list[torch.Tensor] = []
    for k, y in enumerate(ys):
        if training:
            grad_y, grad_scale, _ = _aten.native_batch_norm_backward(
                grad, y, scales[k], None, None, mean[k], invstd[k], True, 0.0, [True, True, False]
            )
        else:  # fixed statistics: out is linear in y
            shape = [1, -1] + [1] * (y.dim() - 2)
            a = (scales[k] * invstd[k]).view(shape)
            grad_y = (grad * a.to(grad.dtype)).contiguous(memory_format=fmt)
            dims = [0, *range(2, y.dim())]
            dot = (grad.to(acc) * y.to(acc)).sum(dims)
            grad_scale = invstd[k] * (dot - mean[k] * grad.to(acc).sum(dims))
        grads.append(grad_y)
        grad_w.append(grad_scale.sum())
    return grads, torch.stack(grad_w).to(w.dtype)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a 1-D view in memory order (``x`` is contiguous in its own layout)."""
    if x.is_contiguous():
        return x.view(-1)
    return x.permute(0, 2, 3, 1).reshape(-1)  # channels-last: a view as well


def mixed_sum(xs: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    check_mixed_inputs("mixed_sum", xs, w)
    xs, fmt = same_layout(xs)
    acc = stats_dtype(xs[0].dtype)
    wa = w.detach().to(acc)
    if xs[0].dtype == acc:
        out = torch.mul(xs[0], wa[0])
        for k in range(1, len(xs)):
            out.addcmul_(xs[k], wa[k])
        return out.contiguous(memory_format=fmt)
    out = torch.mul(xs[0].to(acc), wa[0])
    for k in range(1, len(xs)):
        out.addcmul_(xs[k].to(acc), wa[k])
    return out.to(xs[0].dtype).contiguous(memory_format=fmt)


def mixed_sum_backward(
    grad: torch.Tensor, xs: list[torch.Tensor], w: torch.Tensor, w_grad: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    xs, fmt = same_layout(xs)
    grad = grad.contiguous(memory_format=fmt)
    acc = stats_dtype(xs[0].dtype)
    wa = w.detach().to(acc)
    grads = [torch.mul(grad, wa[k]).to(x.dtype) for k, x in enumerate(xs)]
    if not w_grad:
        return grads, torch.zeros_like(w)
    g = _flat(grad).to(acc)
    dots = [torch.dot(g, _flat(x).to(acc)) for x in xs]
    return grads, torch.stack(dots).to(w.dtype)


def max_pool2d(
    x: torch.Tensor, kernel_size: list[int], stride: list[int], padding: list[int]
) -> torch.Tensor:
    # Below autograd ATen takes its max pool path without indices: nothing int64 is made.
    return torch.nn.functional.max_pool2d(x, kernel_size, stride, padding)


for _name, _fn in (
    ("mixed_bn_sum", mixed_bn_sum),
    ("mixed_bn_sum_backward", mixed_bn_sum_backward),
    ("mixed_sum", mixed_sum),
    ("mixed_sum_backward", mixed_sum_backward),
    ("max_pool2d", max_pool2d),
):
    # device_types=None: CompositeExplicitAutograd, the kernel of every device without its own
    torch.library.register_kernel(f"cnas::{_name}", None, _fn, lib=LIBRARY)
