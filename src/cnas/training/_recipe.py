"""The training recipe's schedule and loss: the learning rate of each epoch and the
label-smoothed cross-entropy (the hyper-parameters are ``TrainConfig``'s)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ._config import TrainConfig

__all__ = ["LabelSmoothingCrossEntropy", "learning_rate"]


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of (1-based) ``epoch``: linear warm-up, then cosine or linear decay.

    During warm-up ``lr * epoch / warmup_epochs``; then, with ``p`` running from 0 at the
    first epoch after warm-up towards 1 (``(epoch - warmup - 1) / (epochs - warmup)``),
    ``cosine`` is ``lr_min + (lr - lr_min) * (1 + cos(pi p)) / 2`` and ``linear`` the
    straight line ``lr_min + (lr - lr_min) * (1 - p)``.

    Departures from the original release, on purpose (docs/training.md): its cosine
    indexes epochs from 1 (``p = epoch / epochs``), so its first epoch is already below
    ``lr`` and its last trains at 0; cnas indexes as DARTS does. Its ``linear`` schedule
    (``WarmupLinearAnnealingLR``) *raises* the rate, to ``(5 + epoch) / 5`` times ``lr``
    without warm-up (``T_warmup`` where ``T_max`` was meant); cnas's decays to ``lr_min``.
    """
    if epoch <= config.warmup_epochs and config.warmup_epochs > 0:
        return config.lr * epoch / config.warmup_epochs
    span = max(config.epochs - config.warmup_epochs, 1)
    progress = min(max(epoch - config.warmup_epochs - 1, 0) / span, 1.0)
    if config.schedule == "cosine":
        return config.lr_min + (config.lr - config.lr_min) * (1 + math.cos(math.pi * progress)) / 2
    return config.lr_min + (config.lr - config.lr_min) * (1 - progress)


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross-entropy against ``1 - epsilon`` on the target and ``epsilon / (K - 1)`` elsewhere
    (the original CNAS formulation)."""

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean smoothed loss."""
        logp = F.log_softmax(logits.float(), dim=-1)
        k = logits.shape[-1]
        smooth = torch.full_like(logp, self.epsilon / max(k - 1, 1))
        smooth.scatter_(1, target.unsqueeze(1), 1.0 - self.epsilon)
        return -(smooth * logp).sum(-1).mean()
