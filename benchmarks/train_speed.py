"""Training throughput: ``cnas train``'s step against the original eval_arch.py loop.

NetworkCIFAR with the CNAS genotype, C=36, 20 layers, auxiliary head (weight 0.4),
drop-path 0.1, batch 32, 32x32 inputs, SGD with gradient clipping: images/s of a training
step, each implementation in its own fresh subprocess, rounds interleaved, medians kept.

Usage::

    python benchmarks/train_speed.py --original /path/to/checkout/of/guoyongcs/CNAS
    python benchmarks/train_speed.py --only cnas [--precision bf16] [--compile]
    python benchmarks/train_speed.py --only cnas --device cuda --batch-size 96 --json gpu.json

The CPU ratio is the speed target (>= 1.5x). ``--threads 1`` pins one intra-op thread
in both workers, the steadiest measurement on a busy machine. On a GPU, run the three
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
from pathlib import Path
from typing import Any


def _time_steps(step: Any, steps: int, warmup: int, device: str = "cpu") -> dict[str, float]:
    """Median wall-clock and process CPU seconds of one step."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        sync()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"step_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}


def worker_cnas(args: argparse.Namespace) -> dict[str, float]:
    import torch

    import cnas

    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = cnas.NetworkCIFAR(36, 10, 20, True, "CNAS").train().to(device)
    model.drop_path_prob = 0.1
    fmt = torch.contiguous_format if args.no_channels_last else torch.channels_last
    model = model.to(memory_format=fmt)
    runner: Any = model.forward_with_aux
    if args.compile:
        runner = torch.compile(model.forward_with_aux)
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
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

    return _time_steps(step, args.steps, args.warmup, args.device)


def worker_original(args: argparse.Namespace) -> dict[str, float]:
    root = os.path.abspath(args.original)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [
        p
        for p in sys.path
        if p and os.path.abspath(p) != here and not os.path.abspath(p).endswith(os.sep + "src")
    ]
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == "cnas" or m.startswith("cnas.")]:
        del sys.modules[name]
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
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

    return _time_steps(step, args.steps, args.warmup, args.device)


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
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = worker_cnas if args.worker == "cnas" else worker_original
        print(json.dumps(fn(args)))
        return
    if args.only != "cnas" and not args.original:
        parser.error("--original PATH is required (or pass --only cnas)")
    if args.original and not (Path(args.original) / "cnas" / "model" / "eval.py").is_file():
        parser.error(f"{args.original} is not a checkout of the original CNAS code")
    rounds: dict[str, list[float]] = {}
    cpu_rounds: dict[str, list[float]] = {}
    for _ in range(max(args.rounds, 1)):
        for kind in ("cnas", "original"):
            if args.only not in (None, kind):
                continue
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                kind,
                "--steps",
                str(args.steps),
                "--warmup",
                str(args.warmup),
                "--batch-size",
                str(args.batch_size),
                "--precision",
                args.precision,
                "--threads",
                str(args.threads),
                "--device",
                args.device,
            ]
            cmd += ["--original", args.original] if args.original else []
            cmd += ["--compile"] if args.compile else []
            cmd += ["--no-channels-last"] if args.no_channels_last else []
            out = subprocess.run(
                cmd, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
            )
            if out.returncode != 0:
                raise SystemExit(f"{kind} worker failed:\n{out.stderr}")
            times = json.loads(out.stdout.splitlines()[-1])
            rounds.setdefault(kind, []).append(times["step_s"])
            cpu_rounds.setdefault(kind, []).append(times["cpu_s"])
    result = {k: args.batch_size / statistics.median(v) for k, v in rounds.items()}
    per_cpu = {k: args.batch_size / statistics.median(v) for k, v in cpu_rounds.items()}
    for kind, ips in result.items():
        print(f"{kind:10s} {ips:8.1f} images/s ({per_cpu[kind]:.1f} images per CPU-second)")
    if len(result) == 2:
        ratio = result["cnas"] / result["original"]
        cpu_ratio = per_cpu["cnas"] / per_cpu["original"]
        print(f"speed-up: {ratio:.2f}x wall clock, {cpu_ratio:.2f}x CPU time (target >= 1.5x)")
    if args.json:
        payload = {"images_per_s": result, "images_per_cpu_s": per_cpu}
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
