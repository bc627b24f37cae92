"""One epoch of a search: supernet weight steps on training batches, or a strategy
learning from validation batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import distributed as dist_utils
from .._metrics import batch_totals, summarize
from ..curriculum import Stage
from ..errors import NonFiniteLossError
from ._engine import Engine
from ._strategy import Phase, Strategy

if TYPE_CHECKING:
    from ._checkpoint import LoopState

__all__ = ["epoch_key", "epoch_record", "run_epoch"]

logger = logging.getLogger("cnas")


def epoch_key(stage: int, step: int) -> int:
    """What seeds the data order of step ``step`` of stage ``stage`` (a resumed search
    draws the batches the uninterrupted one would have)."""
    return stage * 100_000 + step


def run_epoch(
    engine: Engine, strategy: Strategy, phase: Phase | None, key: int, desc: str
) -> dict[str, Any]:
    """Run one epoch and return its statistics: weight steps on training batches (the
    warm-up, ``phase`` ``None``, and ``"train"`` phases) or ``strategy.learn`` on
    validation batches (``"val"`` phases); then the strategy's ``end_epoch`` numbers.

    Args:
        engine: The search's engine, its data bound.
        strategy: What names the architectures and learns.
        phase: The epoch's phase (``None``: a warm-up epoch).
        key: Seeds the epoch's data order (``epoch_key``).
        desc: The progress bar's label.
    """
    train, val = engine.train_data, engine.val_data
    assert train is not None
    assert val is not None
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
    extra: Mapping[str, Any] = strategy.end_epoch()  # (a plugin may give tensors)
    for k, value in extra.items():  # numbers, as the record holds
        stats[k] = float(value) if isinstance(value, torch.Tensor) else value
    return stats


def epoch_record(
    engine: Engine,
    strategy: Strategy,
    step: tuple[str, int, Phase | None],
    stage: Stage,
    loop: LoopState,
    checkpoint: Path,
) -> dict[str, Any]:
    """Run the epoch the loop's position is at (``step`` of its stage's plan: the phase's
    name, the epoch within the stage, the phase) and return its record (as
    ``metrics.jsonl`` holds it): where it is, its statistics, its time and speed.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; the message says which epoch,
            and that the last ``checkpoint`` is kept.
    """
    position = loop.position
    name, epoch, phase = step
    start = time.perf_counter()
    try:
        stats = run_epoch(
            engine,
            strategy,
            phase,
            epoch_key(position.stage, position.step),
            f"stage {position.stage + 1} {name} {epoch + 1}",
        )
    except NonFiniteLossError as exc:
        raise NonFiniteLossError(
            f"{exc} in stage {position.stage + 1}, {name} epoch {epoch + 1}; the search "
            f"stopped and its last checkpoint ({checkpoint}) is kept: lower the learning "
            "rate (--lr), or check the data"
        ) from None
    elapsed = time.perf_counter() - start
    logger.info(
        "stage %d %s epoch %d: %s",
        position.stage + 1,
        name,
        epoch + 1,
        ", ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float)),
    )
    return {
        "stage": position.stage,
        "n_ops": stage.n_ops,
        "n_nodes": stage.n_nodes,
        "phase": name,
        "epoch": epoch,
        "global_epoch": len(loop.history),
        **stats,
        "time_s": elapsed,
        "images_per_s": stats["images"] / elapsed if elapsed > 0 else 0.0,
    }
