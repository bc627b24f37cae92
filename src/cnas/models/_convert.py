"""Converting checkpoints into ``save_pretrained`` folders: what ``cnas convert`` runs.

Sources: an original-format ``.pth`` (the official ``cnas-imagenet-602b7057.pth`` or
any state dict of a cnas network), a ``cnas train`` checkpoint, a ``.safetensors`` file
or a saved-model folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._genotype import Genotype
from .._run import CHECKPOINT_FORMATS
from ..genotypes import resolve
from ._config import CONFIG_NAME, infer_network_config, network_from_config, read_config
from ._loading import from_pretrained, load_into
from ._registry import known_weights
from ._saving import check_output, save_pretrained
from ._state_dict import extract_state_dict, read_state_dict, verified
from ._weights import HubSource, WeightsEnum

__all__ = ["convert"]

TRAIN_FORMAT = CHECKPOINT_FORMATS["training"][0]  # what cnas train checkpoints carry
"""The ``format`` key of a ``cnas train`` checkpoint (``last.pt``, ``best.pt``)."""


def convert(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    arch: Genotype | str | None = None,
    weights: WeightsEnum | None = None,
    dataset: str | None = None,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Turn a checkpoint into a ``save_pretrained`` folder (what ``cnas convert`` runs).

    ``source`` may be an original-format ``.pth`` (a state dict, possibly under
    ``state_dict``, with or without ``module.`` prefixes; the network's size is read
    from the tensor shapes and its genotype is ``arch``, default CNAS), a ``cnas train``
    checkpoint (``last.pt``/``best.pt``), a ``.safetensors`` file, or a folder written by
    ``cnas train``/``save_pretrained``. The converted weights are loaded into the
    network with ``strict=True`` before anything is written. The official release file
    is recognised by its name and hash, and its metadata fills the model card.

    Args:
        source: The checkpoint file or folder.
        output_dir: The folder to write (``model.safetensors``, ``config.json``,
            ``README.md``).
        arch: The genotype of an original-format state dict (default: CNAS).
        weights: The registered weights ``source`` holds, for the config and the card
            (see ``find_weights``); the official release file is recognised without it.
        dataset: The training dataset, for the config and the card.
        repo_id: The Hub repository (``ORG/NAME``) the folder is meant for.
        overwrite: Write into a non-empty ``output_dir``.

    Returns:
        The output folder.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        WeightsFormatError: ``source`` is unreadable or does not fit the network.
        ValueError: ``arch`` given for a source that carries its own network config.
        FileExistsError: ``output_dir`` is not empty and ``overwrite`` is False.
    """
    path = Path(source)
    out = Path(output_dir)
    check_output(out, overwrite)
    genotype = resolve(arch) if arch is not None else None
    config: dict[str, Any] | None = None
    extra: dict[str, Any] = {}
    if path.is_dir():
        model = from_pretrained(path)
        config = read_config(path / CONFIG_NAME, str(path / CONFIG_NAME))
    elif not path.is_file():
        raise FileNotFoundError(f"no such file or folder: {path}")
    else:
        state, config = _read_checkpoint(path)
        beside = path.parent / CONFIG_NAME
        if config is None and path.suffix == ".safetensors" and beside.is_file():
            config = read_config(beside, str(beside))  # the cnas train layout
        if config is not None and "network" in config:
            model = network_from_config(config, str(path))
        else:
            config = None
            inferred = infer_network_config(state, genotype or resolve("CNAS"), str(path))
            model = network_from_config(inferred, str(path))
        load_into(model, state, str(path))
        weights = weights or known_weights(path)
    if config is not None and genotype is not None:
        raise ValueError(
            f"{path} comes with its network config (genotype included); drop arch= / --arch"
        )
    if config is not None:
        dataset = dataset or config.get("dataset")
        if "train" in config:  # a training's configuration (cnas.training.TrainConfig)
            extra["train"] = config["train"]
    metrics = config.get("metrics") if config is not None and weights is None else None
    if repo_id is None and weights is not None:
        hub = [s for s in weights.sources if isinstance(s, HubSource)]
        repo_id = hub[0].repo_id if hub else None
    return save_pretrained(
        model,
        out,
        weights=weights,
        dataset=dataset,
        metrics=metrics,
        repo_id=repo_id,
        extra=extra,
        overwrite=overwrite,
    )


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The state dict of a weights file, and the network config of a ``cnas train``
    checkpoint (``None`` for other files)."""
    if path.suffix != ".safetensors":
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # read_state_dict gives the precise, one-line reason
            return read_state_dict(path), None
        raw = verified(raw, path)
        if isinstance(raw, dict) and raw.get("format") == TRAIN_FORMAT:
            config = dict(raw.get("model_config") or {})
            if "train_config" in raw:
                config["train"] = raw["train_config"]
            return extract_state_dict(raw.get("model"), str(path)), config
        return extract_state_dict(raw, str(path)), None
    return read_state_dict(path), None
