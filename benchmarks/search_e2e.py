"""End-to-end search: the original CNAS search loop against ``cnas search``, in one run.

Each side runs its own search entry point in a fresh subprocess, on the same synthetic
CIFAR-shaped data (fixed random uint8 images, 32x32x3, 10 classes, built from one seed
in both processes and handed out through a stand-in for ``torchvision.datasets.CIFAR10``,
so that both read them through their own CIFAR-10 code path and transforms):

- the original: ``cnas.search.entry.search_entry(args)`` of a checkout of
  guoyongcs/CNAS, with ``args`` from its own config parser (``--mode CNAS_OP``), stopped
  after ``--stages`` stages (its loop always runs all 8);
- cnas: ``cnas search`` (``cnas.cli.main``), ``--dataset cifar10 --curriculum ops``.

Both get the same curriculum (grow the op set, same op order), stages, warm-up epochs,
search epochs per stage, batch size, train/validation split, supernet (C, layers, 4
nodes), optimizers, controller settings, seed and DataLoader workers. The data sizes are
chosen so that every epoch has exactly ``--steps`` batches on both sides (the original
has no cap: its epochs walk the whole split), and a derive scores 3 rounds x 10
candidates on ``--derive-batches`` batches each (the original on its test set, sized to
that many batches; cnas on the validation split without augmentation, capped with
``--derive-batches``).

The worker wraps the functions of each loop and reports exclusive wall time (a nested
timed call counts for its own part only) in these parts:

- supernet steps: the supernet epochs (warm-up included): sampling, forward, backward,
  SGD step, the epoch's own bookkeeping;
- controller steps: the controller epochs (the supernet forward for the reward included);
- derive: scoring the candidates at the end of each stage;
- checkpoints: the original's ``torch.save`` calls; cnas's per-epoch checkpoint and its
  per-stage state;
- outputs: derived architectures, drawings, reports, config files;
- metrics & logging: TensorBoard scalars, ``metrics.jsonl``, log records;
- data loading: time in the loaders' iterators (decoding, augmentation, collation, the
  transfer to the device and memory layout);
- other: the rest of the loop.

Times are given per supernet epoch: the loop's total divided by the supernet epochs it
runs (stages x (warm-up + search epochs)); the controller epochs and derives are spread
over them. Setup (imports, data, models) is reported apart and is not in the ratio.

Usage::

    python benchmarks/search_e2e.py --original /path/to/checkout/of/guoyongcs/CNAS
    python benchmarks/search_e2e.py --only cnas                 # cnas alone
    python benchmarks/search_e2e.py --original ../CNAS --rounds 3 --json e2e.json
    python benchmarks/search_e2e.py --only cnas --profile prof/  # cProfile each worker

It prints a table, the end-to-end ratio original/cnas (above 1: cnas is faster; target
>= 2.5x) and the largest share of cnas's loop taken by data loading, checkpoints,
outputs or logging (target <= 10%). ``--json PATH`` writes everything.

Each run also reports its CPU time and the 1-minute load average while it ran (its own
threads included). On a shared machine whose load exceeds its cores, two torch threads
per process spend most of their time waiting for each other (a 10x slowdown is common):
compare runs at like loads, or pass ``--threads 1``.

What differs by design, and is measured as it is: cnas writes a full checkpoint after
every epoch (the original only saves its two state dicts at the end of each stage), runs
the supernet in channels-last, draws its architectures 64 at a time, and draws one
figure per stage (the original six). The two sides draw different random architectures
(their generators are used differently), so from the second stage on the mix of cheap
and costly ops they train differs a little; the supernet forwards per part, printed
under the table, are the same.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

PARTS: dict[str, str] = {
    "supernet": "supernet steps",
    "controller": "controller steps",
    "derive": "derive",
    "checkpoint": "checkpoints",
    "outputs": "outputs (archs, drawings, report)",
    "metrics": "metrics & logging",
    "data": "data loading",
    "other": "other",
}
LOOP_IO = ("data", "checkpoint", "outputs", "metrics")  # the loop's own parts, <= 10% each
DERIVE_ROUNDS, DERIVE_SAMPLES = 3, 10  # the original's TIMES in its engine; cnas's defaults


# -- the data ----------------------------------------------------------------------------------


class SyntheticCIFAR10:
    """A stand-in for ``torchvision.datasets.CIFAR10``: fixed random images, same API.

    Each class has a random pattern; an image is its class's pattern plus noise, as uint8
    HWC arrays like CIFAR-10's ``data``, returned as PIL images through ``transform``. The
    sizes and the seed come from the environment (``CNAS_E2E_TRAIN``, ``CNAS_E2E_TEST``,
    ``CNAS_E2E_SEED``), so that both workers build the same arrays.
    """

    classes: ClassVar[list[str]] = [f"class-{i}" for i in range(10)]

    def __init__(
        self,
        root: str,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        download: bool = False,
    ) -> None:
        import numpy as np

        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        size = int(os.environ["CNAS_E2E_TRAIN" if train else "CNAS_E2E_TEST"])
        rng = np.random.default_rng(int(os.environ["CNAS_E2E_SEED"]) + (0 if train else 1))
        patterns = rng.integers(0, 256, size=(10, 32, 32, 3)).astype(np.int16)
        self.targets = [int(t) for t in rng.permutation(np.arange(size) % 10)]
        noise = rng.integers(-64, 65, size=(size, 32, 32, 3), dtype=np.int16)
        self.data = np.clip(patterns[self.targets] + noise, 0, 255).astype(np.uint8)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        from PIL import Image

        image: Any = Image.fromarray(self.data[index])
        target: Any = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


def data_sizes(args: argparse.Namespace) -> tuple[int, int]:
    """Training-set and test-set sizes that give every epoch exactly ``--steps`` batches
    (train portion 0.5: both halves ``steps * batch_size``) and the original's derive
    ``--derive-batches`` batches."""
    return 2 * args.steps * args.batch_size, args.derive_batches * args.batch_size


# -- timing --------------------------------------------------------------------------------------


class PartTimer:
    """Exclusive wall time per part of a loop, from wrapped functions and iterators.

    A timed call inside another counts for its own part only: the enclosing part gets
    its time minus that of the calls it made. Supernet forwards are counted per part.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.forwards: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [part, seconds of the timed calls inside]
        self.loop_s = self.loop_cpu_s = 0.0

    @contextlib.contextmanager
    def loop(self) -> Iterator[None]:
        """Time the whole search loop (wall and CPU); what no part claims is "other"."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            with self.span("other"):
                yield
        finally:
            self.loop_s = time.perf_counter() - start
            self.loop_cpu_s = time.process_time() - cpu

    @contextlib.contextmanager
    def span(self, part: str) -> Iterator[None]:
        """Time the block as ``part``."""
        frame: list[Any] = [part, 0.0]
        self._stack.append(frame)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self._stack.pop()
            self.seconds[part] += elapsed - frame[1]
            if self._stack:
                self._stack[-1][1] += elapsed

    def wrap(self, owner: Any, name: str, part: str | Callable[..., str]) -> None:
        """Replace ``owner.name`` by a version timed as ``part`` (or ``part(*args)``)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.span(part(*args, **kwargs) if callable(part) else part):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def wrap_iterator(self, owner: Any, name: str, part: str) -> None:
        """Replace ``owner.name``, which returns an iterator, by a version whose
        iterator's ``__next__`` is timed as ``part``."""
        original = getattr(owner, name)
        timer = self

        class Timed:
            def __init__(self, inner: Iterator[Any]) -> None:
                self.inner = inner

            def __iter__(self) -> Timed:
                return self

            def __next__(self) -> Any:
                with timer.span(part):
                    return next(self.inner)

            def close(self) -> None:
                close = getattr(self.inner, "close", None)
                if close is not None:
                    close()

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Timed:
            return Timed(iter(original(*args, **kwargs)))

        setattr(owner, name, timed)

    def count_forwards(self, cls: Any) -> None:
        """Count ``cls.forward`` calls by the part they run in."""
        original = cls.forward

        @functools.wraps(original)
        def counted(*args: Any, **kwargs: Any) -> Any:
            part = self._stack[-1][0] if self._stack else "setup"
            self.forwards[part] = self.forwards.get(part, 0) + 1
            return original(*args, **kwargs)

        cls.forward = counted

    def wrap_common(self) -> None:
        """What both loops share: DataLoader iterators, ``torch.save``, TensorBoard
        scalars and log records."""
        import logging

        import torch
        from torch.utils.data import dataloader
        from torch.utils.tensorboard import SummaryWriter

        self.wrap(dataloader._BaseDataLoaderIter, "__next__", "data")
        self.wrap(torch, "save", "checkpoint")
        self.wrap(SummaryWriter, "add_scalar", "metrics")
        self.wrap(logging.Logger, "handle", "metrics")


