"""Training throughput: ``cnas train``'s step against the original eval_arch.py loop.

NetworkCIFAR with the CNAS genotype, C=36, 20 layers, auxiliary head (weight 0.4),
drop-path 0.1, batch 32, 32x32 inputs, SGD with gradient clipping: images/s of a training
step. Both implementations live in one fresh process per round and take turns step by
step, so that the machine's load hits both alike; medians over steps and rounds.

Usage::

    python benchmarks/train_speed.py --original /path/to/checkout/of/guoyongcs/CNAS
    python benchmarks/train_speed.py --only cnas [--precision bf16] [--compile]
    python benchmarks/train_speed.py --only cnas --device cuda --batch-size 96 --json gpu.json

The CPU ratio is the speed target (>= 2x at two threads). ``--side-by-side`` also
times cnas under ``torch.compile`` in the same process and prints its compile time and
after how many steps it pays back. ``--threads 1`` pins one intra-op thread
in the worker, the steadiest measurement on a busy machine. On a GPU, run the three
configurations of the docs' table (fp32; ``--precision bf16``; ``--precision bf16
--compile``, channels-last being the default) and keep the ``--json`` files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _time_steps(
    steps: dict[str, Callable[[], None]], count: int, warmup: int, device: str
) -> dict[str, dict[str, float]]:
    """Median wall-clock and process-CPU seconds of each step, the steps alternating.

    The implementations take turns step by step (the order flipping every iteration), so
    a change in the machine's load lands on both alike.
    """
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for step in steps.values():
        for _ in range(warmup):
            step()
    sync()
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for i in range(count):
        for name in names if i % 2 == 0 else names[::-1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            steps[name]()
            sync()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        name: {"step_s": statistics.median(wall[name]), "cpu_s": statistics.median(cpu[name])}
        for name in steps
    }


def build_cnas(args: argparse.Namespace, compile: bool | None = None) -> Callable[[], None]:
    """A training step as ``cnas train`` runs it (see ``cnas.training.Trainer``).

    ``compile`` (default: ``args.compile``) wraps the forward pass in ``torch.compile``,
    as ``cnas train --compile`` does.
    """
    import torch

    import cnas
    from cnas.ops._norm import use_gemv_batchnorm

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = cnas.NetworkCIFAR(36, 10, 20, True, "CNAS").train().to(device)
    model.drop_path_prob = 0.1
    fmt = torch.contiguous_format if args.no_channels_last else torch.channels_last
    model = model.to(memory_format=fmt)
    if device.type == "cpu" and not args.no_channels_last:
        use_gemv_batchnorm(model)  # as the Trainer does on the CPU
    runner: Any = model.forward_with_aux
    if args.compile if compile is None else compile:
        runner = torch.compile(model.forward_with_aux)
    opt = torch.optim.SGD(  # fused, as the Trainer's
        model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4, fused=True
    )
    x = torch.randn(args.batch_size, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp32": None}[args.precision]

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits, aux = runner(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def build_original(args: argparse.Namespace) -> Callable[[], None]:
    """The training step of the original ``eval_arch.py`` (fp32, NCHW)."""
    # The original is also a package named ``cnas``: forget the one imported so far
    # (the built cnas model keeps working, its functions hold their own globals) and
    # import the original from its checkout.
    root = os.path.abspath(args.original)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [
        p
        for p in sys.path
        if p and os.path.abspath(p) != here and not os.path.abspath(p).endswith(os.sep + "src")
    ]
    sys.path.insert(0, root)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    for name in [m for m in sys.modules if m == "cnas" or m.startswith("cnas.")]:
        del sys.modules[name]
    import torch
    from cnas.model.eval import NetworkCIFAR  # the original
    from cnas.model.genotypes import CNAS

    torch.manual_seed(0)
    model = NetworkCIFAR(36, 10, 20, True, CNAS).train().to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(args.batch_size, 3, 32, 32, device=args.device)
    y = torch.randint(0, 10, (args.batch_size,), device=args.device)

    def step() -> None:  # the loop of the original evaluation engine
        logits, aux = model(x, 0.1)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def worker(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Build the requested implementations in this process and time them alternately."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    steps: dict[str, Callable[[], None]] = {}
    first: dict[str, float] = {}
    if args.only != "original":
        steps["cnas"] = build_cnas(args, compile=False if args.side_by_side else None)
        if args.side_by_side:
            steps["cnas-compiled"] = build_cnas(args, compile=True)
    if args.only != "cnas":
        steps["original"] = build_original(args)
    if args.side_by_side:
        # The first call of a compiled step compiles it: time the first call of each,
        # so that the compile time is that excess over an ordinary step.
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            first[name] = time.perf_counter() - start
    times = _time_steps(steps, args.steps, args.warmup, args.device)
    for name, seconds in first.items():
        times[name]["first_step_s"] = seconds
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", help="path to a checkout of the original CNAS code")
    parser.add_argument("--only", choices=("cnas", "original"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="also time cnas under torch.compile in the same process, with its compile time",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.only != "cnas" and not args.original:
        parser.error("--original PATH is required (or pass --only cnas)")
    if args.original and not (Path(args.original) / "cnas" / "model" / "eval.py").is_file():
        parser.error(f"{args.original} is not a checkout of the original CNAS code")
    if args.side_by_side and (args.compile or args.only == "original"):
        parser.error("--side-by-side times cnas with and without compile: drop --compile")
    rounds: dict[str, list[float]] = {}
    cpu_rounds: dict[str, list[float]] = {}
    first_rounds: dict[str, list[float]] = {}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker"]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    cmd += ["--batch-size", str(args.batch_size), "--precision", args.precision]
    cmd += ["--threads", str(args.threads), "--device", args.device]
    cmd += ["--original", args.original] if args.original else []
    cmd += ["--only", args.only] if args.only else []
    cmd += ["--compile"] if args.compile else []
    cmd += ["--side-by-side"] if args.side_by_side else []
    cmd += ["--no-channels-last"] if args.no_channels_last else []
    for _ in range(max(args.rounds, 1)):  # each round a fresh process
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
        )
        if out.returncode != 0:
            raise SystemExit(f"worker failed:\n{out.stderr}")
        for kind, times in json.loads(out.stdout.splitlines()[-1]).items():
            rounds.setdefault(kind, []).append(times["step_s"])
            cpu_rounds.setdefault(kind, []).append(times["cpu_s"])
            if "first_step_s" in times:
                first_rounds.setdefault(kind, []).append(times["first_step_s"])
    result = {k: args.batch_size / statistics.median(v) for k, v in rounds.items()}
    per_cpu = {k: args.batch_size / statistics.median(v) for k, v in cpu_rounds.items()}
    for kind, ips in result.items():
        print(f"{kind:14s} {ips:8.1f} images/s ({per_cpu[kind]:.1f} images per CPU-second)")
    payload: dict[str, Any] = {
        "images_per_s": result,
        "images_per_cpu_s": per_cpu,
        "step_s_per_round": rounds,
    }
    if "cnas-compiled" in rounds:
        # Compile time: the compiled step's first call, less an ordinary compiled step.
        # It pays back after compile time / (eager step - compiled step) steps.
        firsts, steady = first_rounds["cnas-compiled"], rounds["cnas-compiled"]
        compile_s = statistics.median(f - s for f, s in zip(firsts, steady, strict=True))
        paired = [e / c for e, c in zip(rounds["cnas"], rounds["cnas-compiled"], strict=True)]
        saved = statistics.median(rounds["cnas"]) - statistics.median(rounds["cnas-compiled"])
        payback = compile_s / saved if saved > 0 else None
        print(
            f"torch.compile: {statistics.median(paired):.2f}x eager cnas (per round "
            + " ".join(f"{r:.2f}x" for r in paired)
            + f"), compile time {compile_s:.1f} s, "
            + (f"paid back after {payback:.0f} steps" if payback else "never paid back")
        )
        payload["compile"] = {
            "speed_up_over_eager_per_round": paired,
            "speed_up_over_eager": statistics.median(paired),
            "compile_s": compile_s,
            "payback_steps": payback,
            "first_step_s_per_round": first_rounds,
        }
    if "cnas" in rounds and "original" in rounds:
        # Each round times both in one process, step by step in turns: its ratio is a
        # paired measurement, free of the drift between rounds (fresh processes, minutes
        # apart), which moves both alike. The headline is the median of those ratios.
        paired = [o / c for c, o in zip(rounds["cnas"], rounds["original"], strict=True)]
        ratio = statistics.median(paired)
        cpu_ratio = per_cpu["cnas"] / per_cpu["original"]
        print("speed-up per round: " + " ".join(f"{r:.2f}x" for r in paired))
        print(
            f"speed-up: {ratio:.2f}x (median over rounds; ratio of the medians above"
            f" {result['cnas'] / result['original']:.2f}x wall clock, {cpu_ratio:.2f}x CPU"
            " time; target >= 2x)"
        )
        payload["speed_up_per_round"] = paired
        payload["speed_up"] = ratio
        if "cnas-compiled" in rounds:
            both = [o / c for c, o in zip(rounds["cnas-compiled"], rounds["original"], strict=True)]
            print(
                f"speed-up with torch.compile: {statistics.median(both):.2f}x (median over"
                " rounds; compile time not counted)"
            )
            payload["compiled_speed_up_per_round"] = both
            payload["compiled_speed_up"] = statistics.median(both)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
