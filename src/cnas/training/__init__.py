"""Train a genotype's network from scratch: the recipe of the paper, resumable, and
distributed under ``torchrun``.

Examples:
    >>> import cnas
    >>> config = cnas.training.TrainConfig.preset("cifar10")
    >>> (config.init_channels, config.layers, config.epochs, config.cutout)
    (36, 20, 600, 16)
"""

from typing import Any

from .._deprecation import warn_deprecated
from .._metrics import accuracy as accuracy
from ._recipe import LabelSmoothingCrossEntropy as LabelSmoothingCrossEntropy
from ._recipe import TrainConfig as TrainConfig
from ._recipe import learning_rate as learning_rate
from ._trainer import Trainer as Trainer
from ._trainer import TrainResult as TrainResult

__all__ = [
    "LabelSmoothingCrossEntropy",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "accuracy",
    "learning_rate",
]


def __getattr__(name: str) -> Any:
    if name == "Cutout":
        from ..data import Cutout

        warn_deprecated("cnas.training.Cutout", removed_in="0.2", instead="cnas.data.Cutout")
        return Cutout
    raise AttributeError(f"module 'cnas.training' has no attribute {name!r}")
