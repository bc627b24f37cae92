"""Compose a custom curriculum in code and search with it on the embedded digits data.

The curriculum grows ops and nodes together: (2 ops, 2 nodes) -> (4 ops, 3 nodes) ->
(all 8 ops, 4 nodes), introducing the ops in an order of our choosing.

Run:  python examples/custom_curriculum.py [OUTPUT_DIR] [--quick]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

import cnas


def main(output_dir: Path, quick: bool) -> cnas.SearchResult:
    torch.manual_seed(0)
    train, val, info = cnas.data.load_search_data("digits")  # ships with cnas: no download
    space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
    epochs = 1 if quick else 3
    schedule = cnas.CurriculumSchedule(
        [
            cnas.Stage(n_ops=2, n_nodes=2, warmup_epochs=1, epochs=epochs),
            cnas.Stage(n_ops=4, n_nodes=3, warmup_epochs=1, epochs=epochs),
            cnas.Stage(n_ops=8, n_nodes=4, warmup_epochs=1, epochs=epochs),
        ],
        # convolutions first, then pooling and the parameter-free ops
        op_order=[
            "sep_conv_3x3",
            "dil_conv_3x3",
            "sep_conv_5x5",
            "dil_conv_5x5",
            "max_pool_3x3",
            "avg_pool_3x3",
            "skip_connect",
            "none",
        ],
    )
    for i in range(len(schedule)):
        sub = schedule.stage_space(space, i)
        print(
            f"stage {i + 1}: {sub.n_ops} ops, {sub.n_nodes} nodes, {sub.size():.3g} architectures"
        )

    supernet = cnas.SuperNet(
        space, C=8, num_classes=info.num_classes, layers=5, in_channels=info.in_channels
    )
    strategy = cnas.search.Reinforce(cnas.Controller(space), derive_rounds=1, derive_samples=5)
    searcher = cnas.Searcher(
        supernet,
        schedule,
        output_dir,
        strategy=strategy,
        optimizer=cnas.search.OptimizerConfig(batch_size=64),
        derive_batches=4,
        steps_per_epoch=3 if quick else None,
    )
    result = searcher.fit(train, val)
    for stage in result.stages:
        print(f"stage {stage.index + 1}: validation top-1 {100 * stage.val_accuracy:.1f}%")
    print("final genotype:", result.genotype)
    print("outputs in", output_dir)
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="cnas-curriculum-"))
    main(out, quick="--quick" in sys.argv)
