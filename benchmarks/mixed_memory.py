"""Mixed-mode supernet step: the fused ``cnas`` operators against stock torch ops.

Runs a DARTS-style mixed supernet step (forward with softmax-weighted mixtures of all 8
DARTS ops on every edge, backward to the weights and the architecture parameters, an SGD
step) at C=16, 8 cells, batch 64, 32x32 inputs, three ways:

- ``fused``: the supernet as it is: per node one ``cnas::mixed_bn_sum`` over the
  pre-BatchNorm outputs of every candidate, one ``cnas::mixed_sum`` over the rest,
  ``cnas::max_pool2d`` for max pooling, and the second stage of every separable
  convolution (BatchNorm, ReLU, depthwise convolution) run again in backward instead of
  keeping its activations (``SuperNet.recompute_tails``);
- ``kept``: the same with ``recompute_tails`` off, which shows what the kernels save on
  their own and what the recomputation costs in step time;
- ``naive``: the same supernet with those calls replaced by the composition of stock
  ops they stand for: ``F.batch_norm`` per candidate, then ``sum(w[k] * z[k])``,
  ``F.max_pool2d``, and every layer of a candidate run as it is (``recompute_tails`` off).

It measures the activation memory autograd saves for backward (the unique storages of
the saved tensors, parameters excluded, via ``torch.autograd.graph.saved_tensors_hooks``),
on CUDA also the peak allocated memory of the step, and the step time: the two variants
alternate for several rounds in one process, each round reports the median of its steps,
and the script reports the median of the rounds.

Usage::

    python benchmarks/mixed_memory.py                         # CPU, float32
    python benchmarks/mixed_memory.py --device cuda --dtype bf16 --json mixed-bf16.json
    python benchmarks/mixed_memory.py --device cuda --dtype fp32 --json mixed-fp32.json

``--dtype bf16`` runs the step under ``torch.autocast`` (weights stay float32).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import cnas


def naive_bn_sum(ys: Sequence[torch.Tensor], w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``mixed_bn_sum`` written with stock ops: BatchNorm per input, then a weighted sum."""
    out: Any = 0
    for k, y in enumerate(ys):
        out = out + w[k] * F.batch_norm(y, None, None, training=True, eps=eps)
    return out  # type: ignore[no-any-return]


