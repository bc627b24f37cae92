"""Mixed-op kernels: ``torch.library`` custom operators in the namespace ``cnas``.

A supernet edge in weighted ("mixed") mode sums the outputs of all its candidate ops,
each scaled by an architecture weight. Two operators do that without the memory and
the passes the obvious composition of stock ops costs:

- ``torch.ops.cnas.mixed_bn_sum(ys, w, running_mean, running_var, training, momentum,
  eps) -> (out, mean, invstd)``: ``out = sum_k w[k] * BN(ys[k])``, BatchNorm without an
  affine transform. It saves only the ``ys`` for backward (plus per-channel statistics),
  not the normalized copies the composition keeps.
- ``torch.ops.cnas.mixed_sum(xs, w) -> out``: ``out = sum_k w[k] * xs[k]``, without the
  weighted copies.
- ``torch.ops.cnas.max_pool2d(x, kernel_size, stride, padding) -> out``: max pooling that
  saves only its input for backward (not the int64 argmax indices, twice the size of a
  float32 output) and recomputes the argmax there.

Call them through ``mixed_bn_sum`` and ``mixed_sum`` below, which also update running
statistics. Each op has a pure-PyTorch kernel for every device, a Triton kernel for CUDA
(registered when a GPU is present and Triton 3.4 or later imports), a fake kernel for
``torch.compile``, and an autograd formula. See the Kernels page of the documentation.

Beside the operators, ``recomputed_conv(x, prefix, conv)`` (with ``recompute_runs``, which
applies it to a list of layers) computes ``conv(prefix(x))`` keeping only ``x`` for
backward and running the cheap ``prefix`` again there; the mixed supernet uses it for the
second stage of its separable convolutions (``SuperNet.recompute_tails``).

Examples:
    >>> import torch
    >>> from cnas.kernels import mixed_bn_sum
    >>> ys = [torch.randn(8, 4, 5, 5) for _ in range(3)]
    >>> w = torch.softmax(torch.randn(3), 0)
    >>> out = mixed_bn_sum(ys, w)
    >>> ref = sum(w[k] * torch.nn.functional.batch_norm(y, None, None, training=True)
    ...           for k, y in enumerate(ys))
    >>> torch.allclose(out, ref, atol=1e-5)
    True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from . import _autograd as _autograd
from . import _ops as _ops
from . import _reference as _reference
from ._ops import layout_of as layout_of
from ._recompute import recompute_runs as recompute_runs
from ._recompute import recomputed_conv as recomputed_conv

__all__ = [
    "backend",
    "layout_of",
    "max_pool2d",
    "mixed_bn_sum",
    "mixed_sum",
    "recompute_runs",
    "recomputed_conv",
]

logger = logging.getLogger("cnas")

_TRITON_REGISTERED = False


MIN_TRITON = (3, 4)
"""The oldest Triton whose kernels cnas registers: the tests check them against the
reference under Triton's interpreter from 3.4 on (under 3.0, the version torch 2.4 ships,
``mixed_bn_sum`` came out wrong); with an older Triton the reference kernels serve CUDA."""


def _triton_version() -> tuple[int, int] | None:
    try:
        import triton
    except ImportError:
        return None
    try:
        major, minor = (int(p) for p in triton.__version__.split(".")[:2])
    except (AttributeError, ValueError):
        return None
    return major, minor


def _register_triton() -> bool:
    """Register the Triton kernels for CUDA when a GPU is present and Triton (at least
    ``MIN_TRITON``) imports."""
    if not torch.cuda.is_available():
        return False
    version = _triton_version()
    if version is None or version < MIN_TRITON:
        found = "is not installed" if version is None else "{}.{} is too old".format(*version)
        logger.info(
            "cnas.kernels: Triton %s (the Triton kernels need %d.%d or later); the reference "
            "kernels serve CUDA",
            found,
            *MIN_TRITON,
        )
        return False
    try:
        from . import _triton
    except ImportError as exc:  # a broken install: the reference serves CUDA
        logger.debug("cnas.kernels: Triton kernels unavailable (%s)", exc)
        return False
    _triton.register()
    return True


_TRITON_REGISTERED = _register_triton()


def backend(device: str | torch.device = "cuda") -> str:
    """The backend the ``cnas`` ops run on for tensors on ``device``.

    Returns:
        ``"triton"`` for CUDA when the Triton kernels are registered, else
        ``"reference"`` (the pure-PyTorch kernels).

    Examples:
        >>> from cnas.kernels import backend
        >>> backend("cpu")
        'reference'
    """
    return "triton" if torch.device(device).type == "cuda" and _TRITON_REGISTERED else "reference"


def mixed_bn_sum(
    ys: Sequence[torch.Tensor],
    weights: torch.Tensor,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Weighted sum of the BatchNorm-normalized inputs: ``sum_k weights[k] * BN(ys[k])``.

    Each input is normalized per channel, as ``nn.BatchNorm2d(C, affine=False)`` would:
    with its batch mean and biased variance when ``training``, else with its running
    statistics. In training, running statistics (when given) are updated as BatchNorm
    does: ``running = (1 - momentum) * running + momentum * batch``, with the unbiased
    batch variance for ``running_var``.

    Args:
        ys: ``K`` tensors ``(N, C, ...)`` of one shape, dtype and device (contiguous or
            channels-last; the output keeps the layout of ``ys[0]``). float32, float64,
            bfloat16 or float16; statistics and sums are accumulated in float32 (float64
            for float64 inputs).
        weights: ``(K,)`` mixing weights.
        running_mean: ``(K, C)`` running means, one row per input, updated in place in
            training; required when ``training=False``.
        running_var: ``(K, C)`` running variances, likewise.
        training: Batch statistics (True) or running statistics (False).
        momentum: BatchNorm's momentum for the running statistics.
        eps: Added to the variance before the square root.

    Returns:
        The mixed tensor, shaped like each input.

    Raises:
        ValueError: mismatched shapes, dtypes or devices, ``weights`` not ``(K,)``, or
            running statistics not ``(K, C)``.

    Examples:
        >>> import torch
        >>> from cnas.kernels import mixed_bn_sum
        >>> ys = [torch.randn(4, 3, 2, 2) for _ in range(2)]
        >>> rm, rv = torch.zeros(2, 3), torch.ones(2, 3)
        >>> out = mixed_bn_sum(ys, torch.tensor([0.5, 0.5]), rm, rv)
        >>> bool(rm.abs().sum() > 0)  # running means moved towards the batch means
        True
    """
    out, mean, invstd = torch.ops.cnas.mixed_bn_sum(
        list(ys), weights, running_mean, running_var, training, momentum, eps
    )
    if training and running_mean is not None and running_var is not None:
        y = ys[0]
        count = y.numel() // y.shape[1]
        with torch.no_grad():
            batch_var = (invstd.pow(-2) - eps) * (count / max(count - 1, 1))
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(batch_var.to(running_var.dtype), alpha=momentum)
    return out  # type: ignore[no-any-return]


