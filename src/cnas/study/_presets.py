"""The shipped study plans: ``smoke`` (the tests', a minute or two) and ``digits`` (the
study docs/study.md reports, about 25 minutes on a 2-core CPU; its settings are chosen there)."""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "name": "smoke",
        "arms": ["cnas/ops", "cnas/fixed", "random/fixed"],
        "dataset": "digits",
        "search_seeds": [0, 1],
        "train_seeds": [0],
        "random_archs": 2,
        "search": {
            "ops": ["sep_conv_3x3", "max_pool_3x3", "skip_connect"],
            "nodes": 2,
            "warmup_epochs": 3,
            "epochs": 3,
            "init_channels": 4,
            "layers": 3,
            "batch_size": 32,
            "train_portion": 0.5,
            "derive_batches": 2,
            "steps_per_epoch": 2,
        },
        "train": {
            "epochs": 2,
            "init_channels": 4,
            "layers": 3,
            "batch_size": 64,
            "train_portion": 0.25,
            "max_steps": 6,
        },
    },
    "digits": {
        "name": "digits",
        "arms": ["cnas/ops", "cnas/fixed", "random/fixed"],
        "dataset": "digits",
        "test_portion": 0.3,
        "search_seeds": [0, 1, 2, 3, 4],
        "train_seeds": [0, 1],
        "random_archs": 12,
        "search": {
            "warmup_epochs": 16,
            "epochs": 32,
            "init_channels": 8,
            "layers": 5,
            "batch_size": 64,
            "train_portion": 0.5,
            "derive_batches": 4,
        },
        "train": {
            "epochs": 20,
            "init_channels": 8,
            "layers": 5,
            "batch_size": 64,
            "lr": 0.05,
            "warmup_epochs": 1,
            "train_portion": 0.25,
        },
    },
}
"""The shipped study plans (``StudyPlan.preset``; ``cnas study --preset NAME``)."""
