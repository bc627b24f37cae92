"""``Searcher``: the curriculum loop every strategy runs in, with callbacks, outputs,
checkpoints and resume.

At about 700 lines this module is longer than the others on purpose: the loop, its
checkpoint (what ``_state`` writes, ``_load`` must read back, in the same terms) and its
position in the schedule are one state machine, easier to check in one place. What
stands apart lives beside it: the run folder in ``cnas._run``, the hooks in
``_callbacks``, the 0.1 call in ``_legacy``, re-deriving in ``_rederive``, the report in
``_report``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset

from .. import distributed as dist_utils
from .._deprecation import warn_deprecated
from .._genotype import Genotype
from .._io import atomic_write_text
from .._metrics import batch_totals, summarize
from .._run import RunFolder, rng_state, set_rng_state
from .._validation import check_finite, check_int
from ..curriculum import CurriculumSchedule, Stage
from ..errors import BudgetError, CheckpointError, NonFiniteLossError
from ..supernet import SuperNet
from ._callbacks import Callback
from ._controller import Controller
from ._engine import Engine
from ._legacy import accept_legacy_call
from ._rederive import evaluate_stage, rederive
from ._registry import build_strategy
from ._report import search_report
from ._results import Candidate, Derivation, SearchResult, StageResult
from ._state import finished_stages, stage_folder, write_stage_state
from ._strategy import Phase, StageContext, Strategy

if TYPE_CHECKING:
    from ..costs import Budget
    from ..space import SearchSpace

__all__ = ["Searcher"]

logger = logging.getLogger("cnas")

Data = Dataset[Any] | DataLoader[Any]
P = ParamSpec("P")
R = TypeVar("R")


class Searcher:
    """Runs a curriculum search, stage by stage, with any strategy.

    Per stage: ``warmup_epochs`` supernet epochs on the strategy's warm-up architectures
    (typically uniform samples, so that newly admitted ops get trained), then ``epochs``
    rounds of the strategy's phases (for CNAS, a supernet epoch on the controller's
    samples and a controller epoch on the validation data), then a derive step: the
    strategy scores candidates on the validation data (never a test set) and the best is
    the stage's genotype. Before deriving, the stage's supernet and strategy state are
    saved to ``stages/stage-K/`` (see ``derive``).

    Everything is checkpointed to ``output_dir`` after every epoch; ``fit`` on a folder
    that holds a checkpoint resumes where it stopped.

    Args:
        supernet: The weight-sharing supernet.
        schedule: The curriculum.
        output_dir: Where outputs and checkpoints go.
        strategy: A ``Strategy`` object, or the registered name of one to build with its
            defaults (``"cnas"``, the paper's; ``"darts"``, ``"gdas"``, ``"random"``,
            ``"evolution"``; see ``cnas.search.list_strategies()``).
        callbacks: Hooks (see ``Callback``).
        batch_size: The global batch size when ``fit`` gets datasets (96 in the paper):
            under ``torchrun`` each of the ``world_size`` processes loads
            ``batch_size / world_size`` images per step.
        lr: Supernet SGD learning rate (0.01).
        momentum: Supernet SGD momentum (0.9, Nesterov).
        weight_decay: Supernet weight decay (3e-4).
        derive_batches: Score candidates on at most this many validation batches (all).
        steps_per_epoch: Stop each epoch after this many batches (all).
        device: Where the supernet runs (default: CUDA when available).
        channels_last: Run the supernet in channels-last memory format (faster on CPU/GPU).
        seed: Seeds data order and architecture sampling.
        num_workers: DataLoader workers when ``fit`` gets datasets.
        resume: Resume from a checkpoint in ``output_dir``; with False, a checkpoint there
            is an error (nothing is overwritten).
        progress: Show tqdm progress bars (default: when stderr is a terminal).
        draw: Draw each stage's cells (needs graphviz ``dot``; skipped without it).
        tensorboard: Write TensorBoard events to ``output_dir/tensorboard`` (default: when
            the ``tensorboard`` package is installed).
        data_config: How the data was made (dataset, split, seed), recorded in
            ``config.json`` so that ``cnas derive`` rebuilds the same validation split;
            a resumed run must have the same.
        budget: Limits on the derived cell's parameters, multiply-adds or predicted
            latency (``cnas.costs.Budget``), kept by every strategy: as a soft objective
            during the search and as a hard limit at derive (no stage whose space can
            meet it derives a cell over it; every scored candidate's costs are recorded
            for the accuracy/cost front in ``report.md``).

    Raises:
        ValueError: parts that do not fit together, or bad settings.
        BudgetError: (a ``ValueError``) a budget that no cell of the final stage's space
            can meet, naming the smallest reachable value.
        LatencyTableError: (a ``ValueError``) a latency table made for another network,
            op set or node count.
        UnknownStrategyError: (a ``KeyError``) an unknown strategy name.
        TypeError: parts of the wrong type, or a strategy object already used by another
            ``Searcher``.
    """

    @accept_legacy_call
    def __init__(
        self,
        supernet: SuperNet,
        schedule: CurriculumSchedule,
        output_dir: str | Path,
        *,
        strategy: str | Strategy = "cnas",
        callbacks: Sequence[Callback] = (),
        batch_size: int = 96,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        derive_batches: int | None = None,
        steps_per_epoch: int | None = None,
        device: str | torch.device | None = None,
        channels_last: bool = True,
        seed: int = 2020,
        num_workers: int = 0,
        resume: bool = True,
        progress: bool | None = None,
        draw: bool = True,
        tensorboard: bool | None = None,
        data_config: Mapping[str, Any] | None = None,
        budget: Budget | None = None,
    ) -> None:
        if not isinstance(supernet, SuperNet):
            raise TypeError(f"supernet must be a cnas.SuperNet, got {type(supernet).__name__}")
        if not isinstance(schedule, CurriculumSchedule):
            raise TypeError(
                f"schedule must be a cnas.CurriculumSchedule, got {type(schedule).__name__}"
            )
        schedule.validate(supernet.space)
        check_int("batch_size", batch_size)
        if check_finite("lr", lr) <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if check_finite(name, value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        check_int("num_workers", num_workers, 0)
        for name, opt in (("derive_batches", derive_batches), ("steps_per_epoch", steps_per_epoch)):
            if opt is not None:
                check_int(name, opt)
        self.strategy = build_strategy(strategy)
        for name, value in self.strategy.settings().items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"{type(self.strategy).__name__} setting {name} must be finite, got {value}"
                )
        if getattr(self.strategy, "engine", None) is not None:
            raise TypeError(
                f"this {type(self.strategy).__name__} object already belongs to another "
                "Searcher; make a new one for each search"
            )
        self._schedule = schedule
        self.output_dir = Path(output_dir)
        self.callbacks = list(callbacks)
        self.seed = seed
        self.resume = resume
        self.draw = draw
        self.tensorboard = tensorboard
        self.data_config = dict(data_config) if data_config is not None else None
        self.run_folder = RunFolder(self.output_dir, "search")
        self.engine = Engine(
            supernet,
            schedule.op_order or supernet.space.ops,
            batch_size=batch_size,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            device=(
                torch.device(device)
                if device is not None
                else torch.device("cuda" if torch.cuda.is_available() else "cpu")
            ),
            channels_last=channels_last,
            seed=seed,
            num_workers=num_workers,
            steps_per_epoch=steps_per_epoch,
            derive_batches=derive_batches,
            progress=sys.stderr.isatty() if progress is None else progress,
        )
        if budget is not None:
            self._bind_budget(budget)
        self.strategy.engine = self.engine
        self.strategy.setup(self.engine)
        self.history: list[dict[str, Any]] = []
        self.stage_results: list[StageResult] = []
        self._stage_index = 0
        self._step = 0
        self._finished = False
        self._stop_requested = False
        self._entered: int | None = None  # the stage whose begin_stage has run

    def _bind_budget(self, budget: Budget) -> None:
        from ..costs import Budget

        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a cnas.costs.Budget, got {type(budget).__name__}")
        space, supernet = self.supernet.space, self.supernet
        for name, value in (
            ("in_channels", supernet.in_channels),
            ("num_classes", supernet.num_classes),
        ):
            if getattr(budget.spec, name) != value:
                raise BudgetError(
                    f"the budget's network has {name}={getattr(budget.spec, name)} "
                    f"({budget.spec.describe()}); this supernet has {name}={value}: give the "
                    "budget the network the cell will be trained in (for example "
                    "NetworkSpec.for_dataset(...))"
                )
        model = budget.search_model(space, self._schedule)
        self.engine.budget, self.engine.cost_model = budget, model

    @property
    def budget(self) -> Budget | None:
        """The search's cost budget, or ``None``."""
        return self.engine.budget

    # -- public state ---------------------------------------------------------------------

    @property
    def supernet(self) -> SuperNet:
        """The supernet (``engine.supernet``)."""
        return self.engine.supernet

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The supernet's optimizer (``engine.optimizer``)."""
        return self.engine.optimizer

    @property
    def device(self) -> torch.device:
        """Where the supernet runs."""
        return self.engine.device

    @property
    def schedule(self) -> CurriculumSchedule:
        """The curriculum; may be replaced at a stage boundary (completed stages must stay)."""
        return self._schedule

    @schedule.setter
    def schedule(self, new: CurriculumSchedule) -> None:
        new.validate(self.supernet.space)
        started = self._step > 0 or self._entered == self._stage_index
        done = self._stage_index + (1 if started else 0)
        if tuple(new.stages[:done]) != tuple(self._schedule.stages[:done]):
            raise ValueError(f"a new schedule must keep the {done} stage(s) already run")
        if tuple(new.op_order or self.supernet.space.ops) != self.engine.op_order:
            raise ValueError("a new schedule must keep the op order")
        self._schedule = new

    @property
    def stage_index(self) -> int:
        """The stage running now (or next)."""
        return self._stage_index

    @property
    def controller(self) -> Controller | None:
        """Deprecated: ``searcher.strategy.controller`` (the ``Reinforce`` strategy's)."""
        warn_deprecated(
            "Searcher.controller", removed_in="0.2", instead="searcher.strategy.controller"
        )
        controller = getattr(self.strategy, "controller", None)
        return controller if isinstance(controller, Controller) else None

    @property
    def alphas(self) -> Any:
        """Deprecated: ``searcher.strategy.alphas`` (the ``Darts``/``Gdas`` strategies')."""
        warn_deprecated("Searcher.alphas", removed_in="0.2", instead="searcher.strategy.alphas")
        return getattr(self.strategy, "alphas", None)

    def request_stop(self) -> None:
        """End the search after the current epoch (from a callback)."""
        self._stop_requested = True

    # -- fit --------------------------------------------------------------------------------

    def fit(self, train_data: Data, val_data: Data, score_data: Data | None = None) -> SearchResult:
        """Run (or resume) the search.

        Args:
            train_data: Trains the supernet weights (a dataset or a data loader).
            val_data: What the strategy learns from, and (by default) what scores the
                candidates.
            score_data: What scores the candidates at each stage's end instead: the same
                validation images without augmentation (``cnas search`` passes the
                CIFAR-10 split without its random crops and flips).

        Returns:
            The final genotype, per-stage results and the epoch history.

        Raises:
            CheckpointError: ``output_dir`` holds a corrupt or foreign checkpoint (another
                search, another strategy), or a checkpoint while ``resume=False``; nothing
                is overwritten.
        """
        self._prepare_output_dir()  # from here on, this process holds the folder's lock
        try:
            if dist_utils.is_distributed():
                self._broadcast_parameters()
            self.engine.train_data, self.engine.val_data = train_data, val_data
            self.engine.score_data = score_data
            self.run_folder.open_tensorboard(self.tensorboard)
            for cb in self.callbacks:
                cb.on_fit_start(self)
            try:
                if not self._finished:
                    self._run()
            finally:
                self.run_folder.close_tensorboard()
            result = self._result()
            if self._finished and dist_utils.is_main_process():
                self._write_report()
            for cb in self.callbacks:
                cb.on_fit_end(self, result)
            return result
        finally:
            self.run_folder.release()

    def _result(self) -> SearchResult:
        genotype = self.stage_results[-1].genotype if self.stage_results else None
        return SearchResult(
            genotype,
            list(self.stage_results),
            list(self.history),
            self.output_dir,
            stopped_early=self._stop_requested,
        )

    def _plan(self, stage: Stage) -> list[tuple[str, int, Phase | None]]:
        phases = tuple(self.strategy.phases())
        names = [p.name for p in phases]
        if not phases or len(set(names)) != len(names):
            raise ValueError(
                f"{type(self.strategy).__name__}.phases() must name distinct phases, got {names}"
            )
        plan: list[tuple[str, int, Phase | None]] = [
            ("warmup", e, None) for e in range(stage.warmup_epochs)
        ]
        for e in range(stage.epochs):
            plan += [(p.name, e, p) for p in phases]
        return [*plan, ("derive", 0, None)]

    def _context(self, index: int, resumed: bool) -> StageContext:
        stages = self._schedule.stages
        full = self.supernet.space
        previous = self._schedule.stage_space(full, index - 1) if index > 0 else None
        return StageContext(
            index, stages[index], self._schedule.stage_space(full, index), previous, resumed
        )

    def _run(self) -> None:
        while self._stage_index < len(self._schedule.stages) and not self._stop_requested:
            stage = self._schedule.stages[self._stage_index]
            if self._entered != self._stage_index:
                if self._step == 0:
                    logger.info(
                        "stage %d/%d: %d op(s) %s, %d node(s)",
                        self._stage_index + 1,
                        len(self._schedule.stages),
                        stage.n_ops,
                        list(self.engine.op_order[: stage.n_ops]),
                        stage.n_nodes,
                    )
                context = self._context(self._stage_index, resumed=self._step > 0)
                self.strategy.stage = context
                self.strategy.begin_stage(context)
                self._entered = self._stage_index
                if self._step == 0:
                    for cb in self.callbacks:
                        cb.on_stage_start(self, self._stage_index, stage)
            phase_name, epoch, phase = self._plan(stage)[self._step]
            if phase_name == "derive":
                result = self._derive_stage(stage)
                self.stage_results.append(result)
                self._stage_index += 1
                self._step = 0
                if dist_utils.is_main_process():
                    self._write_stage(result)
                for cb in self.callbacks:
                    cb.on_stage_end(self, result)
            else:
                record = self._run_epoch(phase_name, epoch, phase, stage)
                self.history.append(record)
                self._step += 1
                for cb in self.callbacks:
                    cb.on_epoch_end(self, record)
            if self._stage_index >= len(self._schedule.stages):
                self._finished = True
            self._save()
            if phase_name != "derive":  # only epochs the checkpoint holds reach the metrics
                self.run_folder.append_metrics(
                    record, step=record["global_epoch"], prefix=record["phase"]
                )

    # -- epochs -----------------------------------------------------------------------------

    def _epoch_key(self) -> int:
        return self._stage_index * 100_000 + self._step

    def _run_epoch(
        self, name: str, epoch: int, phase: Phase | None, stage: Stage
    ) -> dict[str, Any]:
        start = time.perf_counter()
        desc = f"stage {self._stage_index + 1} {name} {epoch + 1}"
        self.strategy.begin_epoch(name, epoch)
        try:
            stats = self._epoch_stats(phase, desc)
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(
                f"{exc} in stage {self._stage_index + 1}, {name} epoch {epoch + 1}; the search "
                f"stopped and its last checkpoint ({self.run_folder.checkpoint}) is kept: "
                "lower the learning rate (--lr), or check the data"
            ) from None
        extra: Mapping[str, Any] = self.strategy.end_epoch()  # (a plugin may give tensors)
        for key, value in extra.items():  # numbers, as the record holds
            stats[key] = float(value) if isinstance(value, torch.Tensor) else value
        elapsed = time.perf_counter() - start
        record: dict[str, Any] = {
            "stage": self._stage_index,
            "n_ops": stage.n_ops,
            "n_nodes": stage.n_nodes,
            "phase": name,
            "epoch": epoch,
            "global_epoch": len(self.history),
            **stats,
            "time_s": elapsed,
            "images_per_s": stats["images"] / elapsed if elapsed > 0 else 0.0,
        }
        logger.info(
            "stage %d %s epoch %d: %s",
            self._stage_index + 1,
            name,
            epoch + 1,
            ", ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float)),
        )
        return record

    def _epoch_stats(self, phase: Phase | None, desc: str) -> dict[str, Any]:
        """Run one epoch: weight steps on training batches (warm-up and ``"train"``
        phases) or ``learn`` on validation batches (``"val"`` phases)."""
        engine, strategy = self.engine, self.strategy
        train, val = engine.train_data, engine.val_data
        assert train is not None
        assert val is not None
        key = self._epoch_key()
        learned: dict[str, list[float]] = {}

        def note(out: Mapping[str, float] | None) -> None:
            for k, v in (out or {}).items():
                learned.setdefault(k, []).append(float(v))

        engine.supernet.train()
        warmup = phase is None
        stats: dict[str, Any]
        if phase is None or phase.data == "train":
            totals = torch.zeros(4, dtype=torch.float64)  # loss*n, top1, top5, n
            paired = engine.cycle(val, key + 50_000) if phase and phase.learns else None
            for x, y in engine.batches(train, key, desc, engine.steps_per_epoch):
                if paired is not None:
                    note(strategy.learn(*next(paired)))
                loss, logits = engine.weight_step(x, y, strategy.architecture(warmup=warmup))
                totals += batch_totals(loss, logits, y)
            stats = dict(summarize(totals))
        else:
            images = 0
            for x, y in engine.batches(val, key, desc, engine.steps_per_epoch):
                note(strategy.learn(x, y))
                images += y.shape[0]
            stats = {"images": images * dist_utils.world_size()}
        stats.update({k: sum(v) / len(v) for k, v in learned.items()})
        return stats

    # -- derive ------------------------------------------------------------------------------

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
            data: The validation data (default: what ``fit`` scored with).
            max_batches: Use at most this many batches (in a fixed order).

        Raises:
            ValueError: no such finished stage, or no data.
            CheckpointError: the stage's saved state is corrupt or does not fit.
        """
        return evaluate_stage(self, stage, genotypes, data, max_batches)

    def _stage_folder(self, index: int) -> Path:
        return stage_folder(self.output_dir, index)

    def _derive_stage(self, stage: Stage) -> StageResult:
        index = self._stage_index
        context = self.strategy.stage
        if dist_utils.is_main_process():
            previous = context.previous
            write_stage_state(
                self._stage_folder(index),
                supernet=self.supernet.state_dict(),
                strategy=self.strategy.registered_name,
                strategy_state=self.strategy.state_dict(),
                generator=self.engine.generator.get_state(),
                context={
                    "index": index,
                    "settings": self.strategy.settings(),
                    "searcher": self._settings(),
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
        self.engine.record_scores()
        try:
            derivation = self.strategy.derive()
        finally:
            scored = self.engine.recorded_scores()
        derivation, annotated, within = self._apply_budget(derivation, scored, context.space, index)
        result = StageResult.from_derivation(
            index,
            stage.n_ops,
            stage.n_nodes,
            context.space.ops,
            self.strategy.registered_name,
            derivation,
            annotated,
            within,
        )
        logger.info("stage %d derived (%s): %s", index + 1, result.summary(), result.genotype)
        return result

    def _with_costs(
        self, genotype: Genotype, accuracy: float, stats: Mapping[str, float] | None = None
    ) -> Candidate:
        budget = self.engine.budget
        assert budget is not None
        costs = self.engine.costs(genotype)
        record = {**(stats or {}), **costs.to_dict(), "within": float(budget.within(costs))}
        return Candidate(genotype, accuracy, record)

    def _apply_budget(
        self,
        derivation: Derivation,
        scored: list[tuple[Genotype, float]],
        space: SearchSpace,
        index: int,
    ) -> tuple[Derivation, tuple[Candidate, ...], bool | None]:
        """A stage's derivation held to the budget (as is, without one): its candidates
        within it, each with its costs, and every scored architecture with its costs
        (``StageResult.scored``). Used by the search and by ``derive``."""
        if self.engine.budget is None:
            return derivation, (), None
        derivation, scored, within = self._hold_to_budget(derivation, scored, space, index)
        annotated = tuple(self._with_costs(g, acc) for g, acc in scored)
        derivation = Derivation(
            [self._with_costs(c.genotype, c.accuracy, c.stats) for c in derivation.candidates],
            derivation.accuracies,
        )
        return derivation, annotated, within

    def _hold_to_budget(
        self,
        derivation: Derivation,
        scored: list[tuple[Genotype, float]],
        space: SearchSpace,
        index: int,
    ) -> tuple[Derivation, list[tuple[Genotype, float]], bool]:
        """Keep the candidates within the budget; when the strategy derived none, score
        uniform samples within it instead (the cheapest cell, when sampling finds none)."""
        engine, budget = self.engine, self.engine.budget
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
            self.strategy.registered_name,
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
                scored with).

        Returns:
            The new derivation of the stage.

        Raises:
            ValueError: no such finished stage, no data, or a strategy that needs a
                trained state the stage does not hold.
            UnknownStrategyError: (a ``KeyError``) an unknown strategy name.
            CheckpointError: the stage's saved state is corrupt or does not fit.
            TypeError: this search's strategy cannot be copied (pass a new one).
        """
        return rederive(self, stage, strategy, data)

    # -- outputs -------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        """What makes a search this search: a checkpoint with another is refused."""
        space = self.supernet.space
        return {
            "space": {"ops": list(space.ops), "n_nodes": space.n_nodes},
            "supernet": {
                "C": self.supernet.C,
                "layers": self.supernet.layers,
                "num_classes": self.supernet.num_classes,
                "in_channels": self.supernet.in_channels,
            },
            "strategy": self.strategy.registered_name,
            "seed": self.seed,
            "data": self.data_config,
            **({} if self.budget is None else {"budget": self.budget.to_dict()}),
        }

    def _settings(self) -> dict[str, Any]:
        """The shared settings, for the record (``cnas derive`` scores with the same)."""
        defaults = self.optimizer.defaults
        engine = self.engine
        return {
            "batch_size": engine.batch_size,
            "world_size": dist_utils.world_size(),
            "lr": defaults["lr"],
            "momentum": defaults["momentum"],
            "weight_decay": defaults["weight_decay"],
            "derive_batches": engine.derive_batches,
            "steps_per_epoch": engine.steps_per_epoch,
            "channels_last": self.supernet.channels_last,
        }

    def _prepare_output_dir(self) -> None:
        config = {
            **self._config(),
            "strategy_settings": self.strategy.settings(),
            "searcher": self._settings(),
        }
        state = self.run_folder.prepare(config, resume=self.resume)
        if state is None:
            if dist_utils.is_main_process():
                atomic_write_text(self.output_dir / "curriculum.json", self._schedule.to_json())
            return
        self._load(state)
        logger.info(
            "resuming from %s: stage %d, step %d",
            self.run_folder.checkpoint,
            self._stage_index + 1,
            self._step,
        )
        self.run_folder.rewrite_metrics(self.history)

    def _write_stage(self, result: StageResult) -> None:
        folder = self._stage_folder(result.index)
        result.genotype.save(folder / "genotype.json", overwrite=True)
        atomic_write_text(folder / "result.json", json.dumps(result.to_dict(), indent=2))
        if self.draw:
            from ..viz import draw

            draw(
                result.genotype,
                folder / "cells.svg",
                title=f"stage {result.index + 1}: {result.n_ops} op(s), {result.n_nodes} "
                f"node(s), val top-1 {100 * result.val_accuracy:.2f}%",
            )
        result.genotype.save(self.output_dir / "genotype.json", overwrite=True)
        self._write_report()

    def _write_report(self) -> None:
        if self.stage_results:
            text = search_report(
                self.output_dir, self.strategy.registered_name, self.stage_results, self.budget
            )
            atomic_write_text(self.output_dir / "report.md", text)

    # -- checkpoint ---------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "config": self._config(),
            "schedule": self._schedule.to_dict(),
            "op_order": list(self.engine.op_order),
            "position": {
                "stage": self._stage_index,
                "step": self._step,
                "finished": self._finished,
            },
            "supernet": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": {
                "name": self.strategy.registered_name,
                "settings": self.strategy.settings(),
                "state": self.strategy.state_dict(),
            },
            "history": self.history,
            "stages": [r.to_dict() for r in self.stage_results],
            "rng": {"generator": self.engine.generator.get_state(), **rng_state()},
        }
        return state

    def _save(self) -> None:
        self.run_folder.save(self._state())

    def _load(self, state: dict[str, Any]) -> None:
        path = self.run_folder.checkpoint
        name = self.strategy.registered_name
        saved = state.get("strategy")
        saved_name = saved.get("name") if isinstance(saved, dict) else None
        if saved_name != name:
            raise CheckpointError(
                f"{path} is a checkpoint of strategy {saved_name!r}, and this search runs "
                f"{name!r}; it was left untouched: resume with strategy {saved_name!r} "
                "or use another output directory"
            )
        if state.get("config") != self._config():
            raise CheckpointError(
                f"{path} belongs to a different search (saved {state.get('config')}, now "
                f"{self._config()}); it was left untouched: use another output directory"
            )
        assert isinstance(saved, dict)
        if saved.get("settings") != self.strategy.settings():
            logger.warning(
                "resuming %s with other %s settings than it started with: %s, now %s",
                self.output_dir,
                name,
                saved.get("settings"),
                self.strategy.settings(),
            )
        try:
            schedule = CurriculumSchedule.from_dict(state["schedule"])
            schedule.validate(self.supernet.space)
            if tuple(state["op_order"]) != self.engine.op_order:
                raise ValueError(
                    f"it searched with op order {state['op_order']}, this search has "
                    f"{list(self.engine.op_order)}"
                )
            position = state["position"]
            history = list(state["history"])
            results = [StageResult.from_dict(d) for d in state["stages"]]
            self._check_position(schedule, position, results)
            # (all checked before anything is loaded: a refusal leaves this search as it was,
            # but for a strategy state that its own load_state_dict refuses halfway)
            self.supernet.load_state_dict(state["supernet"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.strategy.load_state_dict(saved["state"])
            self.engine.generator.set_state(state["rng"]["generator"])
            set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path} does not fit this search: {exc}") from None
        self.history, self.stage_results = history, results
        self._schedule = schedule
        self._stage_index = int(position["stage"])
        self._step = int(position["step"])
        self._finished = bool(position["finished"])
        self._entered = None

    def _check_position(
        self,
        schedule: CurriculumSchedule,
        position: Mapping[str, Any],
        results: Sequence[StageResult],
    ) -> None:
        """Raise ``ValueError`` unless a checkpoint's position is one this search can be at:
        a stage of its schedule (or past the last one, when finished), a step of that
        stage's plan, and one stage result per finished stage."""
        stage, step, finished = position["stage"], position["step"], position["finished"]
        n_stages = len(schedule.stages)
        if not 0 <= stage <= n_stages or finished != (stage == n_stages):
            state = "a finished" if finished else "an unfinished"
            raise ValueError(f"{state} search at stage {stage + 1} of {n_stages}")
        if stage < n_stages and not 0 <= step < len(self._plan(schedule.stages[stage])):
            raise ValueError(f"step {step} is past the end of stage {stage + 1}")
        if len(results) != stage:
            raise ValueError(f"{len(results)} stage result(s) for {stage} finished stage(s)")
        if [r.index for r in results] != list(range(stage)):
            raise ValueError("its stage results are out of order")

    def _broadcast_parameters(self) -> None:
        import torch.distributed as dist

        for module in (self.supernet, *self.strategy.modules()):
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)
