"""The smallest states that have the structure of a search or a training checkpoint,
for the tests of the run layer and the fuzz suite."""

from __future__ import annotations

from typing import Any

import torch

from cnas._run import rng_state


def minimal_state(kind: str) -> dict[str, Any]:
    """The smallest state that has the structure of a ``kind`` checkpoint."""
    common: dict[str, Any] = {
        "optimizer": {"state": {}, "param_groups": []},
        "history": [],
        "rng": rng_state(),
    }
    if kind == "search":
        return {
            **common,
            "config": {},
            "settings": {},
            "callbacks": {},
            "schedule": {},
            "op_order": [],
            "position": {"stage": 0, "step": 0, "finished": False},
            "supernet": {"w": torch.ones(2)},
            "strategy": {"name": "cnas", "settings": {}, "state": {}},
            "stages": [],
            "rng": {**common["rng"], "generator": torch.get_rng_state()},
        }
    return {
        **common,
        "model_config": {},
        "train_config": {},
        "model": {"w": torch.ones(2)},
        "scaler": {},
        "epoch": 0,
        "step": 0,
        "best_top1": -1.0,
        "best_epoch": 0,
    }