# -- the workers -------------------------------------------------------------------------------


def _use_original(root: str) -> None:
    """Make ``import cnas`` import the original checkout, never this project's package."""
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


class _StagesDoneError(Exception):
    """Raised when the original loop has finished the stages asked for."""


def worker_original(args: argparse.Namespace, work: Path, timer: PartTimer) -> None:
    """Run the original ``search_entry``, its loop timed by ``timer``."""
    root = os.path.abspath(args.original)
    _use_original(root)
    out_dir = work / "original-run"  # its logger insists on creating it
    sys.argv = [
        "search.py",
        "-o",
        str(out_dir),
        "--mode",
        "CNAS_OP",
        "--data",
        str(work / "data"),
        "--train_portion",
        "0.5",
        "--batch_size",
        str(args.batch_size),
        "--epochs_for_warmup",
        str(args.warmup_epochs),
        "--epoch_per_stage",
        str(args.epochs_per_stage),
        "--init_channels",
        str(args.init_channels),
        "--layers",
        str(args.layers),
        "--num_workers",
        str(args.num_workers),
        "--seed",
        str(args.seed),
        "--report_freq",
        "50",
    ]
    import torchvision.datasets

    torchvision.datasets.CIFAR10 = SyntheticCIFAR10
    import cnas.search.core.engine as engine  # the original's
    import cnas.search.entry as entry
    from cnas.model.master import MasterPairs
    from cnas.model.search import NASNetwork
    from cnas.search.core.arch_sample import ArchSample
    from cnas.search.core.config import args as original_args

    if not os.path.abspath(entry.__file__).startswith(root):
        raise SystemExit(f"imported {entry.__file__}, not the original under {root}")
    timer.wrap_common()
    timer.wrap(entry, "update_w", "supernet")
    timer.wrap(entry, "update_theta", "controller")
    timer.wrap(entry, "derive_test", "derive")
    timer.wrap(engine, "draw_genotype", "outputs")
    timer.wrap(ArchSample, "to_file", "outputs")
    timer.count_forwards(NASNetwork)

    finished = 0
    grow = MasterPairs.inc_n_ops

    def inc_n_ops(self: Any) -> None:  # the end of a stage
        nonlocal finished
        finished += 1
        if finished >= args.stages:
            raise _StagesDoneError
        grow(self)

    MasterPairs.inc_n_ops = inc_n_ops  # type: ignore[method-assign]
    loop = entry.conduct_pipeline

    def conduct_pipeline(*a: Any, **k: Any) -> None:
        with timer.loop(), contextlib.suppress(_StagesDoneError):
            loop(*a, **k)

    entry.conduct_pipeline = conduct_pipeline
    entry.search_entry(original_args)