def mixed_sum(xs: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum ``sum_k weights[k] * xs[k]``, without weighted copies.

    Args:
        xs: ``K`` tensors of one shape, dtype and device (any layout; the output keeps
            that of ``xs[0]``).
        weights: ``(K,)`` mixing weights.

    Returns:
        The weighted sum.

    Raises:
        ValueError: mismatched shapes, dtypes or devices, or ``weights`` not ``(K,)``.

    Examples:
        >>> import torch
        >>> from cnas.kernels import mixed_sum
        >>> mixed_sum([torch.ones(2), torch.full((2,), 2.0)], torch.tensor([0.25, 0.5]))
        tensor([1.2500, 1.2500])
    """
    return torch.ops.cnas.mixed_sum(list(xs), weights)  # type: ignore[no-any-return]


def max_pool2d(
    x: torch.Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
) -> torch.Tensor:
    """``F.max_pool2d`` that saves only ``x`` for backward and recomputes the argmax there.

    Stock max pooling saves ``x`` and the int64 argmax indices. In a supernet the input
    is saved anyway (by the other ops of its edges), so this one costs no memory of its
    own; backward runs the pooling again to find the argmax (same positions, same ties).

    Args:
        x: ``(N, C, H, W)`` input, contiguous or channels-last (the output keeps it).
        kernel_size: Window size.
        stride: Window stride (default: ``kernel_size``).
        padding: Implicit ``-inf`` padding on both sides.

    Returns:
        The pooled tensor, equal to ``F.max_pool2d(x, kernel_size, stride, padding)``.

    Examples:
        >>> import torch
        >>> from cnas.kernels import max_pool2d
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.equal(max_pool2d(x, 3, 1, 1), torch.nn.functional.max_pool2d(x, 3, 1, 1))
        True
    """
    k = _pair(kernel_size)
    return torch.ops.cnas.max_pool2d(  # type: ignore[no-any-return]
        x, k, k if stride is None else _pair(stride), _pair(padding)
    )


def _pair(value: int | Sequence[int]) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    pair = [int(v) for v in value]
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return pair
