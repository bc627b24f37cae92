"""``TrainConfig``: training a genotype's network from scratch as one typed, frozen
configuration (the genotype, the data, the recipe, the run-time options), with presets
per dataset whose every value states its source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .._config import Config, custom_setting, part, setting
from .._genotype import Genotype
from .._io import shorten
from .._run import RuntimeConfig
from .._validation import MAX_CHANNELS
from ..data import DataConfig
from ..errors import ConfigError
from ..genotypes import resolve
from ..models import default_network

__all__ = ["PRESETS", "TrainConfig", "TrainRuntime", "preset_dataset"]

Schedule = Literal["cosine", "linear"]
Precision = Literal["fp32", "bf16", "fp16"]


def _decode_genotype(value: Any, path: str) -> Genotype | str:
    if isinstance(value, Genotype):
        return value
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        try:
            return Genotype.from_dict(dict(value))
        except ValueError as exc:
            raise ConfigError(path, str(exc)) from None
    hint = " (a search's result: pass its .genotype)" if hasattr(value, "genotype") else ""
    raise ConfigError(
        path,
        "expected a genotype name, a genotype.json path or a genotype, got "
        f"{type(value).__name__} {shorten(value)}{hint}",
    )


def _encode_genotype(value: Genotype | str) -> Any:
    return value.to_dict() if isinstance(value, Genotype) else value


@dataclass(frozen=True)
class TrainRuntime(RuntimeConfig):
    """How a training runs (a resumed training may change any of it).

    Attributes:
        compile: `torch.compile` the network (pays back on GPUs; on CPUs it rarely does,
            see docs/performance.md).
    """

    compile: bool = setting(False, flags=("--compile",))


@dataclass(frozen=True)
class TrainConfig(Config):
    """How to train a genotype's network from scratch: what ``Trainer.from_config``
    builds and ``cnas train`` reads from its flags or ``--config``.

    The defaults are the original release's CIFAR-10 evaluation command;
    ``TrainConfig.preset(dataset)`` gives each dataset's recipe (``PRESETS``, each value
    with its source in docs/training.md). ``batch_size`` is the global batch: under
    ``torchrun`` each process loads ``batch_size / world_size`` images per step.

    Attributes:
        genotype: The cell: a published or registered name, a `genotype.json` path, or a
            genotype. A run records the genotype itself. Source: the original README's
            `--arch CNAS`.
        data: The images (`DataConfig`): the data `fit()` loads when it is given none.
        init_channels: Channels of the first cells (C). Unset: the dataset's default
            network (`cnas.models.default_network`: 36 for CIFAR-10, 48 for ImageNet).
        layers: Cells. Unset: the dataset's default network (20 for CIFAR-10, 14 for
            ImageNet).
        epochs: Training epochs. Source: the original's `--max_epochs` (600 for
            CIFAR-10).
        batch_size: The global batch. Source: the original README (48 per process on 2
            GPUs: 96).
        lr: The initial learning rate. Source: the original's `config.py` (0.05).
        lr_min: The learning rate the schedule ends at.
        momentum: SGD momentum. Source: the original (0.9).
        weight_decay: Weight decay. Source: the original (3e-4).
        no_bias_decay: No weight decay on biases. Source: the original README's
            `--no_bias_decay`.
        schedule: `cosine` or `linear` decay of the learning rate. Source: the original's
            `--scheduler` (cosine for CIFAR-10, linear for ImageNet).
        warmup_epochs: Epochs of linear learning-rate warm-up. Source: the original's
            final `config.py` (0).
        grad_clip: Clip the gradients' norm at this (unset: no clipping). Source: the
            original (5).
        auxiliary_weight: Weight of the auxiliary head's loss (0: no auxiliary head).
            Source: the original (0.4), after NASNet.
        drop_path_prob: The final drop-path probability (it grows linearly from 0).
            Source: the original (0.2).
        cutout: Cutout length in pixels (0: none). Source: the original (16).
        label_smoothing: Label smoothing (0: none). Source: the original's
            `--label_smooth` (off in its README's commands).
        precision: `fp32`, or `bf16`/`fp16` autocast (fp16 needs a GPU).
        seed: Seeds the initial weights, the data order and augmentation. Source: the
            original's final `config.py` (2020).
        max_steps: Stop after this many training steps (unset: all epochs).
        runtime: How the training runs: device, workers, progress, compile
            (`TrainRuntime`).
    """

    FORMAT = "cnas.train-config"
    RUN_KIND = "training"

    genotype: Genotype | str = custom_setting(
        "CNAS",
        decode=_decode_genotype,
        encode=_encode_genotype,
        expected="a genotype name, a genotype.json path or a genotype",
        flags=("--arch",),
        metavar="NAME|FILE",
    )
    data: DataConfig | None = part(DataConfig)
    init_channels: int | None = setting(
        None, flags=("--init-channels", "--init_channels"), minimum=1, maximum=MAX_CHANNELS
    )
    layers: int | None = setting(None, flags=("--layers",), minimum=1)
    epochs: int = setting(600, flags=("--epochs", "--max-epochs", "--max_epochs"), minimum=1)
    batch_size: int = setting(96, flags=("--batch-size",), minimum=1)
    lr: float = setting(0.05, flags=("--lr", "--learning-rate", "--learning_rate"), above=0.0)
    lr_min: float = setting(0.0, flags=("--lr-min", "--learning_rate_min"), minimum=0.0)
    momentum: float = setting(0.9, flags=("--momentum",), minimum=0.0)
    weight_decay: float = setting(3e-4, flags=("--weight-decay", "--weight_decay"), minimum=0.0)
    no_bias_decay: bool = setting(True, flags=("--no-bias-decay", "--no_bias_decay"))
    schedule: Schedule = setting("cosine", flags=("--scheduler", "--schedule"))
    warmup_epochs: int = setting(0, flags=("--warmup-epochs", "--warmup_epochs"), minimum=0)
    grad_clip: float | None = setting(5.0, flags=("--grad-clip", "--grad_clip"), above=0.0)
    auxiliary_weight: float = setting(
        0.4, flags=("--auxiliary-weight", "--auxiliary_weight"), minimum=0.0
    )
    drop_path_prob: float = setting(
        0.2, flags=("--drop-path-prob", "--drop_path_prob"), minimum=0.0, below=1.0
    )
    cutout: int = setting(16, flags=("--cutout", "--cutout-length", "--cutout_length"), minimum=0)
    label_smoothing: float = setting(0.0, flags=("--label-smoothing",), minimum=0.0, below=1.0)
    precision: Precision = setting("fp32", flags=("--precision",))
    seed: int = setting(2020, flags=("--seed",), seed=True)
    max_steps: int | None = setting(None, flags=("--max-steps",), minimum=1)
    runtime: TrainRuntime = part(TrainRuntime)

    def validate(self) -> None:
        """Warm-up within the epochs; the network's sizes come from a known dataset."""
        if self.warmup_epochs > self.epochs:
            raise ConfigError(
                "warmup_epochs",
                f"expected at most the epochs ({self.epochs}), got {self.warmup_epochs}",
            )
        if self.data is None and (self.init_channels is None or self.layers is None):
            raise ConfigError("init_channels", "without a data part, give init_channels and layers")

    @classmethod
    def preset(cls, dataset: str, **overrides: Any) -> TrainConfig:
        """The recipe for ``dataset`` (``PRESETS``: the original release's evaluation
        commands for ``cifar10`` and ``imagenet``, small-data recipes for ``digits`` and
        ``synthetic``), its network's size, and ``overrides`` (as ``replace`` takes them).

        ``dataset`` may also name a second preset of a dataset: ``"cifar10-defaults"``
        is CIFAR-10 trained with the original's final defaults, no flags (``cifar10`` is
        its first README's command; docs/training.md compares them).

        Raises:
            ConfigError: an unknown dataset or field, or a bad value.

        Examples:
            >>> from cnas.training import TrainConfig
            >>> config = TrainConfig.preset("cifar10")
            >>> (config.init_channels, config.layers, config.epochs, config.cutout)
            (36, 20, 600, 16)
        """
        if dataset not in PRESETS:
            raise ConfigError(
                "data.dataset", f"no preset for {dataset!r}; known: {', '.join(PRESETS)}"
            )
        name, dataset = dataset, preset_dataset(dataset)
        network = default_network(dataset)
        base = cls(
            data=DataConfig(dataset=dataset),  # type: ignore[arg-type]
            init_channels=network.init_channels,
            layers=network.layers,
        )
        return base.replace(**PRESETS[name]).replace(**overrides)

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "") -> TrainConfig:
        """A configuration from a dict (``to_dict``'s form, or a saved model's
        ``config.json`` whose ``train`` part it reads).

        Raises:
            ConfigError: a bad value or an unknown key, naming its path.
        """
        if not where and isinstance(data, Mapping) and "network" in data and "train" in data:
            data = data["train"]
        return super().from_dict(data, where=where)

    def resolved_genotype(self) -> Genotype:
        """The genotype itself (a name looked up, a file read).

        Raises:
            ConfigError: an unknown name, or a file that is missing or not a genotype.
        """
        try:
            return resolve(self.genotype)
        except (KeyError, FileNotFoundError, ValueError, TypeError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise ConfigError("genotype", str(message)) from None

    def network_size(self) -> tuple[int, int]:
        """``(init_channels, layers)``: as set, else the dataset's default network."""
        if self.init_channels is not None and self.layers is not None:
            return self.init_channels, self.layers
        assert self.data is not None  # validate() checks
        network = default_network(self.data.dataset)
        return self.init_channels or network.init_channels, self.layers or network.layers


PRESETS: dict[str, dict[str, Any]] = {
    # the original's first README: eval_arch.py --batch_size 48 (x 2 processes)
    #   --no_bias_decay --arch CNAS --init_channels 36 --layers 20, run on the original's
    #   final code (config.py's final defaults otherwise: lr 0.05, cosine, no warm-up,
    #   seed 2020). The original's commit b47229f dropped that line from the README.
    "cifar10": {},
    # the original's final README: the same command without --batch_size 48
    #   --no_bias_decay, so config.py's final defaults: 64 images per process x 2
    #   processes, weight decay on biases too
    "cifar10-defaults": {"batch_size": 128, "no_bias_decay": False},
    # the original README: eval_arch.py --max_epochs 250 --scheduler linear --dataset imagenet
    #   --batch_size 64 (x 4 processes) --no_bias_decay --init_channels 48 --layers 14
    "imagenet": {"epochs": 250, "batch_size": 256, "schedule": "linear", "cutout": 0},
    # cnas: 8x8 images (no cutout, no auxiliary head: it needs 32x32 inputs), a short run
    "digits": {
        "epochs": 10,
        "batch_size": 64,
        "no_bias_decay": False,
        "cutout": 0,
        "auxiliary_weight": 0.0,
        "drop_path_prob": 0.0,
        "seed": 0,
    },
    # cnas: an image folder of a few thousand images, trained on a CPU in minutes: a short
    # cosine schedule (50 epochs: small sets fit quickly, longer ones overfit), batches of
    # 64 (the original's 96 leaves few steps per epoch on a small set), the original's
    # learning rate and weight decay; no cutout (its 16-pixel patch is sized for CIFAR-10's
    # 32x32 images) and no auxiliary head (it needs 32x32 inputs and pays off over long
    # schedules); a light drop-path (0.1) against overfitting few images
    "folder": {
        "epochs": 50,
        "batch_size": 64,
        "no_bias_decay": False,
        "cutout": 0,
        "auxiliary_weight": 0.0,
        "drop_path_prob": 0.1,
        "seed": 0,
    },
    # cnas: tests and benchmarks
    "synthetic": {
        "epochs": 2,
        "batch_size": 32,
        "no_bias_decay": False,
        "cutout": 0,
        "auxiliary_weight": 0.0,
        "drop_path_prob": 0.0,
        "seed": 0,
    },
}
"""Each dataset's training recipe: its changes to ``TrainConfig``'s defaults (the original
release's CIFAR-10 command)."""


def preset_dataset(name: str) -> str:
    """The dataset of the preset ``name``: the name up to a ``-`` (``cifar10-defaults``
    trains on ``cifar10``)."""
    return name.split("-", 1)[0]
