"""A stage's end: its state saved, its derivation, held to the search's cost budget (the
search's and ``derive``'s)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from .._genotype import Genotype
from ..curriculum import Stage
from ..space import SearchSpace
from ._engine import Engine
from ._results import Candidate, Derivation, StageResult
from ._state import stage_folder, write_stage_state
from ._strategy import Strategy

__all__ = ["end_stage", "hold_to_budget"]

logger = logging.getLogger("cnas")


def hold_to_budget(
    engine: Engine,
    strategy: str,
    derivation: Derivation,
    scored: list[tuple[Genotype, float]],
    space: SearchSpace,
    index: int,
) -> tuple[Derivation, tuple[Candidate, ...], bool | None]:
    """A stage's derivation held to ``engine``'s budget (as is, without one): its
    candidates within it, each with its costs, every scored architecture with its costs
    (``StageResult.scored``), and whether the derived cell is within the budget.

    Args:
        engine: The search's engine (its budget and cost model).
        strategy: The deriving strategy's name, for the log.
        derivation: What the strategy derived.
        scored: Every architecture scored during the derivation, with its accuracy.
        space: The stage's space.
        index: The stage's index, from 0.
    """
    if engine.budget is None:
        return derivation, (), None
    derivation, scored, within = _keep_within(engine, strategy, derivation, scored, space, index)
    annotated = tuple(_with_costs(engine, g, acc) for g, acc in scored)
    derivation = Derivation(
        [_with_costs(engine, c.genotype, c.accuracy, c.stats) for c in derivation.candidates],
        derivation.accuracies,
    )
    return derivation, annotated, within


def _with_costs(
    engine: Engine, genotype: Genotype, accuracy: float, stats: Mapping[str, float] | None = None
) -> Candidate:
    budget = engine.budget
    assert budget is not None
    costs = engine.costs(genotype)
    record = {**(stats or {}), **costs.to_dict(), "within": float(budget.within(costs))}
    return Candidate(genotype, accuracy, record)


def _keep_within(
    engine: Engine,
    strategy: str,
    derivation: Derivation,
    scored: list[tuple[Genotype, float]],
    space: SearchSpace,
    index: int,
) -> tuple[Derivation, list[tuple[Genotype, float]], bool]:
    """Keep the candidates within the budget; when the strategy derived none, score
    uniform samples within it instead (the cheapest cell, when sampling finds none)."""
    budget = engine.budget
    assert budget is not None
    assert engine.cost_model is not None
    stage = index + 1
    if not engine.constrains(space):
        best = derivation.ranked()[0].genotype
        within = engine.fits(best)
        if not within:
            logger.warning(
                "stage %d: no cell of its space (%d op(s), %d node(s)) meets the budget "
                "(%s); it derives its best cell regardless (%s)",
                stage,
                space.n_ops,
                space.n_nodes,
                budget.describe(),
                engine.costs(best).describe(),
            )
        return derivation, scored, within
    feasible = [c for c in derivation.candidates if engine.fits(c.genotype)]
    if feasible:
        return Derivation(feasible, derivation.accuracies), scored, True
    logger.warning(
        "stage %d: %s derived no cell within the budget (%s); scoring uniform samples "
        "within it instead",
        stage,
        strategy,
        budget.describe(),
    )
    found: list[Genotype] = []
    for _ in range(10):
        g = engine.draw_within(lambda: space.sample(generator=engine.generator))
        if g is None:
            break
        found.append(g)
    if not found:
        cell = budget.feasible_cell(engine.cost_model, space)
        assert cell is not None  # engine.constrains(space) found one
        found = [cell]
    engine.record_scores()
    candidates = [Candidate(g, engine.score(g), {"fallback": 1.0}) for g in found]
    scored = scored + engine.recorded_scores()
    accuracies = [*derivation.accuracies, *(c.accuracy for c in candidates)]
    return Derivation(candidates, accuracies), scored, True


def end_stage(
    output_dir: Path, engine: Engine, strategy: Strategy, stage: Stage, index: int, write: bool
) -> StageResult:
    """End stage ``index``: save its supernet and strategy state (``stages/stage-K/``,
    with ``write``: the main process), let the strategy derive, and hold the derivation
    to the budget."""
    context = strategy.stage
    if write:
        previous = context.previous
        write_stage_state(
            stage_folder(output_dir, index),
            supernet=engine.supernet.state_dict(),
            strategy=strategy.registered_name,
            strategy_state=strategy.state_dict(),
            generator=engine.generator.get_state(),
            context={
                "index": index,
                "settings": strategy.settings(),
                "searcher": {  # what derive scores with (a resume may have changed them)
                    "batch_size": engine.batch_size,
                    "derive_batches": engine.derive_batches,
                },
                "stage": asdict(stage),
                "ops": list(context.space.ops),
                "n_nodes": context.space.n_nodes,
                "previous": (
                    None
                    if previous is None
                    else {"ops": list(previous.ops), "n_nodes": previous.n_nodes}
                ),
            },
        )
    engine.record_scores()
    try:
        derivation = strategy.derive()
    finally:
        scored = engine.recorded_scores()
    name = strategy.registered_name
    derivation, annotated, within = hold_to_budget(
        engine, name, derivation, scored, context.space, index
    )
    result = StageResult.from_derivation(
        index, stage.n_ops, stage.n_nodes, context.space.ops, name, derivation, annotated, within
    )
    logger.info("stage %d derived (%s): %s", index + 1, result.summary(), result.genotype)
    return result
