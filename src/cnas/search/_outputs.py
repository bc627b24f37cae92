"""What a search writes when a stage ends: the stage's genotype, result and cells, the
search's genotype so far, and ``report.md``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._io import atomic_write_text
from ._report import search_report
from ._results import StageResult
from ._state import stage_folder

if TYPE_CHECKING:
    from ..costs import Budget

__all__ = ["write_report", "write_stage"]


def write_stage(output_dir: Path, result: StageResult, draw: bool) -> None:
    """Write ``stages/stage-K/`` (``genotype.json``, ``result.json`` and, with ``draw``,
    ``cells.svg``) and the search's ``genotype.json`` (the latest stage's)."""
    folder = stage_folder(output_dir, result.index)
    result.genotype.save(folder / "genotype.json", overwrite=True)
    atomic_write_text(folder / "result.json", json.dumps(result.to_dict(), indent=2))
    if draw:
        from ..viz import draw as draw_cells

        draw_cells(
            result.genotype,
            folder / "cells.svg",
            title=f"stage {result.index + 1}: {result.n_ops} op(s), {result.n_nodes} "
            f"node(s), val top-1 {100 * result.val_accuracy:.2f}%",
        )
    result.genotype.save(output_dir / "genotype.json", overwrite=True)


def write_report(
    output_dir: Path,
    strategy: str,
    results: Sequence[StageResult],
    budget: Budget | None,
) -> None:
    """Write ``report.md`` (nothing before the first stage ends)."""
    if results:
        text = search_report(output_dir, strategy, results, budget)
        atomic_write_text(output_dir / "report.md", text)
