"""``CurriculumSchedule`` and ``Stage``: how the search space grows during a search."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ._io import parse_json
from ._validation import MAX_EPOCHS, check_int, seeded
from .ops import get_op
from .space import SearchSpace

__all__ = ["CurriculumSchedule", "Stage"]

SCHEDULE_FORMAT = "cnas.curriculum"


@dataclass(frozen=True)
class Stage:
    """One stage of a curriculum.

    Args:
        n_ops: The controller samples from the first ``n_ops`` ops of the schedule's
            ``op_order``.
        n_nodes: Intermediate nodes per cell in this stage.
        warmup_epochs: Supernet epochs on uniformly sampled architectures first (so newly
            allowed ops get trained).
        epochs: Then this many rounds of one supernet epoch (controller samples) and one
            controller epoch.
    """

    n_ops: int
    n_nodes: int
    warmup_epochs: int = 20
    epochs: int = 40

    def __post_init__(self) -> None:
        check_int("n_ops", self.n_ops)
        check_int("n_nodes", self.n_nodes)
        check_int("warmup_epochs", self.warmup_epochs, 0, MAX_EPOCHS)
        check_int("epochs", self.epochs, 0, MAX_EPOCHS)


class CurriculumSchedule:
    """An ordered list of stages over a search space, and the order ops are introduced in.

    Args:
        stages: The stages, in order; the space never shrinks from one to the next.
        op_order: The op names in the order the curriculum introduces them (stage ``k``
            allows ``op_order[:stages[k].n_ops]``). ``None`` keeps the space's order.

    Raises:
        ValueError: no stages, a shrinking space, or a bad ``op_order``.

    Examples:
        >>> import cnas
        >>> space = cnas.SearchSpace()
        >>> schedule = cnas.CurriculumSchedule.grow_ops(space, warmup_epochs=1, epochs_per_stage=2)
        >>> [s.n_ops for s in schedule.stages]
        [1, 2, 3, 4, 5, 6, 7, 8]
        >>> schedule.op_order[0]
        'sep_conv_3x3'
    """

    def __init__(self, stages: Iterable[Stage], op_order: Sequence[str] | None = None) -> None:
        stage_list = list(stages)
        if not stage_list:
            raise ValueError("a curriculum needs at least one stage")
        for i, stage in enumerate(stage_list):
            if not isinstance(stage, Stage):
                raise TypeError(f"stage {i}: expected a cnas.Stage, got {type(stage).__name__}")
            if i and (
                stage.n_ops < stage_list[i - 1].n_ops or stage.n_nodes < stage_list[i - 1].n_nodes
            ):
                prev = stage_list[i - 1]
                raise ValueError(
                    f"stage {i} shrinks the space: ({stage.n_ops} ops, {stage.n_nodes} nodes) "
                    f"after ({prev.n_ops} ops, {prev.n_nodes} nodes); a curriculum only grows"
                )
        order: tuple[str, ...] | None = None
        if op_order is not None:
            if isinstance(op_order, (str, bytes)) or not isinstance(op_order, Iterable):
                raise ValueError(f"op_order must be a list of op names, got {op_order!r}")
            order = tuple(op_order)
            for name in order:
                if not isinstance(name, str):
                    raise ValueError(f"op_order must hold op names, got {name!r}")
            if len(set(order)) != len(order):
                raise ValueError(f"op_order lists an op twice: {list(order)}")
            for name in order:
                get_op(name)  # UnknownOpError (a KeyError) with close matches
            if max(s.n_ops for s in stage_list) > len(order):
                raise ValueError(
                    f"a stage allows {max(s.n_ops for s in stage_list)} ops but op_order has "
                    f"only {len(order)}"
                )
        self._stages = tuple(stage_list)
        self._op_order = order

    # -- factories -----------------------------------------------------------------------

    @classmethod
    def grow_ops(
        cls,
        space: SearchSpace,
        warmup_epochs: int = 20,
        epochs_per_stage: int = 40,
        seed: int = 2020,
    ) -> CurriculumSchedule:
        """The paper's op curriculum: stage ``k`` allows ``k`` ops, one stage per op.

        Op 0 of the space comes first; the others follow in an order shuffled by ``seed``
        (``torch.randperm`` with a generator seeded by ``seed``, as the original code does).
        """
        first, *rest = _space(space, "grow_ops").ops
        perm = torch.randperm(len(rest), generator=seeded(seed)).tolist()
        order = [first, *(rest[i] for i in perm)]
        stages = [
            Stage(k, space.n_nodes, warmup_epochs, epochs_per_stage)
            for k in range(1, space.n_ops + 1)
        ]
        return cls(stages, order)

    @classmethod
    def grow_nodes(
        cls, space: SearchSpace, warmup_epochs: int = 20, epochs_per_stage: int = 40
    ) -> CurriculumSchedule:
        """The node curriculum: stage ``k`` allows ``k`` intermediate nodes and every op."""
        _space(space, "grow_nodes")
        stages = [
            Stage(space.n_ops, n, warmup_epochs, epochs_per_stage)
            for n in range(1, space.n_nodes + 1)
        ]
        return cls(stages, space.ops)

    @classmethod
    def fixed(
        cls, space: SearchSpace, warmup_epochs: int = 20, epochs: int = 40
    ) -> CurriculumSchedule:
        """No curriculum: one stage over the whole space (the paper's baseline)."""
        _space(space, "fixed")
        return cls([Stage(space.n_ops, space.n_nodes, warmup_epochs, epochs)], space.ops)

    # -- accessors -------------------------------------------------------------------------

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages, in order."""
        return self._stages

    @property
    def op_order(self) -> tuple[str, ...] | None:
        """The order ops are introduced in, or ``None`` for the space's own order."""
        return self._op_order

    def __len__(self) -> int:
        return len(self._stages)

    def __repr__(self) -> str:
        return f"CurriculumSchedule(stages={list(self._stages)!r}, op_order={self._op_order!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CurriculumSchedule):
            return NotImplemented
        return (self._stages, self._op_order) == (other._stages, other._op_order)

    def __hash__(self) -> int:
        return hash((self._stages, self._op_order))

    @property
    def total_epochs(self) -> int:
        """Supernet plus controller epochs over all stages (warm-up included)."""
        return sum(s.warmup_epochs + 2 * s.epochs for s in self._stages)

    def ordered_space(self, space: SearchSpace) -> SearchSpace:
        """``space`` with its ops in this schedule's introduction order.

        Raises:
            ValueError: the schedule does not fit ``space`` (see ``validate``).
        """
        self.validate(space)
        return SearchSpace(self._op_order or space.ops, space.n_nodes)

    def stage_space(self, space: SearchSpace, index: int) -> SearchSpace:
        """The sub-space stage ``index`` allows within ``space``."""
        stage = self._stages[index]
        return self.ordered_space(space).restrict(stage.n_ops, stage.n_nodes)

    def validate(self, space: SearchSpace) -> None:
        """Check that every stage fits ``space`` and ``op_order`` is a permutation of its ops.

        Raises:
            ValueError: naming the stage or op that does not fit.
        """
        if self._op_order is not None and set(self._op_order) != set(space.ops):
            missing = sorted(set(space.ops) - set(self._op_order))
            extra = sorted(set(self._op_order) - set(space.ops))
            raise ValueError(
                "op_order must be a permutation of the space's ops"
                + (f"; missing {missing}" if missing else "")
                + (f"; not in the space {extra}" if extra else "")
            )
        for i, stage in enumerate(self._stages):
            if stage.n_ops > space.n_ops or stage.n_nodes > space.n_nodes:
                raise ValueError(
                    f"stage {i} ({stage.n_ops} ops, {stage.n_nodes} nodes) does not fit the "
                    f"space ({space.n_ops} ops, {space.n_nodes} nodes)"
                )

    # -- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` reads it back."""
        return {
            "format": SCHEDULE_FORMAT,
            "version": 1,
            "op_order": None if self._op_order is None else list(self._op_order),
            "stages": [asdict(s) for s in self._stages],
        }

    @classmethod
    def from_dict(cls, data: object) -> CurriculumSchedule:
        """Read a schedule written by ``to_dict``.

        Raises:
            ValueError: not a schedule, or an invalid one.
        """
        if not isinstance(data, dict) or data.get("format") != SCHEDULE_FORMAT:
            raise ValueError(f"not a cnas curriculum (expected format {SCHEDULE_FORMAT!r})")
        stages = data.get("stages")
        if not isinstance(stages, list):
            raise ValueError("curriculum: 'stages' must be a list")
        try:
            parsed = [Stage(**s) for s in stages]
        except TypeError as exc:
            raise ValueError(f"curriculum: bad stage: {exc}") from None
        try:
            return cls(parsed, data.get("op_order"))
        except (TypeError, KeyError) as exc:  # a stage that is not one, an unknown op
            raise ValueError(f"curriculum: {exc}") from None

    def to_json(self, indent: int | None = 2) -> str:
        """Serialize to JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> CurriculumSchedule:
        """Read a schedule from JSON.

        Raises:
            ValueError: malformed JSON or not a schedule.
        """
        try:
            data = parse_json(text)
        except ValueError as exc:
            raise ValueError(f"malformed curriculum JSON: {exc}") from None
        return cls.from_dict(data)


def _space(space: object, method: str) -> SearchSpace:
    """``space`` if it is a ``SearchSpace``; else the ``TypeError`` a method gives."""
    if not isinstance(space, SearchSpace):
        raise TypeError(
            f"CurriculumSchedule.{method} takes a cnas.SearchSpace, got {type(space).__name__}"
        )
    return space
