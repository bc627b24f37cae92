"""What an architecture reaches in a supernet: the modules its forward pass connects to
the logits, counting ``none`` edges as reading their input, as the original's ``none``
op (``x * 0``) does. The search gives the weights of these modules that got no gradient
a zero one (``OptimizerConfig.idle_weights``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from torch import nn

from ._genotype import Genotype
from ._mixed_weights import MixedWeights, _nodes_for_edges, edge_index

__all__ = ["reached_modules"]

CellKind = Literal["normal", "reduce"]


class _Cell(Protocol):
    @property
    def reduction(self) -> bool: ...
    @property
    def preprocess0(self) -> nn.Module: ...
    @property
    def preprocess1(self) -> nn.Module: ...
    @property
    def edges(self) -> nn.ModuleList: ...


def _edge_op(cell: _Cell, src: int, dst: int, op: str) -> nn.Module:
    ops = cell.edges[edge_index(src, dst)].ops
    assert isinstance(ops, nn.ModuleDict)
    return ops[op]


def cell_reached(
    cell: _Cell, arch: Genotype | MixedWeights, kind: CellKind
) -> tuple[list[nn.Module], set[int]]:
    """The modules of ``cell`` that ``arch`` connects to the cell's output, and which of
    the cell's inputs (0: ``s0``, 1: ``s1``) they read."""
    modules: list[nn.Module] = []
    reads: set[int] = set()
    if isinstance(arch, MixedWeights):
        weights, active = arch.cell(kind)
        n_nodes = _nodes_for_edges(weights.shape[0])
        assert n_nodes is not None
        for dst in range(2, n_nodes + 2):
            for src in range(dst):  # every op of an edge, 'none' too, reads its input
                e = edge_index(src, dst)
                for j in range(len(arch.ops)) if active is None else (active[e],):
                    if arch.ops[j] != "none":
                        modules.append(_edge_op(cell, src, dst, arch.ops[j]))
                if src < 2:
                    reads.add(src)
    else:
        edges, concat = arch.cell(kind)
        needed = {e.dst for e in edges if e.dst in concat}
        for op, src, dst in sorted(edges, key=lambda e: -e.dst):  # later nodes first
            if dst not in needed:
                continue
            if op != "none":
                modules.append(_edge_op(cell, src, dst, op))
            if src < 2:
                reads.add(src)
            else:
                needed.add(src)
    if 0 in reads:
        modules.append(cell.preprocess0)
    if 1 in reads:
        modules.append(cell.preprocess1)
    return modules, reads


def reached_modules(
    stem: nn.Module,
    cells: Sequence[_Cell],
    classifier: nn.Module,
    arch: Genotype | MixedWeights,
) -> list[nn.Module]:
    """The modules of a supernet (its ``stem``, ``cells`` and ``classifier``) that ``arch``
    connects to the logits: from the last cell back, each cell that a later one reads
    (cell ``i`` reads cell ``i - 2`` as ``s0`` and cell ``i - 1`` as ``s1``, the stem
    before the first)."""
    needed = [False] * len(cells)
    needed[-1] = True
    reads_stem = False
    modules: list[nn.Module] = [classifier]
    for i in reversed(range(len(cells))):
        if not needed[i]:
            continue
        cell = cells[i]
        cell_modules, reads = cell_reached(cell, arch, "reduce" if cell.reduction else "normal")
        modules += cell_modules
        for which, source in ((0, i - 2), (1, i - 1)):
            if which in reads:
                if source >= 0:
                    needed[source] = True
                else:
                    reads_stem = True
    if reads_stem:
        modules.append(stem)
    return modules
