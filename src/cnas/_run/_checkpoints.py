"""Checkpoints: written atomically with a checksum of their contents, read back with
``weights_only`` loading and checked against their kind's format, version and schema
before any of it is used (:class:`~cnas.errors.CheckpointError` otherwise)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from .._io import atomic_path
from .._schema import (
    ANY,
    BOOL,
    SCALAR,
    STR,
    Dict,
    Int,
    ListOf,
    MapOf,
    Maybe,
    Number,
    OneOf,
    Schema,
    SchemaError,
    Seq,
    Tensor,
    digest,
    validate,
)
from ..errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMATS",
    "CHECKPOINT_NAMES",
    "CHECKPOINT_SCHEMAS",
    "RunKind",
    "load_checkpoint",
    "save_checkpoint",
    "seal_checkpoint",
    "verify_checkpoint",
    "write_checkpoint",
]

RunKind = Literal["search", "training"]

CHECKPOINT_FORMATS: dict[str, tuple[str, int]] = {
    "search": ("cnas.search-checkpoint", 4),
    "training": ("cnas.train-checkpoint", 2),
}
"""Per run kind: the ``format`` tag its checkpoints carry and the version this cnas reads
(search 3 and training 2 added the ``checksum``; search 4 the settings a resume may
change and the callbacks' state)."""

_OPTIMIZER = Dict(
    {
        "state": MapOf(Int(0), MapOf(STR, ANY)),
        "param_groups": ListOf(
            Dict(
                {"params": ListOf(Int(0))},
                optional={
                    name: OneOf((Number(0), Tensor(ndim=0)))
                    for name in ("lr", "momentum", "weight_decay", "dampening", "eps")
                },
            )
        ),
    }
)
_PYTHON_RNG = Seq((Int(), ListOf(Int(0, 2**32 - 1), length=625), Maybe(Number(finite=False))))
_GENERATOR = Tensor(torch.uint8, 1)
_RNG: dict[str, Schema] = {"torch": _GENERATOR, "python": _PYTHON_RNG}
_CUDA_RNG: dict[str, Schema] = {"cuda": ListOf(_GENERATOR)}
_HISTORY = ListOf(MapOf(STR, SCALAR))
_ENVELOPE: dict[str, Schema] = {"format": STR, "version": Int(), "checksum": STR}

CHECKPOINT_SCHEMAS: dict[str, Schema] = {
    "search": Dict(
        {
            "config": MapOf(STR, ANY),
            "settings": MapOf(STR, ANY),
            "schedule": MapOf(STR, ANY),
            "op_order": ListOf(STR),
            "position": Dict({"stage": Int(0), "step": Int(0), "finished": BOOL}),
            "supernet": MapOf(STR, Tensor()),
            "optimizer": _OPTIMIZER,
            "strategy": Dict(
                {"name": STR, "settings": MapOf(STR, ANY), "state": MapOf(OneOf((STR, Int())))}
            ),
            "callbacks": MapOf(STR, MapOf(STR, ANY)),
            "history": _HISTORY,
            "stages": ListOf(MapOf(STR, ANY)),
            "rng": Dict({**_RNG, "generator": _GENERATOR}, optional=_CUDA_RNG),
            **_ENVELOPE,
        }
    ),
    "training": Dict(
        {
            "model_config": MapOf(STR, ANY),
            "train_config": MapOf(STR, ANY),
            "model": MapOf(STR, Tensor()),
            "optimizer": _OPTIMIZER,
            "scaler": MapOf(STR, ANY),
            "epoch": Int(0),
            "step": Int(0),
            "best_top1": Number(finite=False),
            "best_epoch": Int(0),
            "history": _HISTORY,
            "rng": Dict(_RNG, optional=_CUDA_RNG),
            **_ENVELOPE,
        },
        optional={"data": MapOf(STR, ANY)},
    ),
}
"""Per run kind: the structure its checkpoints must have before any of it is used (what
fits the run, such as a state dict for its network, the loader checks after)."""

CHECKPOINT_NAMES: dict[str, str] = {"search": "checkpoint.pt", "training": "last.pt"}


def seal_checkpoint(
    state: Mapping[str, Any], kind: RunKind, *, check: bool = True
) -> dict[str, Any]:
    """``state`` as ``save_checkpoint`` writes it: tagged with ``kind``'s format and
    version, and with the ``checksum`` of everything else it holds (a ``checksum`` that
    ``state`` already has is replaced).

    Raises:
        SchemaError: (``check``, a ``ValueError``) ``state`` does not have the structure
            that ``load_checkpoint`` requires, so a resume would refuse it. ``check=False``
            seals it anyway (the tests make ill-formed checkpoints so).
    """
    fmt, version = CHECKPOINT_FORMATS[kind]
    payload = {**{k: v for k, v in state.items() if k != "checksum"}, "format": fmt}
    payload["version"] = version
    payload["checksum"] = digest(payload)
    if check:  # a state that a resume would refuse is its writer's bug: found now, not then
        validate(payload, CHECKPOINT_SCHEMAS[kind])
    return payload


def write_checkpoint(path: str | os.PathLike[str], sealed: Mapping[str, Any]) -> None:
    """Write a ``seal_checkpoint`` result to ``path`` atomically: the previous file stays
    valid until the new one is complete.

    Raises:
        CheckpointError: the file cannot be written (a full disk, no permission).
    """
    try:
        with atomic_path(path) as tmp:
            torch.save(dict(sealed), tmp)
    except OSError as exc:  # a full disk (see atomic_path), a folder made read-only
        raise CheckpointError(
            f"could not write {path}: {(exc.strerror or str(exc)).lower()}; the previous "
            "checkpoint, if any, is kept"
        ) from exc


def save_checkpoint(
    path: str | os.PathLike[str], state: Mapping[str, Any], kind: RunKind, *, check: bool = True
) -> None:
    """Seal ``state`` (``seal_checkpoint``) and write it (``write_checkpoint``).

    Raises:
        SchemaError: see ``seal_checkpoint``.
        CheckpointError: see ``write_checkpoint``.
    """
    write_checkpoint(path, seal_checkpoint(state, kind, check=check))


def load_checkpoint(path: str | os.PathLike[str], kind: RunKind) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only`` loading), and
    check it before any of it is used: its format and version, its checksum (the file
    was not changed or damaged after it was written) and its structure
    (``CHECKPOINT_SCHEMAS``).

    Raises:
        CheckpointError: the file is unreadable or truncated, not a cnas checkpoint, a
            checkpoint of another kind of run or of another version, does not match its
            checksum, or does not have the structure of a ``kind`` checkpoint. The error
            names the file, which is left in place.
    """
    p = Path(path)
    try:
        with warnings.catch_warnings():  # a corrupt file gets our error, not torch's warning
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(p, map_location="cpu", weights_only=True)
    except MemoryError:  # a whole checkpoint on a small machine: not a damaged file
        raise
    except Exception as exc:  # a damaged file can fail anywhere in the unpickler
        raise CheckpointError(
            f"{p} is not a readable checkpoint ({_load_failure(exc)}); it was left "
            "untouched: move it away to start anew in this folder"
        ) from None
    return verify_checkpoint(state, p, kind)


def _load_failure(exc: BaseException) -> str:
    """What ``torch.load`` said, in one line: for a weights-only refusal, the unpickler's
    own reason, without torch's advice to load the file unsafely."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
        reason = after[0].strip() if after else ""
        return f"its pickle is damaged or holds more than tensors and containers: {reason}"
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def verify_checkpoint(state: Any, path: str | os.PathLike[str], kind: RunKind) -> dict[str, Any]:
    """Check a loaded checkpoint as ``load_checkpoint`` does, and return it.

    Raises:
        CheckpointError: see ``load_checkpoint`` (``path`` names the file in the message).
    """
    p = Path(path)
    fmt, version = CHECKPOINT_FORMATS[kind]
    found = state.get("format") if isinstance(state, dict) else None
    if found != fmt:
        other = next((k for k, (f, _) in CHECKPOINT_FORMATS.items() if f == found), None)
        what = f"a checkpoint of a {other} run" if other else "not a cnas checkpoint"
        raise CheckpointError(f"{p} is {what}, not of a {kind} run; it was left untouched")
    assert isinstance(state, dict)
    if state.get("version") != version:
        raise CheckpointError(
            f"{p} has {kind} checkpoint version {state.get('version')!r}; this cnas reads "
            f"version {version}; it was left untouched"
        )
    contents = {k: v for k, v in state.items() if k != "checksum"}
    try:
        actual = digest(contents)
    except Exception as exc:  # what weights_only loading allows but no checkpoint holds
        raise CheckpointError(
            f"{p} holds what no {kind} checkpoint holds ({exc}); it was left untouched"
        ) from None
    if state.get("checksum") != actual:
        raise CheckpointError(
            f"{p} does not match its checksum: it was changed or damaged after it was "
            "written; it was left untouched: restore it from a copy, or move it away to start "
            "anew in this folder"
        )
    try:
        validate(state, CHECKPOINT_SCHEMAS[kind])
    except SchemaError as exc:
        raise CheckpointError(
            f"{p} does not have the structure of a {kind} checkpoint ({exc}); it was left untouched"
        ) from None
    return state
