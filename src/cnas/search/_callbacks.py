"""``Callback``: hooks into a search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..curriculum import Stage
    from ._results import SearchResult, StageResult
    from ._searcher import Searcher

__all__ = ["Callback"]


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
        """Called after each warm-up or strategy epoch, with its metrics."""

    def on_stage_end(self, searcher: Searcher, result: StageResult) -> None:
        """Called after a stage derived its architecture."""

    def on_fit_end(self, searcher: Searcher, result: SearchResult) -> None:
        """Called once when ``fit`` returns."""
