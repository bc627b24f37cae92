"""A tiny, deterministic search on the embedded digits, used by the search tests.

Usage: python tiny_search.py OUTPUT_DIR [--kill-after-items N] [--rank-file-dir DIR]
       [--strategy cnas|darts|gdas|random|evolution]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from kill_after import KillAfter  # this folder: sys.path[0] when run, or put there by the tests

import cnas
from cnas import distributed


def make_strategy(strategy: str, space: cnas.SearchSpace, **settings: Any) -> Any:
    """The strategy of the tiny search: small derive budgets, a small controller."""
    if strategy == "cnas":
        defaults: dict[str, Any] = {"derive_rounds": 1, "derive_samples": 3}
        return cnas.search.Reinforce(
            cnas.Controller(space, hidden_size=16), **{**defaults, **settings}
        )
    if strategy == "random":
        return cnas.search.RandomSearch(**{"num_candidates": 3, **settings})
    if strategy == "evolution":
        defaults = {"population_size": 3, "sample_size": 2, "cycles": 3}
        return cnas.search.Evolution(**{**defaults, **settings})
    return cnas.search.get_strategy(strategy)(**settings)


_OPTIMIZER = {"batch_size", "lr", "momentum", "weight_decay"}
_RUNTIME = {"device", "progress", "channels_last", "num_workers", "draw", "tensorboard"}


def build(
    output: str,
    strategy: str = "cnas",
    settings: dict[str, Any] | None = None,
    **searcher_kwargs: Any,
) -> tuple[cnas.search.Searcher, Any, Any]:
    """The tiny search; keyword arguments go to the ``Searcher``, those of its optimizer
    (``batch_size``, ``lr``, ...) and run-time parts (``device``, ``progress``, ...) into
    those parts."""
    torch.manual_seed(0)
    # 96 of the embedded handwritten digits (1x8x8, 10 classes): no download
    data = torch.utils.data.Subset(cnas.data.digits(), range(96))
    train, val = cnas.data.search_split(data, 0.5, seed=0)
    space = cnas.SearchSpace(["sep_conv_3x3", "max_pool_3x3", "skip_connect", "none"], 2)
    schedule = cnas.CurriculumSchedule.grow_ops(space, warmup_epochs=1, epochs_per_stage=1)
    supernet = cnas.SuperNet(space, C=4, num_classes=10, layers=3, in_channels=1)
    optimizer = {"batch_size": 16}
    runtime: dict[str, Any] = {"device": "cpu", "progress": False}
    kwargs: dict[str, Any] = {
        "strategy": make_strategy(strategy, space, **(settings or {})),
        "seed": 7,
    }
    for key, value in searcher_kwargs.items():
        if key in _OPTIMIZER:
            optimizer[key] = value
        elif key in _RUNTIME:
            runtime[key] = value
        else:
            kwargs[key] = value
    kwargs["optimizer"] = cnas.search.OptimizerConfig(**optimizer)
    kwargs["runtime"] = cnas.search.SearchRuntime(**runtime)
    searcher = cnas.search.Searcher(supernet, schedule, output, **kwargs)
    return searcher, train, val


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--kill-after-items", type=int, default=None)
    parser.add_argument("--rank-file-dir", default=None)
    parser.add_argument("--strategy", default="cnas")
    args = parser.parse_args()
    distributed.init_from_env("cpu")
    searcher, train, val = build(args.output, args.strategy)
    if args.kill_after_items is not None:
        train = KillAfter(train, args.kill_after_items)
        val = KillAfter(val, args.kill_after_items)
    result = searcher.fit(train, val)
    if args.rank_file_dir:
        digest = hashlib.sha256()
        parts = [searcher.supernet, *searcher.strategy.modules()]
        for p in (p for part in parts for p in part.parameters()):
            digest.update(p.detach().cpu().numpy().tobytes())
        Path(args.rank_file_dir, f"rank{distributed.rank()}.json").write_text(
            json.dumps(
                {
                    "genotype": result.genotype.to_dict() if result.genotype else None,
                    "weights": digest.hexdigest(),
                }
            )
        )


if __name__ == "__main__":
    main()
