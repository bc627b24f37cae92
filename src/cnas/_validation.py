"""Argument checks shared by the public constructors."""

from __future__ import annotations

import math

import torch

__all__ = ["MAX_LAYERS", "check_finite", "check_images", "check_int", "check_layers"]

MAX_LAYERS = 200
"""The most cells a network or supernet may stack (the paper's have 8 to 20): a larger
count is a typo, and would take minutes to build before it failed for memory."""


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool).

    Raises:
        ValueError: naming the argument and the bad value (NaN and infinities included).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``.

    Raises:
        ValueError: naming the argument and the bad value.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_layers(layers: int) -> None:
    """Raise ``ValueError`` if ``layers`` is more than ``MAX_LAYERS``."""
    if layers > MAX_LAYERS:
        raise ValueError(
            f"layers must be at most {MAX_LAYERS} (the paper's networks have 8 to 20 cells), "
            f"got {layers}"
        )


def _autocast_on(device_type: str) -> bool:
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch before 2.4 takes no device type
        return bool(torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled())


_IS_BATCHED = getattr(torch._C._functorch, "is_batchedtensor", None)


def _traced(x: object) -> bool:
    """``x`` stands for a tensor in a transform that sees no real one: an FX proxy, or a
    per-sample view under ``vmap`` (whose dimensions are not the batch's)."""
    if isinstance(x, torch.fx.Proxy):
        return True
    return bool(isinstance(x, torch.Tensor) and _IS_BATCHED is not None and _IS_BATCHED(x))


def check_images(x: object, in_channels: int, weight: object, what: str) -> None:
    """Raise a clear error unless ``x`` is a batch of images that ``what`` can take:
    a 4-D floating tensor ``(N, in_channels, H, W)`` of the dtype of ``weight`` (the
    layer that takes ``x``; any floating dtype under autocast, or when ``weight`` is not
    a floating tensor, as in a quantized layer).

    Raises:
        TypeError: not a tensor, not floating point, or of another dtype than the weights.
        ValueError: not 4-D, or with another number of channels.
    """
    if _traced(x):
        return
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} takes a tensor of images, got {type(x).__name__}")
    if x.dim() != 4:
        hint = "; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else ""
        raise ValueError(
            f"{what} takes a batch of images (N, {in_channels}, H, W), got a tensor of shape "
            f"{tuple(x.shape)}{hint}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{what} takes images with {in_channels} channel(s) (N, {in_channels}, H, W), got "
            f"{x.shape[1]} (shape {tuple(x.shape)}); build it with in_channels={x.shape[1]} for "
            "such images"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{what} takes floating-point images, got {x.dtype}; convert them, for example "
            "with x.float() / 255 and the dataset's normalization"
        )
    dtype = weight.dtype if isinstance(weight, torch.Tensor) else None
    if dtype is None or not dtype.is_floating_point:
        return
    if x.dtype != dtype and not _autocast_on(x.device.type):
        raise TypeError(
            f"{what} has {dtype} weights and got {x.dtype} images; convert the images with "
            f"x.to({dtype}), or the network with .to({x.dtype}), or run under torch.autocast"
        )
