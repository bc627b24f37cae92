"""``Callback``: hooks into a search, with state that a resumed search restores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from ..curriculum import CurriculumSchedule, Stage
    from ..supernet import SuperNet
    from ._config import SearchConfig
    from ._engine import Engine
    from ._results import SearchResult, StageResult
    from ._strategy import Strategy

__all__ = [
    "Callback",
    "SearchLoop",
    "callback_states",
    "check_callbacks",
    "load_callback_states",
]


class SearchLoop(Protocol):
    """What a callback sees of the search that calls it: the ``Searcher``'s public side.

    Annotate a callback's ``searcher`` argument with it (``cnas.search.SearchLoop``).
    """

    output_dir: Path
    strategy: Strategy
    engine: Engine
    schedule: CurriculumSchedule

    @property
    def history(self) -> list[dict[str, Any]]:
        """One record per finished epoch."""

    @property
    def stage_results(self) -> list[StageResult]:
        """The finished stages' results."""

    @property
    def supernet(self) -> SuperNet:
        """The supernet."""

    @property
    def device(self) -> torch.device:
        """Where the supernet runs."""

    @property
    def stage_index(self) -> int:
        """The stage running now (or next)."""

    @property
    def config(self) -> SearchConfig:
        """The search's configuration."""

    def request_stop(self) -> None:
        """End the search after the current epoch."""


class Callback:
    """Hooks into a search; subclass and override what you need.

    Callbacks may call ``searcher.request_stop()`` to end the search after the current
    epoch, or assign ``searcher.schedule`` at a stage boundary (``on_stage_end``) to change
    the stages still to come.

    A callback that counts or remembers (an early stop's patience, a best score) keeps
    it in ``state_dict()`` and takes it back in ``load_state_dict()``: the search's
    checkpoint holds every callback's state under its ``state_key``, and a resumed search
    (after a crash or a kill) hands it back before ``on_fit_start``.
    """

    @property
    def state_key(self) -> str:
        """The name the checkpoint keeps this callback's state under (default: the class's
        qualified name; give two callbacks of one class different keys)."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """What to keep across a kill and a resume: numbers, strings, lists, dicts (and
        tensors). Default: nothing."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what ``state_dict`` returned (a resumed search, before
        ``on_fit_start``)."""

    def on_fit_start(self, searcher: SearchLoop) -> None:
        """Called once when ``fit`` starts (also when it resumes)."""

    def on_stage_start(self, searcher: SearchLoop, index: int, stage: Stage) -> None:
        """Called when stage ``index`` begins."""

    def on_epoch_end(self, searcher: SearchLoop, record: dict[str, Any]) -> None:
        """Called after each warm-up or strategy epoch, with its metrics."""

    def on_stage_end(self, searcher: SearchLoop, result: StageResult) -> None:
        """Called after a stage derived its architecture."""

    def on_fit_end(self, searcher: SearchLoop, result: SearchResult) -> None:
        """Called once when ``fit`` returns."""


def check_callbacks(callbacks: Sequence[Callback]) -> None:
    """Raise ``ValueError`` when two callbacks with state share a ``state_key``."""
    keys = [cb.state_key for cb in callbacks]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(
            f"callbacks share the state_key {', '.join(map(repr, twice))}: give each its own "
            "(override state_key), so that a resumed search hands each its own state"
        )


def callback_states(callbacks: Sequence[Callback]) -> dict[str, dict[str, Any]]:
    """Every callback's ``state_dict()``, by ``state_key`` (those with state)."""
    states = {}
    for cb in callbacks:
        state = cb.state_dict()
        if state:
            states[cb.state_key] = dict(state)
    return states


def load_callback_states(
    callbacks: Sequence[Callback], states: Mapping[str, Mapping[str, Any]]
) -> None:
    """Hand each callback the state its ``state_key`` has in ``states`` (a callback that
    has none there, one added since, starts afresh)."""
    for cb in callbacks:
        if cb.state_key in states:
            cb.load_state_dict(states[cb.state_key])
