"""The preprocessing a trained network expects, as its ``config.json`` records it: read
back, applied to image files, and put in front of the network for export."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WeightsFormatError

__all__ = ["Preprocessing", "WithPreprocessing", "recorded_preprocessing"]


@dataclass(frozen=True)
class Preprocessing:
    """How images become a network's input: the shorter side resized to ``resize_size``
    (``interpolation``), the centre ``input_size`` cropped, pixels scaled to [0, 1], then
    each channel normalized with ``mean`` and ``std``.

    Attributes:
        input_size: ``(C, H, W)`` of the network's input.
        resize_size: The shorter side before the centre crop.
        mean: Per-channel mean (of pixels in [0, 1]).
        std: Per-channel standard deviation.
        interpolation: ``"bilinear"`` (the only one image folders use).
        categories: The class names in label order, if recorded.
    """

    input_size: tuple[int, int, int]
    resize_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    categories: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "config.json") -> Preprocessing:
        """The ``preprocessing`` (and ``categories``) of a model's ``config.json``.

        Raises:
            WeightsFormatError: none recorded, or one that is not well formed.
        """
        record = config.get("preprocessing")
        if not isinstance(record, Mapping):
            raise WeightsFormatError(
                f"{where} records no preprocessing (a model trained on an image folder, or "
                "with published weights, does)"
            )
        try:
            size = tuple(int(v) for v in record["input_size"])
            mean = tuple(float(v) for v in record["mean"])
            std = tuple(float(v) for v in record["std"])
            resize = int(record["resize_size"])
            interpolation = str(record.get("interpolation", "bilinear"))
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsFormatError(f"{where}: a malformed preprocessing record ({exc})") from None
        if len(size) != 3 or min(size) < 1 or resize < 1 or max(*size, resize) > 4096:
            raise WeightsFormatError(f"{where}: preprocessing sizes out of range: {size}")
        if resize < min(size[1:]):
            raise WeightsFormatError(
                f"{where}: preprocessing resizes to {resize}, smaller than its "
                f"{size[1]}x{size[2]} crop"
            )
        if len(mean) != size[0] or len(std) != size[0]:
            raise WeightsFormatError(f"{where}: preprocessing needs one mean and std per channel")
        if not all(math.isfinite(v) for v in (*mean, *std)) or min(std) <= 0:
            raise WeightsFormatError(f"{where}: preprocessing mean/std must be finite, std > 0")
        names = config.get("categories")
        categories = (
            tuple(str(n) for n in names)
            if isinstance(names, Sequence) and not isinstance(names, str)
            else None
        )
        return cls((size[0], size[1], size[2]), resize, mean, std, interpolation, categories)

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` record (without the categories)."""
        return {
            "input_size": list(self.input_size),
            "resize_size": self.resize_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }

    def metadata(self, *, in_graph: bool) -> dict[str, str]:
        """The export metadata: ``cnas.preprocessing``, ``cnas.categories`` (JSON) and
        ``cnas.input`` (``pixels`` when the graph normalizes, else ``normalized``)."""
        meta = {
            "cnas.preprocessing": json.dumps(self.to_dict()),
            "cnas.input": "pixels" if in_graph else "normalized",
        }
        if self.categories is not None:
            meta["cnas.categories"] = json.dumps(list(self.categories))
        return meta

    def pixels(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """The image file at ``path`` as ``uint8`` pixels ``input_size``: converted to
        grey or RGB, resized and centre-cropped (not yet scaled or normalized).

        Raises:
            DatasetError: the file is not a readable image.
        """
        from ..data import decode_image

        channels, height, width = self.input_size
        if height != width or self.interpolation != "bilinear":
            raise ValueError(
                f"a {height}x{width} crop with {self.interpolation} resizing is read by "
                "torchvision's transforms (Weights.transforms), not here"
            )
        return decode_image(path, self.resize_size, channels, crop=height)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """``uint8`` (or float 0..255) pixels ``(..., C, H, W)`` scaled and normalized."""
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (pixels.float() / 255 - mean) / std


def recorded_preprocessing(source: object) -> Preprocessing | None:
    """The preprocessing a model folder's ``config.json`` records (``None``: ``source``
    is not a folder, or it records none).

    Raises:
        WeightsFormatError: an unreadable ``config.json`` or a malformed record.
    """
    from ._config import CONFIG_NAME, read_config

    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
        return None
    where = f"{source} ({CONFIG_NAME})"
    config = read_config(Path(source) / CONFIG_NAME, where)
    if config.get("preprocessing") is None:
        return None
    return Preprocessing.from_config(config, where)


class WithPreprocessing(nn.Module):
    """A network that takes raw pixels: ``uint8`` images ``(N, C, H, W)`` of the
    network's input size, scaled to [0, 1] and normalized inside the graph. Resizing is
    left to the caller (``Preprocessing.pixels`` does it as training did)."""

    def __init__(self, network: nn.Module, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.network = network
        channels = len(preprocessing.mean)
        scale = torch.tensor([255 * s for s in preprocessing.std]).view(1, channels, 1, 1)
        shift = torch.tensor(preprocessing.mean).view(1, channels, 1, 1)
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits for ``pixels``."""
        x = (pixels.to(torch.float32) - self.shift * 255) / self.scale  # type: ignore[operator]
        out: torch.Tensor = self.network(x)
        return out
