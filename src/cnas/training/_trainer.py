"""``Trainer``: train a genotype's network from scratch, with checkpoints and resume."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .. import distributed as dist_utils
from .._metrics import batch_totals, summarize
from .._run import RunFolder, device_batches, make_loader, rng_state, set_rng_state
from ..errors import CheckpointError, NonFiniteLossError
from ..models import NetworkCIFAR, NetworkImageNet, network_config, save_pretrained
from ..ops import use_gemv_batchnorm
from ..utils import count_madds, count_params
from ._recipe import LabelSmoothingCrossEntropy, TrainConfig, learning_rate

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
    """

    best_top1: float
    best_epoch: int
    final: dict[str, float]
    history: list[dict[str, Any]]
    output_dir: Path


_RESUMABLE_CHANGES = frozenset({"num_workers", "max_steps", "compile", "channels_last"})
"""The settings a resumed training may change silently: how it runs, not what it computes."""

_LOGGED_CHANGES = {
    "epochs": "the learning-rate schedule is stretched from here on",
    "lr": "the learning-rate schedule is scaled from here on",
    "lr_min": "the learning-rate schedule ends elsewhere",
    "grad_clip": "gradients are clipped otherwise from here on",
}
"""The settings a resumed training may change with a warning: the ways to go on after a
diverged loss (a lower ``lr``, tighter clipping) or to train longer."""


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

    Outputs in ``output_dir``: ``metrics.jsonl`` (one line per epoch), ``last.pt`` and
    ``best.pt`` (complete training state, written atomically), and at the end
    ``model.safetensors`` with ``config.json``.

    Args:
        model: The network to train.
        config: Hyper-parameters (see ``TrainConfig.preset``).
        output_dir: Where outputs go.
        dataset: Dataset name recorded in ``config.json``.
        device: Default: CUDA when available.
        resume: Continue from ``output_dir/last.pt`` (or from this checkpoint path).
        progress: tqdm bars (default: when stderr is a terminal).
        image_size: Input size for the multiply-add count in the log (default 32 or 224).
        tensorboard: Write TensorBoard events to ``output_dir/tensorboard`` (default: when
            the ``tensorboard`` package is installed).
        data_config: How the data was made (dataset, splits, held-out test), recorded in
            ``config.json`` and the checkpoint; resuming with another is refused.

    The batch size (``config.batch_size``) is the global batch: under ``torchrun`` each
    of the ``world_size`` processes loads ``batch_size / world_size`` images per step,
    as in search.
    """

    def __init__(
        self,
        model: Network,
        config: TrainConfig,
        output_dir: str | Path,
        *,
        dataset: str = "custom",
        device: str | torch.device | None = None,
        resume: bool | str | Path = False,
        progress: bool | None = None,
        image_size: int | None = None,
        tensorboard: bool | None = None,
        data_config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, (NetworkCIFAR, NetworkImageNet)):
            raise TypeError(
                f"model must be a NetworkCIFAR or NetworkImageNet, got {type(model).__name__}"
            )
        self.config = config
        self.output_dir = Path(output_dir)
        self.dataset = dataset
        self.device = torch.device(device) if device is not None else dist_utils.default_device()
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.resume = resume
        self.tensorboard = tensorboard
        self.data_config = dict(data_config) if data_config is not None else None
        self.run_folder = RunFolder(self.output_dir, "training")
        self.image_size = image_size or (224 if isinstance(model, NetworkImageNet) else 32)
        self.model = model
        self.model.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if dist_utils.is_distributed():  # BatchNorm statistics over the global batch
            converted = dist_utils.sync_batchnorm(self.model, self.device)
            assert isinstance(converted, (NetworkCIFAR, NetworkImageNet))
            self.model = converted
        if self.device.type == "cpu" and config.channels_last:
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
        self.runner: nn.Module = _WithAux(self.model)
        if dist_utils.is_distributed():
            self.runner = nn.parallel.DistributedDataParallel(
                self.runner,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        if config.compile:
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
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _batches(
        self, data: Dataset[Any], epoch: int, shuffle: bool, desc: str, limit: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        fmt = torch.channels_last if self.config.channels_last else torch.contiguous_format
        return device_batches(
            self._loader(data, epoch, shuffle),
            self.device,
            fmt,
            limit=limit,
            desc=desc,
            progress=self.progress,
        )

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # -- loop ---------------------------------------------------------------------------

    def fit(self, train_data: Dataset[Any], val_data: Dataset[Any]) -> TrainResult:
        """Train for ``config.epochs`` epochs (or ``config.max_steps`` steps), evaluating
        on ``val_data`` after each epoch.

        Raises:
            CheckpointError: resuming from a checkpoint of another model or run, or
                ``output_dir`` already holds a run and ``resume`` is off.
        """
        self._prepare()  # from here on, this process holds the folder's lock
        try:
            self.run_folder.open_tensorboard(self.tensorboard)
            try:
                self._run(train_data, val_data)
            finally:
                self.run_folder.close_tensorboard()
            final = (
                {k: self.history[-1][f"val_{k}"] for k in ("loss", "top1", "top5")}
                if (self.history)
                else {"loss": float("nan"), "top1": 0.0, "top5": 0.0}
            )
            if dist_utils.is_main_process():
                self._export(final)
        finally:
            self.run_folder.release()
        return TrainResult(
            max(self.best_top1, 0.0), self.best_epoch, final, list(self.history), self.output_dir
        )

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

    def _state(self) -> dict[str, Any]:
        return {
            "model_config": self._model_config(),
            "train_config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best_top1": self.best_top1,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "rng": rng_state(),
            **({} if self.data_config is None else {"data": self.data_config}),
        }

    def _prepare(self) -> None:
        config = {
            "network": self._model_config(),
            "dataset": self.dataset,
            "train_config": self.config.to_dict(),
            **({} if self.data_config is None else {"data": self.data_config}),
        }
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
            shape = (_in_channels(self.model), self.image_size, self.image_size)
            logger.info(
                "%s: %s parameters (without the auxiliary head), %.1fM multiply-adds at %s",
                type(self.model).__name__,
                f"{count_params(self.model):,}",
                count_madds(self.model, shape) / 1e6,
                "x".join(map(str, shape[1:])),
            )

    def _load(self, state: dict[str, Any], path: Path) -> None:
        saved = state.get("model_config")
        if saved != self._model_config():
            what = (
                f"{saved.get('network')}, C={saved.get('init_channels')}, "
                f"layers={saved.get('layers')}"
                if isinstance(saved, dict)
                else "unknown"
            )
            raise CheckpointError(
                f"{path} is a checkpoint of another network ({what}); it does not fit this one"
            )
        saved_data = state.get("data")
        if (
            saved_data is not None
            and self.data_config is not None
            and saved_data != self.data_config
        ):
            raise CheckpointError(
                f"{path} is a run on other data: {saved_data} (now {self.data_config}); "
                "resume it on the data it started with, or start a new run"
            )
        saved_config = state.get("train_config", {})
        now = self.config.to_dict()
        # (a setting only one side knows, from another cnas version, is not compared)
        shared = sorted(set(saved_config) & set(now))
        changed = [k for k in shared if saved_config[k] != now[k]]
        refused = [
            f"{k} {saved_config[k]!r} (now {now[k]!r})"
            for k in changed
            if k not in _RESUMABLE_CHANGES and k not in _LOGGED_CHANGES
        ]
        if refused:
            raise CheckpointError(
                f"{path} is a run with other settings: {', '.join(refused)}; resume it with "
                "the settings it started with (its config.json has them), or start a new run"
            )
        try:
            epoch, step = int(state["epoch"]), int(state["step"])
            best_top1, best_epoch = float(state["best_top1"]), int(state["best_epoch"])
            history = list(state["history"])
            if len(history) != epoch or best_epoch > epoch:
                raise ValueError(
                    f"it holds {len(history)} epoch record(s) for {epoch} finished "
                    f"epoch(s), its best epoch {best_epoch}"
                )
            # (checked before anything is loaded, so a refusal leaves this trainer as it was)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path} does not fit this training run: {exc}") from None
        self.epoch, self.step, self.history = epoch, step, history
        self.best_top1, self.best_epoch = best_top1, best_epoch
        for k in changed:
            if k in _LOGGED_CHANGES:
                logger.warning(
                    "resuming %s with %s=%r (it started with %r): %s",
                    path.parent,
                    k,
                    now[k],
                    saved_config[k],
                    _LOGGED_CHANGES[k],
                )

    def _export(self, final: dict[str, float]) -> None:
        # the same writer as cnas.models.save_pretrained: weights, config.json, model card
        save_pretrained(
            self.model,
            self.output_dir,
            dataset=self.dataset,
            metrics={
                "best_top1": max(self.best_top1, 0.0),
                "best_epoch": self.best_epoch,
                "final_top1": final["top1"],
                "final_top5": final["top5"],
            },
            extra={
                "run": self.run_folder.identity(),
                "train_config": self.config.to_dict(),
                **({} if self.data_config is None else {"data": self.data_config}),
            },
            overwrite=True,
        )


def _in_channels(model: Network) -> int:
    first = model.stem[0] if isinstance(model, NetworkCIFAR) else model.stem0[0]
    assert isinstance(first, nn.Conv2d)
    return first.in_channels


class _WithAux(nn.Module):
    """Calls ``forward_with_aux``, so DDP and ``torch.compile`` see the training path."""

    def __init__(self, model: Network) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and auxiliary logits (``None`` outside training or without a head)."""
        return self.model.forward_with_aux(x)
