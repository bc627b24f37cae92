"""The training recipe: hyper-parameters, learning-rate schedules and the smoothed loss.

The ``cifar10`` and ``imagenet`` presets are the original release's evaluation commands
(the two ``eval_arch.py`` command lines of its README, with the defaults of
``cnas/evaluation/core/config.py``); docs/training.md compares them field by field with
the paper and DARTS and says where cnas departs on purpose.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_finite

__all__ = [
    "LabelSmoothingCrossEntropy",
    "TrainConfig",
    "learning_rate",
]

Schedule = Literal["cosine", "linear"]
Precision = Literal["fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train a network from scratch.

    ``TrainConfig.preset(dataset)`` gives the original release's evaluation commands:
    CIFAR-10 (C=36, 20 layers, 600 epochs, global batch 96, cosine schedule from 0.05,
    no warm-up, no weight decay on biases, cutout 16, drop-path 0.2, auxiliary weight 0.4)
    and ImageNet (C=48, 14 layers, 250 epochs, global batch 256, a linear decay from
    0.05, weight decay 3e-4, no weight decay on biases, no label smoothing). Override
    fields with ``dataclasses.replace`` or keyword arguments to ``preset``.

    ``batch_size`` is the global batch: under ``torchrun`` each process loads
    ``batch_size / world_size`` images per step.
    """

    init_channels: int = 36
    layers: int = 20
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    no_bias_decay: bool = False
    schedule: Schedule = "cosine"
    warmup_epochs: int = 0
    grad_clip: float | None = 5.0
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    cutout: int = 16
    label_smoothing: float = 0.0
    precision: Precision = "fp32"
    channels_last: bool = True
    compile: bool = False
    seed: int = 0
    num_workers: int = 0
    max_steps: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "lr",
            "lr_min",
            "momentum",
            "weight_decay",
            "auxiliary_weight",
            "drop_path_prob",
            "label_smoothing",
        ):
            check_finite(name, getattr(self, name))
        if self.grad_clip is not None:
            check_finite("grad_clip", self.grad_clip)
            if self.grad_clip <= 0:
                raise ValueError(f"grad_clip must be positive (or None: off), got {self.grad_clip}")
        for name in ("momentum", "weight_decay", "auxiliary_weight", "lr_min"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("init_channels", "layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {self.schedule!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if not 0.0 <= self.drop_path_prob < 1.0:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {self.drop_path_prob}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ValueError(
                f"warmup_epochs must be in 0..epochs ({self.epochs}), got {self.warmup_epochs}"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @classmethod
    def preset(cls, dataset: str, **overrides: Any) -> TrainConfig:
        """The original release's evaluation settings for ``cifar10`` or ``imagenet`` (see
        docs/training.md for each field's source); small-data defaults for ``digits`` and
        ``synthetic`` (8x8 or small images: no cutout, no auxiliary head)."""
        presets: dict[str, dict[str, Any]] = {
            # README: eval_arch.py --batch_size 48 (x 2 processes) --no_bias_decay
            #   --arch CNAS --init_channels 36 --layers 20; config.py defaults otherwise
            "cifar10": {"no_bias_decay": True, "seed": 2020},
            # README: eval_arch.py --max_epochs 250 --scheduler linear --dataset imagenet
            #   --batch_size 64 (x 4 processes) --no_bias_decay --init_channels 48 --layers 14
            "imagenet": {
                "init_channels": 48,
                "layers": 14,
                "epochs": 250,
                "batch_size": 256,
                "schedule": "linear",
                "cutout": 0,
                "no_bias_decay": True,
                "seed": 2020,
            },
            "digits": {
                "init_channels": 16,
                "layers": 8,
                "epochs": 10,
                "batch_size": 64,
                "lr": 0.05,
                "cutout": 0,
                "auxiliary_weight": 0.0,
                "drop_path_prob": 0.0,
            },
            "synthetic": {
                "init_channels": 8,
                "layers": 5,
                "epochs": 2,
                "batch_size": 32,
                "cutout": 0,
                "auxiliary_weight": 0.0,
                "drop_path_prob": 0.0,
            },
        }
        if dataset not in presets:
            raise ValueError(f"no preset for dataset {dataset!r}; known: {', '.join(presets)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {unknown}")
        return replace(cls(**presets[dataset]), **overrides)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


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
