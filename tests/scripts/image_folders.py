"""Small image folders for tests, examples and benchmarks: one learnable pattern per
class (a bright square in a class's own corner, plus noise), written as PNG files."""

from __future__ import annotations

from pathlib import Path

import torch


def pattern(label: int, index: int, size: int, channels: int, seed: int = 0) -> torch.Tensor:
    """A ``uint8`` image ``(channels, size, size)`` of class ``label``."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + label * 10_007 + index)
    image = torch.rand(channels, size, size, generator=g) * 80
    half = size // 2
    top, left = (label // 2 % 2) * half, (label % 2) * half
    image[:, top : top + half, left : left + half] += 150
    if channels == 3:
        image[label % 3] += 25
    return image.clamp(0, 255).to(torch.uint8)


def save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()
    Image.fromarray(array, mode="RGB" if image.shape[0] == 3 else "L").save(path)


def make_folder(
    root: str | Path,
    classes: int = 3,
    per_class: int = 20,
    size: int = 16,
    channels: int = 3,
    layout: str = "classes",
    seed: int = 0,
) -> Path:
    """``root/<class>/*.png`` (``layout="classes"``) or ``root/train|val|test/<class>/*``
    (``"splits"``: 60% / 20% / 20% of each class)."""
    root = Path(root)
    names = [f"class_{chr(ord('a') + c)}" for c in range(classes)]
    for label, name in enumerate(names):
        for i in range(per_class):
            if layout == "splits":
                share = i / per_class
                split = "train" if share < 0.6 else "val" if share < 0.8 else "test"
                folder = root / split / name
            else:
                folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            save_png(pattern(label, i, size, channels, seed), folder / f"{i:04d}.png")
    return root
