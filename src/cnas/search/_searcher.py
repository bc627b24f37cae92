"""``Searcher``: the curriculum loop every strategy runs in.

The loop and nothing else: what stands beside it lives in its own module (the
configuration in ``_config`` and its assembly in ``_assembly``, the epoch in ``_epochs``,
the position in ``_position``, the checkpoint in ``_checkpoint``, a stage's end and its
budget in ``_budget``, the stage outputs in ``_outputs``, scoring and deriving finished
stages again in ``_rederive``, the hooks in ``_callbacks``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset

from .. import distributed as dist_utils
from .._config import default_of
from .._io import atomic_write_text
from .._run import RunFolder, check_data
from ..curriculum import CurriculumSchedule, Stage
from ..data import DataConfig
from ..supernet import SuperNet
from ._assembly import (
    assemble,
    bind_budget,
    check_strategy,
    describe,
    identity,
    resumable_settings,
)
from ._budget import end_stage
from ._callbacks import Callback, check_callbacks
from ._checkpoint import LoopState, checkpoint, restore
from ._config import (
    CurriculumConfig,
    OptimizerConfig,
    SearchConfig,
    SearchRuntime,
    StrategyConfig,
)
from ._engine import Engine
from ._epochs import epoch_record
from ._outputs import write_report, write_stage
from ._position import Position, stage_context, stage_plan
from ._rederive import StageTools
from ._registry import build_strategy
from ._results import SearchResult, StageResult
from ._strategy import Strategy

if TYPE_CHECKING:
    from ..costs import Budget

__all__ = ["Searcher"]

logger = logging.getLogger("cnas")

Data = Dataset[Any] | DataLoader[Any]

_SEED: int = default_of(SearchConfig, "seed")


class Searcher(StageTools):
    """Runs a curriculum search, stage by stage, with any strategy.

    Per stage: ``warmup_epochs`` supernet epochs on the strategy's warm-up architectures
    (typically uniform samples, so that newly admitted ops get trained), then ``epochs``
    rounds of the strategy's phases (for CNAS, a supernet epoch on the controller's
    samples and a controller epoch on the validation data), then a derive step: the
    strategy scores candidates on the validation data (never a test set) and the best is
    the stage's genotype. Before deriving, the stage's supernet and strategy state are
    saved to ``stages/stage-K/`` (see ``derive``).

    Everything is checkpointed to ``output_dir`` after every epoch; ``fit`` on a folder
    that holds a checkpoint resumes where it stopped. ``config.json`` holds the search's
    configuration (``config``); ``Searcher.from_config`` builds a search from one.

    Args:
        supernet: The weight-sharing supernet.
        schedule: The curriculum.
        output_dir: Where outputs and checkpoints go.
        strategy: A ``Strategy`` object, or the registered name of one to build with its
            defaults (``"cnas"``, the paper's; ``"darts"``, ``"gdas"``, ``"random"``,
            ``"evolution"``; see ``cnas.search.list_strategies()``).
        callbacks: Hooks (see ``Callback``); their state is checkpointed.
        optimizer: The supernet's SGD and batch (``OptimizerConfig``: the paper's batch of
            96, lr 0.01, momentum 0.9, weight decay 3e-4, unless given).
        seed: Seeds data order and architecture sampling (default: ``SearchConfig``'s).
        data: The data configuration ``fit`` loads when it is given no data (and that
            ``cnas derive`` rebuilds the validation split from); ``None``: data passed to
            ``fit`` only.
        budget: Limits on the derived cell's parameters, multiply-adds or predicted
            latency (``cnas.costs.Budget``), kept by every strategy: as a soft objective
            during the search and as a hard limit at derive (no stage whose space can
            meet it derives a cell over it; every scored candidate's costs are recorded
            for the accuracy/cost front in ``report.md``).
        steps_per_epoch: Stop each epoch after this many batches (all).
        derive_batches: Score candidates on at most this many validation batches (all).
        runtime: Device, loader workers, progress bars, drawings, TensorBoard
            (``SearchRuntime``; the device defaults to ``cuda:LOCAL_RANK`` when CUDA is
            available, as in training).
        resume: Resume from a checkpoint in ``output_dir``; with False, a checkpoint there
            is an error (nothing is overwritten).

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

    def __init__(
        self,
        supernet: SuperNet,
        schedule: CurriculumSchedule,
        output_dir: str | Path,
        *,
        strategy: str | Strategy = "cnas",
        callbacks: Sequence[Callback] = (),
        optimizer: OptimizerConfig | None = None,
        seed: int = _SEED,
        data: DataConfig | None = None,
        budget: Budget | None = None,
        steps_per_epoch: int | None = None,
        derive_batches: int | None = None,
        runtime: SearchRuntime | None = None,
        resume: bool = True,
    ) -> None:
        if not isinstance(supernet, SuperNet):
            raise TypeError(f"supernet must be a cnas.SuperNet, got {type(supernet).__name__}")
        if not isinstance(schedule, CurriculumSchedule):
            raise TypeError(
                f"schedule must be a cnas.CurriculumSchedule, got {type(schedule).__name__}"
            )
        schedule.validate(supernet.space)
        optimizer = optimizer or OptimizerConfig()
        self.runtime = runtime or SearchRuntime()
        # the loose values through their configuration's checks
        loop = CurriculumConfig(steps_per_epoch=steps_per_epoch)
        StrategyConfig(derive_batches=derive_batches)
        SearchConfig(seed=seed, data=data)
        self.strategy = check_strategy(build_strategy(strategy))
        check_callbacks(callbacks)
        self.output_dir = Path(output_dir)
        self.callbacks = list(callbacks)
        self.seed, self.data, self.resume = seed, data, resume
        self._optimizer_config = optimizer
        self._described: SearchConfig | None = None  # the configuration from_config got
        self.run_folder = RunFolder(self.output_dir, "search")
        self.engine = Engine(
            supernet,
            schedule.op_order or supernet.space.ops,
            batch_size=optimizer.batch_size,
            lr=optimizer.lr,
            momentum=optimizer.momentum,
            weight_decay=optimizer.weight_decay,
            device=self.runtime.resolve_device(),
            channels_last=self.runtime.channels_last,
            seed=seed,
            num_workers=self.runtime.num_workers,
            steps_per_epoch=loop.steps_per_epoch,
            derive_batches=derive_batches,
            progress=self.runtime.show_progress(),
            idle_weights=optimizer.idle_weights,
        )
        if budget is not None:
            bind_budget(self.engine, schedule, budget)
        self.strategy.engine = self.engine
        self.strategy.setup(self.engine)
        self.loop = LoopState(schedule, Position(), [], [])
        self._stop_requested = False
        self._entered: int | None = None  # the stage whose begin_stage has run

    # -- from a configuration -----------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: SearchConfig,
        output_dir: str | Path,
        *,
        callbacks: Sequence[Callback] = (),
        resume: bool = True,
    ) -> Searcher:
        """The search ``config`` describes: its space, curriculum, supernet, strategy and
        budget built, its data loaded by ``fit()`` when it is given none.

        The one place where a search is assembled from settings (``cnas search`` and
        studies use it). The supernet is checked to fit the device's memory before it is
        built, and built under ``torch.manual_seed(config.seed)``.

        Raises:
            ConfigError: settings that do not fit together (an unknown op, a strategy that
                refuses its settings, a budget no cell can meet), naming the field.
            ValueError: a supernet too large for the device.
            FileNotFoundError: a latency table that does not exist.
        """
        searcher = cls(
            output_dir=output_dir, callbacks=callbacks, resume=resume, **assemble(config)
        )
        searcher._described = config
        return searcher

    @classmethod
    def open(cls, folder: str | Path, **changes: Any) -> Searcher:
        """The search in ``folder``, rebuilt from its ``config.json`` (with ``changes``,
        as ``SearchConfig.replace`` takes them), to derive or score its finished stages;
        nothing in the folder changes until ``fit`` is called.

        Raises:
            FileNotFoundError: the folder holds no ``config.json``.
            ConfigError: it is not a search configuration this cnas reads.
        """
        config = SearchConfig.load(Path(folder) / "config.json").replace(**changes)
        return cls.from_config(config, folder)

    @property
    def config(self) -> SearchConfig:
        """The search's configuration: what ``from_config`` got, else what the parts given
        in code describe (a schedule as a ``custom`` curriculum)."""
        if self._described is not None:
            return self._described
        return describe(
            self.engine, self.schedule, self.strategy, self._optimizer_config, self.seed,
            self.data, self.runtime,
        )  # fmt: skip

    def _identity(self) -> dict[str, Any]:
        """What makes a search this search (a checkpoint of another is refused)."""
        return identity(self.engine, self.strategy, self.seed, self.data)

    def _settings(self) -> dict[str, Any]:
        """What a resumed search may change, with a warning."""
        return resumable_settings(self.config)

    # -- public state ---------------------------------------------------------------------

    @property
    def budget(self) -> Budget | None:
        """The search's cost budget, or ``None``."""
        return self.engine.budget

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
    def history(self) -> list[dict[str, Any]]:
        """One record per finished epoch, as in ``metrics.jsonl``."""
        return self.loop.history

    @property
    def stage_results(self) -> list[StageResult]:
        """The finished stages' results."""
        return self.loop.results

    @property
    def position(self) -> Position:
        """Where the search stands in its schedule."""
        return self.loop.position

    @property
    def schedule(self) -> CurriculumSchedule:
        """The curriculum; may be replaced at a stage boundary (completed stages must stay)."""
        return self.loop.schedule

    @schedule.setter
    def schedule(self, new: CurriculumSchedule) -> None:
        new.validate(self.supernet.space)
        position = self.loop.position
        started = position.step > 0 or self._entered == position.stage
        done = position.stage + (1 if started else 0)
        if tuple(new.stages[:done]) != tuple(self.loop.schedule.stages[:done]):
            raise ValueError(f"a new schedule must keep the {done} stage(s) already run")
        if tuple(new.op_order or self.supernet.space.ops) != self.engine.op_order:
            raise ValueError("a new schedule must keep the op order")
        self.loop.schedule = new

    @property
    def stage_index(self) -> int:
        """The stage running now (or next)."""
        return self.loop.position.stage

    def request_stop(self) -> None:
        """End the search after the current epoch (from a callback)."""
        self._stop_requested = True

    # -- fit --------------------------------------------------------------------------------

    def fit(
        self,
        train_data: Data | None = None,
        val_data: Data | None = None,
        score_data: Data | None = None,
    ) -> SearchResult:
        """Run (or resume) the search. Without data, it loads what its ``data``
        configuration describes (the validation split without augmentation scores the
        candidates).

        Args:
            train_data: Trains the supernet weights (a dataset or a data loader).
            val_data: What the strategy learns from, and (by default) what scores the
                candidates.
            score_data: What scores the candidates at each stage's end instead: the same
                validation images without augmentation.

        Returns:
            The final genotype, per-stage results and the epoch history.

        Raises:
            ValueError: no data given and none configured, or an empty split.
            DatasetNotFoundError: the configured data is missing.
            CheckpointError: ``output_dir`` holds a corrupt or foreign checkpoint (another
                search, another strategy), or a checkpoint while ``resume=False``; nothing
                is overwritten.
            ConcurrentRunError: another thread of this process runs a search or training.
        """
        if (train_data is None) != (val_data is None):
            raise ValueError("pass train_data and val_data together (or neither)")
        self.run_folder.check(resume=self.resume)
        if train_data is None:
            train_data, val_data, score_data = self._load_data()
        check_data(train_data, "training data")
        check_data(val_data, "validation data")
        try:
            self._prepare_output_dir()  # from here on, this process holds the folder's lock
            if dist_utils.is_distributed():  # every rank starts from rank 0's weights
                dist_utils.broadcast_modules([self.supernet, *self.strategy.modules()])
            self.engine.train_data, self.engine.val_data = train_data, val_data
            self.engine.score_data = score_data
            self.run_folder.open_tensorboard(self.runtime.tensorboard)
            for cb in self.callbacks:
                cb.on_fit_start(self)
            try:
                if not self.loop.position.finished:
                    self._run()
            finally:
                self.run_folder.close_tensorboard()
            result = self._result()
            if self.loop.position.finished and dist_utils.is_main_process():
                write_report(
                    self.output_dir, self.strategy.registered_name, self.loop.results, self.budget
                )
            for cb in self.callbacks:
                cb.on_fit_end(self, result)
            return result
        finally:
            self.run_folder.release()

    def _load_data(self) -> tuple[Data, Data, Data | None]:
        if self.data is None:
            raise ValueError(
                "fit() needs data: pass train_data and val_data, or build the Searcher with "
                "data=cnas.data.DataConfig(...) (Searcher.from_config does)"
            )
        train, val, score, _ = self.data.load_search(self.seed)
        return train, val, score

    def _result(self) -> SearchResult:
        results = self.loop.results
        genotype = results[-1].genotype if results else None
        return SearchResult(
            genotype,
            list(results),
            list(self.loop.history),
            self.output_dir,
            stopped_early=self._stop_requested,
        )

    def _enter(self, stage: Stage) -> None:
        """Begin (or resume) the stage the position is in."""
        position = self.loop.position
        if position.step == 0:
            logger.info(
                "stage %d/%d: %d op(s) %s, %d node(s)",
                position.stage + 1,
                len(self.loop.schedule.stages),
                stage.n_ops,
                list(self.engine.op_order[: stage.n_ops]),
                stage.n_nodes,
            )
        context = stage_context(self.loop.schedule, self.supernet.space, position)
        self.strategy.stage = context
        self.strategy.begin_stage(context)
        self._entered = position.stage
        if position.step == 0:
            for cb in self.callbacks:
                cb.on_stage_start(self, position.stage, stage)

    def _run(self) -> None:
        position = self.loop.position
        while not position.finished and not self._stop_requested:
            stage = self.loop.schedule.stages[position.stage]
            if self._entered != position.stage:
                self._enter(stage)
            name, epoch, phase = stage_plan(self.strategy, stage)[position.step]
            record = None
            if name == "derive":
                result = end_stage(
                    self.output_dir,
                    self.engine,
                    self.strategy,
                    stage,
                    position.stage,
                    dist_utils.is_main_process(),
                )
                self.loop.results.append(result)
                position.next_stage(len(self.loop.schedule.stages))
                if dist_utils.is_main_process():
                    write_stage(self.output_dir, result, self.runtime.draw)
                    write_report(
                        self.output_dir,
                        self.strategy.registered_name,
                        self.loop.results,
                        self.budget,
                    )
                for cb in self.callbacks:
                    cb.on_stage_end(self, result)
            else:
                self.strategy.begin_epoch(name, epoch)
                record = epoch_record(
                    self.engine,
                    self.strategy,
                    (name, epoch, phase),
                    stage,
                    self.loop,
                    self.run_folder.checkpoint,
                )
                self.loop.history.append(record)
                position.next_step()
                for cb in self.callbacks:
                    cb.on_epoch_end(self, record)
            self._save()
            if record is not None:  # only epochs the checkpoint holds reach the metrics
                self.run_folder.append_metrics(
                    record, step=record["global_epoch"], prefix=record["phase"]
                )

    # -- outputs and the checkpoint ---------------------------------------------------------

    def _prepare_output_dir(self) -> None:
        record = {"budget": None if self.budget is None else self.budget.to_dict()}
        config = self.config.to_dict()
        state = self.run_folder.prepare(config, resume=self.resume, record=record)
        if state is None:
            if dist_utils.is_main_process():
                atomic_write_text(self.output_dir / "curriculum.json", self.schedule.to_json())
            return
        self.loop = restore(
            state,
            self.run_folder.checkpoint,
            identity=self._identity(),
            settings=self._settings(),
            space=self.supernet.space,
            engine=self.engine,
            strategy=self.strategy,
            callbacks=self.callbacks,
        )
        self._entered = None
        position = self.loop.position
        logger.info(
            "resuming from %s: stage %d, step %d",
            self.run_folder.checkpoint,
            position.stage + 1,
            position.step,
        )
        self.run_folder.rewrite_metrics(self.loop.history)

    def _save(self) -> None:
        self.run_folder.save(
            checkpoint(
                self._identity(),
                self._settings(),
                self.loop,
                self.engine,
                self.strategy,
                self.callbacks,
            )
        )
