"""Refuse networks that cannot fit in memory, before any memory is spent on them.

The network is built on the ``meta`` device (shapes only, no storage: a few hundred
milliseconds even for trillions of parameters), its weights are counted, and a run that
would need more than the device has for its weights, gradients and optimizer state alone
is refused in one line. Activations come on top; this check catches what cannot work at
all (``--init-channels 100000``), not what is merely tight.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["check_fits", "device_memory"]


def device_memory(device: torch.device | str) -> int | None:
    """The memory of ``device`` in bytes: physical memory for the CPU, the GPU's own for
    CUDA; ``None`` where it cannot be read."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory)
    if device.type == "cpu":
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):  # not POSIX
            return None
    return None


def check_fits(
    build: Callable[[], nn.Module],
    device: torch.device | str = "cpu",
    *,
    what: str = "the network",
    copies: int = 3,
    hint: str = "use fewer channels or layers",
) -> int:
    """Build ``build()`` on the meta device and return its number of weights (parameters
    and buffers).

    Args:
        build: Makes the module (called once, under ``torch.device("meta")``).
        device: Where the real module would live.
        what: The module, for the message.
        copies: How many copies of the weights the run keeps (3: weights, gradients and
            momentum; 1: weights only, to load them).
        hint: What to change, for the message.

    Raises:
        ValueError: the copies would need more memory than ``device`` has.
    """
    try:
        with torch.device("meta"):
            module = build()
    except RuntimeError as exc:  # sizes past what torch can index ("overflowed")
        raise ValueError(f"{what} is too large to be built ({str(exc)[:120]}); {hint}") from None
    tensors = [*module.parameters(), *module.buffers()]
    count = sum(t.numel() for t in tensors)
    need = copies * sum(t.numel() * t.element_size() for t in tensors)
    have = device_memory(device)
    if have is not None and need > have:
        parts = "its weights" if copies == 1 else "its weights, gradients and optimizer state"
        raise ValueError(
            f"{what} would have {count:,} weights: {need / 2**30:,.1f} GiB for {parts} "
            f"alone, more than the {have / 2**30:,.1f} GiB that {torch.device(device)} has; "
            f"{hint}"
        )
    return count
