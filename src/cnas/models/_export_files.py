"""Writing a ``.pt2`` file and running an exported file for ``export``'s check; the
names and extras both share."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "BATCH_AXIS",
    "EXPORT_HINT",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "dynamic_batch",
    "pt2_bytes",
    "require",
    "run_onnx",
    "run_pt2",
]

EXPORT_HINT = 'pip install "cnas[export]"'
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
BATCH_AXIS = "batch"


def require(names: list[str]) -> list[Any]:
    """Import ``names``; a missing one is an ``ImportError`` that says ``EXPORT_HINT``."""
    modules, missing = [], []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"ONNX export needs {', '.join(missing)}, not installed here: {EXPORT_HINT} "
            "(a torch.export .pt2 file needs only torch)",
            name=missing[0],
        )
    return modules


def dynamic_batch() -> Any:
    return ({0: torch.export.Dim(BATCH_AXIS, min=1)},)


def pt2_bytes(model: nn.Module, example: torch.Tensor, meta: dict[str, str]) -> bytes:
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic_batch(), strict=False)
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={"cnas.json": json.dumps(meta, indent=2)})
    return buffer.getvalue()


def _largest_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    if got.shape != want.shape:
        raise ValueError(
            f"the file returns logits of shape {tuple(got.shape)}, not {tuple(want.shape)}"
        )
    return float((got.double() - want.double()).abs().max())


def run_onnx(file: Path, images: torch.Tensor, reference: torch.Tensor) -> tuple[float, str]:
    (ort,) = require(["onnxruntime"])
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no notes on the console
    session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
    got = torch.from_numpy(logits)
    return _largest_difference(got, reference), f"onnxruntime {ort.__version__}"


def run_pt2(file: Path, images: torch.Tensor, reference: torch.Tensor) -> tuple[float, str]:
    program = torch.export.load(io.BytesIO(file.read_bytes()))
    with torch.no_grad():
        logits = program.module()(images)
    return _largest_difference(logits, reference), f"torch {torch.__version__}"
