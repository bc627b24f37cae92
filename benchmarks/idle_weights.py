"""What the original's optimizer semantics cost: a supernet step with
``idle_weights="step"`` (the default: every weight that has had a gradient is stepped)
against ``"hold"`` (only the weights the step used), in one run.

The paper's CIFAR-10 supernet (C=16, 8 layers, 8 ops, 4 nodes, 1.93 M weights), fp32,
32x32 inputs, on the engine the ``Searcher`` uses. Both engines start from the same
weights and first take the same warm-up steps over random architectures of the whole
space, so every op has had a gradient (late in a search, where ``step`` moves the most
weights); then they alternate, step by step, over the same architectures and batches.

    python benchmarks/idle_weights.py [--steps 20] [--batch 32] [--threads N]

It prints the median milliseconds of a step in each mode, their ratio, and the share of
a ``step`` step spent listing the weights it reached (``SuperNet.reached_parameters``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

import cnas
from cnas.search._engine import Engine


def make_engine(net: cnas.SuperNet, idle: str) -> Engine:
    return Engine(
        net,
        net.space.ops,
        batch_size=1,
        lr=0.01,
        momentum=0.9,
        weight_decay=3e-4,
        device=torch.device("cpu"),
        channels_last=True,
        seed=0,
        num_workers=0,
        steps_per_epoch=None,
        derive_batches=None,
        progress=False,
        idle_weights=idle,  # type: ignore[arg-type]
    )


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=12, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = cnas.SearchSpace()
    net = cnas.SuperNet(space, C=16, num_classes=10, layers=8)
    engines = {"step": make_engine(net, "step"), "hold": make_engine(copy.deepcopy(net), "hold")}
    g = torch.Generator().manual_seed(0)
    archs = [space.sample(generator=g) for _ in range(args.warmup + args.steps)]
    x = torch.randn(args.batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))
    times: dict[str, list[float]] = {"step": [], "hold": []}
    walk: list[float] = []
    for i, arch in enumerate(archs):
        for mode, engine in engines.items():
            start = time.perf_counter()
            engine.weight_step(x, y, arch)
            elapsed = time.perf_counter() - start
            if i >= args.warmup:
                times[mode].append(elapsed)
        if i >= args.warmup:
            start = time.perf_counter()
            engines["step"].supernet.reached_parameters(arch)
            walk.append(time.perf_counter() - start)
    step, hold = (statistics.median(times[m]) * 1e3 for m in ("step", "hold"))
    holders = len(engines["step"].gradient_holders())
    total = len(list(net.parameters()))
    print(
        f"supernet step, batch {args.batch}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )
    print(f"step (every weight with a gradient, {holders}/{total} tensors): {step:.1f} ms")
    print(f"hold (only the weights the step used): {hold:.1f} ms")
    print(f"step / hold: {step / hold:.3f}")
    print(f"listing the reached weights: {statistics.median(walk) * 1e3:.2f} ms a step")


if __name__ == "__main__":
    main()
