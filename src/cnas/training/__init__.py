"""Train a genotype's network from scratch: the recipe of the paper, resumable, and
distributed under ``torchrun``.

Examples:
    >>> import cnas
    >>> config = cnas.training.TrainConfig.preset("cifar10")
    >>> (config.init_channels, config.layers, config.epochs, config.cutout)
    (36, 20, 600, 16)
"""

from ._recipe import Cutout as Cutout
from ._recipe import LabelSmoothingCrossEntropy as LabelSmoothingCrossEntropy
from ._recipe import TrainConfig as TrainConfig
from ._recipe import learning_rate as learning_rate
from ._trainer import Trainer as Trainer
from ._trainer import TrainResult as TrainResult
from ._trainer import accuracy as accuracy

__all__ = [
    "Cutout",
    "LabelSmoothingCrossEntropy",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "accuracy",
    "learning_rate",
]
