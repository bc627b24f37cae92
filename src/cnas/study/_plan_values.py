"""The checks of a study plan's values: lists, objects, seeds, numbers, and the fields a
plan hands to a run's configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._io import shorten
from .._schema import finite_or_none
from ..errors import StudyPlanError

__all__ = [
    "MAX_SEEDS",
    "as_mapping",
    "as_seeds",
    "as_sequence",
    "check_field",
    "check_number",
    "check_setting",
]

MAX_SEEDS = 1_000
"""The most seeds a plan's seed list may hold."""


def as_sequence(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise StudyPlanError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StudyPlanError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def as_seeds(value: Any, where: str) -> tuple[int, ...]:
    sequence = as_sequence(value, where)
    if len(sequence) > MAX_SEEDS:
        raise StudyPlanError(f"{where}: at most {MAX_SEEDS:,} seeds, got {len(sequence):,}")
    seeds = tuple(sequence)
    if not seeds:
        raise StudyPlanError(f"{where}: give at least one seed")
    for i, s in enumerate(seeds):
        check_number(s, f"{where}[{i}]", int, 0)
    if len(set(seeds)) != len(seeds):
        raise StudyPlanError(f"{where}: a seed is given twice")
    return seeds


def check_number(value: Any, where: str, kind: type, minimum: float | None) -> None:
    ok = (
        isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok or (kind is float and finite_or_none(value) is None):
        raise StudyPlanError(
            f"{where}: expected {'an integer' if kind is int else 'a number'}, got {shorten(value)}"
        )
    if kind is int and value >= 2**63:
        raise StudyPlanError(f"{where}: {shorten(value)} is too large")
    if minimum is not None and value < minimum:
        raise StudyPlanError(f"{where}: must be at least {minimum}, got {value}")


def check_field(config: Any, change: dict[str, Any], where: str) -> None:
    """Raise ``StudyPlanError`` naming ``where`` when ``config`` refuses ``change``."""
    from ..errors import ConfigError

    try:
        config.replace(**change)
    except ConfigError as exc:
        raise StudyPlanError(f"{where}: {exc.reason}") from None


def check_setting(setting: Any, value: Any, where: str) -> None:
    if value is None:
        if not setting.optional:
            raise StudyPlanError(f"{where}: cannot be null")
        return
    kind = setting.type
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise StudyPlanError(f"{where}: expected {kind.__name__}, got {shorten(value)}")
