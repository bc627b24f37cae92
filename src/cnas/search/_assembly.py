"""A search assembled from its configuration (``Searcher.from_config``), and a search
composed in code described as one (``Searcher.config``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .._memory import check_fits
from ..curriculum import CurriculumSchedule
from ..data import DataConfig
from ..errors import BudgetError, ConfigError
from ..supernet import SuperNet
from ._config import (
    BudgetConfig,
    CurriculumConfig,
    OptimizerConfig,
    SearchConfig,
    SearchRuntime,
    SpaceConfig,
    StrategyConfig,
    SuperNetConfig,
)
from ._engine import Engine
from ._strategy import Strategy

if TYPE_CHECKING:
    from ..costs import Budget

__all__ = [
    "assemble",
    "bind_budget",
    "check_strategy",
    "describe",
    "identity",
    "resumable_settings",
]

_SHAPED = ("random", "evolution")  # strategies without a soft cost objective


def assemble(config: SearchConfig) -> dict[str, Any]:
    """The ``Searcher``'s arguments (but its folder, callbacks and ``resume``) that
    ``config`` describes: the space, the curriculum, the strategy, the budget, and the
    supernet, checked to fit the device's memory before it is built, and built under
    ``torch.manual_seed(config.seed)``.

    Raises:
        ConfigError: settings that do not fit together, naming the field.
        ValueError: a supernet too large for the device.
        FileNotFoundError: a latency table that does not exist.
    """
    import logging

    if not isinstance(config, SearchConfig):
        raise TypeError(f"config must be a SearchConfig, got {type(config).__name__}")
    space = config.space.build()
    schedule = config.curriculum.build(space, config.seed)
    try:
        strategy = config.strategy.build()
    except ConfigError as exc:
        raise exc.within("strategy") from None
    info = config.data.info() if config.data is not None else None
    num_classes = config.supernet.num_classes or (info.num_classes if info else None)
    in_channels = config.supernet.in_channels or (info.in_channels if info else None)
    if num_classes is None or in_channels is None:
        raise ConfigError(
            "supernet", "without data, give num_classes and in_channels of the images"
        )
    device = config.runtime.resolve_device()
    budget = None
    if config.budget is not None:
        if config.data is None or info is None:
            raise ConfigError("budget", "a budget needs the data part (the network it counts)")
        try:
            budget = config.budget.build(config.data.dataset, info, device)
            budget.search_model(space, schedule)
        except (BudgetError, ValueError) as exc:
            raise ConfigError("budget", str(exc)) from None
        shaped = config.budget.cost_weight is not None or config.budget.cost_penalty != "soft"
        if shaped and config.strategy.name in _SHAPED:
            logging.getLogger("cnas").warning(
                "budget.cost_weight and budget.cost_penalty shape a soft objective, and %s "
                "has none: it rejects cells over the budget",
                config.strategy.name,
            )

    def build() -> SuperNet:
        return SuperNet(
            space,
            C=config.supernet.init_channels,
            num_classes=num_classes,
            layers=config.supernet.layers,
            in_channels=in_channels,
        )

    check_fits(
        build,
        device,
        what="the supernet",
        hint="use fewer channels (--init-channels), layers (--layers) or nodes (--nodes)",
    )
    torch.manual_seed(config.seed)
    return {
        "supernet": build(),
        "schedule": schedule,
        "strategy": strategy,
        "optimizer": config.optimizer,
        "seed": config.seed,
        "data": config.data,
        "budget": budget,
        "steps_per_epoch": config.curriculum.steps_per_epoch,
        "derive_batches": config.strategy.derive_batches,
        "runtime": config.runtime,
    }


def describe(
    engine: Engine,
    schedule: CurriculumSchedule,
    strategy: Strategy,
    optimizer: OptimizerConfig,
    seed: int,
    data: DataConfig | None,
    runtime: SearchRuntime,
) -> SearchConfig:
    """The configuration of a search composed in code (its schedule as a ``custom``
    curriculum, its supernet's sizes and its budget's limits spelled out)."""
    supernet = engine.supernet
    return SearchConfig(
        data=data,
        space=SpaceConfig(supernet.space.ops, supernet.space.n_nodes),
        curriculum=CurriculumConfig.of(schedule).replace(steps_per_epoch=engine.steps_per_epoch),
        supernet=SuperNetConfig(
            supernet.C, supernet.layers, supernet.num_classes, supernet.in_channels
        ),
        optimizer=optimizer,
        strategy=StrategyConfig(
            strategy.registered_name, strategy.settings(), engine.derive_batches
        ),
        budget=None if engine.budget is None else BudgetConfig.of(engine.budget),
        seed=seed,
        runtime=runtime,
    )


def identity(
    engine: Engine, strategy: Strategy, seed: int, data: DataConfig | None
) -> dict[str, Any]:
    """What makes a search this search: a checkpoint of another is refused (the data,
    space, supernet sizes, strategy, seed and the budget as resolved)."""
    supernet, budget = engine.supernet, engine.budget
    where = ("root", "download")  # where the data is and how it got there: not what it is
    return {
        "data": None
        if data is None
        else {k: v for k, v in data.to_dict().items() if k not in where},
        "space": {"ops": list(supernet.space.ops), "n_nodes": supernet.space.n_nodes},
        "supernet": {
            "C": supernet.C,
            "layers": supernet.layers,
            "num_classes": supernet.num_classes,
            "in_channels": supernet.in_channels,
        },
        "strategy": strategy.registered_name,
        "seed": seed,
        "budget": None if budget is None else budget.to_dict(),
    }


def resumable_settings(config: SearchConfig) -> dict[str, Any]:
    """What a resumed search may change, with a warning (its optimizer and schedule come
    from the checkpoint)."""
    whole = config.to_dict()
    return {
        "optimizer": whole["optimizer"],
        "curriculum": whole["curriculum"],
        "strategy.derive_batches": whole["strategy"]["derive_batches"],
    }


def bind_budget(engine: Engine, schedule: CurriculumSchedule, budget: Budget) -> None:
    """Give ``engine`` the search's budget and its cost model, after checking that the
    budget counts the network the cell will be trained in.

    Raises:
        TypeError: not a ``cnas.costs.Budget``.
        BudgetError: a budget for other images or classes, or one no cell can meet.
    """
    from ..costs import Budget

    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a cnas.costs.Budget, got {type(budget).__name__}")
    supernet = engine.supernet
    for name in ("in_channels", "num_classes"):
        value = getattr(supernet, name)
        if getattr(budget.spec, name) != value:
            raise BudgetError(
                f"the budget's network has {name}={getattr(budget.spec, name)} "
                f"({budget.spec.describe()}); this supernet has {name}={value}: give the "
                "budget the network the cell will be trained in (for example "
                "NetworkSpec.for_dataset(...))"
            )
    model = budget.search_model(supernet.space, schedule)
    engine.budget, engine.cost_model = budget, model


def check_strategy(strategy: Strategy) -> Strategy:
    """``strategy``, once it is known to have finite settings and no other search.

    Raises:
        ValueError: a setting that is NaN or infinite.
        TypeError: the object already belongs to another ``Searcher``.
    """
    import math

    for name, value in strategy.settings().items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"{type(strategy).__name__} setting {name} must be finite, got {value}"
            )
    if getattr(strategy, "engine", None) is not None:
        raise TypeError(
            f"this {type(strategy).__name__} object already belongs to another "
            "Searcher; make a new one for each search"
        )
    return strategy
