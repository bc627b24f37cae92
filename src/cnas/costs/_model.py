"""``CostModel``: parameters, multiply-adds and predicted latency of a genotype's network,
as sums over its edges.

A network's cost is additive: the stems, the preprocessing of every cell, the heads (the
"fixed" parts, which depend only on how many nodes each cell concatenates) plus, for
every cell, the cost of each edge's op at that cell's channels, resolution and stride.
The tables below hold each op's cost summed over the cells of one type, so that a
genotype's cost is 16 lookups, and the expected cost under DARTS's mixed weights is a
differentiable dot product. Parameters and multiply-adds are exactly what
``cnas.utils.count_params`` and ``count_madds`` count on the built network (a test checks
it); latency is predicted from a ``LatencyTable`` measured by ``cnas profile``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from .._genotype import Edge, Genotype
from ..ops import get_op
from ..space import SearchSpace
from ..utils import count_madds, count_params
from ._network import CellShape, NetworkSpec, cell_shapes, empty_genotype

if TYPE_CHECKING:
    from ..supernet import MixedWeights

__all__ = ["METRICS", "CostModel", "Costs", "Latencies"]


class Latencies(Protocol):
    """What the cost model reads of a latency table (``LatencyTable``, which predicts
    through the cost model)."""

    def check(
        self,
        *,
        network: NetworkSpec | None = None,
        ops: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        n_nodes: int | None = None,
    ) -> None:
        """Refuse use for another network configuration, op set, device or node count."""

    def op_ms(self, op: str, cell: CellShape, stride: int) -> float:
        """An op's measured latency in a cell."""

    def fixed_ms(self, n_nodes: int) -> float:
        """The measured latency around the cells' ops."""


METRICS = ("params", "madds", "latency_ms")
"""The costs a budget can limit, by their names in ``Costs`` and in the records."""


@dataclass(frozen=True)
class Costs:
    """What a genotype's evaluation network costs.

    Attributes:
        params: Parameters (without the auxiliary head).
        madds: Multiply-adds of one forward pass of one image.
        latency_ms: Predicted latency of one batch in milliseconds (with a latency table).
    """

    params: float
    madds: float
    latency_ms: float | None = None

    def get(self, metric: str) -> float | None:
        """The cost named ``metric`` (one of ``METRICS``)."""
        if metric not in METRICS:
            raise KeyError(f"unknown cost {metric!r}; known: {', '.join(METRICS)}")
        value: float | None = getattr(self, metric)
        return value

    def describe(self) -> str:
        """``3.70M params, 564.02M MAdds, 12.3 ms``, for messages and reports."""
        parts = [f"{human(self.params)} params", f"{human(self.madds)} MAdds"]
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.3g} ms")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, float]:
        """The known costs by name (JSON-ready)."""
        out = {"params": float(self.params), "madds": float(self.madds)}
        if self.latency_ms is not None:
            out["latency_ms"] = float(self.latency_ms)
        return out


class _Table:
    """One metric's costs: per op summed over the normal cells, per (op, stride) over the
    reduction cells, and the fixed parts by the cells' concatenation lengths."""

    def __init__(self, normal: Mapping[str, float], reduce: Mapping[tuple[str, int], float]):
        self.normal = dict(normal)
        self.reduce = dict(reduce)

    def edge(self, op: str, reduction: bool, src: int) -> float:
        if reduction:
            return self.reduce[(op, 2 if src < 2 else 1)]
        return self.normal[op]


