"""``Searcher``: the curriculum search loop, with callbacks, outputs, checkpoint and resume."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from . import distributed as dist_utils
from ._arch import ArchParameters, edge_entropy_bound, tau_at
from ._checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ._genotype import Genotype
from ._io import atomic_write_text
from ._loop import device_batches
from ._metrics import accuracy, batch_totals, summarize
from ._validation import check_int
from .controller import Controller, ControllerSample
from .curriculum import CurriculumSchedule, Stage
from .supernet import MixedWeights, SuperNet

__all__ = [
    "STRATEGIES",
    "ArchParameters",
    "Callback",
    "CheckpointError",
    "SearchResult",
    "Searcher",
    "StageResult",
]

logger = logging.getLogger("cnas")

CHECKPOINT_NAME = "checkpoint.pt"

STRATEGIES = ("cnas", "darts", "gdas")
"""The search strategies a ``Searcher`` runs: the CNAS controller, or gradient-based
search of architecture parameters, DARTS (first order) or GDAS."""


@dataclass(frozen=True)
class StageResult:
    """What one curriculum stage produced.

    Attributes:
        index: Stage number, from 0.
        n_ops: Ops the stage allowed.
        n_nodes: Nodes the stage allowed.
        ops: The names of the allowed ops.
        genotype: The architecture derived at the end of the stage.
        val_accuracy: Its top-1 accuracy (0..1) on the validation data, with supernet weights.
    """

    index: int
    n_ops: int
    n_nodes: int
    ops: tuple[str, ...]
    genotype: Genotype
    val_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "n_ops": self.n_ops,
            "n_nodes": self.n_nodes,
            "ops": list(self.ops),
            "genotype": self.genotype.to_dict(),
            "val_accuracy": self.val_accuracy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageResult:
        """Read ``to_dict`` output back."""
        return cls(
            int(data["index"]),
            int(data["n_ops"]),
            int(data["n_nodes"]),
            tuple(data["ops"]),
            Genotype.from_dict(data["genotype"]),
            float(data["val_accuracy"]),
        )


@dataclass
class SearchResult:
    """The outcome of ``Searcher.fit``.

    Attributes:
        genotype: The final architecture (derived at the end of the last completed stage),
            or ``None`` when the search stopped before any stage ended.
        stages: One record per completed stage.
        history: One dict per epoch, as written to ``metrics.jsonl``.
        output_dir: Where the outputs are.
        stopped_early: Whether a callback stopped the search before the schedule ended.
    """

    genotype: Genotype | None
    stages: list[StageResult]
    history: list[dict[str, Any]]
    output_dir: Path
    stopped_early: bool = False


class Callback:
    """Hooks into a search; subclass and override what you need.

    Callbacks may call ``searcher.request_stop()`` to end the search after the current
    epoch, or assign ``searcher.schedule`` at a stage boundary (``on_stage_end``) to change
    the stages still to come.
    """

    def on_fit_start(self, searcher: Searcher) -> None:
        """Called once when ``fit`` starts (also when it resumes)."""

    def on_stage_start(self, searcher: Searcher, index: int, stage: Stage) -> None:
        """Called when stage ``index`` begins."""

    def on_epoch_end(self, searcher: Searcher, record: dict[str, Any]) -> None:
        """Called after each warm-up, supernet, controller or search epoch, with its metrics."""

    def on_stage_end(self, searcher: Searcher, result: StageResult) -> None:
        """Called after a stage derived its architecture."""

    def on_fit_end(self, searcher: Searcher, result: SearchResult) -> None:
        """Called once when ``fit`` returns."""


class Searcher:
    """Runs a curriculum search, stage by stage, with the CNAS controller or by gradient.

    ``strategy="cnas"`` (the paper's): per stage, ``warmup_epochs`` supernet epochs on
    uniformly sampled architectures, then ``epochs`` rounds of one supernet epoch
    (architectures sampled by the controller) and one controller epoch (REINFORCE on the
    validation data, reward = top-1 accuracy of the sampled architecture on a batch minus
    a moving-average baseline), then a derive step: ``derive_rounds * derive_samples``
    architectures sampled and scored on the validation data (never a test set); the best
    is the stage's genotype.

    ``strategy="darts"`` or ``"gdas"``: gradient-based search of architecture parameters
    (``ArchParameters``, held in ``searcher.alphas``) over the supernet's mixed mode, no
    controller. Per stage, ``warmup_epochs`` supernet epochs with the architecture frozen
    (DARTS: equal weights on every allowed op; GDAS: one uniformly drawn op per edge),
    then ``epochs`` search epochs, each batch one architecture step on a validation batch
    (Adam on the alphas) followed by one weight step on a training batch, then the DARTS
    derivation (per node the two strongest incoming edges, ``none`` excluded). DARTS is
    first order and weights the ops by the softmax of the alphas; GDAS runs one op per
    edge, drawn by hard Gumbel-softmax with straight-through gradients, with the
    temperature annealed linearly from ``tau_max`` to ``tau_min`` over each stage's
    search epochs. Every stage allows the ops and nodes its curriculum stage allows; the
    ops a stage admits start with neutral logits (``ArchParameters.admit_ops``) and the
    alphas' optimizer starts afresh.

    Everything is checkpointed to ``output_dir`` after every epoch; ``fit`` on a folder that
    holds a checkpoint resumes where it stopped.

    Args:
        supernet: The weight-sharing supernet.
        controller: The controller (kept on the CPU; it is small); ``None`` for the
            gradient-based strategies, which do not use one.
        schedule: The curriculum.
        output_dir: Where outputs and checkpoints go.
        strategy: ``"cnas"``, ``"darts"`` or ``"gdas"`` (see above).
        callbacks: Hooks (see ``Callback``).
        batch_size: Batch size when ``fit`` gets datasets (96 in the paper).
        lr: Supernet SGD learning rate (0.01).
        momentum: Supernet SGD momentum (0.9, Nesterov).
        weight_decay: Supernet weight decay (3e-4).
        controller_lr: Controller Adam learning rate (3e-4).
        controller_weight_decay: Controller weight decay (5e-4).
        grad_clip: Controller gradient-norm clip (5).
        entropy_coeff: Entropy bonus weight in the controller loss (0.005).
        baseline_decay: Moving-average factor of the reward baseline (0.99).
        alpha_lr: Adam learning rate of the architecture parameters (DARTS: 3e-4).
        alpha_betas: Adam betas of the architecture parameters (DARTS: (0.5, 0.999)).
        alpha_weight_decay: L2 penalty on the architecture parameters in use (DARTS: 1e-3).
        tau_max: GDAS's temperature at the first search epoch of a stage (10).
        tau_min: GDAS's temperature at the last search epoch of a stage (0.1).
        derive_rounds: Derive rounds at the end of a stage (3; CNAS only).
        derive_samples: Candidates per round (10; CNAS only).
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

    Raises:
        ValueError: an unknown strategy, a controller missing for ``"cnas"`` or given to a
            gradient-based strategy, parts that do not fit together, or bad settings.
    """

    def __init__(
        self,
        supernet: SuperNet,
        controller: Controller | None,
        schedule: CurriculumSchedule,
        output_dir: str | Path,
        *,
        strategy: str = "cnas",
        callbacks: Sequence[Callback] = (),
        batch_size: int = 96,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        controller_lr: float = 3e-4,
        controller_weight_decay: float = 5e-4,
        grad_clip: float | None = 5.0,
        entropy_coeff: float = 0.005,
        baseline_decay: float = 0.99,
        alpha_lr: float = 3e-4,
        alpha_betas: tuple[float, float] = (0.5, 0.999),
        alpha_weight_decay: float = 1e-3,
        tau_max: float = 10.0,
        tau_min: float = 0.1,
        derive_rounds: int = 3,
        derive_samples: int = 10,
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
    ) -> None:
        if not isinstance(supernet, SuperNet):
            raise TypeError(f"supernet must be a cnas.SuperNet, got {type(supernet).__name__}")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {list(STRATEGIES)}")
        if strategy == "cnas" and controller is None:
            raise ValueError(
                "strategy 'cnas' needs a cnas.Controller; pass one, or choose a "
                "gradient-based strategy ('darts', 'gdas') that needs none"
            )
        if strategy != "cnas" and controller is not None:
            raise ValueError(
                f"strategy {strategy!r} trains architecture parameters, not a controller; "
                "pass controller=None"
            )
        if controller is not None and not isinstance(controller, Controller):
            raise TypeError(
                f"controller must be a cnas.Controller, got {type(controller).__name__}"
            )
        if not isinstance(schedule, CurriculumSchedule):
            raise TypeError(
                f"schedule must be a cnas.CurriculumSchedule, got {type(schedule).__name__}"
            )
        if controller is not None and supernet.space != controller.space:
            raise ValueError(
                f"the supernet's space {supernet.space} differs from the "
                f"controller's {controller.space}"
            )
        schedule.validate(supernet.space)
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min} and {tau_max}")
        for name, value in (
            ("batch_size", batch_size),
            ("derive_rounds", derive_rounds),
            ("derive_samples", derive_samples),
        ):
            check_int(name, value)
        for name, opt in (("derive_batches", derive_batches), ("steps_per_epoch", steps_per_epoch)):
            if opt is not None:
                check_int(name, opt)
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        self.supernet = supernet
        self.strategy = strategy
        self.controller = controller.cpu() if controller is not None else None
        self._schedule = schedule
        self._op_order: tuple[str, ...] = tuple(schedule.op_order or supernet.space.ops)
        self.output_dir = Path(output_dir)
        self.callbacks = list(callbacks)
        self.batch_size = batch_size
        self.entropy_coeff = entropy_coeff
        self.baseline_decay = baseline_decay
        self.grad_clip = grad_clip
        self.alpha_lr = alpha_lr
        self.alpha_betas = alpha_betas
        self.alpha_weight_decay = alpha_weight_decay
        self.tau_max = tau_max
        self.tau_min = tau_min
        self.derive_rounds = derive_rounds
        self.derive_samples = derive_samples
        self.derive_batches = derive_batches
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.num_workers = num_workers
        self.resume = resume
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.draw = draw
        self.tensorboard = tensorboard
        self._writer: Any = None
        self.device = (
            torch.device(device)
            if device is not None
            else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.supernet.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            nesterov=momentum > 0,
        )
        self.controller_optimizer: torch.optim.Optimizer | None = None
        if self.controller is not None:
            self.controller.set_op_order(self._op_order)
            self.controller_optimizer = torch.optim.Adam(
                self.controller.parameters(),
                lr=controller_lr,
                weight_decay=controller_weight_decay,
            )
        self.alphas: ArchParameters | None = None
        self.alpha_optimizer: torch.optim.Optimizer | None = None
        if strategy != "cnas":
            # DARTS initializes the alphas as 1e-3 * N(0, 1); seeded here by the search seed
            init = torch.Generator().manual_seed(seed)
            self.alphas = ArchParameters(supernet.space, self._op_order, generator=init)
            self.alphas.to(self.device)
            self.alpha_optimizer = self._new_alpha_optimizer()
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict[str, Any]] = []
        self.stage_results: list[StageResult] = []
        self.baseline: float | None = None
        self._stage_index = 0
        self._step = 0
        self._finished = False
        self._stop_requested = False

    # -- public state ---------------------------------------------------------------------

    @property
    def schedule(self) -> CurriculumSchedule:
        """The curriculum; may be replaced at a stage boundary (completed stages must stay)."""
        return self._schedule

    @schedule.setter
    def schedule(self, new: CurriculumSchedule) -> None:
        new.validate(self.supernet.space)
        done = self._stage_index + (1 if self._step else 0)
        if tuple(new.stages[:done]) != tuple(self._schedule.stages[:done]):
            raise ValueError(f"a new schedule must keep the {done} stage(s) already run")
        if tuple(new.op_order or self.supernet.space.ops) != self._op_order:
            raise ValueError("a new schedule must keep the op order")
        self._schedule = new

    @property
    def stage_index(self) -> int:
        """The stage running now (or next)."""
        return self._stage_index

    def request_stop(self) -> None:
        """End the search after the current epoch (from a callback)."""
        self._stop_requested = True

    # -- fit --------------------------------------------------------------------------------

    def fit(
        self, train_data: Dataset[Any] | DataLoader[Any], val_data: Dataset[Any] | DataLoader[Any]
    ) -> SearchResult:
        """Run (or resume) the search.

        Args:
            train_data: Trains the supernet weights (a dataset or a data loader).
            val_data: Trains the controller and scores derived architectures.

        Returns:
            The final genotype, per-stage results and the epoch history.

        Raises:
            CheckpointError: ``output_dir`` holds a corrupt or foreign checkpoint, or a
                checkpoint while ``resume=False``; nothing is overwritten.
        """
        self._prepare_output_dir()
        if dist_utils.is_distributed():
            self._broadcast_parameters()
        self._train_data, self._val_data = train_data, val_data
        self._open_tensorboard()
        for cb in self.callbacks:
            cb.on_fit_start(self)
        try:
            if not self._finished:
                self._run()
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        result = self._result()
        if self._finished and dist_utils.is_main_process():
            self._write_summary()
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _result(self) -> SearchResult:
        genotype = self.stage_results[-1].genotype if self.stage_results else None
        return SearchResult(
            genotype,
            list(self.stage_results),
            list(self.history),
            self.output_dir,
            stopped_early=self._stop_requested,
        )

    def _plan(self, stage: Stage) -> list[tuple[str, int]]:
        plan = [("warmup", i) for i in range(stage.warmup_epochs)]
        for e in range(stage.epochs):
            if self.strategy == "cnas":
                plan += [("supernet", e), ("controller", e)]
            else:
                plan.append(("search", e))
        return [*plan, ("derive", 0)]

    def _run(self) -> None:
        while self._stage_index < len(self._schedule.stages) and not self._stop_requested:
            stage = self._schedule.stages[self._stage_index]
            if self.controller is not None:
                self.controller.restrict(stage.n_ops, stage.n_nodes)
            if self._step == 0:
                logger.info(
                    "stage %d/%d: %d op(s) %s, %d node(s)",
                    self._stage_index + 1,
                    len(self._schedule.stages),
                    stage.n_ops,
                    list(self._op_order[: stage.n_ops]),
                    stage.n_nodes,
                )
                if self.alphas is not None:
                    self._begin_gradient_stage(stage)
                for cb in self.callbacks:
                    cb.on_stage_start(self, self._stage_index, stage)
            plan = self._plan(stage)
            phase, epoch = plan[self._step]
            if phase == "derive":
                result = self._derive(stage)
                self.stage_results.append(result)
                self._stage_index += 1
                self._step = 0
                if dist_utils.is_main_process():
                    self._write_stage(result)
                for cb in self.callbacks:
                    cb.on_stage_end(self, result)
            else:
                record = self._run_epoch(phase, epoch, stage)
                self.history.append(record)
                self._step += 1
                if dist_utils.is_main_process():
                    self._append_metrics(record)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, record)
            if self._stage_index >= len(self._schedule.stages):
                self._finished = True
            self._save()

    # -- epochs -----------------------------------------------------------------------------

    def _loader(
        self, data: Dataset[Any] | DataLoader[Any], key: int, shuffle: bool = True
    ) -> Iterable[Any]:
        if isinstance(data, DataLoader):
            return data
        if dist_utils.is_distributed():
            sampler: Any = DistributedSampler(data, shuffle=shuffle, seed=self.seed)
            sampler.set_epoch(key)
        elif shuffle:
            order = torch.Generator().manual_seed(self.seed * 1_000_003 + key)
            sampler = RandomSampler(data, generator=order)  # type: ignore[arg-type]
        else:
            sampler = None
        return DataLoader(
            data, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers
        )

    def _batches(
        self,
        data: Dataset[Any] | DataLoader[Any],
        key: int,
        desc: str,
        limit: int | None,
        show: bool = True,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return device_batches(
            self._loader(data, key),
            self.device,
            self.memory_format,
            limit=limit,
            desc=desc,
            progress=show and self.progress,
        )

    def _epoch_key(self) -> int:
        return self._stage_index * 100_000 + self._step

    def _run_epoch(self, phase: str, epoch: int, stage: Stage) -> dict[str, Any]:
        start = time.perf_counter()
        desc = f"stage {self._stage_index + 1} {phase} {epoch + 1}"
        if self.strategy != "cnas":
            stats = self._gradient_epoch(desc, stage, epoch, warmup=phase == "warmup")
        elif phase == "controller":
            stats = self._controller_epoch(desc)
        else:
            stats = self._supernet_epoch(desc, uniform=phase == "warmup")
        elapsed = time.perf_counter() - start
        record: dict[str, Any] = {
            "stage": self._stage_index,
            "n_ops": stage.n_ops,
            "n_nodes": stage.n_nodes,
            "phase": phase,
            "epoch": epoch,
            "global_epoch": len(self.history),
            **stats,
            "time_s": elapsed,
            "images_per_s": stats["images"] / elapsed if elapsed > 0 else 0.0,
        }
        logger.info(
            "stage %d %s epoch %d: %s",
            self._stage_index + 1,
            phase,
            epoch + 1,
            ", ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float)),
        )
        return record

    def _architectures(self, uniform: bool) -> Iterator[ControllerSample]:
        """Samples for a supernet epoch, drawn in batches (the controller is fixed here)."""
        assert self.controller is not None
        while True:
            with torch.no_grad():
                batch = self.controller.sample_many(64, uniform=uniform, generator=self.generator)
            yield from batch  # outside no_grad: a suspended generator would leak it

    def _weight_step(
        self, x: torch.Tensor, y: torch.Tensor, arch: Genotype | MixedWeights
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the supernet weights on ``(x, y)`` through ``arch``.

        Gradients are averaged over processes in a distributed search. Returns the loss
        and the logits.
        """
        logits = self.supernet(x, arch)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if dist_utils.is_distributed():
            dist_utils.average_gradients(list(self.supernet.parameters()))
        self.optimizer.step()
        return loss, logits

    def _supernet_epoch(self, desc: str, uniform: bool) -> dict[str, Any]:
        self.supernet.train()
        totals = torch.zeros(4, dtype=torch.float64)  # loss*n, top1, top5, n
        entropy = 0.0
        steps = 0
        archs = self._architectures(uniform)
        for x, y in self._batches(self._train_data, self._epoch_key(), desc, self.steps_per_epoch):
            sample = next(archs)
            loss, logits = self._weight_step(x, y, sample.genotype)
            totals += batch_totals(loss, logits, y)
            entropy += sample.entropy.item()
            steps += 1
        return {**summarize(totals), "entropy": entropy / max(steps, 1)}

    def _controller_epoch(self, desc: str) -> dict[str, Any]:
        assert self.controller is not None
        assert self.controller_optimizer is not None
        self.supernet.train()
        self.controller.train()
        rewards: list[float] = []
        losses: list[float] = []
        entropies: list[float] = []
        accs: list[float] = []
        images = 0
        for x, y in self._batches(self._val_data, self._epoch_key(), desc, self.steps_per_epoch):
            sample = self.controller.sample(generator=self.generator)
            with torch.no_grad():
                logits = self.supernet(x, sample.genotype)
                acc = (accuracy(logits, y, 1).double() / y.shape[0]).cpu()
            acc = dist_utils.all_reduce_mean(acc)
            reward = self._update_baseline(float(acc))
            loss = self._policy_loss(sample, reward)
            self.controller_optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.controller.parameters(), self.grad_clip)
            self.controller_optimizer.step()
            rewards.append(reward)
            losses.append(float(loss.detach()))
            entropies.append(sample.entropy.item())
            accs.append(float(acc))
            images += y.shape[0]

        def mean(v: list[float]) -> float:
            return sum(v) / len(v) if v else 0.0

        return {
            "policy_loss": mean(losses),
            "reward": mean(rewards),
            "top1": mean(accs),
            "baseline": self.baseline if self.baseline is not None else 0.0,
            "entropy": mean(entropies),
            "images": images * dist_utils.world_size(),
        }

    def _update_baseline(self, accuracy: float) -> float:
        if self.baseline is None:
            self.baseline = accuracy
        else:
            self.baseline = (
                self.baseline_decay * self.baseline + (1 - self.baseline_decay) * accuracy
            )
        return accuracy - self.baseline

    def _policy_loss(self, sample: ControllerSample, reward: float) -> torch.Tensor:
        return -sample.log_prob * reward - self.entropy_coeff * sample.entropy

    # -- gradient-based strategies (DARTS, GDAS) ---------------------------------------------

    def _new_alpha_optimizer(self) -> torch.optim.Optimizer:
        # Weight decay is added to the loss for the logits in use only (see _arch_step): Adam's
        # own would also move the logits of ops and nodes the stage does not allow yet.
        assert self.alphas is not None
        return torch.optim.Adam(self.alphas.parameters(), lr=self.alpha_lr, betas=self.alpha_betas)

    def _begin_gradient_stage(self, stage: Stage) -> None:
        """Admit the stage's new ops with neutral logits; the alphas' Adam starts afresh."""
        assert self.alphas is not None
        if self._stage_index > 0:
            previous = self._schedule.stages[self._stage_index - 1].n_ops
            if stage.n_ops > previous:
                self.alphas.admit_ops(previous, stage.n_ops)
        self.alpha_optimizer = self._new_alpha_optimizer()

    def _frozen_weights(self, stage: Stage, warmup: bool, tau: float) -> MixedWeights:
        """The architecture a weight step trains: no gradient reaches the alphas."""
        assert self.alphas is not None
        k, n = stage.n_ops, stage.n_nodes
        with torch.no_grad():
            if self.strategy == "darts":
                return self.alphas.uniform(k, n) if warmup else self.alphas.weights(k, n)
            if warmup:
                return self.alphas.sample_uniform(k, n, generator=self.generator)
            return self.alphas.sample(tau, k, n, generator=self.generator)

    def _arch_step(self, x: torch.Tensor, y: torch.Tensor, stage: Stage, tau: float) -> Any:
        """One Adam step of the alphas on a validation batch (first order: the supernet's
        weights are taken as they are). Returns the batch's loss and logits."""
        assert self.alphas is not None
        assert self.alpha_optimizer is not None
        k, n = stage.n_ops, stage.n_nodes
        weights = (
            self.alphas.weights(k, n)
            if self.strategy == "darts"
            else self.alphas.sample(tau, k, n, generator=self.generator)
        )
        logits = self.supernet(x, weights)
        loss = F.cross_entropy(logits, y)
        penalty = 0.5 * self.alpha_weight_decay * self.alphas.squared_norm(k, n)
        params = list(self.alphas.parameters())
        # autograd.grad with the alphas as inputs: no gradient is computed for the weights
        grads = torch.autograd.grad(loss + penalty, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        if dist_utils.is_distributed():
            dist_utils.average_gradients(params)
        self.alpha_optimizer.step()
        self.alpha_optimizer.zero_grad(set_to_none=True)
        return loss.detach(), logits.detach()

    def _gradient_epoch(self, desc: str, stage: Stage, epoch: int, warmup: bool) -> dict[str, Any]:
        assert self.alphas is not None
        self.supernet.train()
        tau = tau_at(epoch, stage.epochs, self.tau_max, self.tau_min)
        totals = torch.zeros(4, dtype=torch.float64)  # loss*n, top1, top5, n (weight steps)
        val_totals = torch.zeros(4, dtype=torch.float64)  # the same for the arch steps
        key = self._epoch_key()
        cycle = 0

        def val_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            nonlocal cycle
            while True:  # as many validation batches as training batches: cycle if short
                batches = self._batches(self._val_data, key + 50_000 + cycle, desc, None, False)
                yielded = False
                for batch in batches:
                    yielded = True
                    yield batch
                if not yielded:
                    raise ValueError("the validation data holds no batch")
                cycle += 1

        val = val_batches()
        for x, y in self._batches(self._train_data, key, desc, self.steps_per_epoch):
            if not warmup:
                xv, yv = next(val)
                val_loss, val_logits = self._arch_step(xv, yv, stage, tau)
                val_totals += batch_totals(val_loss, val_logits, yv)
            loss, logits = self._weight_step(x, y, self._frozen_weights(stage, warmup, tau))
            totals += batch_totals(loss.detach(), logits.detach(), y)
        stats: dict[str, Any] = summarize(totals)
        if warmup:
            stats["entropy"] = edge_entropy_bound(stage.n_ops)  # uniform over the ops
            return stats
        val_stats = summarize(val_totals)
        stats.update(
            val_loss=val_stats["loss"],
            val_top1=val_stats["top1"],
            entropy=self.alphas.entropy(stage.n_ops, stage.n_nodes),
        )
        if self.strategy == "gdas":
            stats["tau"] = tau
        return stats

    # -- derive ------------------------------------------------------------------------------

    def evaluate(
        self,
        genotype: Genotype,
        data: Dataset[Any] | DataLoader[Any] | None = None,
        max_batches: int | None = None,
    ) -> float:
        """Top-1 accuracy (0..1) of ``genotype`` with the current supernet weights.

        Args:
            genotype: An architecture of the supernet's space.
            data: Defaults to the validation data given to ``fit``.
            max_batches: Use at most this many batches.
        """
        if data is None:
            data = getattr(self, "_val_data", None)
            if data is None:
                raise ValueError("evaluate() needs data: pass it, or call fit() first")
        self.supernet.train()  # batch statistics, as everywhere in the supernet
        totals = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            loader = self._loader(data, key=0, shuffle=False)
            for i, (x, y) in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                x = x.to(self.device).contiguous(memory_format=self.memory_format)
                y = y.to(self.device)
                logits = self.supernet(x, genotype)
                totals += torch.tensor(
                    [accuracy(logits, y, 1).item(), y.shape[0]], dtype=torch.float64
                )
        dist_utils.all_reduce_mean(totals)
        return float(totals[0] / max(float(totals[1]), 1.0))

    def _derive(self, stage: Stage) -> StageResult:
        if self.alphas is not None:
            genotype = self.alphas.derive(stage.n_ops, stage.n_nodes)
            accuracy_ = self.evaluate(genotype, max_batches=self.derive_batches)
            logger.info(
                "stage %d derived (val top-1 %.2f%%): %s",
                self._stage_index + 1,
                100 * accuracy_,
                genotype,
            )
            return StageResult(
                self._stage_index,
                stage.n_ops,
                stage.n_nodes,
                self._op_order[: stage.n_ops],
                genotype,
                accuracy_,
            )
        assert self.controller is not None
        best: tuple[float, Genotype] | None = None
        with torch.no_grad():
            candidates = self.controller.sample_many(
                self.derive_rounds * self.derive_samples, generator=self.generator
            )
        for candidate in candidates:
            acc = self.evaluate(candidate.genotype, max_batches=self.derive_batches)
            if best is None or acc > best[0]:
                best = (acc, candidate.genotype)
        assert best is not None
        logger.info(
            "stage %d derived (val top-1 %.2f%%): %s", self._stage_index + 1, 100 * best[0], best[1]
        )
        return StageResult(
            self._stage_index,
            stage.n_ops,
            stage.n_nodes,
            self._op_order[: stage.n_ops],
            best[1],
            best[0],
        )

    # -- outputs -------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        space = self.supernet.space
        return {
            "space": {"ops": list(space.ops), "n_nodes": space.n_nodes},
            "supernet": {
                "C": self.supernet.C,
                "layers": self.supernet.layers,
                "num_classes": self.supernet.num_classes,
                "in_channels": self.supernet.in_channels,
            },
            "strategy": self.strategy,
            "controller": (
                {"hidden_size": self.controller.hidden_size}
                if self.controller is not None
                else None
            ),
            "seed": self.seed,
        }

    def _prepare_output_dir(self) -> None:
        path = self.output_dir / CHECKPOINT_NAME
        if path.exists():
            if not self.resume:
                raise CheckpointError(
                    f"{self.output_dir} already holds a search ({path.name}); resume it "
                    "(drop --no-resume / resume=False) or choose another output directory"
                )
            self._load(load_checkpoint(path))
            logger.info(
                "resuming from %s: stage %d, step %d", path, self._stage_index + 1, self._step
            )
            if dist_utils.is_main_process():
                atomic_write_text(
                    self.output_dir / "metrics.jsonl",
                    "".join(json.dumps(r) + "\n" for r in self.history),
                )
            return
        if (self.output_dir / "metrics.jsonl").exists():
            raise CheckpointError(
                f"{self.output_dir} holds metrics.jsonl but no {CHECKPOINT_NAME}; refusing to "
                "overwrite another run's outputs: choose another output directory"
            )
        if dist_utils.is_main_process():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.output_dir / "curriculum.json", self._schedule.to_json())
            atomic_write_text(self.output_dir / "config.json", json.dumps(self._config(), indent=2))

    def _append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.output_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if isinstance(value, float):
                    self._writer.add_scalar(
                        f"{record['phase']}/{key}", value, record["global_epoch"]
                    )

    def _open_tensorboard(self) -> None:
        if self.tensorboard is False or not dist_utils.is_main_process():
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if self.tensorboard:
                raise ImportError(
                    "tensorboard=True needs the tensorboard package: pip install tensorboard"
                ) from None
            return
        self._writer = SummaryWriter(log_dir=str(self.output_dir / "tensorboard"))

    def _write_stage(self, result: StageResult) -> None:
        folder = self.output_dir / "stages" / f"stage-{result.index + 1}"
        result.genotype.save(folder / "genotype.json", overwrite=True)
        atomic_write_text(folder / "result.json", json.dumps(result.to_dict(), indent=2))
        if self.draw:
            from .viz import draw

            draw(
                result.genotype,
                folder / "cells.svg",
                title=f"stage {result.index + 1}: {result.n_ops} op(s), {result.n_nodes} "
                f"node(s), val top-1 {100 * result.val_accuracy:.2f}%",
            )
        result.genotype.save(self.output_dir / "genotype.json", overwrite=True)
        self._write_report()

    def _write_report(self) -> None:
        lines = [
            "# cnas search report",
            "",
            f"Output folder: `{self.output_dir}`",
            "",
            "| stage | ops | nodes | allowed ops | val top-1 | cells |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.stage_results:
            folder = f"stages/stage-{r.index + 1}"
            picture = (
                f"![stage {r.index + 1}]({folder}/cells.svg)"
                if (self.output_dir / folder / "cells.svg").exists()
                else ""
            )
            lines.append(
                f"| {r.index + 1} | {r.n_ops} | {r.n_nodes} | {', '.join(r.ops)} | "
                f"{100 * r.val_accuracy:.2f}% | {picture} |"
            )
        if self.stage_results:
            final = self.stage_results[-1].genotype
            lines += [
                "",
                "## Final genotype",
                "",
                "```python",
                repr(final),
                "```",
            ]
        atomic_write_text(self.output_dir / "report.md", "\n".join(lines) + "\n")

    def _write_summary(self) -> None:
        if self.stage_results:
            self._write_report()

    # -- checkpoint ---------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "config": self._config(),
            "schedule": self._schedule.to_dict(),
            "op_order": list(self._op_order),
            "position": {
                "stage": self._stage_index,
                "step": self._step,
                "finished": self._finished,
            },
            "supernet": self.supernet.state_dict(),
            "controller": self.controller.state_dict() if self.controller is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "controller_optimizer": (
                self.controller_optimizer.state_dict()
                if self.controller_optimizer is not None
                else None
            ),
            "alphas": self.alphas.state_dict() if self.alphas is not None else None,
            "alpha_optimizer": (
                self.alpha_optimizer.state_dict() if self.alpha_optimizer is not None else None
            ),
            "baseline": self.baseline,
            "history": self.history,
            "stages": [r.to_dict() for r in self.stage_results],
            "rng": {
                "generator": self.generator.get_state(),
                "torch": torch.get_rng_state(),
                "python": _python_rng_state(),
            },
        }
        if torch.cuda.is_available():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _save(self) -> None:
        if dist_utils.is_main_process():
            save_checkpoint(self.output_dir / CHECKPOINT_NAME, self._state())
        dist_utils.barrier()

    def _load(self, state: dict[str, Any]) -> None:
        path = self.output_dir / CHECKPOINT_NAME
        if state.get("config") != self._config():
            raise CheckpointError(
                f"{path} belongs to a different search (saved {state.get('config')}, now "
                f"{self._config()}); it was left untouched: use another output directory"
            )
        try:
            schedule = CurriculumSchedule.from_dict(state["schedule"])
            schedule.validate(self.supernet.space)
            self.supernet.load_state_dict(state["supernet"])
            self.optimizer.load_state_dict(state["optimizer"])
            if tuple(state["op_order"]) != self._op_order:
                raise ValueError(
                    f"it searched with op order {state['op_order']}, this search has "
                    f"{list(self._op_order)}"
                )
            if self.controller is not None and self.controller_optimizer is not None:
                self.controller.load_state_dict(state["controller"])
                self.controller_optimizer.load_state_dict(state["controller_optimizer"])
                self.controller.set_op_order(state["op_order"])
            if self.alphas is not None:
                self.alphas.load_state_dict(state["alphas"])
                self.alpha_optimizer = self._new_alpha_optimizer()
                self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
            position = state["position"]
            self.generator.set_state(state["rng"]["generator"])
            torch.set_rng_state(state["rng"]["torch"])
            random.setstate(_to_python_rng_state(state["rng"]["python"]))
            if "cuda" in state["rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
            self.history = list(state["history"])
            self.stage_results = [StageResult.from_dict(d) for d in state["stages"]]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path} does not fit this search: {exc}") from None
        self._schedule = schedule
        self.baseline = state["baseline"]
        self._stage_index = int(position["stage"])
        self._step = int(position["step"])
        self._finished = bool(position["finished"])

    def _broadcast_parameters(self) -> None:
        import torch.distributed as dist

        for module in (self.supernet, self.controller, self.alphas):
            if module is None:
                continue
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)


def _python_rng_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _to_python_rng_state(state: Sequence[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
