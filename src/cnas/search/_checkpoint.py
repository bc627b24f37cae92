"""A search's checkpoint: what the loop writes after every epoch and a resume reads back,
in the same terms (the position, the supernet and its optimizer, the strategy's and the
callbacks' state, the history and stage results, every random generator)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import describe_differences
from .._run import rng_state, set_rng_state
from ..curriculum import CurriculumSchedule
from ..errors import CheckpointError
from ..space import SearchSpace
from ._callbacks import Callback, callback_states, load_callback_states
from ._engine import Engine
from ._position import Position
from ._results import StageResult
from ._strategy import Strategy

__all__ = ["LoopState", "checkpoint", "restore"]

logger = logging.getLogger("cnas")


@dataclass
class LoopState:
    """What the loop keeps besides the engine and the strategy: the schedule (a callback
    may change the stages still to come), the position, the epoch history and the stage
    results."""

    schedule: CurriculumSchedule
    position: Position
    history: list[dict[str, Any]]
    results: list[StageResult]


def checkpoint(
    identity: Mapping[str, Any],
    settings: Mapping[str, Any],
    loop: LoopState,
    engine: Engine,
    strategy: Strategy,
    callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """The checkpoint of a search (``identity``: what makes it this search; ``settings``:
    what it may change on resume, with a warning)."""
    return {
        "config": dict(identity),
        "settings": dict(settings),
        "schedule": loop.schedule.to_dict(),
        "op_order": list(engine.op_order),
        "position": loop.position.to_dict(),
        "supernet": engine.supernet.state_dict(),
        "optimizer": engine.optimizer.state_dict(),
        "gradient_holders": engine.gradient_holders(),
        "strategy": {
            "name": strategy.registered_name,
            "settings": strategy.settings(),
            "state": strategy.state_dict(),
        },
        "callbacks": callback_states(callbacks),
        "history": loop.history,
        "stages": [r.to_dict() for r in loop.results],
        "rng": {"generator": engine.generator.get_state(), **rng_state()},
    }


def restore(
    state: Mapping[str, Any],
    path: Path,
    *,
    identity: Mapping[str, Any],
    settings: Mapping[str, Any],
    space: SearchSpace,
    engine: Engine,
    strategy: Strategy,
    callbacks: Sequence[Callback],
) -> LoopState:
    """Load a checkpoint into ``engine``, ``strategy`` and ``callbacks``; return the loop's
    state. Everything is checked before anything is loaded: a refusal leaves the search
    as it was (but for a strategy state that its own ``load_state_dict`` refuses halfway).

    Raises:
        CheckpointError: a checkpoint of another search or strategy, or one that does
            not fit; it is left untouched.
    """
    name = strategy.registered_name
    saved = state.get("strategy")
    saved_name = saved.get("name") if isinstance(saved, Mapping) else None
    if saved_name != name:
        raise CheckpointError(
            f"{path} is a checkpoint of strategy {saved_name!r}, and this search runs "
            f"{name!r}; it was left untouched: resume with strategy {saved_name!r} "
            "or use another output directory"
        )
    differences = describe_differences(state.get("config"), identity)
    if differences:
        raise CheckpointError(
            f"{path} belongs to a different search ({'; '.join(differences)}); it was left "
            "untouched: use another output directory, or the settings it started with"
        )
    assert isinstance(saved, Mapping)
    changed = describe_differences(
        {**dict(state.get("settings") or {}), "strategy.settings": saved.get("settings")},
        {**dict(settings), "strategy.settings": strategy.settings()},
    )
    if changed:
        logger.warning(
            "resuming %s with other settings than it started with (%s); the optimizer "
            "state and the schedule it saved are kept",
            path.parent,
            "; ".join(changed),
        )
    try:
        schedule = CurriculumSchedule.from_dict(state["schedule"])
        schedule.validate(space)
        if tuple(state["op_order"]) != engine.op_order:
            raise ValueError(
                f"it searched with op order {state['op_order']}, this search has "
                f"{list(engine.op_order)}"
            )
        position = Position.from_dict(state["position"])
        history = list(state["history"])
        results = [StageResult.from_dict(d) for d in state["stages"]]
        position.check(schedule, strategy, results)
        engine.supernet.load_state_dict(state["supernet"])
        engine.optimizer.load_state_dict(state["optimizer"])
        engine.restore_gradient_holders(state.get("gradient_holders"))
        strategy.load_state_dict(saved["state"])
        engine.generator.set_state(state["rng"]["generator"])
        set_rng_state(state["rng"])
        load_callback_states(callbacks, state.get("callbacks") or {})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} does not fit this search: {exc}") from None
    return LoopState(schedule, position, history, results)
