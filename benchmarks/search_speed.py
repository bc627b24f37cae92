"""Search speed: cnas against the original CNAS code, on the same work, in one run.

Measures, in two fresh subprocesses (one per implementation):

- a supernet training step (forward, backward, SGD step) at C=16, 8 layers, 8 ops,
  with the optimizer semantics ``--idle-weights`` names on both sides (default ``step``,
  the search's default and the original's),
  batch 64, 32x32 inputs, fp32, over the same sequence of sampled architectures: for cnas
  once as the Searcher runs it (batches handed over in channels-last) and once called
  directly with NCHW batches, as in a user's own loop;
- sampling one architecture pair (normal + reduction cell) from the controller, without
  gradients (as the supernet epochs do).

Usage::

    python benchmarks/search_speed.py --original /path/to/checkout/of/guoyongcs/CNAS
    python benchmarks/search_speed.py --only cnas          # cnas numbers alone

It prints a table and the ratios original/cnas (above 1 means cnas is faster), and
writes them as JSON with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DARTS_SPACE = [
    "sep_conv_3x3",
    "sep_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "none",
    "skip_connect",
    "dil_conv_3x3",
    "dil_conv_5x5",
]


def make_archs(count: int, seed: int) -> list[dict[str, list[list[int]]]]:
    """A reproducible sequence of (normal, reduce) ordinal archs: [op index, src, dst]."""
    import random

    rng = random.Random(seed)
    archs = []
    for _ in range(count):
        arch = {}
        for cell in ("normal", "reduce"):
            arch[cell] = [
                [rng.randrange(len(DARTS_SPACE)), rng.randrange(t), t]
                for t in range(2, 6)
                for _ in range(2)
            ]
        archs.append(arch)
    return archs


def _timeit(fn: Any, steps: int, warmup: int) -> float:
    """Median time of one call (robust to the other load a shared machine has)."""
    import statistics

    for i in range(warmup):
        fn(i)
    times = []
    for i in range(steps):
        start = time.perf_counter()
        fn(warmup + i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_cnas(args: argparse.Namespace, archs: list[dict[str, Any]]) -> dict[str, float]:
    import torch

    import cnas

    torch.manual_seed(0)
    space = cnas.SearchSpace(DARTS_SPACE, 4)
    net = cnas.SuperNet(
        space, C=16, num_classes=10, layers=8, channels_last=not args.no_channels_last
    )
    fmt = torch.channels_last if not args.no_channels_last else torch.contiguous_format
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4, nesterov=True)
    x_nchw = torch.randn(args.batch_size, 3, 32, 32)
    x = x_nchw.contiguous(memory_format=fmt)  # as the Searcher hands batches to the supernet
    y = torch.randint(0, 10, (args.batch_size,))
    genotypes = [
        cnas.Genotype(
            [(DARTS_SPACE[o], s, t) for o, s, t in a["normal"]],
            None,
            [(DARTS_SPACE[o], s, t) for o, s, t in a["reduce"]],
            None,
        )
        for a in archs
    ]

    step_idle = args.idle_weights == "step"
    own: dict[torch.nn.Module, tuple[torch.nn.Parameter, ...]] = {}

    def step_with(inputs: torch.Tensor, i: int) -> None:
        genotype = genotypes[i % len(genotypes)]
        loss = torch.nn.functional.cross_entropy(net(inputs, genotype), y)
        opt.zero_grad(set_to_none=not step_idle)
        loss.backward()
        if step_idle:  # as the Searcher's engine does: layers read through 'none' get zeros
            for m in net.reached_modules(genotype):
                params = own.get(m)
                if params is None:
                    params = own[m] = tuple(m.parameters())
                for p in params:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
        opt.step()

    def step(i: int) -> None:
        step_with(x, i)

    def step_nchw(i: int) -> None:  # a user's own loop: plain NCHW batches, called directly
        step_with(x_nchw, i)

    controller = cnas.Controller(space, hidden_size=128)
    gen = torch.Generator().manual_seed(0)

    def sample(_: int) -> None:
        with torch.no_grad():
            controller.sample(generator=gen)

    def sample_batch(_: int) -> None:
        with torch.no_grad():
            controller.sample_many(64, generator=gen)

    return {
        "supernet_step_s": _timeit(step, args.steps, args.warmup),
        "supernet_step_nchw_s": _timeit(step_nchw, args.steps, args.warmup),
        "controller_sample_s": _timeit(sample, args.samples, 20),
        "controller_sample_batched_s": _timeit(sample_batch, 20, 3) / 64,
    }


def worker_original(args: argparse.Namespace, archs: list[dict[str, Any]]) -> dict[str, float]:
    # import the original `cnas` package, never this project's
    root = os.path.abspath(args.original)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [
        p
        for p in sys.path
        if p
        and os.path.abspath(p) not in (here,)
        and not os.path.abspath(p).endswith(os.sep + "src")
    ]
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == "cnas" or m.startswith("cnas.")]:
        del sys.modules[name]
    import cnas.model.genotypes as genotypes  # the original
    import torch
    from cnas.model.master import ArchMaster, MasterPairs
    from cnas.model.search import NASNetwork

    if not os.path.abspath(genotypes.__file__).startswith(root):
        raise SystemExit(f"imported {genotypes.__file__}, not the original under {root}")
    torch.manual_seed(0)
    net = NASNetwork(
        C=16,
        num_classes=10,
        layers=8,
        n_nodes=4,
        multiplier=4,
        stem_multiplier=3,
        op_type=genotypes.DARTS_SPACE,
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4, nesterov=True)
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    pairs = [([tuple(e) for e in a["normal"]], [tuple(e) for e in a["reduce"]]) for a in archs]

    def step(i: int) -> None:
        normal, reduce = pairs[i % len(pairs)]
        loss = torch.nn.functional.cross_entropy(net(x, normal, reduce), y)
        # step: what zero_grad() did in the torch the original pins (1.5.0)
        opt.zero_grad(set_to_none=args.idle_weights == "hold")
        loss.backward()
        opt.step()

    master = MasterPairs(
        ArchMaster(n_nodes=4, n_ops=8, hidden_size=128, device="cpu"),
        ArchMaster(n_nodes=4, n_ops=8, hidden_size=128, device="cpu"),
    )

    def sample(_: int) -> None:
        with torch.no_grad():
            master()

    return {
        "supernet_step_s": _timeit(step, args.steps, args.warmup),
        "controller_sample_s": _timeit(sample, args.samples, 20),
    }


def run_worker(kind: str, args: argparse.Namespace, arch_file: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        kind,
        "--archs",
        arch_file,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--samples",
        str(args.samples),
        "--batch-size",
        str(args.batch_size),
    ]
    cmd += ["--idle-weights", args.idle_weights]
    if args.original:
        cmd += ["--original", args.original]
    if args.no_channels_last:
        cmd.append("--no-channels-last")
    env = dict(os.environ)
    if kind == "original":
        env.pop("PYTHONPATH", None)
    out = subprocess.run(
        cmd, capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir()
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", help="path to a checkout of the original CNAS code")
    parser.add_argument("--only", choices=("cnas", "original"), help="measure one side only")
    parser.add_argument("--steps", type=int, default=10, help="timed supernet steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed supernet steps first")
    parser.add_argument("--samples", type=int, default=200, help="timed controller samples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--no-channels-last",
        action="store_true",
        help="run cnas in NCHW (to see what channels-last contributes)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate the two implementations this many times; the median "
        "of the rounds is reported (default: 3)",
    )
    parser.add_argument(
        "--idle-weights",
        choices=("step", "hold"),
        default="step",
        help="optimizer semantics on both sides: step (the default of cnas's search, and "
        "the original's on torch 1.5: every weight with a gradient is stepped) or hold "
        "(only the weights a step used; gradients set to None)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--archs", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        archs = json.loads(Path(args.archs).read_text())
        fn = worker_cnas if args.worker == "cnas" else worker_original
        print(json.dumps(fn(args, archs)))
        return
    if args.only != "cnas" and not args.original:
        parser.error("--original PATH is required (or pass --only cnas)")
    if args.original and not (Path(args.original) / "cnas" / "model" / "search.py").is_file():
        parser.error(
            f"{args.original} does not look like a checkout of the original CNAS code "
            "(no cnas/model/search.py)"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(make_archs(args.steps + args.warmup, seed=0), fh)
        arch_file = fh.name
    try:
        rounds: dict[str, list[dict[str, float]]] = {}
        for _ in range(max(args.rounds, 1)):  # interleaved, so drifting load hits both alike
            for kind in ("cnas", "original"):
                if args.only in (None, kind):
                    rounds.setdefault(kind, []).append(run_worker(kind, args, arch_file))
    finally:
        os.unlink(arch_file)
    import statistics

    results: dict[str, dict[str, float]] = {
        kind: {m: statistics.median(r[m] for r in runs) for m in runs[0]}
        for kind, runs in rounds.items()
    }
    print(f"{'':28s}" + "".join(f"{k:>14s}" for k in results))
    for metric, label in (
        ("supernet_step_s", "supernet step (ms)"),
        ("supernet_step_nchw_s", "  called with NCHW (ms)"),
        ("controller_sample_s", "controller pair sample (ms)"),
        ("controller_sample_batched_s", "  batched, per pair (ms)"),
    ):
        print(
            f"{label:28s}"
            + "".join(
                f"{1e3 * r[metric]:14.3f}" if metric in r else f"{'-':>14s}"
                for r in results.values()
            )
        )
    if len(results) == 2:
        original, ours = results["original"], results["cnas"]
        ratios = {
            "supernet_step": original["supernet_step_s"] / ours["supernet_step_s"],
            "supernet_step_nchw": original["supernet_step_s"] / ours["supernet_step_nchw_s"],
            "controller_sample": original["controller_sample_s"] / ours["controller_sample_s"],
            "controller_sample_batched": (
                original["controller_sample_s"] / ours["controller_sample_batched_s"]
            ),
        }
        print(
            f"speed-up, supernet step:                {ratios['supernet_step']:6.2f}x "
            "(target >= 2x)"
        )
        print(
            f"speed-up, supernet called with NCHW:    {ratios['supernet_step_nchw']:6.2f}x "
            "(the module picks channels-last itself)"
        )
        print(f"speed-up, controller sample, one:       {ratios['controller_sample']:6.2f}x")
        print(
            f"speed-up, controller sample, as search: {ratios['controller_sample_batched']:6.2f}x "
            "(target >= 5x; supernet epochs draw 64 at a time)"
        )
        results["speedup"] = ratios
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
