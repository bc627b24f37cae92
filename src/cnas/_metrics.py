"""Batch accuracy and epoch totals, reduced over processes: shared by search and training."""

from __future__ import annotations

import torch

from . import distributed as dist_utils

__all__ = ["batch_totals", "count_correct", "summarize"]


def count_correct(logits: torch.Tensor, target: torch.Tensor, k: int = 1) -> torch.Tensor:
    """How many rows of ``logits`` have ``target`` among their top ``k``: a count (a 0-d
    integer tensor), not a fraction; divide by ``len(target)`` for the accuracy.

    Examples:
        >>> import torch
        >>> from cnas.training import count_correct
        >>> logits = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
        >>> count_correct(logits, torch.tensor([0, 1, 1])).item()
        2
    """
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == target.unsqueeze(1)).any(dim=1).sum()


def batch_totals(loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[loss * n, top-1 hits, top-5 hits, n]`` of one batch, to add up over an epoch."""
    n = target.shape[0]
    return torch.tensor(
        [
            loss.item() * n,
            count_correct(logits, target, 1).item(),
            count_correct(logits, target, 5).item(),
            n,
        ],
        dtype=torch.float64,
    )


def summarize(totals: torch.Tensor) -> dict[str, float]:
    """Mean loss, top-1 and top-5 (0..1) and the image count of summed ``batch_totals``,
    over all processes."""
    local_images = int(totals[3].item())
    if dist_utils.is_distributed():
        dist_utils.all_reduce_mean(totals)
        totals *= dist_utils.world_size()
    n = max(float(totals[3].item()), 1.0)
    return {
        "loss": float(totals[0] / n),
        "top1": float(totals[1] / n),
        "top5": float(totals[2] / n),
        "images": local_images * dist_utils.world_size(),
    }
