"""``MixedWeights``: the architecture weights of the supernet's mixed mode, and how a
cell's candidate edges are numbered."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["MixedWeights", "edge_count", "edge_index"]


def edge_index(src: int, dst: int) -> int:
    """Position of edge ``src -> dst`` among a cell's candidate edges (ordered by dst, src)."""
    return (dst - 2) * (dst + 1) // 2 + src


def edge_count(n_nodes: int) -> int:
    """Candidate edges of a cell with ``n_nodes`` intermediate nodes: ``n (n + 3) / 2``."""
    return n_nodes * (n_nodes + 3) // 2


def _nodes_for_edges(n_edges: int) -> int | None:
    """The node count whose cells have ``n_edges`` candidate edges, if there is one."""
    n = (math.isqrt(9 + 8 * n_edges) - 3) // 2
    return n if n >= 1 and edge_count(n) == n_edges else None


@dataclass(frozen=True, eq=False)
class MixedWeights:
    """Per-edge op weights of both cell types: what the supernet's mixed mode runs.

    ``supernet(x, MixedWeights(normal, reduce, ops))`` computes every edge ``src -> dst``
    as ``sum_j normal[edge_index(src, dst), j] * op_j(x_src)`` over the ops ``ops`` (in
    reduction cells with ``reduce``), DARTS's weighted ("mixed") supernet. Row ``e`` is
    the edge ``src -> dst`` with ``e = (dst - 2)(dst + 1) / 2 + src``: edges ordered by
    destination node, then source node (``0 -> 2, 1 -> 2, 0 -> 3, 1 -> 3, 2 -> 3, ...``).
    With ``n`` rows-worth of nodes, ``n (n + 3) / 2`` rows: 14 for 4 nodes.

    The weights decide what runs: only the ops in ``ops`` (a curriculum stage's ops; the
    others get no compute) and only the first ``n_nodes`` nodes (given by the row count;
    later nodes output zeros, as in a node curriculum's single-path cells). ``none`` is
    never computed: its weight only scales the others down through a softmax.

    Attributes:
        normal: ``(n_edges, len(ops))`` weights of the normal cells.
        reduce: ``(n_edges, len(ops))`` weights of the reduction cells.
        ops: The op of each weight column, names of the supernet's space.
        active: ``None`` (every op of every edge runs), or a pair ``(normal, reduce)`` of
            one column index per edge: each edge then runs only that op, scaled by its
            weight (GDAS's one path per step; the other columns get no compute).

    Raises:
        ValueError: mismatched shapes, a row count that fits no node count, duplicate
            ops, or ``active`` indices out of range.

    Examples:
        >>> import torch, cnas
        >>> space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect", "none"], n_nodes=2)
        >>> net = cnas.SuperNet(space, C=4, num_classes=10, layers=3)
        >>> w = torch.softmax(torch.zeros(5, 3), dim=-1)      # 2 nodes: 5 edges
        >>> weights = cnas.MixedWeights(w, w, space.ops)
        >>> weights.n_nodes
        2
        >>> net(torch.randn(2, 3, 8, 8), weights).shape
        torch.Size([2, 10])
    """

    normal: torch.Tensor
    reduce: torch.Tensor
    ops: tuple[str, ...]
    active: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"MixedWeights: ops lists an op twice: {list(self.ops)}")
        for name, w in (("normal", self.normal), ("reduce", self.reduce)):
            if not isinstance(w, torch.Tensor) or w.dim() != 2:
                raise ValueError(f"MixedWeights: {name} must be a 2-D tensor (edges, ops)")
            if w.shape[1] != len(self.ops):
                raise ValueError(
                    f"MixedWeights: {name} has {w.shape[1]} columns for {len(self.ops)} ops "
                    f"{list(self.ops)}"
                )
        if self.normal.shape != self.reduce.shape:
            raise ValueError(
                f"MixedWeights: normal {tuple(self.normal.shape)} and reduce "
                f"{tuple(self.reduce.shape)} differ in shape"
            )
        if _nodes_for_edges(self.normal.shape[0]) is None:
            valid = ", ".join(f"{edge_count(n)} ({n} nodes)" for n in range(1, 6))
            raise ValueError(
                f"MixedWeights: {self.normal.shape[0]} rows fit no cell; a cell with n nodes "
                f"has n (n + 3) / 2 edges: {valid}, ..."
            )
        if self.active is not None:
            active = tuple(tuple(int(j) for j in cell) for cell in self.active)
            if len(active) != 2:
                raise ValueError("MixedWeights: active must be a pair (normal, reduce)")
            for name, cell in zip(("normal", "reduce"), active, strict=True):
                if len(cell) != self.normal.shape[0] or not all(
                    0 <= j < len(self.ops) for j in cell
                ):
                    raise ValueError(
                        f"MixedWeights: active {name} needs one op index in 0..{len(self.ops) - 1} "
                        f"per edge ({self.normal.shape[0]}), got {list(cell)}"
                    )
            object.__setattr__(self, "active", active)

    @property
    def n_nodes(self) -> int:
        """The intermediate nodes per cell the weights cover (from the row count)."""
        n = _nodes_for_edges(self.normal.shape[0])
        assert n is not None
        return n

    def cell(self, name: str) -> tuple[torch.Tensor, tuple[int, ...] | None]:
        """The weights and active indices of the ``"normal"`` or ``"reduce"`` cell."""
        if name not in ("normal", "reduce"):
            raise ValueError(f"unknown cell {name!r}; expected 'normal' or 'reduce'")
        index = 0 if name == "normal" else 1
        active = None if self.active is None else self.active[index]
        return (self.normal if index == 0 else self.reduce), active
