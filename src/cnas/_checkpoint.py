"""Search checkpoints: complete state, written atomically, read back safely."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_path
from .errors import CheckpointError

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "cnas.search-checkpoint"
CHECKPOINT_VERSION = 2


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: the previous file stays valid until the new
    one is complete."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only`` loading).

    Raises:
        CheckpointError: the file is unreadable, truncated, or not a cnas search checkpoint.
    """
    p = Path(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        ValueError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise CheckpointError(
            f"{p} is not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]}); it "
            "was left untouched: move it away to start a new search in this folder"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} is not a cnas search checkpoint; it was left untouched")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{p} has checkpoint version {state.get('version')!r}; this cnas "
            f"reads version {CHECKPOINT_VERSION}"
        )
    return state
