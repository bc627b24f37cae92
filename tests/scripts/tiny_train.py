"""Train a tiny network on synthetic data; used by the distributed and resume tests.

Usage: python tiny_train.py OUTPUT_DIR [--kill-after-items N] [--resume]
       (under torchrun or alone)
Writes OUTPUT_DIR/weights-rank{R}.pt with the final weights of every rank.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from kill_after import KillAfter  # this folder: sys.path[0] when run, or put there by the tests

import cnas
from cnas import distributed
from cnas.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--kill-after-items", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.output)
    distributed.init_from_env("cpu")
    torch.manual_seed(0)
    data = cnas.data.synthetic(num_samples=64, num_classes=4, image_size=8, seed=0)
    train: Any = torch.utils.data.Subset(data, range(48))
    val = torch.utils.data.Subset(data, range(48, 64))
    if args.kill_after_items is not None:
        train = KillAfter(train, args.kill_after_items)
    config = TrainConfig.preset(
        "synthetic",
        init_channels=4,
        layers=3,
        epochs=args.epochs,
        batch_size=16,
        drop_path_prob=0.0,
    )
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    trainer = Trainer(
        model,
        config.replace(runtime={"device": "cpu", "progress": False}),
        out / "run",
        resume=args.resume,
    )
    trainer.fit(train, val)
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    torch.save(weights, out / f"weights-rank{distributed.rank()}.pt")


if __name__ == "__main__":
    main()
