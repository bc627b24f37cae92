"""Argument checks shared by the public constructors."""

from __future__ import annotations

import math

import torch

from ._io import shorten

__all__ = [
    "MAX_CHANNELS",
    "MAX_CLASSES",
    "MAX_EPOCHS",
    "MAX_LAYERS",
    "check_finite",
    "check_images",
    "check_int",
    "check_layers",
    "check_network_sizes",
    "parse_device",
    "seeded",
]

MAX_LAYERS = 200
"""The most cells a network or supernet may stack (the paper's have 8 to 20): a larger
count is a typo, and would take minutes to build before it failed for memory."""

MAX_CHANNELS = 1024
"""The most initial channels (``C``) and image channels a network or supernet may have
(the paper's have 16 to 48 and 3): ``C=1024`` already means billions of weights."""

MAX_CLASSES = 100_000
"""The most classes a network may have (ImageNet-21k has 21,841)."""

MAX_EPOCHS = 100_000
"""The most warm-up epochs or epochs a curriculum stage may have (the paper's have 20 and
40): a search plans each stage's steps before it runs them, so a larger count is a typo
or a crafted file that would exhaust memory."""


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool).

    Raises:
        ValueError: naming the argument and the bad value (NaN and infinities included).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum`` (and at most
    ``maximum``, if given).

    Raises:
        ValueError: naming the argument and the bad value.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {shorten(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:,}, got {shorten(value)}")
    return value


def check_network_sizes(
    C: int, num_classes: int, layers: int, in_channels: int, **more: int
) -> None:
    """The sizes of a network or supernet: integers, within ``MAX_CHANNELS``,
    ``MAX_CLASSES`` and ``MAX_LAYERS`` (``more``: other channel counts, e.g. a stem
    multiplier, positive integers).

    Raises:
        ValueError: naming the first size that is not.
    """
    check_int("C", C, maximum=MAX_CHANNELS)
    check_int("num_classes", num_classes, maximum=MAX_CLASSES)
    check_int("layers", layers)
    check_int("in_channels", in_channels, maximum=MAX_CHANNELS)
    for name, value in more.items():
        check_int(name, value)
    check_layers(layers)


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


def seeded(seed: object, name: str = "seed") -> torch.Generator:
    """A CPU generator seeded with ``seed``, an integer in ``0 .. 2**64 - 1`` (not a bool).

    Raises:
        ValueError: naming ``name`` and the bad value (``1.5``, ``-1``, ``"3"``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"{name} must be an integer in 0 .. 2**64 - 1, got {shorten(seed)}")
    return torch.Generator().manual_seed(seed)


def parse_device(device: object, name: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` if torch can name it (``"cpu"``, ``"cuda:1"``).

    Raises:
        ValueError: naming ``name``, for anything else (``"bogus"``, ``3.5``).
    """
    if isinstance(device, torch.device):
        return device
    try:
        if not isinstance(device, str) or "\0" in device:
            raise ValueError
        return torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"{name}: {shorten(device)} is not a device; use cpu, cuda, cuda:1, mps, ..."
        ) from None
