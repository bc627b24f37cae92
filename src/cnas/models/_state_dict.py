"""Reading state dicts from weights files, safely.

``.safetensors`` files hold only tensors; ``.pth``/``.pt`` files are read only with
``torch.load(weights_only=True)``, so a file that needs arbitrary objects unpickled (and
could run code while loading) is refused. Wrapped checkpoints are unwrapped.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._run import CHECKPOINT_FORMATS, verify_checkpoint
from ..errors import CheckpointError, WeightsFormatError

__all__ = ["extract_state_dict", "read_state_dict"]

_WRAPPERS = ("state_dict", "model")


def _refusal_reason(exc: BaseException) -> str | None:
    """The line of a weights-only failure that names a forbidden global, if any."""
    for line in str(exc).splitlines():
        if "GLOBAL" in line:
            text = line.strip()
            return text.split("WeightsUnpickler error:", 1)[-1].strip()
    return None


def extract_state_dict(obj: object, origin: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint.

    Unwraps ``{"state_dict": ...}`` (the original training checkpoints) and
    ``{"model": ...}`` (``cnas train`` checkpoints), and strips a ``module.`` prefix that
    ``DataParallel``/``DistributedDataParallel`` leave on every key.

    Raises:
        WeightsFormatError: no state dict of tensors inside.
    """
    while isinstance(obj, Mapping) and not _all_tensors(obj):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj or not _all_tensors(obj):
        raise WeightsFormatError(
            f"{origin} holds no state dict (a mapping of parameter names to tensors, "
            "possibly under 'state_dict' or 'model')"
        )
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _all_tensors(obj: Mapping[Any, Any]) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a ``.pth``/``.pt`` file.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` only: tensors and
    plain containers, never arbitrary objects. Wrapped checkpoints are unwrapped (see
    ``extract_state_dict``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        WeightsFormatError: unreadable, refused, or not a state dict.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return extract_state_dict(dict(load_file(str(p))), str(p))
        except SafetensorError as exc:
            raise WeightsFormatError(f"{p} is not a readable safetensors file: {exc}") from None
    try:
        with warnings.catch_warnings():
            # raw pickles make torch warn before it refuses or reads them; the outcome
            # is reported either way
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _refusal_reason(exc)
        if reason is not None:
            raise WeightsFormatError(
                f"{p} was refused: it needs unpickling of arbitrary objects ({reason}); "
                "cnas reads .pth files only with torch.load(weights_only=True). If you "
                "trust the file, re-save its state dict with torch.save(state_dict) or "
                "as safetensors"
            ) from None
        raise WeightsFormatError(
            f"{p} is not a PyTorch weights file that torch.load(weights_only=True) can read"
        ) from None
    except Exception as exc:  # a corrupt file can fail in many ways; all get one answer
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise WeightsFormatError(
            f"{p} is not a readable PyTorch weights file ({type(exc).__name__}: {first})"
        ) from None
    return extract_state_dict(verified(obj, p), str(p))


def verified(obj: object, path: Path) -> Any:
    """``obj``, checked as its run would check it if it is a cnas run checkpoint
    (format, checksum, structure); other objects as they are.

    Raises:
        WeightsFormatError: a cnas checkpoint that fails the checks.
    """
    found = obj.get("format") if isinstance(obj, Mapping) else None
    kind = next((k for k, (f, _) in CHECKPOINT_FORMATS.items() if f == found), None)
    if kind is None:
        return obj
    try:
        return verify_checkpoint(obj, path, kind)  # type: ignore[arg-type]
    except CheckpointError as exc:
        raise WeightsFormatError(str(exc)) from None