def worker_cnas(args: argparse.Namespace, work: Path, timer: PartTimer) -> None:
    """Run ``cnas search``, its loop (``Searcher.fit``) timed by ``timer``."""
    import torchvision.datasets

    torchvision.datasets.CIFAR10 = SyntheticCIFAR10
    import cnas
    from cnas import cli
    from cnas.search import _budget, _searcher
    from cnas.search._engine import Engine
    from cnas.supernet import SuperNet

    here = Path(__file__).resolve().parent.parent
    if not Path(cnas.__file__).resolve().is_relative_to(here):
        print(f"note: cnas imported from {cnas.__file__}", file=sys.stderr)
    timer.wrap_common()
    searcher, run_folder = _searcher.Searcher, _searcher.RunFolder

    def epoch_part(engine: Any, strategy: Any, step: tuple[str, int, Any], *rest: Any) -> str:
        return "controller" if step[0] == "controller" else "supernet"

    timer.wrap(_searcher, "epoch_record", epoch_part)
    timer.wrap(_searcher, "end_stage", "derive")
    timer.wrap(searcher, "_save", "checkpoint")
    timer.wrap(_budget, "write_stage_state", "checkpoint")
    timer.wrap(_searcher, "write_stage", "outputs")
    timer.wrap(_searcher, "write_report", "outputs")
    timer.wrap(searcher, "_prepare_output_dir", "outputs")
    timer.wrap(run_folder, "append_metrics", "metrics")
    timer.wrap_iterator(Engine, "batches", "data")
    timer.count_forwards(SuperNet)
    fit = searcher.fit

    def timed_fit(*a: Any, **k: Any) -> Any:
        with timer.loop():
            return fit(*a, **k)

    searcher.fit = timed_fit  # type: ignore[method-assign]
    (work / "data" / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
    argv = [
        "search",
        "-o",
        str(work / "cnas-run"),
        "--dataset",
        "cifar10",
        "--data",
        str(work / "data"),
        "--no-download",
        "--train-portion",
        "0.5",
        "--batch-size",
        str(args.batch_size),
        "--num-workers",
        str(args.num_workers),
        "--strategy",
        "cnas",
        "--curriculum",
        "ops",
        "--stages",
        str(args.stages),
        "--warmup-epochs",
        str(args.warmup_epochs),
        "--epochs-per-stage",
        str(args.epochs_per_stage),
        "--init-channels",
        str(args.init_channels),
        "--layers",
        str(args.layers),
        "--steps-per-epoch",
        str(args.steps),
        "--derive-batches",
        str(args.derive_batches),
        "--derive-rounds",
        str(DERIVE_ROUNDS),
        "--derive-samples",
        str(DERIVE_SAMPLES),
        "--seed",
        str(args.seed),
        "--device",
        "cpu",
        "--no-progress",
        "--no-resume",
    ]
    if cli.main(argv) != 0:
        raise SystemExit("cnas search failed")


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One side's search in this process, timed by parts."""
    started = time.perf_counter()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(os.getcwd())
    timer = PartTimer()
    run = worker_original if args.worker == "original" else worker_cnas
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    loads: list[float] = []
    done = threading.Event()

    def sample_load() -> None:  # the 1-minute load average, every 2 s
        while not done.wait(2.0):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample_load, daemon=True).start()
    run(args, work, timer)
    done.set()
    if profiler is not None:
        profiler.disable()
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(Path(args.profile) / f"{args.worker}.pstats"))
    return {
        "loop_s": timer.loop_s,
        "loop_cpu_s": timer.loop_cpu_s,
        "process_s": time.perf_counter() - started,
        "parts_s": timer.seconds,
        "forwards": timer.forwards,
        "threads": torch.get_num_threads(),
        "cpu_s": time.process_time(),
        "load": statistics.mean(loads) if loads else os.getloadavg()[0],
    }


