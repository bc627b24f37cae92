"""Augmentation: cutout, and the CIFAR-10 transforms of search and training."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "Cutout", "cifar10_train_transform", "search_transform"]

CIFAR10_MEAN = (0.49139968, 0.48215827, 0.44653124)
CIFAR10_STD = (0.24703233, 0.24348505, 0.26158768)


class Cutout:
    """Zero one ``length`` x ``length`` square at a random centre (clipped at the border).

    Takes and returns a ``(C, H, W)`` tensor; draws from torch's global generator.
    """

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Apply the cutout."""
        _, h, w = image.shape
        y = int(torch.randint(h, ()).item())
        x = int(torch.randint(w, ()).item())
        half = self.length // 2
        image = image.clone()
        image[:, max(y - half, 0) : min(y + half, h), max(x - half, 0) : min(x + half, w)] = 0
        return image


def cifar10_train_transform(cutout: int, augment: bool = True) -> Any:
    """The CIFAR-10 training transform of the original evaluation: random crop (32,
    padding 4) and horizontal flip (``augment``), to tensor, normalize, then cutout
    (``cutout > 0``)."""
    from torchvision import transforms as T  # type: ignore[import-untyped]

    steps: list[Any] = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
    steps += [T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    if cutout > 0:
        steps.append(Cutout(cutout))
    return T.Compose(steps)


def search_transform(augment: bool = True) -> Any:
    """The CIFAR-10 search-time transform: the original code's random crop (32, padding 4)
    and horizontal flip (``augment``), then to tensor and normalize."""
    from torchvision import transforms as T

    steps: list[Any] = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
    return T.Compose([*steps, T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
