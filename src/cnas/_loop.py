"""The batch loop shared by search and training: device transfer, layout, cap, progress."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

import torch

from . import distributed as dist_utils

__all__ = ["device_batches"]


def device_batches(
    loader: Iterable[Any],
    device: torch.device,
    memory_format: torch.memory_format,
    *,
    limit: int | None,
    desc: str,
    progress: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches of ``loader`` on ``device``, ``x`` in ``memory_format``.

    Stops after ``limit`` batches (``None``: all of them). With ``progress``, the main
    process shows a tqdm bar named ``desc``; the bar closes however the loop ends.
    """
    bar = None
    if progress and dist_utils.is_main_process():
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        total: int | None = len(loader) if isinstance(loader, Sized) else None
        if limit is not None:
            total = min(total, limit) if total is not None else limit
        bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)
    try:
        for i, (x, y) in enumerate(loader):
            if limit is not None and i >= limit:
                break
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            yield x, y.to(device, non_blocking=True)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
