"""The shipped study plans: ``smoke`` (the tests', a minute or two), ``digits`` (the
study docs/study.md reports, about 25 minutes on a 2-core CPU; its settings are chosen
there) and ``quick`` (your own image folder: ``cnas study --data DIR --preset quick``)."""

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
    # your own images (a few thousand small ones): does the search beat random cells on
    # them? Sized to about an hour on a laptop CPU for 3,000 32x32 images (docs/own-data.md
    # gives the measurement): 3 arms x 2 search seeds + 4 random cells, one training seed;
    # searches of 8 warm-up and 8 controller epochs (one per stage of cnas/ops's 8) on a
    # supernet of C=8, 5 cells, capped at 20 batches an epoch (the budget, equal across
    # arms, is what the comparison needs, not a converged search); trainings of 15
    # epochs on the folder preset's network, smaller (C=12, 6 cells).
    "quick": {
        "name": "quick",
        "arms": ["cnas/ops", "cnas/fixed", "random/fixed"],
        "dataset": "folder",
        "test_portion": 0.2,
        "search_seeds": [0, 1],
        "train_seeds": [0],
        "random_archs": 4,
        "search": {
            "warmup_epochs": 8,
            "epochs": 8,
            "init_channels": 8,
            "layers": 5,
            "batch_size": 64,
            "train_portion": 0.5,
            "derive_batches": 4,
            "steps_per_epoch": 20,
        },
        "train": {
            "epochs": 15,
            "init_channels": 12,
            "layers": 6,
            "batch_size": 64,
        },
    },
}
"""The shipped study plans (``StudyPlan.preset``; ``cnas study --preset NAME``)."""
