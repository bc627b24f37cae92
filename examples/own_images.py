"""From a folder of images to a deployed network, in Python.

    python examples/own_images.py OUT_DIR [--quick]

Makes a small folder of 3 classes of 32x32 PNG images (OUT_DIR/shapes/<class>/*.png;
point ``folder`` at your own instead), then: searches a cell on it, trains the found
cell, evaluates it, exports it to ONNX with its preprocessing inside (raw uint8 pixels
in), and classifies two image files, as ``cnas predict`` does. The same path on the
command line is in docs/own-data.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

import cnas
from cnas.data import DataConfig
from cnas.search import SearchConfig
from cnas.training import TrainConfig, Trainer


def make_shapes(root: Path, per_class: int, size: int = 32) -> Path:
    """Three classes: a bright square in the top-left, top-right or bottom-left."""
    g = torch.Generator().manual_seed(0)
    for label, name in enumerate(("top_left", "top_right", "bottom_left")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = torch.rand(size, size, 3, generator=g) * 80
            half = size // 2
            top, left = (label // 2) * half, (label % 2) * half
            image[top : top + half, left : left + half] += 150
            pixels = image.clamp(0, 255).to(torch.uint8).numpy()
            Image.fromarray(pixels, mode="RGB").save(root / name / f"{i:03d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--quick", action="store_true", help="tiny settings (the tests')")
    args = parser.parse_args()
    folder = make_shapes(args.out / "shapes", per_class=20 if args.quick else 200)
    data = DataConfig(dataset="folder", root=str(folder))
    info = data.info()
    print(f"{folder}: {len(info.classes)} classes {info.classes}, {info.image_size}x"
          f"{info.image_size}, {info.in_channels} channel(s)")  # fmt: skip

    # 1. search a cell on the folder (the supernet is sized for a CPU)
    small = {"warmup_epochs": 0, "epochs_per_stage": 1} if args.quick else {}
    search = SearchConfig().replace(
        data=data,
        space={"ops": ["sep_conv_3x3", "max_pool_3x3", "skip_connect"], "n_nodes": 2},
        curriculum={"kind": "ops", **small},
        supernet={"init_channels": 4, "layers": 3},
        optimizer={"batch_size": 32},
        runtime={"device": "cpu", "progress": False},
    )
    if args.quick:
        search = search.replace(curriculum={"steps_per_epoch": 2})
    searcher = cnas.Searcher.from_config(search, args.out / "search")
    genotype = searcher.fit().genotype
    print("found:", genotype)

    # 2. train the found cell with the folder preset (smaller and shorter here)
    train = TrainConfig.preset(
        "folder",
        genotype=genotype,
        data=data,
        init_channels=8,
        layers=3,
        epochs=2 if args.quick else 20,
        batch_size=32,
        runtime={"device": "cpu", "progress": False},
    )
    trainer = Trainer.from_config(train, args.out / "train")
    trainer.fit()
    print(f"best validation top-1: {100 * trainer.best_top1:.1f}%")

    # 3. export with the preprocessing in the graph, then classify files
    result = cnas.models.export(
        args.out / "train", args.out / "net.onnx", with_preprocessing=True, overwrite=True
    )
    print(f"exported {result.path}: takes raw uint8 pixels {result.input_size}")
    images = sorted(folder.rglob("*.png"))[:2]
    for p in cnas.models.predict(args.out / "train", images, top_k=2):
        print(f"{Path(p.path).relative_to(folder)}: {p.name} ({100 * p.probability:.0f}%)")


if __name__ == "__main__":
    main()
