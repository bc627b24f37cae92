"""Latency tables: every candidate op timed at every cell position's input shape on the
user's own device (``cnas profile``), and a genotype's latency predicted from them."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._genotype import Genotype
from .._io import atomic_write_text, parse_json
from .._validation import parse_device
from .._version import __version__
from ..errors import LatencyTableError
from ..ops import get_op
from ._network import CellShape, NetworkSpec, cell_shapes, empty_genotype

__all__ = ["LatencyTable", "profile"]

logger = logging.getLogger("cnas")

FORMAT = "cnas.latency_table"
VERSION = 1


def _op_key(op: str, C: int, stride: int, h: int, w: int) -> str:
    return f"{op}/C{C}/s{stride}/{h}x{w}"


@dataclass(frozen=True)
class LatencyTable:
    """Measured latencies of one network configuration's parts, on one device.

    Made by ``profile`` (``cnas profile``); read with ``LatencyTable.load``. A genotype's
    predicted latency is the sum of its ops' entries (each edge's op at its cell's input
    shape and stride) and the fixed parts (stems, every cell's preprocessing and node
    sums, the head) for cells of its node count.

    Attributes:
        network: The evaluation network the table was measured for.
        ops: The ops it has entries for.
        n_nodes: The largest node count it has fixed parts for.
        device: ``"cpu"``, ``"cuda"``, ... (the device type).
        device_name: The processor or GPU, for the record.
        threads: ``torch.get_num_threads()`` while measuring.
        dtype: The dtype measured (``"float32"``).
        batch_size: Images per timed forward pass.
        channels_last: Whether inputs were in channels-last layout.
        torch_version: torch's version while measuring.
        entries: Milliseconds per op, by ``op/C{C}/s{stride}/{H}x{W}``.
        fixed: Milliseconds of the fixed parts by node count (``"4"``), each a mapping of
            ``stem``, ``preprocess``, ``combine``, ``head`` and ``total``.
        validation: How well the table predicted whole networks when it was made (see
            ``validate``), or empty.
        source: The file it was read from (not part of the table).
    """

    network: NetworkSpec
    ops: tuple[str, ...]
    n_nodes: int
    device: str
    device_name: str
    threads: int
    dtype: str
    batch_size: int
    channels_last: bool
    torch_version: str
    entries: Mapping[str, float]
    fixed: Mapping[str, Mapping[str, float]]
    validation: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)

    # -- lookups ------------------------------------------------------------------------------

    def op_ms(self, op: str, cell: CellShape, stride: int) -> float:
        """Milliseconds of ``op`` on an edge of ``cell`` with ``stride``."""
        C, h, w = cell.edge_input(stride)
        key = _op_key(op, C, stride, h, w)
        if key not in self.entries:
            raise LatencyTableError(f"{self._name()} has no entry {key}")
        return float(self.entries[key])

    def fixed_ms(self, n_nodes: int) -> float:
        """Milliseconds of the parts around the ops, for cells of ``n_nodes`` nodes."""
        part = self.fixed.get(str(n_nodes))
        if part is None:
            raise LatencyTableError(
                f"{self._name()} has fixed parts for cells of 1..{self.n_nodes} nodes, "
                f"not {n_nodes}"
            )
        return float(part["total"])

    def predict(self, genotype: Genotype) -> float:
        """The predicted latency (ms) of ``genotype``'s network."""
        from ._model import CostModel

        return CostModel(self.network, sorted(genotype.ops), self).cost("latency_ms", genotype)

    def _name(self) -> str:
        return f"latency table {self.source}" if self.source else "the latency table"

    # -- checks --------------------------------------------------------------------------------

    def check(
        self,
        *,
        network: NetworkSpec | None = None,
        ops: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        n_nodes: int | None = None,
    ) -> None:
        """Refuse use for another network configuration, op set, device or node count.

        Raises:
            LatencyTableError: naming the field that differs and both values.
        """
        if network is not None and network != self.network:
            mine, theirs = self.network.to_dict(), network.to_dict()
            for name in mine:
                if mine[name] != theirs[name]:
                    raise LatencyTableError(
                        f"{self._name()} was made for network {name}={mine[name]!r} "
                        f"({self.network.describe()}); this one has {name}={theirs[name]!r} "
                        f"({network.describe()}): run cnas profile for it"
                    )
        if ops is not None:
            missing = [op for op in ops if op not in self.ops]
            if missing:
                raise LatencyTableError(
                    f"{self._name()} has no entries for op(s) {', '.join(missing)} (its ops: "
                    f"{', '.join(self.ops)}): run cnas profile with --ops for them"
                )
        if device is not None:
            kind = parse_device(device).type
            if kind != self.device:
                raise LatencyTableError(
                    f"{self._name()} was measured on device {self.device!r} "
                    f"({self.device_name}); the budget is for {kind!r}"
                )
        if n_nodes is not None and n_nodes > self.n_nodes:
            raise LatencyTableError(
                f"{self._name()} was made for cells of up to n_nodes={self.n_nodes} nodes; "
                f"this space has n_nodes={n_nodes}"
            )

    # -- files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``save`` writes)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "cnas_version": __version__,
            "network": self.network.to_dict(),
            "ops": list(self.ops),
            "n_nodes": self.n_nodes,
            "device": self.device,
            "device_name": self.device_name,
            "threads": self.threads,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "channels_last": self.channels_last,
            "torch_version": self.torch_version,
            "entries": dict(self.entries),
            "fixed": {k: dict(v) for k, v in self.fixed.items()},
            "validation": dict(self.validation),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> LatencyTable:
        """Read ``to_dict`` output back.

        Raises:
            LatencyTableError: not a latency table, or a malformed one.
        """
        name = f"{source}" if source else "the data"
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise LatencyTableError(f"{name} is not a cnas latency table (cnas profile)")
        if data.get("version") != VERSION:
            raise LatencyTableError(
                f"{name} is a latency table of version {data.get('version')!r}; this cnas "
                f"reads version {VERSION}"
            )
        from ..space import MAX_NODES

        n_nodes = data.get("n_nodes")
        if (
            isinstance(n_nodes, bool)
            or not isinstance(n_nodes, int)
            or not 1 <= n_nodes <= MAX_NODES
        ):
            raise LatencyTableError(
                f"{name} is a malformed latency table: n_nodes must be an integer in "
                f"1..{MAX_NODES}, got {str(n_nodes)[:40]}"
            )
        try:
            entries = {str(k): float(v) for k, v in data["entries"].items()}
            fixed = {
                str(k): {str(p): float(t) for p, t in v.items()} for k, v in data["fixed"].items()
            }
            table = cls(
                NetworkSpec.from_dict(data["network"]),
                tuple(str(op) for op in data["ops"]),
                int(data["n_nodes"]),
                str(data["device"]),
                str(data.get("device_name", "")),
                int(data["threads"]),
                str(data["dtype"]),
                int(data["batch_size"]),
                bool(data["channels_last"]),
                str(data["torch_version"]),
                entries,
                fixed,
                dict(data.get("validation") or {}),
                source,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LatencyTableError(f"{name} is a malformed latency table: {exc!r}") from None
        bad = [k for k, v in entries.items() if not (math.isfinite(v) and v >= 0)]
        bad += [
            f"fixed {k}"
            for k, v in fixed.items()
            if "total" not in v or not all(math.isfinite(t) and t >= 0 for t in v.values())
        ]
        if set(fixed) != {str(n) for n in range(1, table.n_nodes + 1)}:
            bad.append(f"fixed parts for {sorted(fixed)}, not 1..{table.n_nodes} nodes")
        if not isinstance(data["channels_last"], bool):
            bad.append("channels_last")
        if bad:
            raise LatencyTableError(f"{name} is a malformed latency table: bad entries {bad}")
        return table

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyTable:
        """Read a table that ``save`` (or ``cnas profile``) wrote.

        Raises:
            FileNotFoundError: no such file.
            LatencyTableError: not a latency table, or a malformed one.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such latency table")
        try:
            data = parse_json(path.read_bytes())
        except ValueError as exc:
            raise LatencyTableError(f"{path} is not a JSON latency table: {exc}") from None
        return cls.from_dict(data, str(path))

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the table as JSON, atomically (an existing file only with ``overwrite``).

        Raises:
            FileExistsError: ``path`` exists and ``overwrite`` is False.
        """
        text = json.dumps(self.to_dict(), indent=1, sort_keys=False)
        return atomic_write_text(path, text + "\n", overwrite=overwrite)


# -- measuring -----------------------------------------------------------------------------------


@contextmanager
def _threads(threads: int | None) -> Iterator[int]:
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _time_ms(
    fn: Callable[[], object], device: torch.device, repeats: int, block_ms: float
) -> float:
    """The median milliseconds of one call of ``fn``, over ``repeats`` blocks of calls
    that each last about ``block_ms``, after warm-up calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(block_ms / 1000 / once))
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        times.append((time.perf_counter() - start) / number)
    return 1000 * statistics.median(times)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:  # Linux names the processor here; platform.processor() is often empty
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@dataclass(frozen=True)
class _Setup:
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    channels_last: bool
    repeats: int
    block_ms: float

    def tensor(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        x = torch.randn((self.batch_size, *shape), generator=generator)
        x = x.to(self.device, self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def module(self, module: nn.Module) -> nn.Module:
        module = module.to(self.device, self.dtype).eval()
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def time(self, fn: Callable[[], object]) -> float:
        with torch.inference_mode():
            return _time_ms(fn, self.device, self.repeats, self.block_ms)


def profile(
    network: NetworkSpec,
    ops: Sequence[str],
    *,
    n_nodes: int = 4,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    threads: int | None = None,
    channels_last: bool = False,
    repeats: int = 7,
    block_ms: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> LatencyTable:
    """Measure a latency table: every op of ``ops`` at every cell position's input shape
    and stride, and the fixed parts for cells of 1..``n_nodes`` nodes.

    Each entry is the median over ``repeats`` blocks of calls lasting about
    ``block_ms`` each, after warm-up, in eval mode under ``torch.inference_mode``; on CUDA
    each block is synchronized. Shapes that repeat (the normal cells of one stage) are
    timed once.

    Args:
        network: The evaluation network.
        ops: The candidate ops.
        n_nodes: The largest node count of the cells to predict.
        batch_size: Images per forward pass (1: one request at a time).
        device: Where to measure (the device the network will run on).
        dtype: The dtype to measure in.
        threads: ``torch.set_num_threads`` while measuring (default: as it is).
        channels_last: Measure with inputs and weights in channels-last layout.
        repeats: Timed blocks per entry.
        block_ms: Length of a timed block.
        progress: Called with a short description of each part being timed.

    Returns:
        The table (``LatencyTable.save`` writes it).

    Raises:
        UnknownOpError: an op that is not registered.
        ValueError: bad sizes.
    """
    from .._validation import check_int

    check_int("n_nodes", n_nodes)
    check_int("batch_size", batch_size)
    check_int("repeats", repeats)
    ops = tuple(dict.fromkeys(ops))
    for op in ops:
        get_op(op)
    device = parse_device(device)
    setup = _Setup(device, dtype, batch_size, channels_last, repeats, block_ms)
    generator = torch.Generator().manual_seed(0)
    entries: dict[str, float] = {}
    fixed: dict[str, dict[str, float]] = {}
    with torch.random.fork_rng(devices=[]), _threads(threads) as used:  # the caller's RNG kept
        for cell in cell_shapes(network):
            for stride in (1, 2) if cell.reduction else (1,):
                C, h, w = cell.edge_input(stride)
                for op in ops:
                    key = _op_key(op, C, stride, h, w)
                    if key in entries:
                        continue
                    if progress is not None:
                        progress(key)
                    module = setup.module(get_op(op)(C, stride, True))
                    x = setup.tensor((C, h, w), generator)
                    entries[key] = setup.time(functools.partial(module, x))
        for n in range(1, n_nodes + 1):
            if progress is not None:
                progress(f"fixed parts, {n} node(s)")
            fixed[str(n)] = _fixed_parts(network, n, setup, generator)
    return LatencyTable(
        network,
        ops,
        n_nodes,
        device.type,
        _device_name(device),
        used,
        str(dtype).removeprefix("torch."),
        batch_size,
        channels_last,
        torch.__version__,
        entries,
        fixed,
    )


def _fixed_parts(
    network: NetworkSpec, n: int, setup: _Setup, generator: torch.Generator
) -> dict[str, float]:
    """Time the parts of the all-``none`` network of ``n`` nodes that are not edge ops."""
    net: Any = setup.module(network.build(empty_genotype(n)))
    inputs: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    handles = []
    for i, cell in enumerate(getattr(net, "cells")):  # noqa: B009

        def hook(_m: nn.Module, args: tuple[Any, ...], out: torch.Tensor, i: int = i) -> None:
            inputs[i] = (args[0].clone(), args[1].clone(), out.clone())

        handles.append(cell.register_forward_hook(hook))
    x = setup.tensor(network.input_size, generator)
    try:
        with torch.inference_mode():
            net(x)
    finally:
        for h in handles:
            h.remove()

    def stem() -> object:
        if network.kind == "cifar":
            return net.stem(x)
        return net.stem1(net.stem0(x))

    parts = {"stem": setup.time(stem), "preprocess": 0.0, "combine": 0.0}
    for i, cell in enumerate(getattr(net, "cells")):  # noqa: B009
        s0, s1, out = inputs[i]
        parts["preprocess"] += setup.time(functools.partial(cell.preprocess0, s0))
        parts["preprocess"] += setup.time(functools.partial(cell.preprocess1, s1))
        node = out[:, : out.shape[1] // n].contiguous()
        parts["combine"] += setup.time(functools.partial(_combine, node, node.clone(), n))
    last = inputs[len(inputs) - 1][2]
    parts["head"] = setup.time(lambda: net.classifier(last.mean((2, 3))))
    parts["total"] = sum(parts.values())
    return parts


def _combine(a: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    """A cell's node sums and output: ``n`` sums of two edges, concatenated."""
    return torch.cat([a + b for _ in range(n)], dim=1)