class CostModel:
    """Costs of genotypes on one evaluation network.

    Args:
        network: The evaluation network (``NetworkSpec``).
        ops: The ops genotypes may use.
        latency_table: Measured latencies (``cnas profile``) of this network and these
            ops; without one, ``Costs.latency_ms`` is ``None``.

    Raises:
        LatencyTableError: the table was made for another network or lacks an op.
        UnknownOpError: an op that is not registered.

    Examples:
        >>> import cnas
        >>> model = cnas.costs.CostModel(cnas.costs.NetworkSpec(), cnas.DARTS_OPS)
        >>> int(model.costs(cnas.genotypes.CNAS).params)
        3695374
    """

    def __init__(
        self,
        network: NetworkSpec,
        ops: Sequence[str],
        latency_table: Latencies | None = None,
    ) -> None:
        self.network = network
        self.ops = tuple(dict.fromkeys(ops))
        for op in self.ops:
            get_op(op)  # an unknown op fails here, naming the known ones
        self.latency_table = latency_table
        if latency_table is not None:
            latency_table.check(network=network, ops=self.ops)
        self.cells: tuple[CellShape, ...] = cell_shapes(network)
        self._op_cache: dict[tuple[str, int, int, int, int], tuple[int, int]] = {}
        self._fixed_cache: dict[tuple[int, int], tuple[int, int]] = {}
        self._tables: dict[str, _Table] = {}
        self._build_tables()

    # -- tables -----------------------------------------------------------------------------

    def _op_costs(self, op: str, cell: CellShape, stride: int) -> tuple[int, int]:
        shape = cell.edge_input(stride)
        key = (op, stride, *shape)
        if key not in self._op_cache:
            with torch.device("meta"):  # shapes only: no compute, no random draws
                module = get_op(op)(shape[0], stride, True)
            self._op_cache[key] = (count_params(module, exclude=()), count_madds(module, shape))
        return self._op_cache[key]

    def _build_tables(self) -> None:
        normal: dict[str, dict[str, float]] = {m: {} for m in METRICS}
        reduce: dict[str, dict[tuple[str, int], float]] = {m: {} for m in METRICS}
        table = self.latency_table
        for op in self.ops:
            for cell in self.cells:
                strides = (1, 2) if cell.reduction else (1,)
                for stride in strides:
                    params, madds = self._op_costs(op, cell, stride)
                    values = {"params": float(params), "madds": float(madds)}
                    if table is not None:
                        values["latency_ms"] = table.op_ms(op, cell, stride)
                    for metric, value in values.items():
                        if cell.reduction:
                            target = reduce[metric]
                            target[(op, stride)] = target.get((op, stride), 0.0) + value
                        else:
                            normal[metric][op] = normal[metric].get(op, 0.0) + value
        for metric in METRICS:
            if metric == "latency_ms" and table is None:
                continue
            self._tables[metric] = _Table(normal[metric], reduce[metric])

    def fixed(self, metric: str, n_concat: int, n_concat_reduce: int | None = None) -> float:
        """The cost of the network around the cells' ops (stems, preprocessing, heads) when
        the normal cells concatenate ``n_concat`` nodes and the reduction cells
        ``n_concat_reduce`` (as many by default)."""
        n_concat_reduce = n_concat if n_concat_reduce is None else n_concat_reduce
        if metric == "latency_ms":
            table = self._latency()
            if n_concat != n_concat_reduce:
                from ..errors import LatencyTableError

                raise LatencyTableError(
                    "a latency table covers cells that concatenate all their nodes; this "
                    f"genotype's normal cell concatenates {n_concat} and its reduction cell "
                    f"{n_concat_reduce}"
                )
            return table.fixed_ms(n_concat)
        key = (n_concat, n_concat_reduce)
        if key not in self._fixed_cache:
            with torch.device("meta"):  # shapes only: no compute, no random draws
                net = self.network.build(empty_genotype(max(key), *key))
            self._fixed_cache[key] = (
                count_params(net),
                count_madds(net, self.network.input_size),
            )
        params, madds = self._fixed_cache[key]
        return float(params if metric == "params" else madds)

    def _latency(self) -> Latencies:
        if self.latency_table is None:
            raise ValueError("latency needs a latency table (cnas profile)")
        return self.latency_table

    def has(self, metric: str) -> bool:
        """Whether this model counts ``metric`` (latency only with a table)."""
        return metric in self._tables

    # -- costs ------------------------------------------------------------------------------

    def cost(self, metric: str, genotype: Genotype) -> float:
        """One cost of ``genotype``'s network (``metric`` from ``METRICS``)."""
        table = self._table(metric)
        total = self.fixed(metric, len(genotype.normal_concat), len(genotype.reduce_concat))
        try:
            total += sum(table.edge(e.op, False, e.src) for e in genotype.normal)
            total += sum(table.edge(e.op, True, e.src) for e in genotype.reduce)
        except KeyError as exc:
            raise ValueError(
                f"genotype uses op {exc.args[0]!r}, outside this cost model's ops {list(self.ops)}"
            ) from None
        return total

    def _table(self, metric: str) -> _Table:
        if metric not in METRICS:
            raise KeyError(f"unknown cost {metric!r}; known: {', '.join(METRICS)}")
        if metric not in self._tables:
            self._latency()
        return self._tables[metric]

    def costs(self, genotype: Genotype) -> Costs:
        """All costs of ``genotype``'s network."""
        latency = self.cost("latency_ms", genotype) if self.has("latency_ms") else None
        return Costs(self.cost("params", genotype), self.cost("madds", genotype), latency)

    def minimum(self, metric: str, space: SearchSpace) -> float:
        """The smallest ``metric`` of any genotype of ``space``."""
        return self.cost(metric, self.cheapest(space, {metric: 1.0}))

    def cheapest(self, space: SearchSpace, weights: Mapping[str, float]) -> Genotype:
        """The genotype of ``space`` with the smallest ``sum(weights[m] * cost_m)``: each
        edge takes its cheapest (op, input) pair."""
        tables = {m: self._table(m) for m in weights}

        def price(op: str, reduction: bool, src: int) -> float:
            return sum(w * tables[m].edge(op, reduction, src) for m, w in weights.items())

        cells: list[list[Edge]] = []
        for reduction in (False, True):
            edges: list[Edge] = []
            for t in range(2, space.n_nodes + 2):
                best = min(  # on equal prices: an op that computes, then the earlier op
                    (price(op, reduction, src), op == "none", i, src, op)
                    for i, op in enumerate(space.ops)
                    for src in range(t)
                )
                edges += [Edge(best[4], best[3], t)] * 2
            cells.append(edges)
        return Genotype(cells[0], None, cells[1], None)

    def expected(self, weights: MixedWeights, metric: str) -> torch.Tensor:
        """The expected ``metric`` of the genotype derived from mixed weights, as a
        differentiable function of them.

        Every edge ``src -> t`` costs ``sum_j weights[e, j] * cost(op_j)``; a derived node
        keeps 2 of its ``t`` incoming edges, so each counts ``2 / t`` times (as if the two
        were drawn uniformly). As DARTS derives no ``none`` edge, each row's weights are
        renormalized over the other ops (when there are others).
        """
        table = self._table(metric)
        n = weights.n_nodes
        normal_w, reduce_w = weights.normal, weights.reduce
        if "none" in weights.ops and len(weights.ops) > 1:
            keep = normal_w.new_tensor([op != "none" for op in weights.ops])

            def renormalize(w: torch.Tensor) -> torch.Tensor:
                kept = w * keep
                return kept / kept.sum(-1, keepdim=True).clamp_min(1e-12)

            normal_w, reduce_w = renormalize(normal_w), renormalize(reduce_w)
        total = weights.normal.new_tensor(self.fixed(metric, n))
        rows = [(src, t) for t in range(2, n + 2) for src in range(t)]
        share = weights.normal.new_tensor([2.0 / t for _, t in rows])
        normal = weights.normal.new_tensor([table.normal[op] for op in weights.ops])
        reduce = weights.normal.new_tensor(
            [[table.reduce[(op, 2 if src < 2 else 1)] for op in weights.ops] for src, _ in rows]
        )
        total = total + (share * (normal_w @ normal)).sum()
        return total + (share * (reduce_w * reduce).sum(-1)).sum()


def human(value: float) -> str:
    """``3695374`` -> ``3.70M``; ``5300`` -> ``5.30K``."""
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}" if math.isfinite(value) else str(value)
