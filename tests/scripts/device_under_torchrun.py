"""Under torchrun, with CUDA faked (2 devices, nothing moved): which device a Searcher
built in Python and a training's configuration take, written to DIR/rankN.json.

Usage: torchrun --nproc_per_node=2 device_under_torchrun.py DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

import cnas


def _stay(self: torch.nn.Module, *args: object, **kwargs: object) -> torch.nn.Module:
    """Keep the module where it is (there is no GPU)."""
    return self


def fake_two_gpus() -> None:
    """CUDA with two devices, as far as cnas can tell; nothing is moved to them. (Done
    in main, not on import: pytest imports this file when it collects doctests.)"""
    torch.cuda.is_available = lambda: True  # type: ignore[assignment]
    torch.cuda.device_count = lambda: 2  # type: ignore[assignment]
    torch.nn.Module.to = _stay  # type: ignore[method-assign, assignment]


def main() -> None:
    fake_two_gpus()
    folder = Path(sys.argv[1])
    rank = int(os.environ["LOCAL_RANK"])
    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], 2)
    searcher = cnas.Searcher(
        cnas.SuperNet(space, C=4, num_classes=10, layers=3),
        cnas.CurriculumSchedule.fixed(space, 1, 1),
        folder / "run",
        strategy="random",
        runtime=cnas.search.SearchRuntime(progress=False),
    )
    training = cnas.training.TrainConfig().runtime.resolve_device()
    (folder / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "searcher": str(searcher.device),
                "engine": str(searcher.engine.device),
                "training": str(training),
                "world_size": os.environ["WORLD_SIZE"],
            }
        )
    )


if __name__ == "__main__":
    main()
