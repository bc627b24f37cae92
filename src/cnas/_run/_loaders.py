"""Data loaders of a run: the global batch split over processes, and the loop over one.

The batch-size convention, the same in search and training: a batch size is the
**global** batch, summed over all processes; each of ``world_size`` processes loads
``batch_size / world_size`` images per step (``per_process_batch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from .. import distributed as dist_utils
from .._progress import progress_bar

__all__ = ["check_batch", "check_data", "device_batches", "make_loader", "per_process_batch"]


def per_process_batch(batch_size: int, world_size: int | None = None) -> int:
    """The images each process loads per step for a global ``batch_size``.

    Raises:
        ValueError: ``batch_size`` is not a multiple of the number of processes.
    """
    world = dist_utils.world_size() if world_size is None else world_size
    if batch_size % world:
        raise ValueError(
            f"the global batch size {batch_size} is not divisible by the {world} processes; "
            f"choose a multiple of {world}"
        )
    return batch_size // world


def check_data(data: object, what: str) -> None:
    """Refuse data a run cannot learn from: not a dataset or loader, or an empty one
    (which would give a loss of 0, an accuracy of 0 and a genotype drawn at random).

    Raises:
        TypeError: neither a ``Dataset`` nor a ``DataLoader`` nor a sized sequence.
        ValueError: it holds no example, naming ``what`` (``"training data"``).
    """
    source = data.dataset if isinstance(data, DataLoader) else data
    if not isinstance(source, (Dataset, Sized)) or isinstance(source, (str, bytes)):
        raise TypeError(
            f"the {what} must be a torch Dataset or DataLoader, got {type(data).__name__}"
        )
    if isinstance(source, Sized) and len(source) == 0:
        raise ValueError(f"the {what} holds no examples; a run cannot learn or score on it")


def make_loader(
    data: Dataset[Any],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    epoch: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A loader of ``data`` in global batches of ``batch_size``, one shard per process.

    The order depends only on ``seed`` and ``epoch``, and is the same permutation for any
    number of processes: process ``r`` of ``w`` takes every ``w``-th index of it, so one
    process with a batch of ``B`` sees the same images per step as ``w`` processes with
    ``B / w`` each.
    """
    world = dist_utils.world_size()
    sampler: DistributedSampler[Any] = DistributedSampler(
        data, num_replicas=world, rank=dist_utils.rank(), shuffle=shuffle, seed=seed
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        data,
        batch_size=per_process_batch(batch_size, world),
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def device_batches(
    loader: Iterable[Any],
    device: torch.device,
    memory_format: torch.memory_format,
    *,
    limit: int | None,
    desc: str,
    progress: bool,
    classes: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches of ``loader`` on ``device``, ``x`` in ``memory_format``.

    Stops after ``limit`` batches (``None``: all of them). With ``progress``, the main
    process shows a tqdm bar named ``desc``; the bar closes however the loop ends. Each
    batch is checked first (``check_batch``): ``classes`` bounds the labels.

    Raises:
        TypeError: a batch that is not an ``(images, labels)`` pair of tensors.
        ValueError: labels that are not integers in ``0 .. classes - 1``.
    """
    bar = None
    if progress and dist_utils.is_main_process():
        total: int | None = len(loader) if isinstance(loader, Sized) else None
        if limit is not None:
            total = min(total, limit) if total is not None else limit
        bar = progress_bar(show=True, total=total, desc=desc, leave=False, dynamic_ncols=True)
    try:
        if limit is not None and limit <= 0:
            return
        for i, batch in enumerate(loader):
            x, y = check_batch(batch, classes, desc)
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            yield x, y.to(device, non_blocking=True)
            if bar is not None:
                bar.update(1)
            if limit is not None and i + 1 >= limit:
                break  # before the loader reads a batch that would not be used
    finally:
        if bar is not None:
            bar.close()


def check_batch(batch: object, classes: int | None, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` as ``(images, labels)`` if it is a pair of tensors whose labels are
    integers in ``0 .. classes - 1`` (checked before they reach the device, where torch
    would fail inside a kernel).

    Raises:
        TypeError: not such a pair (a dataset of images alone, a dict, ...).
        ValueError: labels that are not integers, or out of range.
    """
    if not (
        isinstance(batch, (tuple, list))
        and len(batch) == 2
        and all(isinstance(t, torch.Tensor) for t in batch)
    ):
        shape = type(batch).__name__
        if isinstance(batch, (tuple, list)):
            shape += f" of {len(batch)} " + ", ".join(type(t).__name__ for t in batch[:3])
        raise TypeError(
            f"{what}: each item of the data must be an (image, label) pair, as "
            f"torchvision datasets give; a batch was a {shape}"
        )
    x, y = batch
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.dim() != 1:
        raise ValueError(
            f"{what}: labels must be integer class indices (one per image), got a "
            f"{tuple(y.shape)} tensor of {y.dtype}"
        )
    if classes is not None and y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            raise ValueError(
                f"{what}: label {low if low < 0 else high} is out of range for a network "
                f"of {classes} classes (labels 0 .. {classes - 1})"
            )
    return x, y
