"""Train a genotype's network from scratch: the recipe of the paper, resumable, and
distributed under ``torchrun``.

A training is one typed configuration (``TrainConfig``: the genotype, the data, the
recipe, the run-time options; ``TrainConfig.preset(dataset)`` for each dataset's
recipe), assembled by ``Trainer.from_config``.

Examples:
    >>> import cnas
    >>> config = cnas.training.TrainConfig.preset("cifar10")
    >>> (config.init_channels, config.layers, config.epochs, config.cutout)
    (36, 20, 600, 16)
"""

from .._deprecation import old_names as _old_names
from .._metrics import count_correct as count_correct
from ._config import PRESETS as PRESETS
from ._config import TrainConfig as TrainConfig
from ._config import TrainRuntime as TrainRuntime
from ._recipe import LabelSmoothingCrossEntropy as LabelSmoothingCrossEntropy
from ._recipe import learning_rate as learning_rate
from ._trainer import Trainer as Trainer
from ._trainer import TrainResult as TrainResult

__all__ = [
    "PRESETS",
    "LabelSmoothingCrossEntropy",
    "TrainConfig",
    "TrainResult",
    "TrainRuntime",
    "Trainer",
    "count_correct",
    "learning_rate",
]

__getattr__ = _old_names(
    __name__,
    {"accuracy": (lambda: count_correct, "cnas.training.count_correct (the same count)")},
    removed_in="0.3",
)
