"""The cache of decoded image folders: one safetensors file per folder and requested
size, holding the images, labels and splits, and the manifest (names, sizes and
modification times) of the files it was decoded from."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_path

__all__ = ["cache_dir", "cache_path", "read_cache", "write_cache"]

logger = logging.getLogger("cnas")

CACHE_VERSION = 1


def cache_dir() -> Path:
    """Where decoded folders are cached: ``$CNAS_CACHE/images``, else
    ``$XDG_CACHE_HOME/cnas/images``, else ``~/.cache/cnas/images``."""
    if os.environ.get("CNAS_CACHE"):
        return Path(os.environ["CNAS_CACHE"]) / "images"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnas" / "images"


def cache_path(folder: Path, image_size: int | None) -> Path:
    """The cache file of ``folder`` decoded at ``image_size``."""
    key = f"{folder.resolve()}\0{image_size}\0{CACHE_VERSION}"
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"


def read_cache(path: Path, manifest: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The cached tensors (``images``, ``labels``, ``splits``) and record when the cache
    at ``path`` was decoded from files of this ``manifest``, else ``None`` (an unreadable
    cache is logged and ignored)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("manifest") != manifest or meta.get("version") != str(CACHE_VERSION):
                return None
            record = json.loads(meta["record"])
            tensors = {k: f.get_tensor(k) for k in ("images", "labels", "splits")}
    except (OSError, SafetensorError, KeyError, TypeError, ValueError) as exc:
        logger.warning("ignoring the unreadable image cache %s (%s); decoding again", path, exc)
        return None
    if not isinstance(record, dict):
        logger.warning("ignoring the image cache %s, which does not fit; decoding again", path)
        return None
    return tensors, record


def write_cache(
    path: Path, manifest: str, tensors: dict[str, torch.Tensor], record: dict[str, Any]
) -> None:
    """Write the cache atomically; a failure is logged (the run goes on without it)."""
    from safetensors.torch import save_file

    metadata = {"version": str(CACHE_VERSION), "manifest": manifest, "record": json.dumps(record)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    except OSError as exc:
        logger.warning("could not cache the decoded images in %s: %s", path, exc)