def naive_sum(xs: Sequence[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """``mixed_sum`` written with stock ops."""
    out: Any = 0
    for k, x in enumerate(xs):
        out = out + w[k] * x
    return out  # type: ignore[no-any-return]


def naive_max_pool2d(
    x: torch.Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0
) -> torch.Tensor:
    """``max_pool2d`` as stock torch runs it (saving the argmax indices)."""
    return F.max_pool2d(x, kernel_size, stride, padding)


STOCK = {"mixed_bn_sum": naive_bn_sum, "mixed_sum": naive_sum, "max_pool2d": naive_max_pool2d}


@contextlib.contextmanager
def variant(
    name: str,
    ops: Sequence[str] = tuple(STOCK),
    net: cnas.SuperNet | None = None,
) -> Iterator[None]:
    """Run the supernet's mixed mode with the cnas operators (``fused``, ``kept``) or
    with ``ops`` of them replaced by their stock composition (``naive``).

    ``net``'s ``recompute_tails`` is on for ``fused`` only: ``kept`` keeps the separable
    convolutions' intermediate activations, and so do the stock layers of ``naive``.
    """
    kept = {op: getattr(cnas.kernels, op) for op in STOCK}
    kept_recompute = net.recompute_tails if net is not None else True
    if name == "naive":
        for op in ops:
            setattr(cnas.kernels, op, STOCK[op])
    if net is not None:
        net.recompute_tails = name == "fused"
    try:
        yield
    finally:
        for op, fn in kept.items():
            setattr(cnas.kernels, op, fn)
        if net is not None:
            net.recompute_tails = kept_recompute


class Step:
    """One mixed-mode supernet training step, with what it needs."""

    def __init__(self, args: argparse.Namespace) -> None:
        torch.manual_seed(0)
        self.device = torch.device(args.device)
        self.dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
        self.fmt = torch.contiguous_format if args.no_channels_last else torch.channels_last
        space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
        self.ops = space.ops
        self.net = cnas.SuperNet(space, C=args.C, num_classes=10, layers=args.layers)
        self.net.to(self.device, memory_format=self.fmt)  # type: ignore[call-overload]
        shape = (14, len(self.ops))
        self.alphas = [
            (1e-3 * torch.randn(shape)).to(self.device).requires_grad_() for _ in range(2)
        ]
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        size = args.image_size
        self.x = torch.randn(args.batch_size, 3, size, size, device=self.device)
        self.x = self.x.contiguous(memory_format=self.fmt)
        self.y = torch.randint(0, 10, (args.batch_size,), device=self.device)
        self.param_storages = {p.untyped_storage().data_ptr() for p in self.net.parameters()}
        self.param_storages |= {a.untyped_storage().data_ptr() for a in self.alphas}

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def loss(self) -> torch.Tensor:
        with self.autocast():
            weights = cnas.MixedWeights(
                self.alphas[0].softmax(-1), self.alphas[1].softmax(-1), self.ops
            )
            return F.cross_entropy(self.net(self.x, weights), self.y)

    def __call__(self) -> None:
        loss = self.loss()
        self.opt.zero_grad(set_to_none=True)
        for a in self.alphas:
            a.grad = None
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt.step()

    def saved_bytes(self) -> int:
        """Unique bytes of the activations autograd saves for one step's backward."""
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in self.param_storages:
                storages[ptr] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = self.loss()
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt.zero_grad(set_to_none=True)
        return sum(storages.values())

    def peak_bytes(self) -> int | None:
        """CUDA: peak allocated memory of a step above what was allocated before it."""
        if self.device.type != "cuda":
            return None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        self()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(self.device) - base

    def time(self, steps: int, warmup: int) -> float:
        """Median seconds per step."""
        sync: Callable[[], None] = (
            torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        )
        for _ in range(warmup):
            self()
        sync()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            self()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--C", type=int, default=16, help="supernet channels (16)")
    parser.add_argument("--layers", type=int, default=8, help="supernet cells (8)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--no-channels-last", action="store_true", help="run in NCHW")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    step = Step(args)
    variants = ("fused", "kept", "naive")
    memory: dict[str, dict[str, int | None]] = {}
    for name in variants:
        with variant(name, net=step.net):
            step()  # allocator and kernels warm
            memory[name] = {"saved_bytes": step.saved_bytes(), "peak_bytes": step.peak_bytes()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(args.rounds, 1)):  # interleaved, so drifting load hits both alike
        for name in variants:
            with variant(name, net=step.net):
                times[name].append(step.time(args.steps, args.warmup))

    results: dict[str, Any] = {
        "config": {
            "device": str(step.device),
            "device_name": (
                torch.cuda.get_device_name(step.device)
                if step.device.type == "cuda"
                else platform.processor() or platform.machine()
            ),
            "dtype": args.dtype,
            "batch_size": args.batch_size,
            "C": args.C,
            "layers": args.layers,
            "image_size": args.image_size,
            "channels_last": not args.no_channels_last,
            "torch": torch.__version__,
            "kernels": cnas.kernels.backend(step.device),
            "threads": torch.get_num_threads(),
        }
    }
    for name in variants:
        results[name] = {
            **memory[name],
            "step_s": statistics.median(times[name]),
            "step_s_rounds": times[name],
        }
    fused, kept, naive = results["fused"], results["kept"], results["naive"]
    results["saved_memory_reduction"] = 1 - fused["saved_bytes"] / naive["saved_bytes"]
    results["kept_memory_reduction"] = 1 - kept["saved_bytes"] / naive["saved_bytes"]
    results["speedup"] = naive["step_s"] / fused["step_s"]
    results["recompute_cost"] = fused["step_s"] / kept["step_s"]
    if fused["peak_bytes"] is not None:
        results["peak_memory_reduction"] = 1 - fused["peak_bytes"] / naive["peak_bytes"]

    mib = 2.0**20
    print(f"{'':30s}" + "".join(f"{name:>12s}" for name in variants))
    print(
        f"{'saved activations (MiB)':30s}"
        + "".join(f"{results[name]['saved_bytes'] / mib:12.1f}" for name in variants)
    )
    if fused["peak_bytes"] is not None:
        print(
            f"{'CUDA peak of a step (MiB)':30s}"
            + "".join(f"{results[name]['peak_bytes'] / mib:12.1f}" for name in variants)
        )
    print(
        f"{'step time (ms)':30s}"
        + "".join(f"{1e3 * results[name]['step_s']:12.1f}" for name in variants)
    )
    print(
        f"saved activations: {100 * results['saved_memory_reduction']:.1f}% less "
        f"(target >= 40%; {100 * results['kept_memory_reduction']:.1f}% without recomputing)"
    )
    if "peak_memory_reduction" in results:
        print(f"CUDA peak memory: {100 * results['peak_memory_reduction']:.1f}% less")
    print(f"step time: naive / fused = {results['speedup']:.2f}x (target >= 1)")
    print(f"recomputing the separable tails: fused / kept = {results['recompute_cost']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
