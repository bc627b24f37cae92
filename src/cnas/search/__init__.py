"""The curriculum search: the ``Searcher`` loop and the strategies it runs.

A search is one typed configuration (``SearchConfig``: data, space, curriculum,
supernet, optimizer, strategy, budget, seed, run-time options), assembled in one place
by ``Searcher.from_config``; or its parts are composed in code and handed to
``Searcher`` directly.

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

from .._deprecation import old_names as _old_names
from .._registry import ENTRY_POINT_GROUPS as _ENTRY_POINT_GROUPS
from ..errors import CheckpointError as CheckpointError
from ..errors import ConfigError as ConfigError
from ..errors import UnknownStrategyError as UnknownStrategyError
from ._arch import ArchParameters as ArchParameters
from ._callbacks import Callback as Callback
from ._callbacks import SearchLoop as SearchLoop
from ._config import BudgetConfig as BudgetConfig
from ._config import CurriculumConfig as CurriculumConfig
from ._config import OptimizerConfig as OptimizerConfig
from ._config import SearchConfig as SearchConfig
from ._config import SearchRuntime as SearchRuntime
from ._config import SpaceConfig as SpaceConfig
from ._config import StrategyConfig as StrategyConfig
from ._config import SuperNetConfig as SuperNetConfig
from ._controller import Controller as Controller
from ._controller import ControllerSample as ControllerSample
from ._engine import Engine as Engine
from ._evolution import Evolution as Evolution
from ._gradient import Darts as Darts
from ._gradient import Gdas as Gdas
from ._position import Position as Position
from ._random import RandomSearch as RandomSearch
from ._random import UniformTraining as UniformTraining
from ._rederive import scores_record as scores_record
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
    "ArchParameters",
    "BudgetConfig",
    "Callback",
    "Candidate",
    "CheckpointError",
    "ConfigError",
    "Controller",
    "ControllerSample",
    "CurriculumConfig",
    "Darts",
    "Derivation",
    "Engine",
    "Evolution",
    "Gdas",
    "OptimizerConfig",
    "Phase",
    "Position",
    "RandomSearch",
    "Reinforce",
    "SearchConfig",
    "SearchLoop",
    "SearchResult",
    "SearchRuntime",
    "Searcher",
    "Setting",
    "SpaceConfig",
    "StageContext",
    "StageResult",
    "Strategy",
    "StrategyConfig",
    "SuperNetConfig",
    "UniformTraining",
    "UnknownStrategyError",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "scores_record",
    "stage_record",
    "strategy_settings",
    "unregister_strategy",
]

__getattr__ = _old_names(
    __name__,
    {
        "ENTRY_POINT_GROUP": (
            lambda: _ENTRY_POINT_GROUPS["strategies"],
            'cnas.ENTRY_POINT_GROUPS["strategies"]',
        ),
    },
    removed_in="0.3",
)
