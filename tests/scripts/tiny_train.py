"""Train a tiny network on synthetic data; used by the distributed training test.

Usage: python tiny_train.py OUTPUT_DIR   (under torchrun or alone)
Writes OUTPUT_DIR/weights-rank{R}.pt with the final weights of every rank.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import cnas
from cnas import distributed
from cnas.training import TrainConfig, Trainer


def main() -> None:
    out = Path(sys.argv[1])
    distributed.init_from_env("cpu")
    torch.manual_seed(0)
    data = cnas.data.synthetic(num_samples=64, num_classes=4, image_size=8, seed=0)
    train = torch.utils.data.Subset(data, range(48))
    val = torch.utils.data.Subset(data, range(48, 64))
    config = TrainConfig.preset(
        "synthetic", init_channels=4, layers=3, epochs=2, batch_size=16, drop_path_prob=0.0
    )
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    trainer = Trainer(model, config, out / "run", device="cpu", progress=False)
    trainer.fit(train, val)
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    torch.save(weights, out / f"weights-rank{distributed.rank()}.pt")


if __name__ == "__main__":
    main()
