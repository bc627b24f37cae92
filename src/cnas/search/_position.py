"""Where a search stands in its schedule (``Position``), and the plan of one stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..curriculum import CurriculumSchedule, Stage
from ..space import SearchSpace
from ._results import StageResult
from ._strategy import Phase, StageContext, Strategy

__all__ = ["Position", "Step", "stage_context", "stage_length", "stage_plan"]

Step = tuple[str, int, Phase | None]
"""One step of a stage's plan: ``(phase name, epoch within the stage, phase)``; the
warm-up epochs and the final ``derive`` step have no ``Phase``."""


def stage_plan(strategy: Strategy, stage: Stage) -> list[Step]:
    """The steps of ``stage``: its warm-up epochs, ``stage.epochs`` rounds of the
    strategy's phases, then ``derive``.

    Raises:
        ValueError: the strategy names no phase, or a phase twice.
    """
    phases = _phases(strategy)
    plan: list[Step] = [("warmup", e, None) for e in range(stage.warmup_epochs)]
    for e in range(stage.epochs):
        plan += [(p.name, e, p) for p in phases]
    return [*plan, ("derive", 0, None)]


def stage_length(strategy: Strategy, stage: Stage) -> int:
    """``len(stage_plan(strategy, stage))``, without planning the steps (a checkpoint's
    position is checked against it before anything is planned)."""
    return stage.warmup_epochs + stage.epochs * len(_phases(strategy)) + 1


def _phases(strategy: Strategy) -> tuple[Phase, ...]:
    phases = tuple(strategy.phases())
    names = [p.name for p in phases]
    if not phases or len(set(names)) != len(names):
        raise ValueError(
            f"{type(strategy).__name__}.phases() must name distinct phases, got {names}"
        )
    return phases


def stage_context(
    schedule: CurriculumSchedule, space: SearchSpace, position: Position
) -> StageContext:
    """The ``StageContext`` of the stage ``position`` is in, within the whole ``space``
    (resumed when the position is past the stage's first step)."""
    index = position.stage
    previous = schedule.stage_space(space, index - 1) if index > 0 else None
    return StageContext(
        index,
        schedule.stages[index],
        schedule.stage_space(space, index),
        previous,
        resumed=position.step > 0,
    )


@dataclass
class Position:
    """Where a search stands: the stage running now (or next, from 0), the step of that
    stage's plan (``stage_plan``) to run next, and whether the search has finished. The
    checkpoint holds it (``to_dict``), and a resume starts from it.

    Attributes:
        stage: The stage's index.
        step: The index of the next step in the stage's plan.
        finished: Whether every stage has run.
    """

    stage: int = 0
    step: int = 0
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"stage": self.stage, "step": self.step, "finished": self.finished}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        """Read ``to_dict`` output back.

        Raises:
            KeyError, ValueError: not a position.
        """
        return cls(int(data["stage"]), int(data["step"]), bool(data["finished"]))

    def next_step(self) -> None:
        """Move to the stage's next step."""
        self.step += 1

    def next_stage(self, n_stages: int) -> None:
        """Move to the next stage's first step (finished after the last one)."""
        self.stage += 1
        self.step = 0
        self.finished = self.stage >= n_stages

    def check(
        self,
        schedule: CurriculumSchedule,
        strategy: Strategy,
        results: Sequence[StageResult],
    ) -> None:
        """Raise ``ValueError`` unless the search can be here: at a stage of ``schedule``
        (or past the last one, when finished), at a step of that stage's plan, with one
        result per finished stage, in order."""
        n_stages = len(schedule.stages)
        if not 0 <= self.stage <= n_stages or self.finished != (self.stage == n_stages):
            state = "a finished" if self.finished else "an unfinished"
            raise ValueError(f"{state} search at stage {self.stage + 1} of {n_stages}")
        if self.stage < n_stages and not (
            0 <= self.step < stage_length(strategy, schedule.stages[self.stage])
        ):
            raise ValueError(f"step {self.step} is past the end of stage {self.stage + 1}")
        if len(results) != self.stage:
            raise ValueError(f"{len(results)} stage result(s) for {self.stage} finished stage(s)")
        if [r.index for r in results] != list(range(self.stage)):
            raise ValueError("its stage results are out of order")
