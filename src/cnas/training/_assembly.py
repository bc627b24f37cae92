"""A training assembled from its configuration (``Trainer.from_config``): the genotype
resolved, the folder checked, the data loaded and the network built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from .._genotype import Genotype
from .._memory import check_fits
from .._run import RunFolder
from ..errors import ConfigError
from ..models import NetworkCIFAR, NetworkImageNet, network_for_images
from ._config import TrainConfig

__all__ = ["WithAux", "assemble", "build_network"]

Network = NetworkCIFAR | NetworkImageNet


def assemble(
    config: TrainConfig, output_dir: str | Path, resume: bool | str | Path
) -> tuple[Network, TrainConfig, tuple[Dataset[Any], Dataset[Any]]]:
    """The network, the configuration with its genotype resolved (a run records the
    genotype itself), and the data, for ``Trainer.from_config``.

    Raises:
        ConfigError: settings that do not fit, naming the field.
        CheckpointError: the output folder holds another run, or nothing to resume.
        DatasetNotFoundError: the data is missing.
        ValueError: a network too large for the device.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    data = config.data
    if data is None:
        raise ConfigError("data", "from_config loads the data its data part describes")
    genotype = config.resolved_genotype()
    config = config.replace(genotype=genotype)
    device = config.runtime.resolve_device()
    if config.precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision", "fp16 needs a GPU; use bf16 on the CPU")
    RunFolder(output_dir, "training").check(resume=resume, require_checkpoint=resume is True)
    C, layers = config.network_size()
    known = data.info()
    check_fits(
        lambda: build_network(
            data.dataset,
            genotype,
            C,
            layers,
            known.num_classes,
            config,
            known.in_channels,
            known.image_size,
        ),
        device,
        hint="use fewer channels (--init-channels) or layers (--layers)",
    )
    try:
        train, val, info = data.load_train(config.seed, config.cutout)
    except ConfigError as exc:
        raise exc.within("data") from None
    small = network_for_images(data.dataset, info.image_size) == "NetworkCIFAR"
    if small and config.auxiliary_weight > 0 and info.image_size < 32:
        raise ConfigError(
            "auxiliary_weight",
            f"the auxiliary head needs inputs of at least 32x32 ({data.dataset} has "
            f"{info.image_size}x{info.image_size}); set it to 0",
        )
    torch.manual_seed(config.seed)
    model = build_network(
        data.dataset,
        genotype,
        C,
        layers,
        info.num_classes,
        config,
        info.in_channels,
        info.image_size,
    )
    return model, config, (train, val)


def build_network(
    dataset: str,
    genotype: Genotype,
    C: int,
    layers: int,
    num_classes: int,
    config: TrainConfig,
    in_channels: int,
    image_size: int = 32,
) -> Network:
    """The network class for the dataset's images (``cnas.models.network_for_images``)
    with the configured sizes."""
    kind = network_for_images(dataset, image_size)
    cls = NetworkImageNet if kind == "NetworkImageNet" else NetworkCIFAR
    try:
        return cls(
            C, num_classes, layers, config.auxiliary_weight > 0, genotype, in_channels=in_channels
        )
    except ValueError as exc:
        raise ConfigError("genotype", str(exc)) from None


class WithAux(nn.Module):
    """Calls ``forward_with_aux``, so DDP and ``torch.compile`` see the training path."""

    def __init__(self, model: Network) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and auxiliary logits (``None`` outside training or without a head)."""
        return self.model.forward_with_aux(x)