def run_worker(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a fresh subprocess, in a fresh folder; return its report."""
    train, test = data_sizes(args)
    env = dict(os.environ)
    env.update(
        CNAS_E2E_TRAIN=str(train), CNAS_E2E_TEST=str(test), CNAS_E2E_SEED=str(args.data_seed)
    )
    if kind == "original":
        env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix=f"cnas-e2e-{kind}-") as work:
        result = Path(work) / "result.json"
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--result", str(result)]
        for flag in (
            "stages",
            "warmup_epochs",
            "epochs_per_stage",
            "steps",
            "batch_size",
            "derive_batches",
            "init_channels",
            "layers",
            "num_workers",
            "seed",
            "threads",
        ):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        if args.original:
            cmd += ["--original", os.path.abspath(args.original)]
        if args.profile:
            cmd += ["--profile", os.path.abspath(args.profile)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, check=False)
        if out.returncode != 0 or not result.is_file():
            raise SystemExit(f"{kind} worker failed:\n{out.stdout[-4000:]}\n{out.stderr[-8000:]}")
        report: dict[str, Any] = json.loads(result.read_text())
    print(
        f"  {kind:8s} loop {report['loop_s']:6.1f} s ({report['loop_cpu_s']:.0f} s CPU), "
        f"process {report['process_s']:6.1f} s, load average {report['load']:.1f}"
    )
    return report


# -- the report ----------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """Medians over rounds, per part and per supernet epoch."""
    loop = statistics.median(r["loop_s"] for r in runs)
    parts = {p: statistics.median(r["parts_s"][p] for r in runs) for p in PARTS}
    return {
        "loop_s": loop,
        "process_s": statistics.median(r["process_s"] for r in runs),
        "setup_s": statistics.median(r["process_s"] - r["loop_s"] for r in runs),
        "parts_s": parts,
        "ms_per_epoch": {p: 1e3 * s / epochs for p, s in parts.items()},
        "share": {p: s / loop for p, s in parts.items()},
        "loop_ms_per_epoch": 1e3 * loop / epochs,
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "loop_cpu_s": statistics.median(r["loop_cpu_s"] for r in runs),
        "load": statistics.median(r["load"] for r in runs),
        "forwards": runs[0]["forwards"],
        "threads": runs[0]["threads"],
    }


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace, epochs: int) -> None:
    """The parts of each side's loop, in ms per supernet epoch and % of the loop."""
    kinds = list(results)
    print(
        f"\nsearch loop, ms per supernet epoch ({epochs} = {args.stages} stage(s) x "
        f"({args.warmup_epochs} warm-up + {args.epochs_per_stage} search); controller epochs "
        "and derives spread over them)"
    )
    print(f"{'part':36s}" + "".join(f"{k:>12s}{'%':>8s}" for k in kinds))
    for part, label in PARTS.items():
        print(
            f"{label:36s}"
            + "".join(
                f"{results[k]['ms_per_epoch'][part]:12.1f}{100 * results[k]['share'][part]:7.1f}%"
                for k in kinds
            )
        )
    _row("total (loop)", [f"{results[k]['loop_ms_per_epoch']:12.1f}" for k in kinds])
    _row("setup, outside the loop (s)", [f"{results[k]['setup_s']:12.1f}" for k in kinds])
    _row("load average during the run", [f"{results[k]['load']:12.1f}" for k in kinds])
    for part in ("supernet", "controller", "derive"):
        _row(
            f"supernet forwards in {part}",
            [f"{results[k]['forwards'].get(part, 0):12d}" for k in kinds],
        )


def _row(label: str, cells: list[str]) -> None:
    print(f"{label:36s}" + "".join(f"{c}{'':8s}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", help="path to a checkout of the original CNAS code")
    parser.add_argument("--only", choices=("cnas", "original"), help="run one side only")
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs of each side")
    parser.add_argument("--stages", type=int, default=2, help="curriculum stages (1-8)")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="per stage")
    parser.add_argument("--epochs-per-stage", type=int, default=1, help="search epochs")
    parser.add_argument("--steps", type=int, default=20, help="batches per epoch (both splits)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--derive-batches", type=int, default=2, help="per scored candidate")
    parser.add_argument("--init-channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers, both")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic images")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--profile", help="write a cProfile of each worker to this folder")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", choices=("cnas", "original"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        Path(args.result).write_text(json.dumps(worker(args)))
        return
    if args.only != "cnas" and not args.original:
        parser.error("--original PATH is required (or pass --only cnas)")
    if args.original and not (Path(args.original) / "cnas" / "search" / "entry.py").is_file():
        parser.error(f"{args.original} is not a checkout of the original CNAS code")
    if not 1 <= args.stages <= 8:
        parser.error("--stages must be between 1 and 8 (the 8 DARTS ops)")
    if args.epochs_per_stage < 1:
        parser.error("--epochs-per-stage must be at least 1 (the original derives only then)")
    kinds = [k for k in ("original", "cnas") if args.only in (None, k)]
    epochs = args.stages * (args.warmup_epochs + args.epochs_per_stage)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for r in range(max(args.rounds, 1)):  # alternating, so drifting load hits both alike
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            runs[kind].append(run_worker(kind, args))
    results = {k: summarize(v, epochs) for k, v in runs.items()}
    print_table(results, args, epochs)
    payload: dict[str, Any] = {"settings": vars(args), "epochs": epochs, "runs": runs, **results}
    if len(results) == 2:
        paired = [
            o["loop_s"] / c["loop_s"] for o, c in zip(runs["original"], runs["cnas"], strict=True)
        ]
        ratio = statistics.median(paired)
        cpu = [
            o["loop_cpu_s"] / c["loop_cpu_s"]
            for o, c in zip(runs["original"], runs["cnas"], strict=True)
        ]
        print(
            f"end-to-end speed-up (loop time original/cnas): {ratio:.2f}x "
            f"(target >= 2.5x; per round: {' '.join(f'{p:.2f}x' for p in paired)})"
        )
        print(
            f"  in CPU time of the loop: {statistics.median(cpu):.2f}x (per round: "
            f"{' '.join(f'{p:.2f}x' for p in cpu)}; less moved by other load at one thread)"
        )
        payload["speedup"], payload["speedup_per_round"] = ratio, paired
        payload["cpu_speedup"], payload["cpu_speedup_per_round"] = statistics.median(cpu), cpu
    if "cnas" in results:
        share = results["cnas"]["share"]
        worst = max(LOOP_IO, key=lambda p: share[p])
        print(
            f"largest cnas loop part (data, checkpoint, outputs, logging): {PARTS[worst]}, "
            f"{100 * share[worst]:.1f}% of an epoch (target <= 10%)"
        )
        payload["largest_loop_part"] = {"part": worst, "share": share[worst]}
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
