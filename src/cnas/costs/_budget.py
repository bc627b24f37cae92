"""``Budget``: limits on a searched cell's costs, as a hard limit at derive and a soft
objective during the search; ``pareto_front`` of scored candidates."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from .._genotype import Genotype
from ..errors import BudgetError
from ..space import SearchSpace
from ._latency import LatencyTable
from ._model import METRICS, CostModel, Costs, human
from ._network import NetworkSpec

if TYPE_CHECKING:
    from ..curriculum import CurriculumSchedule

__all__ = ["Budget", "pareto_front"]

Penalty = Literal["soft", "hard"]

REWARD_WEIGHT = {"soft": 0.07, "hard": 1.0}
"""MnasNet's exponents (Tan et al., CVPR 2019, section 3): ``w = -0.07`` on both sides
of the target (soft), or ``0`` below and ``-1`` above it (hard)."""
LOSS_WEIGHT = 0.1
"""Default weight of the expected-cost term in the DARTS/GDAS loss (our choice)."""

_FLAGS = {"params": "max_params", "madds": "max_madds", "latency_ms": "max_latency_ms"}
_UNITS = {"params": "parameters", "madds": "multiply-adds", "latency_ms": "ms"}


@dataclass(frozen=True)
class Budget:
    """Limits on the costs of the searched cell's evaluation network.

    Every built-in strategy keeps them: at derive as a hard limit (no stage whose space
    can meet the budget derives a cell over it; the final one is always within) and
    during the search as a soft objective: the controller's reward is MnasNet's
    ``accuracy * prod((cost / limit) ** w)``; DARTS and GDAS add
    ``cost_weight * E[cost] / limit`` (the expected cost under the mixed weights, as
    FBNet and ProxylessNAS add latency to the loss); random search and evolution reject
    candidates over the limit before scoring them.

    Args:
        max_params: Most parameters (without the auxiliary head).
        max_madds: Most multiply-adds of one forward pass of one image.
        max_latency_ms: Most predicted latency (ms) of one batch; needs ``latency_table``.
        latency_table: Measured latencies (``cnas profile``); its network is the default
            ``network``.
        network: The evaluation network the costs are counted on (default: the latency
            table's, else ``NetworkSpec()``: CIFAR-10's C=36, 20 layers).
        penalty: ``"soft"``: the objective prefers cheaper cells everywhere (MnasNet's
            soft regime); ``"hard"``: it penalizes only costs over the limit.
        cost_weight: The objective's strength: the magnitude of MnasNet's exponent ``w``
            for the controller (default 0.07 soft, 1.0 hard) and the loss weight for
            DARTS/GDAS (default 0.1). 0 keeps only the hard limit at derive.

    Raises:
        BudgetError: no limit, a limit that is not positive, a latency limit without a
            table, or a bad setting.
        LatencyTableError: a ``network`` that differs from the table's.

    Examples:
        >>> import cnas
        >>> budget = cnas.costs.Budget(max_params=2_000_000)
        >>> budget.limits()
        {'params': 2000000.0}
    """

    max_params: float | None = None
    max_madds: float | None = None
    max_latency_ms: float | None = None
    latency_table: LatencyTable | None = None
    network: NetworkSpec | None = None
    penalty: Penalty = "soft"
    cost_weight: float | None = None

    def __post_init__(self) -> None:
        for name in _FLAGS.values():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BudgetError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise BudgetError(f"{name} must be a positive number, got {value!r}")
        if not self.limits():
            raise BudgetError("a budget needs a limit: max_params, max_madds or max_latency_ms")
        if self.max_latency_ms is not None and self.latency_table is None:
            raise BudgetError(
                "max_latency_ms needs a latency table (cnas profile, then --latency-table)"
            )
        if self.latency_table is not None and not isinstance(self.latency_table, LatencyTable):
            raise BudgetError(f"latency_table must be a LatencyTable, got {self.latency_table!r}")
        if self.penalty not in ("soft", "hard"):
            raise BudgetError(f"penalty must be 'soft' or 'hard', got {self.penalty!r}")
        if self.cost_weight is not None and (
            isinstance(self.cost_weight, bool)
            or not isinstance(self.cost_weight, int | float)
            or not math.isfinite(self.cost_weight)
            or self.cost_weight < 0
        ):
            raise BudgetError(f"cost_weight must be a number >= 0, got {self.cost_weight!r}")
        if self.network is None:
            network = self.latency_table.network if self.latency_table else NetworkSpec()
            object.__setattr__(self, "network", network)
        elif self.latency_table is not None:
            self.latency_table.check(network=self.network)

    @property
    def spec(self) -> NetworkSpec:
        """The evaluation network the costs are counted on."""
        assert self.network is not None  # set in __post_init__
        return self.network

    def limits(self) -> dict[str, float]:
        """The limits by cost name (``params``, ``madds``, ``latency_ms``)."""
        out = {}
        for metric, name in _FLAGS.items():
            value = getattr(self, name)
            if value is not None:
                out[metric] = float(value)
        return out

    def reward_weight(self) -> float:
        """The magnitude of MnasNet's exponent ``w`` (``cost_weight`` or its default)."""
        return REWARD_WEIGHT[self.penalty] if self.cost_weight is None else self.cost_weight

    def loss_weight(self) -> float:
        """The weight of the expected-cost term (``cost_weight`` or 0.1)."""
        return LOSS_WEIGHT if self.cost_weight is None else self.cost_weight

    def cost_model(self, ops: Sequence[str]) -> CostModel:
        """The ``CostModel`` of this budget's network for ``ops``."""
        return CostModel(self.spec, ops, self.latency_table)

    # -- judging ------------------------------------------------------------------------------

    def within(self, costs: Costs) -> bool:
        """Whether ``costs`` meet every limit."""
        return all(_value(costs, m) <= limit for m, limit in self.limits().items())

    def ratios(self, costs: Costs) -> dict[str, float]:
        """``cost / limit`` for every limited cost."""
        return {m: _value(costs, m) / limit for m, limit in self.limits().items()}

    def reward(self, accuracy: float, costs: Costs) -> float:
        """MnasNet's objective: ``accuracy * prod_m (cost_m / limit_m) ** w_m``, with
        ``w_m = -cost_weight`` (soft), or ``0`` within the limit and ``-cost_weight``
        over it (hard)."""
        weight = self.reward_weight()
        factor = 1.0
        for ratio in self.ratios(costs).values():
            if self.penalty == "soft" or ratio > 1.0:
                factor *= max(ratio, 1e-12) ** -weight
        return accuracy * factor

    def loss(self, expected: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The cost term of a differentiable search's loss, from expected costs by name:
        ``cost_weight * sum_m E[cost_m] / limit_m`` (soft), or of
        ``max(0, E[cost_m] / limit_m - 1)`` (hard)."""
        weight = self.loss_weight()
        terms = []
        for metric, limit in self.limits().items():
            ratio = expected[metric] / limit
            terms.append(ratio if self.penalty == "soft" else torch.relu(ratio - 1.0))
        return weight * torch.stack(terms).sum()

    def search_model(self, space: SearchSpace, schedule: CurriculumSchedule) -> CostModel:
        """The cost model of a search of ``space`` along ``schedule`` (its ops in the
        curriculum's order), once the budget has been checked against it.

        Raises:
            LatencyTableError: the latency table lacks one of the ops, or is for fewer
                nodes.
            BudgetError: no cell of the final stage's space meets the budget.
        """
        if self.latency_table is not None:
            self.latency_table.check(ops=space.ops, n_nodes=space.n_nodes)
        model = self.cost_model(schedule.op_order or space.ops)
        self.check_reachable(model, schedule.stage_space(space, len(schedule.stages) - 1))
        return model

    def check_reachable(self, model: CostModel, space: SearchSpace) -> None:
        """Refuse a budget that no genotype of ``space`` can meet.

        Raises:
            BudgetError: naming the limit and the smallest reachable value.
        """
        limits = self.limits()
        for metric, limit in limits.items():
            smallest = model.minimum(metric, space)
            if smallest > limit:
                raise BudgetError(
                    f"{_FLAGS[metric]} {_show(metric, limit)} cannot be met: the smallest "
                    f"{model.network.describe()} of this space has {_show(metric, smallest)} "
                    f"{_UNITS[metric]} (every edge its cheapest op, "
                    f"{_cheapest_ops(model, space, metric)})"
                )
        if len(limits) > 1 and self.feasible_cell(model, space) is None:
            cheapest = model.cheapest(space, {m: 1.0 / v for m, v in limits.items()})
            raise BudgetError(
                f"found no cell of this space that meets {self.describe()} together (the "
                f"cheapest by their sum has {model.costs(cheapest).describe()}); loosen "
                "one of them"
            )

    def feasible_cell(self, model: CostModel, space: SearchSpace) -> Genotype | None:
        """A cell of ``space`` within the budget, if one is found: the cheapest by every
        limit alone and by their normalized sum, then 2,000 seeded uniform samples."""
        limits = self.limits()
        weightings = [{m: 1.0 / v for m, v in limits.items()}, *({m: 1.0} for m in limits)]
        for weights in weightings:
            genotype = model.cheapest(space, weights)
            if self.within(model.costs(genotype)):
                return genotype
        generator = torch.Generator().manual_seed(0)
        for _ in range(2000):
            genotype = space.sample(generator=generator)
            if self.within(model.costs(genotype)):
                return genotype
        return None

    def reachable(self, model: CostModel, space: SearchSpace) -> bool:
        """Whether some genotype of ``space`` can meet the budget (as ``check_reachable``)."""
        try:
            self.check_reachable(model, space)
        except BudgetError:
            return False
        return True

    def describe(self) -> str:
        """``max_params 2.00M, max_madds 300.00M`` for messages."""
        return ", ".join(f"{_FLAGS[m]} {_show(m, v)}" for m, v in self.limits().items())

    # -- records ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the latency table by its device, batch size and a digest of
        its entries: a search resumes with a moved copy of its table, not another one)."""
        table = self.latency_table
        return {
            **{name: getattr(self, name) for name in _FLAGS.values()},
            "network": self.spec.to_dict(),
            "penalty": self.penalty,
            "cost_weight": self.cost_weight,
            "latency_table": None
            if table is None
            else {
                "device": table.device,
                "batch_size": table.batch_size,
                "entries": len(table.entries),
                "digest": _digest(table),
            },
        }


def _digest(table: LatencyTable) -> str:
    import hashlib
    import json

    text = json.dumps({"entries": dict(table.entries), "fixed": table.fixed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _value(costs: Costs, metric: str) -> float:
    value = costs.get(metric)
    if value is None:
        raise BudgetError(f"the costs hold no {metric} (a latency table is needed)")
    return float(value)


def _show(metric: str, value: float) -> str:
    if metric == "latency_ms":
        return f"{value:.4g}"
    return f"{round(value):,} ({human(value)})"


def _cheapest_ops(model: CostModel, space: SearchSpace, metric: str) -> str:
    genotype = model.cheapest(space, {metric: 1.0})
    return "ops " + ", ".join(sorted(genotype.ops))


def pareto_front(
    points: Sequence[Mapping[str, Any]], metrics: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The points no other point beats: none has an accuracy as high and every cost in
    ``metrics`` as low, with one of them strictly better.

    Args:
        points: Mappings with ``accuracy`` and the costs by name.
        metrics: The costs to weigh (``params``, ``madds``, ``latency_ms``).

    Returns:
        The front, cheapest first (by the first metric).
    """
    for m in metrics:
        if m not in METRICS:
            raise KeyError(f"unknown cost {m!r}; known: {', '.join(METRICS)}")

    def key(p: Mapping[str, Any]) -> tuple[float, ...]:
        return (-float(p["accuracy"]), *(float(p[m]) for m in metrics))

    front: list[Mapping[str, Any]] = []
    for p in points:
        kp = key(p)
        beaten = any(
            all(a <= b for a, b in zip(key(q), kp, strict=True)) and key(q) != kp for q in points
        )
        if not beaten and all(key(q) != kp for q in front):
            front.append(p)
    return sorted(front, key=lambda p: tuple(float(p[m]) for m in metrics))
