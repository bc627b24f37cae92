"""The ``Strategy`` protocol: what differs between search methods, behind a few verbs.

The ``Searcher`` owns what every method shares (the stages, the supernet and its
optimizer, the data, the run folder, checkpoints, callbacks) and asks its strategy, at
fixed points of the loop, for the rest:

1. ``setup(engine)``, once: build what the strategy trains (a controller, parameters).
2. ``begin_stage(context)``, at each stage start: the stage's restricted space.
3. ``phases()``: the epochs one round of the stage runs, after the warm-up epochs.
4. Per epoch ``begin_epoch(phase, epoch)``, then per supernet step ``architecture()``
   (what the step trains) and per validation batch ``learn(x, y)``, then ``end_epoch()``.
5. ``derive()``, at each stage end: the stage's genotype and the candidates it weighed.
6. ``state_dict()`` / ``load_state_dict()``: everything the strategy must keep across a
   kill and a resume.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from .._genotype import Genotype
from ..curriculum import Stage
from ..space import SearchSpace
from ..supernet import MixedWeights
from ._results import Derivation

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["RESERVED_PHASES", "Phase", "StageContext", "Strategy"]

RESERVED_PHASES = ("warmup", "derive")
"""Phase names the ``Searcher`` itself uses."""

_PHASE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Phase:
    """One kind of epoch in a stage's rounds.

    Attributes:
        name: What ``metrics.jsonl`` calls the epoch (lower-case; not ``warmup`` or
            ``derive``).
        data: ``"train"``: the epoch walks the training split, one supernet weight step
            per batch through ``Strategy.architecture()``. ``"val"``: it walks the
            validation split and hands every batch to ``Strategy.learn``.
        learns: With ``data="train"``: before each weight step, hand one validation
            batch to ``Strategy.learn`` (DARTS's alternation; the validation data cycles
            when it runs out).

    Raises:
        ValueError: a bad or reserved name, or an unknown ``data``.
    """

    name: str
    data: Literal["train", "val"] = "train"
    learns: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _PHASE_NAME.match(self.name):
            raise ValueError(
                f"phase name {self.name!r}: use lower-case letters, digits and underscores"
            )
        if self.name in RESERVED_PHASES:
            raise ValueError(f"phase name {self.name!r} is reserved for the Searcher")
        if self.data not in ("train", "val"):
            raise ValueError(
                f"phase {self.name!r}: data must be 'train' or 'val', not {self.data!r}"
            )

    @property
    def trains_weights(self) -> bool:
        """Whether the epoch trains supernet weights (every ``"train"`` epoch does)."""
        return self.data == "train"

    @property
    def learns_from_validation(self) -> bool:
        """Whether ``Strategy.learn`` sees validation batches in this epoch."""
        return self.data == "val" or self.learns


@dataclass(frozen=True)
class StageContext:
    """The stage a strategy is in.

    Attributes:
        index: The stage's number, from 0.
        stage: The curriculum's ``Stage``.
        space: What the stage allows: the first ``stage.n_ops`` ops of the curriculum's op
            order and ``stage.n_nodes`` nodes.
        previous: The space the stage before allowed, or ``None`` for the first stage.
        resumed: True when the strategy's state was restored from a checkpoint taken
            inside this stage (or from a finished stage, to derive again): the stage's
            one-time changes, such as admitting new ops, are already in that state.
    """

    index: int
    stage: Stage
    space: SearchSpace
    previous: SearchSpace | None = None
    resumed: bool = False


class Strategy(abc.ABC):
    """A search method: what the supernet trains, what learns from validation data, and
    how a stage's genotype is derived.

    Subclass it, implement ``architecture`` and ``derive`` (and ``phases`` and ``learn``
    if the method learns from validation data), and register it with
    ``cnas.search.register_strategy``. The ``Searcher`` sets ``self.engine`` (the shared
    ``Engine``: supernet, device, random generator, scoring) before ``setup`` and
    ``self.stage`` (a ``StageContext``) before ``begin_stage``.

    Keep hyper-parameters as keyword arguments of ``__init__`` stored under the same
    attribute names: ``settings()`` reads them for the run's ``config.json``, and the
    ``cnas search`` command turns the ones of simple types (int, float, str, bool) into
    flags. Draw random numbers from ``self.engine.generator``: the ``Searcher``
    checkpoints it, so a resumed search draws what the uninterrupted one would have.

    Attributes:
        name: The registered name (set by ``register_strategy``); checkpoints record it.
        derives_from_supernet: Whether ``derive`` needs nothing but the supernet's weights
            (then it can re-derive any finished stage of any run, see ``Searcher.derive``),
            or the strategy's own trained state too.
        cli_aliases: Extra command-line spellings of settings, by setting name.
    """

    name: ClassVar[str] = ""
    derives_from_supernet: ClassVar[bool] = False
    cli_aliases: ClassVar[Mapping[str, Sequence[str]]] = {}

    engine: Engine
    stage: StageContext

    def setup(self, engine: Engine) -> None:  # noqa: B027 - a hook with nothing to do by default
        """Build what the strategy trains; called once, when the ``Searcher`` is made.

        ``engine.space`` is the whole space in the curriculum's op order.
        """

    def begin_stage(self, context: StageContext) -> None:  # noqa: B027
        """A stage starts (or resumes, ``context.resumed``): ``context.space`` is what it
        allows."""

    def phases(self) -> Sequence[Phase]:
        """The epochs of one round, run ``stage.epochs`` times after the warm-up.

        Default: one ``"supernet"`` epoch, each batch a weight step through
        ``architecture()``.
        """
        return (Phase("supernet"),)

    def begin_epoch(self, phase: str, epoch: int) -> None:  # noqa: B027
        """An epoch of ``phase`` (``"warmup"`` or one of ``phases()``) starts; ``epoch``
        counts from 0 within the stage."""

    @abc.abstractmethod
    def architecture(self, *, warmup: bool = False) -> Genotype | MixedWeights:
        """What the next supernet weight step trains: a genotype of the stage's space
        (single path) or mixed weights over its ops (DARTS-style).

        Args:
            warmup: True in the stage's warm-up epochs (typically: uniformly sampled, so
                that newly admitted ops get trained before they are judged).
        """

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> Mapping[str, float] | None:
        """Learn from one validation batch (in phases that ask for it).

        Returns:
            Numbers to report for the batch; the epoch's record holds their mean.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has a phase that learns from validation data but no "
            "learn() method"
        )

    def end_epoch(self) -> Mapping[str, float]:
        """Numbers to add to the epoch's record (for example the policy's entropy)."""
        return {}

    @abc.abstractmethod
    def derive(self) -> Derivation:
        """The stage's candidates, scored on validation data (``self.engine.score``)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: tensors, numbers, strings, lists, dicts."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: B027
        """Restore what ``state_dict`` returned (after ``setup``)."""

    def modules(self) -> Sequence[nn.Module]:
        """The modules the strategy trains; in a distributed search, rank 0's parameters
        are copied to every rank at the start."""
        return ()

    def settings(self) -> dict[str, Any]:
        """The strategy's hyper-parameters, as recorded in the run's ``config.json``."""
        from ._settings import strategy_settings

        out: dict[str, Any] = {}
        for setting in strategy_settings(type(self)):
            if hasattr(self, setting.name):
                out[setting.name] = getattr(self, setting.name)
        return out

    @property
    def registered_name(self) -> str:
        """The name checkpoints record: the registered one, else the class's path."""
        cls = type(self)
        own = cls.__dict__.get("name")
        if isinstance(own, str) and own:
            return own
        return f"{cls.__module__}.{cls.__qualname__}"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"
