"""Running a network before export: its reference logits, and a refusal of networks
that call cnas's custom operators (which exported files cannot run)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["probe"]


class _OpRecorder(TorchFunctionMode):
    """Records the cnas custom operators (``torch.ops.cnas.*``) a forward pass calls."""

    def __init__(self) -> None:
        super().__init__()
        self.custom: set[str] = set()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if type(func).__module__ == "torch._ops" and str(func).startswith("cnas."):
            self.custom.add("cnas::" + str(func).split(".")[1])
        return func(*args, **(kwargs or {}))


def probe(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The network's logits for ``images``; refuses one that runs cnas's custom operators."""
    with torch.no_grad(), _OpRecorder() as recorder:
        logits = model(images)
    if recorder.custom:
        used = ", ".join(sorted(recorder.custom))
        raise TypeError(
            f"{type(model).__name__} runs cnas's custom operators ({used}), which ONNX "
            "runtimes and torch.export files cannot run without cnas; export an evaluation "
            "network (NetworkCIFAR, NetworkImageNet): they run none"
        )
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{type(model).__name__} returns {type(logits).__name__}, not a tensor")
    return logits
