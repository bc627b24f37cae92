"""A search's finished stages: scored and derived again (``Searcher.evaluate_stage``,
``Searcher.derive``: the ``StageTools`` it inherits)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .._genotype import Genotype
from ..curriculum import Stage
from ..data import DataConfig
from ..errors import CheckpointError
from ..space import SearchSpace
from ._budget import hold_to_budget
from ._engine import Engine
from ._registry import build_strategy
from ._results import StageResult
from ._state import finished_stages, read_stage_state, stage_folder
from ._strategy import StageContext, Strategy

__all__ = ["StageTools", "evaluate_stage", "finished_index", "rederive", "scores_record"]

Data = Dataset[Any] | DataLoader[Any]


def finished_index(output_dir: Path, stage: int) -> int:
    """The index of a finished stage of the search in ``output_dir`` (``stage`` from 0;
    negative counts back from the last finished one).

    Raises:
        ValueError: no such finished stage.
    """
    finished = finished_stages(output_dir)
    if not finished:
        raise ValueError(
            f"{output_dir} holds no finished stage to derive from (stages/stage-K/strategy.json)"
        )
    try:
        return finished[stage] if stage < 0 else finished[finished.index(stage)]
    except (IndexError, ValueError):
        raise ValueError(
            f"stage index {stage} is not a finished stage of {output_dir}; finished: "
            f"{finished} (folders stage-{finished[0] + 1} to stage-{finished[-1] + 1})"
        ) from None


def evaluate_stage(
    output_dir: Path,
    engine: Engine,
    stage: int,
    genotypes: Sequence[Genotype],
    data: Data | None,
    max_batches: int | None,
) -> list[float]:
    """What ``Searcher.evaluate_stage`` returns (see its docstring): the stage's saved
    supernet weights score each genotype, and the engine's own weights are put back."""
    index = finished_index(output_dir, stage)
    folder = stage_folder(output_dir, index)
    saved = read_stage_state(folder)
    before = {k: v.detach().clone() for k, v in engine.supernet.state_dict().items()}
    try:
        try:
            engine.supernet.load_state_dict(saved["supernet"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{folder} does not fit this search: {exc}") from None
        return [engine.evaluate(g, data, max_batches) for g in genotypes]
    finally:
        engine.supernet.load_state_dict(before)


def rederive(
    output_dir: Path,
    engine: Engine,
    own: Strategy,
    stage: int,
    strategy: str | Strategy | None,
    data: Data | None,
) -> StageResult:
    """What ``Searcher.derive(stage, strategy=..., data=...)`` returns (see its docstring):
    the stage's saved supernet and strategy state are loaded for the derivation, and the
    search's own state (``engine``, ``own`` strategy) is put back afterwards."""
    index = finished_index(output_dir, stage)
    folder = stage_folder(output_dir, index)
    saved = read_stage_state(folder)
    if strategy is None:
        # a copy that shares the engine and what it holds (supernet, generator, data)
        shared = {id(v): v for v in vars(engine).values()}
        try:
            target = copy.deepcopy(own, {**shared, id(engine): engine})
        except (TypeError, copy.Error) as exc:
            raise TypeError(
                f"cannot copy this search's {type(own).__name__} to derive with "
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
            raise CheckpointError(f"{folder} does not fit this search: {exc}") from None
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
        derivation, annotated, within = hold_to_budget(
            engine, name, derivation, scored, context.space, index
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


def scores_record(
    run: str | Path,
    stage: int,
    derive_batches: int | None,
    scored: Sequence[tuple[str, Genotype]],
    accuracies: Sequence[float],
) -> dict[str, Any]:
    """The record of genotypes scored with a finished stage's supernet (``cnas derive
    --score -o FILE`` and a study's scoring runs write it): the run, the stage (from 1),
    the batch cap, and each genotype's name or file, its cell and its accuracy."""
    return {
        "run": str(run),
        "stage": stage,
        "derive_batches": derive_batches,
        "scores": [
            {"genotype": spec, "arch": g.to_dict(), "val_accuracy": accuracy}
            for (spec, g), accuracy in zip(scored, accuracies, strict=True)
        ],
    }


class StageTools:
    """What a search can do with its finished stages (``Searcher`` has these methods):
    score genotypes with a stage's saved supernet, and derive a stage again, with its own
    strategy or another one. Nothing in the search's folder changes.

    Attributes:
        output_dir: The search's folder.
        engine: The search's engine.
        strategy: The search's strategy.
        data: Its data configuration (what scores candidates when none is bound).
        seed: Its seed (the data split's).
    """

    output_dir: Path
    engine: Engine
    strategy: Strategy
    data: DataConfig | None
    seed: int

    def evaluate(
        self, genotype: Genotype, data: Data | None = None, max_batches: int | None = None
    ) -> float:
        """Top-1 accuracy (0..1) of ``genotype`` with the current supernet weights.

        Args:
            genotype: An architecture of the supernet's space.
            data: Defaults to the scoring data given to ``fit`` (else its validation data).
            max_batches: Use at most this many batches.

        Raises:
            ValueError: no data given and ``fit`` not called yet.
        """
        return self.engine.evaluate(genotype, data, max_batches)

    def evaluate_stage(
        self,
        stage: int,
        genotypes: Sequence[Genotype],
        data: Data | None = None,
        max_batches: int | None = None,
    ) -> list[float]:
        """Top-1 accuracy (0..1) of each of ``genotypes`` with the supernet weights saved
        at the end of a finished stage (``stages/stage-K/``): how well weight sharing
        ranks architectures that the search did not pick (``cnas study`` compares it
        with their accuracy after training).

        The supernet's own weights are as before when it returns; nothing in
        ``output_dir`` changes.

        Args:
            stage: The stage's index, from 0; negative counts back from the last finished
                stage.
            genotypes: Architectures of the supernet's space.
            data: The validation data (default: what ``fit`` scored with, else the
                configured data's validation split without augmentation).
            max_batches: Use at most this many batches (in a fixed order).

        Raises:
            ValueError: no such finished stage, or no data.
            CheckpointError: the stage's saved state is corrupt or does not fit.
        """
        if data is None:
            self._bind_scoring_data()
        return evaluate_stage(self.output_dir, self.engine, stage, genotypes, data, max_batches)

    def finished_stages(self) -> list[int]:
        """The indices (from 0) of the stages whose state ``output_dir`` holds."""
        return finished_stages(self.output_dir)

    def derive(
        self,
        stage: int = -1,
        *,
        strategy: str | Strategy | None = None,
        data: Data | None = None,
    ) -> StageResult:
        """Derive a finished stage's genotype again, from its saved supernet and strategy
        state (``stages/stage-K/``), with this search's strategy or another one.

        Nothing in ``output_dir`` changes, and the supernet, the strategy and the random
        generator are as before when it returns.

        Args:
            stage: The stage's index, from 0 as in ``result.stages`` (the folder
                ``stage-{stage + 1}``); negative counts back from the last finished stage.
            strategy: The strategy whose ``derive`` runs: ``None`` for this search's own
                (with the stage's saved state: same settings give the same result), a
                registered name or a ``Strategy`` object. A strategy of another kind than
                the stage's must derive from the supernet alone
                (``derives_from_supernet``: ``"random"``, ``"evolution"``).
            data: The validation data that scores the candidates (default: what ``fit``
                scored with, else the configured data's validation split without
                augmentation).

        Returns:
            The new derivation of the stage.

        Raises:
            ValueError: no such finished stage, no data, or a strategy that needs a
                trained state the stage does not hold.
            UnknownStrategyError: (a ``KeyError``) an unknown strategy name.
            CheckpointError: the stage's saved state is corrupt or does not fit.
            TypeError: this search's strategy cannot be copied (pass a new one).
        """
        if data is None:
            self._bind_scoring_data()
        return rederive(self.output_dir, self.engine, self.strategy, stage, strategy, data)

    def _bind_scoring_data(self) -> None:
        """Without data from ``fit``, score on the configured validation split without
        augmentation (loaded once; nothing without a data configuration)."""
        engine = self.engine
        if engine.score_data is not None or engine.val_data is not None or self.data is None:
            return
        _, val, score, _ = self.data.load_search(self.seed)
        engine.score_data = score if score is not None else val
