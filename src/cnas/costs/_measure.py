"""Whole networks timed as ``profile`` times their parts, and how well a latency table
predicts them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._genotype import Genotype
from .._validation import parse_device, seeded
from ..space import SearchSpace
from ._latency import LatencyTable, _Setup, _threads
from ._network import NetworkSpec

__all__ = ["PredictionCheck", "check_predictions", "measure_latency", "rank_correlation"]


def measure_latency(
    network: NetworkSpec | nn.Module,
    genotype: Genotype | None = None,
    *,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    threads: int | None = None,
    channels_last: bool = False,
    repeats: int = 7,
    block_ms: float = 20.0,
) -> float:
    """The measured latency (ms) of one forward pass of a whole network, timed as
    ``profile`` times its parts.

    Args:
        network: A ``NetworkSpec`` (then ``genotype`` says the cells) or a built network.
        genotype: The cells, with a ``NetworkSpec``.
        batch_size: Images per forward pass.
        device: Where to run.
        dtype: The dtype to run in.
        threads: ``torch.set_num_threads`` while measuring (default: as it is).
        channels_last: Inputs and weights in channels-last layout.
        repeats: Timed blocks.
        block_ms: Length of a timed block.

    Raises:
        ValueError: a ``NetworkSpec`` without a genotype.
    """
    if isinstance(network, NetworkSpec):
        if genotype is None:
            raise ValueError("measure_latency needs a genotype with a NetworkSpec")
        input_size = network.input_size
        module = network.build(genotype)
    else:
        module = network
        input_size = (int(getattr(module, "in_channels", 3)), 32, 32)
        if genotype is not None:
            raise ValueError("pass a genotype only with a NetworkSpec")
    setup = _Setup(parse_device(device), dtype, batch_size, channels_last, repeats, block_ms)
    module = setup.module(module)
    x = setup.tensor(input_size, torch.Generator().manual_seed(0))
    with torch.random.fork_rng(devices=[]), _threads(threads):
        return setup.time(lambda: module(x))


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (ties get mean ranks)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("rank_correlation needs two sequences of one length, at least 2")

    def ranks(values: Sequence[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var > 0 else 0.0


@dataclass(frozen=True)
class PredictionCheck:
    """How well a latency table predicted whole networks (``check_predictions``).

    Attributes:
        genotypes: How many random networks were timed.
        seed: The seed that drew them.
        spearman: The rank correlation of predicted and measured times (1: same order).
        mape: The mean absolute percentage error of the predictions, in %.
        mean_ratio: The mean of measured / predicted time (above 1: the table is
            optimistic).
        pairs: ``(predicted, measured)`` milliseconds of each network.
    """

    genotypes: int
    seed: int
    spearman: float
    mape: float
    mean_ratio: float
    pairs: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a ``LatencyTable`` keeps as its ``validation``."""
        return {
            "genotypes": self.genotypes,
            "seed": self.seed,
            "spearman": self.spearman,
            "mape": self.mape,
            "mean_ratio": self.mean_ratio,
            "pairs": [list(p) for p in self.pairs],
        }


def check_predictions(
    table: LatencyTable,
    count: int = 20,
    *,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> PredictionCheck:
    """How well ``table`` predicts whole networks: ``count`` random genotypes of its ops
    and node count, each measured as a whole (``measure_latency``, same device, dtype,
    batch size and layout) against its prediction.

    Returns:
        A ``PredictionCheck``: the rank correlation, the mean absolute percentage error,
        the mean ratio of measured to predicted time, and every pair.
    """
    from ._model import CostModel

    model = CostModel(table.network, table.ops, table)
    space = SearchSpace(table.ops, table.n_nodes)
    generator = seeded(seed)
    pairs = []
    for i in range(count):
        genotype = space.sample(generator=generator)
        if progress is not None:
            progress(f"network {i + 1}/{count}")
        predicted = model.cost("latency_ms", genotype)
        measured = measure_latency(
            table.network,
            genotype,
            batch_size=table.batch_size,
            device=table.device,
            dtype=getattr(torch, table.dtype),
            threads=threads if threads is not None else table.threads,
            channels_last=table.channels_last,
        )
        pairs.append([predicted, measured])
    predicted_ms = [p for p, _ in pairs]
    measured_ms = [m for _, m in pairs]
    return PredictionCheck(
        genotypes=count,
        seed=seed,
        spearman=rank_correlation(predicted_ms, measured_ms),
        mape=100 * statistics.fmean(abs(p - m) / m for p, m in pairs),
        mean_ratio=statistics.fmean(m / p for p, m in pairs),
        pairs=tuple((p, m) for p, m in pairs),
    )
