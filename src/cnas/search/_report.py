"""``report.md`` of a search: its stages, their accuracy and cells, the final genotype."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import atomic_path
from ._results import StageResult

if TYPE_CHECKING:
    from ..costs import Budget, Costs

__all__ = ["FRONT_FIGURE", "front_points", "search_report"]

logger = logging.getLogger("cnas")

FRONT_FIGURE = "front.png"
PLOT_HINT = 'pip install "cnas[plot]"'
_LABELS = {"params": "params", "madds": "MAdds", "latency_ms": "latency (ms)"}


def search_report(
    output_dir: Path,
    strategy: str,
    stage_results: Sequence[StageResult],
    budget: Budget | None = None,
) -> str:
    """The Markdown report of a search in ``output_dir`` after ``stage_results`` (with a
    budget: the last stage's accuracy/cost front, and its figure when matplotlib is
    installed)."""
    lines = [
        "# cnas search report",
        "",
        f"Output folder: `{output_dir}`; strategy `{strategy}`.",
        "",
        "| stage | ops | nodes | allowed ops | val top-1 | derive mean ± std (n) | cells |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    sources = False
    for r in stage_results:
        folder = f"stages/stage-{r.index + 1}"
        picture = ""
        if (output_dir / folder / "cells.svg").exists():
            picture = f"![stage {r.index + 1}]({folder}/cells.svg)"
        elif (output_dir / folder / "cells.gv").exists():
            picture, sources = f"[cells.gv]({folder}/cells.gv) (source)", True
        spread = (
            f"{100 * r.accuracy_mean:.2f} ± {100 * (r.accuracy_std or 0.0):.2f}% ({r.evaluated})"
            if r.accuracy_mean is not None
            else ""
        )
        lines.append(
            f"| {r.index + 1} | {r.n_ops} | {r.n_nodes} | {', '.join(r.ops)} | "
            f"{100 * r.val_accuracy:.2f}% | {spread} | {picture} |"
        )
    if sources:
        from ..viz import INSTALL_HINT

        lines += [
            "",
            "graphviz's `dot` was not found when the cells were drawn, so each stage has "
            "its graph source, `cells.gv`, instead of `cells.svg`; `dot -Tsvg cells.gv -o "
            f"cells.svg` draws one. To draw them during the search, {INSTALL_HINT}.",
        ]
    lines += ["", "## Final genotype", "", "```python", repr(stage_results[-1].genotype)]
    lines += ["```"]
    if budget is not None and stage_results[-1].scored:
        lines += _front_section(output_dir, stage_results[-1], budget)
    return "\n".join(lines) + "\n"


def front_points(result: StageResult) -> list[dict[str, Any]]:
    """A stage's scored candidates as flat records: ``accuracy``, the costs, ``within``
    and the genotype (one per distinct genotype, its first score)."""
    points: dict[Any, dict[str, Any]] = {}
    for c in result.scored:
        if c.genotype not in points:
            points[c.genotype] = {"accuracy": c.accuracy, **c.stats, "genotype": c.genotype}
    return list(points.values())


def _front_section(output_dir: Path, result: StageResult, budget: Budget) -> list[str]:
    from ..costs import pareto_front

    metrics = list(budget.limits())
    points = front_points(result)
    front = pareto_front(points, metrics)
    final = result.genotype
    within = sum(1 for p in points if p.get("within"))
    lines = [
        "",
        f"## Accuracy and cost (stage {result.index + 1})",
        "",
        f"Budget: {budget.describe()} on {budget.spec.describe()} ({budget.penalty} penalty). "
        f"The stage scored {len(points)} distinct cells, {within} within the budget; the "
        "front holds those that no other cell beats on validation accuracy and "
        f"{', '.join(_LABELS[m] for m in metrics)} together. The final cell (**bold**) is "
        "the most accurate one within the budget.",
        "",
        "| val top-1 | costs | within | ops (normal / reduce) |",
        "| --- | --- | --- | --- |",
    ]
    for p in front:
        g = p["genotype"]
        mark = "**" if g == final else ""
        ops = f"{', '.join(e.op for e in g.normal)} / {', '.join(e.op for e in g.reduce)}"
        lines.append(
            f"| {mark}{100 * p['accuracy']:.2f}%{mark} | {_costs(p).describe()} | "
            f"{'yes' if p.get('within') else 'no'} | {ops} |"
        )
    if final not in {p["genotype"] for p in front}:
        lines += ["", "(The final cell is not on the front: a cheaper cell is as accurate.)"]
    if _front_figure(output_dir / FRONT_FIGURE, points, front, budget, metrics[0], final):
        lines += ["", f"![accuracy and cost]({FRONT_FIGURE})"]
    else:
        lines += ["", f"The figure needs matplotlib: `{PLOT_HINT}`."]
    return lines


def _costs(point: Mapping[str, Any]) -> Costs:
    from ..costs import Costs

    return Costs(point["params"], point["madds"], point.get("latency_ms"))


def _front_figure(
    path: Path,
    points: Sequence[dict[str, Any]],
    front: Sequence[Any],
    budget: Budget,
    metric: str,
    final: Any,
) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    inside = [p for p in points if p.get("within")]
    outside = [p for p in points if not p.get("within")]
    for group, label, style in ((inside, "within", "o"), (outside, "over the limit", "x")):
        if group:
            ax.scatter(
                [p[metric] for p in group],
                [100 * p["accuracy"] for p in group],
                marker=style,
                s=22,
                alpha=0.7,
                label=label,
            )
    ordered = sorted(front, key=lambda p: p[metric])
    if len(budget.limits()) > 1:  # a front over several costs is not a line in one of them
        ax.scatter([p[metric] for p in ordered], [100 * p["accuracy"] for p in ordered],
                   s=40, facecolors="none", edgecolors="black", label="front")  # fmt: skip
        ordered = []
    if ordered:
        ax.step(
            [p[metric] for p in ordered],
            [100 * p["accuracy"] for p in ordered],
            where="post",
            color="black",
            linewidth=1,
            label="front",
        )
    best = [p for p in points if p["genotype"] == final]
    if best:
        ax.scatter([best[0][metric]], [100 * best[0]["accuracy"]], s=90, facecolors="none",
                   edgecolors="red", label="final cell")  # fmt: skip
    ax.axvline(budget.limits()[metric], color="red", linestyle="--", linewidth=1, label="limit")
    ax.set_xlabel(_LABELS[metric])
    ax.set_ylabel("val top-1 (%), supernet weights")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    except OSError as exc:
        logger.warning("no front figure: %s", exc)
        return False
    finally:
        plt.close(fig)
    return True
