"""The curriculum search: the ``Searcher`` loop and the strategies it runs.

The ``Searcher`` owns what every method shares: the curriculum's stages, the supernet
and its optimizer (the ``Engine``), the data, the run folder, checkpoints and callbacks.
A ``Strategy`` owns what differs: what each supernet step trains, what learns from
validation batches, and how a stage derives its genotype. Built-in strategies:

- ``Reinforce`` (``"cnas"``): the paper's LSTM controller, trained with REINFORCE;
- ``Darts`` (``"darts"``) and ``Gdas`` (``"gdas"``): gradient-based search of
  ``ArchParameters`` over the supernet's mixed mode;
- ``RandomSearch`` (``"random"``): random search with weight sharing;
- ``Evolution`` (``"evolution"``): regularized evolution over the trained supernet.

Register your own with ``register_strategy``, or ship it in a package that declares it in
the entry-point group ``cnas.strategies``:

    [project.entry-points."cnas.strategies"]
    my-method = "my_package.search:MyStrategy"
"""

from typing import Any

from .._deprecation import warn_deprecated
from ..errors import CheckpointError as CheckpointError
from ..errors import UnknownStrategyError as UnknownStrategyError
from ._arch import ArchParameters as ArchParameters
from ._callbacks import Callback as Callback
from ._controller import Controller as Controller
from ._controller import ControllerSample as ControllerSample
from ._engine import Engine as Engine
from ._evolution import Evolution as Evolution
from ._gradient import Darts as Darts
from ._gradient import Gdas as Gdas
from ._random import RandomSearch as RandomSearch
from ._random import UniformTraining as UniformTraining
from ._registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from ._registry import get_strategy as get_strategy
from ._registry import list_strategies as list_strategies
from ._registry import register_strategy as register_strategy
from ._registry import unregister_strategy as unregister_strategy
from ._reinforce import Reinforce as Reinforce
from ._results import Candidate as Candidate
from ._results import Derivation as Derivation
from ._results import SearchResult as SearchResult
from ._results import StageResult as StageResult
from ._searcher import Searcher as Searcher
from ._settings import Setting as Setting
from ._settings import strategy_settings as strategy_settings
from ._state import stage_record as stage_record
from ._strategy import Phase as Phase
from ._strategy import StageContext as StageContext
from ._strategy import Strategy as Strategy

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArchParameters",
    "Callback",
    "Candidate",
    "CheckpointError",
    "Controller",
    "ControllerSample",
    "Darts",
    "Derivation",
    "Engine",
    "Evolution",
    "Gdas",
    "Phase",
    "RandomSearch",
    "Reinforce",
    "SearchResult",
    "Searcher",
    "Setting",
    "StageContext",
    "StageResult",
    "Strategy",
    "UniformTraining",
    "UnknownStrategyError",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "stage_record",
    "strategy_settings",
    "unregister_strategy",
]


def __getattr__(name: str) -> Any:
    if name == "STRATEGIES":
        warn_deprecated(
            "cnas.search.STRATEGIES", removed_in="0.2", instead="cnas.search.list_strategies()"
        )
        return tuple(list_strategies())
    raise AttributeError(f"module 'cnas.search' has no attribute {name!r}")
