"""``Trainer``: train a genotype's network from scratch, with checkpoints and resume."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .. import distributed as dist_utils
from .._io import atomic_write_text
from .._metrics import batch_totals, summarize
from .._run import (
    TEST_RESULT_NAME,
    RunFolder,
    check_data,
    device_batches,
    make_loader,
    rng_state,
)
from ..errors import NonFiniteLossError
from ..models import (
    NetworkCIFAR,
    NetworkImageNet,
    model_record,
    network_config,
    save_pretrained,
)
from ..ops import _use_gemv_batchnorm as use_gemv_batchnorm
from ..utils import count_madds, count_params
from ._assembly import WithAux, assemble
from ._config import TrainConfig
from ._recipe import LabelSmoothingCrossEntropy, learning_rate
from ._resume import restore

__all__ = ["TrainResult", "Trainer"]

logger = logging.getLogger("cnas")

Network = NetworkCIFAR | NetworkImageNet


@dataclass
class TrainResult:
    """The outcome of :meth:`Trainer.fit`.

    Attributes:
        best_top1: Best validation top-1 accuracy (0..1).
        best_epoch: The (1-based) epoch that reached it.
        final: The last epoch's validation metrics (``loss``, ``top1``, ``top5``).
        history: One dict per epoch, as in ``metrics.jsonl``.
        output_dir: Where the outputs are.
        test: The final weights' score on the held-out test split (``loss``, ``top1``,
            ``top5``, ``images``; also in ``test.json``), when the training loaded its
            data with ``hold_out_test``; else ``None``.
    """

    best_top1: float
    best_epoch: int
    final: dict[str, float]
    history: list[dict[str, Any]]
    output_dir: Path
    test: dict[str, float] | None = None


class Trainer:
    """Trains a ``NetworkCIFAR`` / ``NetworkImageNet`` with the paper's recipe.

    SGD with momentum (optionally no weight decay on biases), a warm-up then cosine or
    linear learning-rate schedule set per epoch, gradient clipping, an auxiliary loss,
    drop-path growing linearly to ``drop_path_prob``, label smoothing, top-1/top-5
    accuracy; bf16/fp16 autocast (fp16 with a gradient scaler), channels-last and
    ``torch.compile`` on request. Under ``torchrun`` the model is wrapped in
    ``DistributedDataParallel`` with synchronized BatchNorm, data are sharded per rank,
    metrics are reduced over ranks and only rank 0 writes. On the CPU in channels-last,
    the model's plain BatchNorms become ``GemvBatchNorm2d`` in place (same parameters,
    state-dict keys and results; faster on several threads).

    Outputs in ``output_dir``: ``config.json`` from the start (the model folder's
    description, ``cnas.models.model_record``, with the run's ``train`` configuration),
    ``metrics.jsonl`` (one line per epoch), ``last.pt`` and ``best.pt`` (complete training
    state, written atomically), and at the end ``model.safetensors``, the model card and
    (with a held-out test split) ``test.json``: the folder is then a saved model.

    Args:
        model: The network to train.
        config: The recipe, the data ``fit`` loads when it is given none, and how it runs
            (device, workers, progress, TensorBoard; see ``TrainConfig``).
        output_dir: Where outputs go.
        resume: Continue from ``output_dir/last.pt`` (or from this checkpoint path).

    The batch size (``config.batch_size``) is the global batch: under ``torchrun`` each
    of the ``world_size`` processes loads ``batch_size / world_size`` images per step,
    as in search. The device defaults to ``cuda:LOCAL_RANK`` when CUDA is available.
    """

    def __init__(
        self,
        model: Network,
        config: TrainConfig,
        output_dir: str | Path,
        *,
        resume: bool | str | Path = False,
    ) -> None:
        if not isinstance(model, (NetworkCIFAR, NetworkImageNet)):
            raise TypeError(
                f"model must be a NetworkCIFAR or NetworkImageNet, got {type(model).__name__}"
            )
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        runtime = config.runtime
        self.config = config
        self.output_dir = Path(output_dir)
        self.device = runtime.resolve_device()
        self.progress = runtime.show_progress()
        self.resume = resume
        self.run_folder = RunFolder(self.output_dir, "training")
        self.model = model
        self.model.to(self.device)
        self._data: tuple[Dataset[Any], Dataset[Any]] | None = None
        self._data_from_config = False
        if runtime.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if dist_utils.is_distributed():  # BatchNorm statistics over the global batch
            converted = dist_utils.sync_batchnorm(self.model, self.device)
            assert isinstance(converted, (NetworkCIFAR, NetworkImageNet))
            self.model = converted
        if self.device.type == "cpu" and runtime.channels_last:
            # ATen's channels-last BatchNorm is slow on several CPU threads (see
            # cnas.ops.GemvBatchNorm2d); plain BatchNorms (not the synchronized ones) switch over.
            use_gemv_batchnorm(self.model)
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in self.model.named_parameters():
            (no_decay if config.no_bias_decay and name.endswith("bias") else decay).append(p)
        groups: list[dict[str, Any]] = [
            {"params": decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            # one fused kernel for all parameters instead of a few ops per parameter
            fused=self.device.type in ("cpu", "cuda") or None,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.criterion: nn.Module = (
            LabelSmoothingCrossEntropy(config.label_smoothing)
            if config.label_smoothing > 0
            else nn.CrossEntropyLoss()
        )
        self.runner: nn.Module = WithAux(self.model)
        if dist_utils.is_distributed():
            self.runner = nn.parallel.DistributedDataParallel(
                self.runner,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        if runtime.compile:
            self.runner = torch.compile(self.runner)  # type: ignore[assignment]
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.step = 0
        self.best_top1 = -1.0
        self.best_epoch = 0

    # -- data ---------------------------------------------------------------------------

    def _loader(self, data: Dataset[Any], epoch: int, shuffle: bool) -> DataLoader[Any]:
        return make_loader(
            data,
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            seed=self.config.seed,
            epoch=epoch,
            num_workers=self.config.runtime.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _batches(
        self, data: Dataset[Any], epoch: int, shuffle: bool, desc: str, limit: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        fmt = torch.channels_last if self.config.runtime.channels_last else torch.contiguous_format
        return device_batches(
            self._loader(data, epoch, shuffle),
            self.device,
            fmt,
            limit=limit,
            desc=desc,
            progress=self.progress,
            classes=getattr(getattr(self.model, "classifier", None), "out_features", None),
        )

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # -- loop ---------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, config: TrainConfig, output_dir: str | Path, *, resume: bool | str | Path = False
    ) -> Trainer:
        """The training ``config`` describes: its genotype resolved (and recorded as
        itself), its output folder checked, its data loaded, its network built (the
        dataset's default network class, sizes as configured) under
        ``torch.manual_seed(config.seed)``. ``fit()`` then trains on that data.

        The one place where a training is assembled from settings (``cnas train`` and
        studies use it).

        Raises:
            ConfigError: settings that do not fit (an unknown genotype, no data part, fp16
                without a GPU, an auxiliary head on images under 32x32), naming the field.
            CheckpointError: the output folder holds another run, or nothing to resume.
            DatasetNotFoundError: the data is missing.
            ValueError: a network too large for the device.
        """
        model, config, data = assemble(config, output_dir, resume)
        trainer = cls(model, config, output_dir, resume=resume)
        trainer._data = data
        return trainer

    def fit(
        self, train_data: Dataset[Any] | None = None, val_data: Dataset[Any] | None = None
    ) -> TrainResult:
        """Train for ``config.epochs`` epochs (or ``config.max_steps`` steps), evaluating
        on ``val_data`` after each epoch; then, when the training loaded its data itself
        with a held-out test split, score the final weights on it once (``test.json``).

        Without data, the training loads what ``config.data`` describes (``from_config``
        has loaded it already). The run's ``config.json`` records the data part only
        when the training loaded its data itself.

        Raises:
            ValueError: one of the two datasets given alone, or an empty one.
            CheckpointError: resuming from a checkpoint of another model or run, or
                ``output_dir`` already holds a run and ``resume`` is off.
            ConcurrentRunError: another thread of this process runs a search or training.
        """
        if (train_data is None) != (val_data is None):
            raise ValueError("pass train_data and val_data together (or neither)")
        if train_data is None or val_data is None:
            train_data, val_data = self._own_data()
        check_data(train_data, "training data")
        check_data(val_data, "validation data")
        try:
            self._prepare()  # from here on, this process holds the folder's lock
            self.run_folder.open_tensorboard(self.config.runtime.tensorboard)
            try:
                self._run(train_data, val_data)
            finally:
                self.run_folder.close_tensorboard()
            final = (
                {k: self.history[-1][f"val_{k}"] for k in ("loss", "top1", "top5")}
                if (self.history)
                else {"loss": float("nan"), "top1": 0.0, "top5": 0.0}
            )
            test = self._test() if self._data_from_config else None
            if dist_utils.is_main_process():
                self._export(final)
        finally:
            self.run_folder.release()
        return TrainResult(
            max(self.best_top1, 0.0),
            self.best_epoch,
            final,
            list(self.history),
            self.output_dir,
            test,
        )

    def _own_data(self) -> tuple[Dataset[Any], Dataset[Any]]:
        """The data the configuration describes (loaded once)."""
        if self._data is None:
            if self.config.data is None:
                raise ValueError(
                    "fit() needs data: pass train_data and val_data, or give the TrainConfig "
                    "a data part (TrainConfig.preset(dataset) has one)"
                )
            train, val, _ = self.config.data.load_train(self.config.seed, self.config.cutout)
            self._data = (train, val)
        self._data_from_config = True
        return self._data

    @property
    def dataset(self) -> str:
        """The dataset's name the run records (``custom`` for data given to ``fit``)."""
        data = self.config.data
        return data.dataset if self._data_from_config and data is not None else "custom"

    @property
    def described(self) -> dict[str, Any]:
        """What ``config.json`` says of the data: the dataset's name, and for an image
        folder the preprocessing and class names (``DataConfig.model_description``)."""
        data = self.config.data
        if self._data_from_config and data is not None:
            return data.model_description()
        return {"dataset": "custom"}

    @property
    def image_size(self) -> int:
        """The images' size (of data given to ``fit``: the network's usual one)."""
        data = self.config.data
        if self._data_from_config and data is not None:
            return data.info().image_size
        return 224 if isinstance(self.model, NetworkImageNet) else 32

    def _recorded_data(self) -> dict[str, Any] | None:
        """The data part ``config.json`` and the checkpoint record: the configuration's
        when the training loaded it, ``None`` for data given to ``fit``."""
        data = self.config.data
        return data.to_dict() if self._data_from_config and data is not None else None

    def _test(self) -> dict[str, float] | None:
        """The final weights' score on the held-out test split, written to ``test.json``
        (``None`` without one)."""
        data = self.config.data
        if data is None or not data.hold_out_test:
            return None
        scored = self.evaluate(data.load_test())
        if dist_utils.is_main_process():
            model = self.model
            shape = (model.in_channels, self.image_size, self.image_size)
            record = {
                "format": "cnas.test-result",
                "version": 1,
                "weights": "final",
                "epochs": len(self.history),
                "data": data.to_dict(),
                "top1": scored["top1"],
                "top5": scored["top5"],
                "loss": scored["loss"],
                "images": int(scored["images"]),
                "params": count_params(model),
                "madds": count_madds(model, shape),
                "input_size": list(shape),
            }
            atomic_write_text(
                self.output_dir / TEST_RESULT_NAME, json.dumps(record, indent=2) + "\n"
            )
        return scored

    def _run(self, train_data: Dataset[Any], val_data: Dataset[Any]) -> None:
        cfg = self.config
        while self.epoch < cfg.epochs and not self._steps_done():
            epoch = self.epoch + 1
            lr = learning_rate(cfg, epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
            start = time.perf_counter()
            train = self._train_epoch(train_data, epoch)
            elapsed = time.perf_counter() - start
            val = self.evaluate(val_data, epoch=epoch)
            record = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": train["loss"],
                "train_top1": train["top1"],
                "train_top5": train["top5"],
                "val_loss": val["loss"],
                "val_top1": val["top1"],
                "val_top5": val["top5"],
                "images_per_s": train["images"] / elapsed if elapsed > 0 else 0.0,
                "time_s": elapsed,
            }
            self.history.append(record)
            self.epoch = epoch
            improved = val["top1"] > self.best_top1
            if improved:
                self.best_top1, self.best_epoch = val["top1"], epoch
            logger.info(
                "epoch %d/%d: lr %.4g, train loss %.4f top-1 %.2f%%, val loss %.4f "
                "top-1 %.2f%% top-5 %.2f%%, %.0f images/s",
                epoch,
                cfg.epochs,
                lr,
                train["loss"],
                100 * train["top1"],
                val["loss"],
                100 * val["top1"],
                100 * val["top5"],
                record["images_per_s"],
            )
            best = [self.output_dir / "best.pt"] if improved else []
            self.run_folder.save(self._state(), also=best)
            self.run_folder.append_metrics(record, step=epoch)  # what the checkpoint holds

    def _steps_done(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    def _train_epoch(self, data: Dataset[Any], epoch: int) -> dict[str, float]:
        self.runner.train()
        cfg = self.config
        totals = torch.zeros(4, dtype=torch.float64)
        limit = None if cfg.max_steps is None else cfg.max_steps - self.step
        for x, y in self._batches(data, epoch, True, f"epoch {epoch}", limit):
            with self._autocast():
                logits, aux = self.runner(x)
                loss = self.criterion(logits, y)
                if aux is not None and cfg.auxiliary_weight > 0:
                    loss = loss + cfg.auxiliary_weight * self.criterion(aux, y)
            if not bool(torch.isfinite(loss)):  # before the step could spread it
                raise NonFiniteLossError(
                    f"the training loss became {loss.item()} in epoch {epoch} (step "
                    f"{self.step + 1}); training stopped and its last checkpoint "
                    f"({self.run_folder.checkpoint}) is kept: lower the learning rate (--lr), "
                    "or check the data"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            totals += batch_totals(loss, logits, y)
        return summarize(totals)

    def evaluate(self, data: Dataset[Any], epoch: int = 0) -> dict[str, float]:
        """Loss, top-1 and top-5 accuracy (0..1) of the model on ``data`` (eval mode)."""
        self.model.eval()
        totals = torch.zeros(4, dtype=torch.float64)
        loss_fn = nn.CrossEntropyLoss()
        with torch.no_grad():
            for x, y in self._batches(data, epoch, False, "eval"):
                with self._autocast():
                    logits = self.model(x)
                totals += batch_totals(loss_fn(logits.float(), y), logits, y)
        return summarize(totals)

    # -- checkpoints and outputs ------------------------------------------------------------

    def _model_config(self) -> dict[str, Any]:
        # the same keys save_pretrained writes, read from the network itself
        return network_config(self.model)

    def _train_record(self) -> dict[str, Any]:
        """The configuration as the run records it: its data part as ``fit`` used it."""
        return {**self.config.to_dict(), "data": self._recorded_data()}

    def _state(self) -> dict[str, Any]:
        return {
            "model_config": self._model_config(),
            "train_config": self._train_record(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best_top1": self.best_top1,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "rng": rng_state(),
        }

    def _prepare(self) -> None:
        # the folder's one config.json: the model's description (as save_pretrained
        # writes it at the end, with the metrics then) and the run's configuration
        config = model_record(self.model, **self.described, extra={"train": self._train_record()})
        state = self.run_folder.prepare(
            config, resume=self.resume, require_checkpoint=self.resume is True
        )
        if state is not None:
            path = (
                Path(self.resume)
                if not isinstance(self.resume, bool)
                else self.run_folder.checkpoint
            )
            self._load(state, path)
            self.run_folder.rewrite_metrics(self.history)
            logger.info("resumed from %s at epoch %d", path, self.epoch)
            return
        if dist_utils.is_main_process():
            shape = (self.model.in_channels, self.image_size, self.image_size)
            logger.info(
                "%s: %s parameters (without the auxiliary head), %.1fM multiply-adds at %s",
                type(self.model).__name__,
                f"{count_params(self.model):,}",
                count_madds(self.model, shape) / 1e6,
                "x".join(map(str, shape[1:])),
            )

    def _load(self, state: dict[str, Any], path: Path) -> None:
        progress = restore(
            state,
            path,
            network=self._model_config(),
            config=self._train_record(),
            model=self.model,
            optimizer=self.optimizer,
            scaler=self.scaler,
        )
        self.epoch, self.step, self.history = progress.epoch, progress.step, progress.history
        self.best_top1, self.best_epoch = progress.best_top1, progress.best_epoch

    def _export(self, final: dict[str, float]) -> None:
        # the writer of the folder's config.json at the start, now with the metrics
        save_pretrained(
            self.model,
            self.output_dir,
            **self.described,
            metrics={
                "best_top1": max(self.best_top1, 0.0),
                "best_epoch": self.best_epoch,
                "final_top1": final["top1"],
                "final_top5": final["top5"],
            },
            extra={"run": self.run_folder.identity(), "train": self._train_record()},
            overwrite=True,
        )
