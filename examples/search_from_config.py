"""A search as one configuration: compose it in code (as in a notebook), change a copy,
save it as the file ``cnas search --config`` reads, and run it.

    python examples/search_from_config.py runs/from-config           # a minute on a CPU
    python examples/search_from_config.py runs/from-config --quick   # seconds

The run's ``config.json`` is the same configuration (plus the run record):
``cnas search --config runs/from-config/config.json -o runs/again`` runs the same search
again, bit for bit.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cnas.search import SearchConfig, Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the search's output folder")
    parser.add_argument("--quick", action="store_true", help="two stages, two batches an epoch")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    # the paper's search on CIFAR-10 is SearchConfig(); here the embedded digits, small
    config = SearchConfig().replace(
        data={"dataset": "digits"},  # ships with cnas: no download
        space={"ops": ("sep_conv_3x3", "max_pool_3x3", "skip_connect"), "n_nodes": 2},
        curriculum={"warmup_epochs": 1, "epochs_per_stage": 2},
        supernet={"init_channels": 8, "layers": 5},
        optimizer={"batch_size": 64},
        strategy={"name": "cnas", "derive_batches": 4},
        runtime={"device": "cpu"},
    )
    if args.quick:  # a changed copy: dotted paths work too
        config = config.replace(
            **{"curriculum.stages": 2, "curriculum.steps_per_epoch": 2, "supernet.layers": 3}
        )
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    file = config.save(folder.parent / f"{folder.name}.json")
    print(f"the configuration, as `cnas search --config {file}` reads it:")
    print(config.to_json())
    result = Searcher.from_config(config, folder).fit()
    print("final genotype:", result.genotype)
    print("run it again from its own record:")
    print(f"  cnas search --config {folder / 'config.json'} -o {folder}-again")


if __name__ == "__main__":
    main()
