"""Cell diagrams with graphviz.

``draw`` renders both cells of a genotype into one file. Rendering needs the
graphviz ``dot`` program; without it, ``draw`` writes the graph source (``.gv``)
instead and logs how to install graphviz.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import graphviz

from ._io import atomic_write_bytes, atomic_write_text

__all__ = ["INSTALL_HINT", "Cells", "cell_graph", "draw", "genotype_graph", "to_svg"]

CellName = Literal["normal", "reduce"]


class _Edge(Protocol):
    @property
    def op(self) -> str: ...

    @property
    def src(self) -> int: ...

    @property
    def dst(self) -> int: ...


class Cells(Protocol):
    """What this module draws: a genotype (``cnas.Genotype``; it draws itself in
    notebooks through this module, which therefore knows it only by this shape)."""

    @property
    def n_nodes(self) -> int:
        """Intermediate nodes per cell."""

    def cell(self, name: CellName) -> tuple[Sequence[_Edge], Sequence[int]]:
        """A cell's edges and concatenated nodes."""


logger = logging.getLogger("cnas")

INSTALL_HINT = (
    "install graphviz to render it: 'apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS) or 'conda install graphviz'"
)

_TITLES: dict[CellName, str] = {"normal": "normal cell", "reduce": "reduction cell"}


def _add_cell(graph: graphviz.Digraph, genotype: Cells, cell: CellName, prefix: str) -> None:
    edges, concat = genotype.cell(cell)
    node_attr = {"style": "filled", "shape": "rect", "fontname": "helvetica"}
    graph.node(f"{prefix}0", "c_{k-2}", fillcolor="darkseagreen2", **node_attr)
    graph.node(f"{prefix}1", "c_{k-1}", fillcolor="darkseagreen2", **node_attr)
    for node in range(2, genotype.n_nodes + 2):
        graph.node(f"{prefix}{node}", str(node - 2), fillcolor="lightblue", **node_attr)
    graph.node(f"{prefix}out", "c_{k}", fillcolor="palegoldenrod", **node_attr)
    for edge in edges:
        graph.edge(
            f"{prefix}{edge.src}",
            f"{prefix}{edge.dst}",
            label=edge.op,
            fillcolor="gray",
            fontname="helvetica",
            fontsize="12",
        )
    for node in concat:
        graph.edge(f"{prefix}{node}", f"{prefix}out", fillcolor="gray")


def cell_graph(genotype: Cells, cell: CellName = "normal") -> graphviz.Digraph:
    """A graphviz graph of one cell (``"normal"`` or ``"reduce"``)."""
    graph = graphviz.Digraph(
        name=cell, graph_attr={"rankdir": "LR", "label": _TITLES[cell], "fontname": "helvetica"}
    )
    _add_cell(graph, genotype, cell, prefix="")
    return graph


def genotype_graph(genotype: Cells, title: str | None = None) -> graphviz.Digraph:
    """A graphviz graph with both cells of ``genotype`` side by side."""
    graph = graphviz.Digraph(name="genotype", graph_attr={"rankdir": "LR", "fontname": "helvetica"})
    if title:
        graph.attr(label=title, labelloc="t")
    # graphviz stacks clusters bottom-up under rankdir=LR: add reduce first, normal on top
    for cell in ("reduce", "normal"):
        with graph.subgraph(name=f"cluster_{cell}") as sub:
            sub.attr(label=_TITLES[cell], style="rounded", color="gray70")
            _add_cell(sub, genotype, cell, prefix=f"{cell}_")
    return graph


def draw(
    genotype: Cells,
    path: str | os.PathLike[str],
    format: str = "svg",
    *,
    title: str | None = None,
) -> Path:
    """Render both cells of ``genotype`` to ``path`` (written atomically).

    Args:
        genotype: The architecture to draw.
        path: The output file, written as given.
        format: Any graphviz output format (``svg``, ``png``, ``pdf``, ...).
        title: An optional caption.

    Returns:
        ``path``; or, when the graphviz ``dot`` program is missing, the path of the
        ``.gv`` source written beside it instead (a warning says how to install graphviz).

    Raises:
        ValueError: ``format`` is not a graphviz output format.
    """
    if format not in graphviz.FORMATS:
        raise ValueError(
            f"unknown drawing format {format!r}; try one of svg, png, pdf "
            f"(graphviz knows {len(graphviz.FORMATS)} formats)"
        )
    graph = genotype_graph(genotype, title)
    target = Path(path)
    try:
        data = graph.pipe(format=format)
    except graphviz.ExecutableNotFound:
        source = target.with_suffix(".gv")
        atomic_write_text(source, graph.source)
        if not _WARNED:  # once per process: a search draws every stage's cells
            _WARNED.append(True)
            logger.warning(
                "graphviz 'dot' was not found, so %s was not drawn; wrote the graph "
                "source to %s instead (and will for later drawings); %s",
                target,
                source,
                INSTALL_HINT,
            )
        else:
            logger.info("graphviz 'dot' was not found; wrote %s instead of %s", source, target)
        return source
    atomic_write_bytes(target, data)
    return target


_WARNED: list[bool] = []


def to_svg(genotype: Cells) -> str | None:
    """Both cells as an SVG string, or ``None`` when graphviz ``dot`` is not installed."""
    try:
        return genotype_graph(genotype).pipe(format="svg").decode("utf-8")  # type: ignore[no-any-return]
    except graphviz.ExecutableNotFound:
        return None
