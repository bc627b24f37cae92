"""A training's resume: what a checkpoint must share with the run that resumes it, what
may change (with a warning, or silently), and its state loaded back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._config import describe_differences
from .._run import set_rng_state
from ..errors import CheckpointError

__all__ = ["Progress", "restore"]

logger = logging.getLogger("cnas")

_RESUMABLE_CHANGES = ("runtime.", "max_steps", "data.root", "data.download")
"""The settings a resumed training may change silently (prefixes): how it runs, not what
it computes."""

_LOGGED_CHANGES = {
    "epochs": "the learning-rate schedule is stretched from here on",
    "lr": "the learning-rate schedule is scaled from here on",
    "lr_min": "the learning-rate schedule ends elsewhere",
    "grad_clip": "gradients are clipped otherwise from here on",
}
"""The settings a resumed training may change with a warning: the ways to go on after a
diverged loss (a lower ``lr``, tighter clipping) or to train longer."""


@dataclass
class Progress:
    """Where a resumed training stands."""

    epoch: int
    step: int
    history: list[dict[str, Any]]
    best_top1: float
    best_epoch: int


def restore(
    state: Mapping[str, Any],
    path: Path,
    *,
    network: Mapping[str, Any],
    config: Mapping[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> Progress:
    """Check a checkpoint against the run that resumes it (its ``network`` and ``config``
    as the run records them), load it into ``model``, ``optimizer`` and ``scaler``, and
    return where the training stands. Everything is checked before anything is loaded.

    Raises:
        CheckpointError: a checkpoint of another network, of a run with other settings
            (naming each field: ``lr: 0.05 -> 0.1``), or one that does not fit.
    """
    saved = state.get("model_config")
    if saved != network:
        changes = describe_differences(saved, network, opaque=("genotype",))
        what = "; ".join(changes) if isinstance(saved, dict) else "unknown"
        raise CheckpointError(
            f"{path} is a checkpoint of another network ({what}); it does not fit this "
            "one: resume it with the network it started with (its config.json has it), "
            "or start a new run"
        )
    saved_config = _flat(state.get("train_config", {}))
    now = _flat(config)
    # (a setting only one side knows, from another cnas version, is not compared)
    shared = sorted(set(saved_config) & set(now))
    changed = [k for k in shared if saved_config[k] != now[k]]
    refused = [
        f"{k}: {saved_config[k]!r} -> {now[k]!r}"
        for k in changed
        if not k.startswith(_RESUMABLE_CHANGES) and k not in _LOGGED_CHANGES
    ]
    if refused:
        raise CheckpointError(
            f"{path} is a run with other settings ({'; '.join(refused)}); resume it with "
            "the settings it started with (its config.json has them), or start a new run"
        )
    try:
        progress = Progress(
            int(state["epoch"]),
            int(state["step"]),
            list(state["history"]),
            float(state["best_top1"]),
            int(state["best_epoch"]),
        )
        if len(progress.history) != progress.epoch or progress.best_epoch > progress.epoch:
            raise ValueError(
                f"it holds {len(progress.history)} epoch record(s) for {progress.epoch} "
                f"finished epoch(s), its best epoch {progress.best_epoch}"
            )
        # (checked before anything is loaded, so a refusal leaves the trainer as it was)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} does not fit this training run: {exc}") from None
    for k in changed:
        if k in _LOGGED_CHANGES:
            logger.warning(
                "resuming %s with %s=%r (it started with %r): %s",
                path.parent,
                k,
                now[k],
                saved_config[k],
                _LOGGED_CHANGES[k],
            )
    return progress


def _flat(record: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict's leaves by dotted path."""
    if not isinstance(record, Mapping):
        return {prefix: record}
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and key != "genotype":
            out.update(_flat(value, path))
        else:
            out[path] = value
    return out
