"""A stage's saved state: ``supernet.safetensors``, ``strategy.safetensors`` and ``strategy.json``.

Tensors go to safetensors files (no pickle); everything else a strategy's state holds
(numbers, strings, lists, dicts with string or integer keys, as optimizer states have)
goes to JSON, with each tensor replaced by a reference to its key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_path, atomic_write_text, parse_json
from .._schema import ANY, Dict, Tensor, digest, validate
from ..errors import CheckpointError

__all__ = [
    "STAGE_STATE_FORMAT",
    "finished_stages",
    "join_tensors",
    "read_stage_state",
    "split_tensors",
    "stage_folder",
    "stage_record",
    "write_stage_state",
]

STAGE_STATE_FORMAT = "cnas.stage-state"
STAGE_STATE_VERSION = 2  # 2: with the checksum of all three files' contents
SUPERNET_FILE = "supernet.safetensors"
STRATEGY_TENSORS_FILE = "strategy.safetensors"
STRATEGY_FILE = "strategy.json"

_TENSOR, _DICT, _TUPLE = "__tensor__", "__dict__", "__tuple__"


def stage_folder(output_dir: str | os.PathLike[str], index: int) -> Path:
    """Where a search in ``output_dir`` keeps stage ``index`` (from 0): ``stages/stage-K``."""
    return Path(output_dir) / "stages" / f"stage-{index + 1}"


def finished_stages(output_dir: str | os.PathLike[str]) -> list[int]:
    """The indices (from 0) of the stages whose saved state ``output_dir`` holds."""
    root = Path(output_dir) / "stages"
    found = []
    if root.is_dir():
        for folder in root.glob("stage-*"):
            suffix = folder.name.removeprefix("stage-")
            if suffix.isdigit() and (folder / STRATEGY_FILE).is_file():
                found.append(int(suffix) - 1)
    return sorted(found)


def stage_record(output_dir: str | os.PathLike[str], stage: int = -1) -> dict[str, Any]:
    """What a finished stage of the search in ``output_dir`` recorded in its
    ``strategy.json``: the strategy's name and settings, the searcher's shared settings
    (``"searcher"``), the stage, its ops and nodes; ``{}`` when the stage did not finish.

    Args:
        output_dir: A search's output folder.
        stage: The stage's index from 0 (the folder ``stage-{stage + 1}``); negative counts
            back from the last finished stage.

    Raises:
        CheckpointError: the record is not valid JSON.
    """
    finished = finished_stages(output_dir)
    if not finished:
        return {}
    index = finished[stage] if -len(finished) <= stage < 0 else stage
    path = stage_folder(output_dir, index) / STRATEGY_FILE
    if not path.is_file():
        return {}
    try:
        record = parse_json(path.read_bytes())
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        return {}
    record.pop("tree", None)
    return record


def split_tensors(tree: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """``(skeleton, tensors)``: ``tree`` with every tensor replaced by a reference, as JSON.

    Raises:
        TypeError: a value that is neither a tensor nor JSON-like, named by its path.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = str(len(tensors))
            tensors[key] = value.detach().cpu().contiguous()
            return {_TENSOR: key}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Mapping):
            pairs = []
            for k, v in value.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"{path}: a key {k!r} that is neither str nor int")
                pairs.append([k, walk(v, f"{path}.{k}")])
            return {_DICT: pairs}
        if isinstance(value, tuple):
            return {_TUPLE: [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        raise TypeError(f"{path}: cannot save a {type(value).__name__} in a stage state")

    return walk(tree, "state"), tensors


def join_tensors(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of ``split_tensors``.

    Raises:
        ValueError: a reference to a missing tensor, or a malformed skeleton.
    """

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {_TENSOR}:
                key = value[_TENSOR]
                if key not in tensors:
                    raise ValueError(f"the state refers to a missing tensor {key!r}")
                return tensors[key]
            if set(value) == {_DICT}:
                return {k: walk(v) for k, v in value[_DICT]}
            if set(value) == {_TUPLE}:
                return tuple(walk(v) for v in value[_TUPLE])
            raise ValueError(f"malformed state entry with keys {sorted(value)}")
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(skeleton)


def _save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], kind: str) -> None:
    from safetensors.torch import save_file

    # one metadata entry: safetensors writes a map's entries in no fixed order, and the
    # same state should give the same bytes
    with atomic_path(path) as tmp:
        save_file(dict(tensors), str(tmp), metadata={"format": f"{STAGE_STATE_FORMAT}/{kind}"})


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None


def write_stage_state(
    folder: str | os.PathLike[str],
    *,
    supernet: Mapping[str, torch.Tensor],
    strategy: str,
    strategy_state: Any,
    generator: torch.Tensor,
    context: Mapping[str, Any],
) -> None:
    """Write a finished stage's supernet weights and strategy state into ``folder``.

    ``context`` (JSON) says which stage it was: index, stage, ops.
    """
    folder = Path(folder)
    skeleton, tensors = split_tensors({"state": strategy_state, "generator": generator})
    weights = {k: v.detach().cpu().contiguous() for k, v in supernet.items()}
    _save_tensors(folder / SUPERNET_FILE, weights, "supernet")
    _save_tensors(folder / STRATEGY_TENSORS_FILE, tensors, "strategy")
    document: dict[str, Any] = {
        "format": STAGE_STATE_FORMAT,
        "version": STAGE_STATE_VERSION,
        "strategy": strategy,
        **context,
        "tree": skeleton,
    }
    # written last, over all three files: a stage state is whole or refused
    # (over the document as JSON reads it back: tuples become lists)
    document["checksum"] = digest([json.loads(json.dumps(document)), weights, tensors])
    atomic_write_text(folder / STRATEGY_FILE, json.dumps(document, indent=1) + "\n")


def read_stage_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``write_stage_state`` output: a dict with ``supernet`` (a state dict),
    ``strategy`` (its name), ``state``, ``generator`` and the context's keys.

    Raises:
        FileNotFoundError: ``folder`` holds no stage state (the stage did not finish).
        CheckpointError: the files are corrupt or not a cnas stage state.
    """
    folder = Path(folder)
    meta_path = folder / STRATEGY_FILE
    if not meta_path.is_file() or not (folder / SUPERNET_FILE).is_file():
        raise FileNotFoundError(f"{folder} holds no saved stage state ({STRATEGY_FILE})")
    try:
        document = parse_json(meta_path.read_bytes())
    except ValueError as exc:
        raise CheckpointError(f"{meta_path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != STAGE_STATE_FORMAT:
        raise CheckpointError(f"{meta_path} is not a cnas stage state")
    if document.get("version") != STAGE_STATE_VERSION:
        raise CheckpointError(
            f"{meta_path}: stage state version {document.get('version')!r}; this cnas reads "
            f"version {STAGE_STATE_VERSION}"
        )
    weights = _load_tensors(folder / SUPERNET_FILE)
    tensors = _load_tensors(folder / STRATEGY_TENSORS_FILE)
    checksum = document.pop("checksum", None)
    if checksum != digest([document, weights, tensors]):
        raise CheckpointError(
            f"{folder}: the stage state does not match the checksum in {STRATEGY_FILE}: a "
            "file was changed or damaged after it was written; the files were left untouched"
        )
    try:
        tree = join_tensors(document.pop("tree"), tensors)
        validate(tree, Dict({"state": ANY, "generator": Tensor(torch.uint8, 1)}))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{meta_path} does not fit {STRATEGY_TENSORS_FILE}: {exc}") from None
    return {
        **document,
        "supernet": weights,
        "state": tree["state"],
        "generator": tree["generator"],
    }
