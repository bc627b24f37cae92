"""``report.md`` of a search: its stages, their accuracy and cells, the final genotype."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._results import StageResult

__all__ = ["search_report"]


def search_report(output_dir: Path, strategy: str, stage_results: Sequence[StageResult]) -> str:
    """The Markdown report of a search in ``output_dir`` after ``stage_results``."""
    lines = [
        "# cnas search report",
        "",
        f"Output folder: `{output_dir}`; strategy `{strategy}`.",
        "",
        "| stage | ops | nodes | allowed ops | val top-1 | derive mean ± std (n) | cells |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in stage_results:
        folder = f"stages/stage-{r.index + 1}"
        picture = (
            f"![stage {r.index + 1}]({folder}/cells.svg)"
            if (output_dir / folder / "cells.svg").exists()
            else ""
        )
        spread = (
            f"{100 * r.accuracy_mean:.2f} ± {100 * (r.accuracy_std or 0.0):.2f}% ({r.evaluated})"
            if r.accuracy_mean is not None
            else ""
        )
        lines.append(
            f"| {r.index + 1} | {r.n_ops} | {r.n_nodes} | {', '.join(r.ops)} | "
            f"{100 * r.val_accuracy:.2f}% | {spread} | {picture} |"
        )
    lines += ["", "## Final genotype", "", "```python", repr(stage_results[-1].genotype)]
    lines += ["```"]
    return "\n".join(lines) + "\n"
