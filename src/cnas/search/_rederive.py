"""Deriving a finished stage of a search again: ``Searcher.derive``."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset

from .._genotype import Genotype
from ..curriculum import Stage
from ..errors import CheckpointError
from ..space import SearchSpace
from ._registry import build_strategy
from ._results import StageResult
from ._state import read_stage_state
from ._strategy import StageContext, Strategy

if TYPE_CHECKING:
    from ._searcher import Searcher

__all__ = ["evaluate_stage", "rederive"]

Data = Dataset[Any] | DataLoader[Any]


def _finished_index(searcher: Searcher, stage: int) -> int:
    finished = searcher.finished_stages()
    if not finished:
        raise ValueError(
            f"{searcher.output_dir} holds no finished stage to derive from "
            "(stages/stage-K/strategy.json)"
        )
    try:
        return finished[stage] if stage < 0 else finished[finished.index(stage)]
    except (IndexError, ValueError):
        raise ValueError(
            f"stage index {stage} is not a finished stage of {searcher.output_dir}; finished: "
            f"{finished} (folders stage-{finished[0] + 1} to stage-{finished[-1] + 1})"
        ) from None


def evaluate_stage(
    searcher: Searcher,
    stage: int,
    genotypes: Sequence[Genotype],
    data: Data | None,
    max_batches: int | None,
) -> list[float]:
    """What ``Searcher.evaluate_stage`` returns (see its docstring): the stage's saved
    supernet weights score each genotype, and the searcher's own weights are put back."""
    index = _finished_index(searcher, stage)
    saved = read_stage_state(searcher._stage_folder(index))
    engine = searcher.engine
    before = {k: v.detach().clone() for k, v in engine.supernet.state_dict().items()}
    try:
        try:
            engine.supernet.load_state_dict(saved["supernet"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(
                f"{searcher._stage_folder(index)} does not fit this search: {exc}"
            ) from None
        return [engine.evaluate(g, data, max_batches) for g in genotypes]
    finally:
        engine.supernet.load_state_dict(before)


def rederive(
    searcher: Searcher, stage: int, strategy: str | Strategy | None, data: Data | None
) -> StageResult:
    """What ``Searcher.derive(stage, strategy=..., data=...)`` returns (see its docstring):
    the stage's saved supernet and strategy state are loaded for the derivation, and the
    searcher's own state is put back afterwards."""
    index = _finished_index(searcher, stage)
    saved = read_stage_state(searcher._stage_folder(index))
    if strategy is None:
        # a copy that shares the engine and what it holds (supernet, generator, data)
        shared = {id(v): v for v in vars(searcher.engine).values()}
        try:
            target = copy.deepcopy(
                searcher.strategy, {**shared, id(searcher.engine): searcher.engine}
            )
        except (TypeError, copy.Error) as exc:
            raise TypeError(
                f"cannot copy this search's {type(searcher.strategy).__name__} to derive with "
                f"it ({exc}); pass strategy= a new object of its kind"
            ) from None
        fresh = False
    else:
        target = build_strategy(strategy)
        fresh = True
        if getattr(target, "engine", None) is not None:
            raise TypeError("this strategy object already belongs to a Searcher")
    name, searched_with = target.registered_name, str(saved["strategy"])
    if name != searched_with and not target.derives_from_supernet:
        raise ValueError(
            f"strategy {name!r} derives from its own trained state, but stage "
            f"{index + 1} was searched with {searched_with!r}; derive with "
            f"{searched_with!r}, or with a strategy that needs only the supernet "
            "(random, evolution)"
        )
    engine = searcher.engine
    before = {k: v.detach().clone() for k, v in engine.supernet.state_dict().items()}
    generator_state = engine.generator.get_state()
    torch_state = torch.get_rng_state()  # data loaders and setup draw from it
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    score_data = engine.score_data
    try:
        if fresh:
            target.engine = engine
            target.setup(engine)
        try:
            engine.supernet.load_state_dict(saved["supernet"])
            engine.generator.set_state(saved["generator"])
            if name == searched_with:
                target.load_state_dict(saved["state"])
            previous = saved.get("previous")
            context = StageContext(
                index,
                Stage(**saved["stage"]),
                SearchSpace(saved["ops"], int(saved["n_nodes"])),
                None if previous is None else SearchSpace(previous["ops"], previous["n_nodes"]),
                resumed=True,
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{searcher._stage_folder(index)} does not fit this search: {exc}"
            ) from None
        if data is not None:
            engine.score_data = data
        if engine.score_data is None and engine.val_data is None:
            raise ValueError("derive() needs data: pass it, or call fit() first")
        target.stage = context
        target.begin_stage(context)
        engine.record_scores()
        try:
            derivation = target.derive()
        finally:
            scored = engine.recorded_scores()
        derivation, annotated, within = searcher._apply_budget(
            derivation, scored, context.space, index
        )
    finally:
        engine.supernet.load_state_dict(before)
        engine.generator.set_state(generator_state)
        torch.set_rng_state(torch_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
        engine.score_data = score_data
    return StageResult.from_derivation(
        index,
        context.stage.n_ops,
        context.stage.n_nodes,
        context.space.ops,
        name,
        derivation,
        annotated,
        within,
    )
