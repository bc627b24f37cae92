"""A tour of cnas genotypes: define a cell, convert it, build networks, count, draw.

Run:  python examples/genotype_tour.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

import cnas


def main(output_dir: Path) -> None:
    # The CNAS cell, written as (op, from_node, to_node) triples like the original README.
    genotype = cnas.Genotype.from_arch(
        normal_arch=[
            ("dil_conv_3x3", 1, 2),
            ("sep_conv_3x3", 0, 2),
            ("sep_conv_3x3", 0, 3),
            ("skip_connect", 1, 3),
            ("sep_conv_3x3", 1, 4),
            ("max_pool_3x3", 3, 4),
            ("sep_conv_3x3", 2, 5),
            ("sep_conv_3x3", 4, 5),
        ],
        normal_concat=[2, 3, 4, 5],
        reduced_arch=[
            ("sep_conv_3x3", 0, 2),
            ("skip_connect", 1, 2),
            ("dil_conv_5x5", 2, 3),
            ("skip_connect", 1, 3),
            ("dil_conv_3x3", 2, 4),
            ("sep_conv_3x3", 1, 4),
            ("sep_conv_5x5", 0, 5),
            ("sep_conv_3x3", 3, 5),
        ],
        reduced_concat=[2, 3, 4, 5],
    )
    print("same as the published cell:", genotype == cnas.genotypes.CNAS)
    print("DARTS form:", genotype.to_darts())

    path = genotype.save(output_dir / "genotype.json", overwrite=True)
    print("saved to", path, "and read back:", cnas.Genotype.load(path) == genotype)

    cifar = cnas.NetworkCIFAR(36, 10, 20, True, genotype)
    print(f"NetworkCIFAR(36, 10, 20): {cnas.utils.count_params(cifar):,} parameters")
    imagenet = cnas.NetworkImageNet(48, 1000, 14, True, genotype)
    madds = cnas.utils.count_madds(imagenet, (3, 224, 224))
    print(
        f"NetworkImageNet(48, 1000, 14): {cnas.utils.count_params(imagenet):,} parameters, "
        f"{madds / 1e6:.0f}M multiply-adds"
    )

    small = cnas.NetworkCIFAR(8, 10, 5, True, genotype).eval()
    logits = small(torch.randn(2, 3, 32, 32))
    print("logits:", tuple(logits.shape))

    drawn = cnas.viz.draw(genotype, output_dir / "cells.svg", title="CNAS")
    print("cells drawn to", drawn)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cnas-"))
    out.mkdir(parents=True, exist_ok=True)
    main(out)
