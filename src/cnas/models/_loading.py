"""Loading weights into networks: ``load_into``, ``load_state_dict``, ``from_pretrained``.

Everything loads with ``strict=True``. ``"hf-hub:ORG/NAME[@REVISION]"`` names a Hub
repository written by ``cnas train`` or ``save_pretrained``; ``HF_HUB_PREFIX`` is the one
place that prefix is spelled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WeightsFormatError
from ._config import CONFIG_NAME, WEIGHTS_NAME, Network, network_from_config, read_config
from ._download import hub_download, weights_file
from ._state_dict import read_state_dict
from ._weights import Weights, check_revision

__all__ = [
    "HF_HUB_PREFIX",
    "from_pretrained",
    "load_into",
    "load_state_dict",
    "parse_hf_hub",
]

HF_HUB_PREFIX = "hf-hub:"
"""The prefix of a Hub repository where a model name or ``weights=`` is expected."""

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def parse_hf_hub(spec: str) -> tuple[str, str]:
    """Split ``"hf-hub:ORG/NAME[@REVISION]"`` into ``(repo_id, revision)``.

    Raises:
        ValueError: not of that form.

    Examples:
        >>> from cnas.models._loading import parse_hf_hub
        >>> parse_hf_hub("hf-hub:me/cnas-cifar10@v1")
        ('me/cnas-cifar10', 'v1')
    """
    if not spec.startswith(HF_HUB_PREFIX):
        raise ValueError(f"expected 'hf-hub:ORG/NAME[@REVISION]', got {spec!r}")
    repo_id, _, revision = spec[len(HF_HUB_PREFIX) :].partition("@")
    if not _REPO_ID.match(repo_id) or (revision == "" and spec.endswith("@")):
        raise ValueError(f"expected 'hf-hub:ORG/NAME[@REVISION]', got {spec!r}")
    if revision:
        check_revision(revision)
    return repo_id, revision or "main"


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], origin: str) -> None:
    """Load ``state`` into ``model`` with ``strict=True``.

    A network built without its auxiliary head ignores the head's tensors in ``state``
    (the only relaxation).

    Raises:
        WeightsFormatError: a missing, unexpected or misshapen tensor.
    """
    if getattr(model, "auxiliary_head", None) is None:
        state = {k: v for k, v in state.items() if not k.startswith("auxiliary_head.")}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [
        f"{k} {tuple(state[k].shape)} for {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{len(keys)} {what} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
        for what, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", misshapen),
        )
        if keys
    ]
    if problems:
        raise WeightsFormatError(
            f"{origin} does not fit {type(model).__name__} (strict loading): tensors "
            + "; ".join(problems)
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        first = str(exc).strip().splitlines()[0][:300]
        raise WeightsFormatError(f"{origin} does not fit {type(model).__name__}: {first}") from None


def load_state_dict(
    weights: Weights,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    name: str | None = None,
) -> dict[str, torch.Tensor]:
    """Fetch ``weights``' file (a cached copy first, else a download, hash-checked) and
    read its state dict; ``name`` is what messages call the weights."""
    return read_state_dict(weights_file(weights, cache_dir=cache_dir, progress=progress, name=name))


def _pretrained_files(
    source: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
) -> tuple[Path, Path, str]:
    """``(config.json, model.safetensors, origin)`` of a Hub repo or a local folder."""
    if isinstance(source, str) and source.startswith(HF_HUB_PREFIX):
        repo_id, revision = parse_hf_hub(source)
        config = hub_download(
            repo_id, CONFIG_NAME, revision=revision, cache_dir=cache_dir, progress=progress
        )
        weights = hub_download(
            repo_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir, progress=progress
        )
        return config, weights, source
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder; from_pretrained takes 'hf-hub:ORG/NAME[@REVISION]' "
            f"or a folder with {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {' and '.join(missing)} (as written by cnas train or save_pretrained)"
        )
    return folder / CONFIG_NAME, folder / WEIGHTS_NAME, str(folder)


def from_pretrained(
    source: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Network:
    """Load a saved network: a Hub repository or a local folder written by ``cnas train``,
    ``save_pretrained`` or ``cnas convert``.

    The network is built from ``config.json`` and ``model.safetensors`` is loaded into it
    with ``strict=True``. Hub files are hash-checked against what the Hub reports.

    Args:
        source: ``"hf-hub:ORG/NAME"`` or ``"hf-hub:ORG/NAME@REVISION"`` (a commit, tag
            or branch; default ``main``), or a local folder.
        cache_dir: The Hub cache folder (default: huggingface_hub's, ``HF_HUB_CACHE``).
        progress: Show download progress bars.
        **overrides: ``auxiliary=False`` to leave out the auxiliary head, or ``dropout=``
            (``NetworkImageNet``).

    Returns:
        The network, in eval mode.

    Raises:
        FileNotFoundError: a local folder without the two files.
        WeightsNotFoundError: the repository or a file is not on the Hub (or not cached
            while offline).
        WeightsIntegrityError: a downloaded file failed its hash check.
        WeightsFormatError: the files do not describe or fit a cnas network.

    Examples:
        >>> import tempfile, cnas
        >>> net = cnas.NetworkCIFAR(8, 10, 5, False, "CNAS")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = cnas.models.save_pretrained(net, folder, overwrite=True)
        ...     again = cnas.models.from_pretrained(folder)
        >>> type(again).__name__, again.genotype == net.genotype
        ('NetworkCIFAR', True)
    """
    config_path, weights_path, origin = _pretrained_files(source, cache_dir, progress)
    config = read_config(config_path, f"{origin} ({CONFIG_NAME})")
    model = network_from_config(config, f"{origin} ({CONFIG_NAME})", **overrides)
    load_into(model, read_state_dict(weights_path), f"{origin} ({WEIGHTS_NAME})")
    return model.eval()
