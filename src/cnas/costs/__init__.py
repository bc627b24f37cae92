"""What a cell costs: parameters, multiply-adds and measured latency of its evaluation
network, budgets that constrain a search, and the accuracy/cost front.

- ``NetworkSpec``: the evaluation network costs are counted on (C, layers, classes,
  input size);
- ``CostModel``: a genotype's parameters and multiply-adds (exactly what
  ``cnas.utils.count_params``/``count_madds`` count on the built network) and, with a
  ``LatencyTable``, its predicted latency, all as sums over its edges;
- ``profile`` (``cnas profile``) measures a ``LatencyTable`` on your device;
  ``measure_latency`` times a whole network; ``validate`` compares the two;
- ``Budget``: limits for ``Searcher(..., budget=...)``, kept by every strategy;
- ``pareto_front``: the candidates no other one beats on accuracy and cost.

Examples:
    >>> import cnas
    >>> model = cnas.costs.CostModel(cnas.costs.NetworkSpec(), cnas.DARTS_OPS)
    >>> costs = model.costs(cnas.genotypes.CNAS)
    >>> int(costs.params), round(costs.madds / 1e6)
    (3695374, 564)
"""

from typing import Any as _Any

from .._deprecation import old_names as _old_names
from ..errors import BudgetError as BudgetError
from ..errors import LatencyTableError as LatencyTableError
from ._budget import Budget as Budget
from ._budget import pareto_front as pareto_front
from ._latency import LatencyTable as LatencyTable
from ._latency import profile as profile
from ._measure import PredictionCheck as PredictionCheck
from ._measure import check_predictions as check_predictions
from ._measure import measure_latency as measure_latency
from ._measure import rank_correlation as rank_correlation
from ._model import METRICS as METRICS
from ._model import CostModel as CostModel
from ._model import Costs as Costs
from ._network import CellShape as CellShape
from ._network import NetworkSpec as NetworkSpec

__all__ = [
    "METRICS",
    "Budget",
    "BudgetError",
    "CellShape",
    "CostModel",
    "Costs",
    "LatencyTable",
    "LatencyTableError",
    "NetworkSpec",
    "PredictionCheck",
    "check_predictions",
    "measure_latency",
    "pareto_front",
    "profile",
    "rank_correlation",
]


def _validate(*args: _Any, **kwargs: _Any) -> dict[str, _Any]:
    """The old ``validate``: ``check_predictions(...).to_dict()``."""
    return check_predictions(*args, **kwargs).to_dict()


__getattr__ = _old_names(
    __name__,
    {"validate": (lambda: _validate, "cnas.costs.check_predictions (a typed PredictionCheck)")},
    removed_in="0.3",
)
