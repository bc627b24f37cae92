"""``SearchSpace``: the cells a search may sample, and how many there are."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ._genotype import Genotype
from ._io import shorten
from ._validation import check_int
from .ops import DARTS_OPS as DARTS_OPS
from .ops import get_op

__all__ = ["DARTS_OPS", "MAX_NODES", "SearchSpace"]

MAX_NODES = 32
"""The most intermediate nodes a search space's cells may have (DARTS cells have 4)."""


class SearchSpace:
    """The DARTS cell space over an ordered list of candidate ops.

    A cell has two input nodes and ``n_nodes`` intermediate nodes; node ``t`` (2..n+1)
    takes two edges ``(op, src, t)`` with ``src < t``, and the cell output concatenates
    all intermediate nodes. An architecture is a pair of cells (normal, reduction).

    Args:
        ops: Op names from the op registry, in order (the curriculum and the controller
            index them by position). Defaults to ``cnas.DARTS_OPS``.
        n_nodes: Intermediate nodes per cell.

    Raises:
        ValueError: an unknown or duplicated op, no ops, or ``n_nodes < 1``.

    Examples:
        >>> import cnas
        >>> space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
        >>> space.restrict(n_ops=1).size()
        7290000
        >>> f"{space.size():.2e}"
        '3.12e+20'
    """

    __slots__ = ("_n_nodes", "_ops")

    def __init__(self, ops: Iterable[str] = DARTS_OPS, n_nodes: int = 4) -> None:
        if isinstance(ops, str):
            raise ValueError(f"ops must be a list of op names, got the string {shorten(ops)}")
        op_list = tuple(ops)
        if not op_list:
            raise ValueError("a search space needs at least one op")
        seen: set[str] = set()
        for name in op_list:
            try:
                get_op(name)
            except KeyError as exc:
                raise ValueError(f"search space: {exc}") from None
            if name in seen:
                raise ValueError(f"search space: op {shorten(name)} is listed twice")
            seen.add(name)
        check_int("n_nodes", n_nodes)
        if n_nodes > MAX_NODES:
            raise ValueError(
                f"n_nodes must be at most {MAX_NODES} (a supernet cell of {n_nodes} nodes has "
                f"{n_nodes * (n_nodes + 3) // 2} edges), got {n_nodes}"
            )
        self._ops = op_list
        self._n_nodes = n_nodes

    @property
    def ops(self) -> tuple[str, ...]:
        """The candidate op names, in order."""
        return self._ops

    @property
    def n_ops(self) -> int:
        """The number of candidate ops."""
        return len(self._ops)

    @property
    def n_nodes(self) -> int:
        """Intermediate nodes per cell."""
        return self._n_nodes

    def __repr__(self) -> str:
        return f"SearchSpace(ops={list(self._ops)!r}, n_nodes={self._n_nodes})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return (self._ops, self._n_nodes) == (other._ops, other._n_nodes)

    def __hash__(self) -> int:
        return hash((self._ops, self._n_nodes))

    def cell_size(self) -> int:
        """The number of distinct cells.

        Node ``t`` picks two (op, input) choices out of ``m = n_ops * t`` (inputs
        ``0..t-1``), and their order does not matter since the node sums them: a node has
        ``m (m + 1) / 2`` distinct configurations, and a cell the product over
        ``t = 2..n_nodes+1``.
        """
        total = 1
        for t in range(2, self._n_nodes + 2):
            m = self.n_ops * t
            total *= m * (m + 1) // 2
        return total

    def size(self) -> int:
        """The number of distinct architectures: (normal cell, reduction cell) pairs."""
        return self.cell_size() ** 2

    def log10_size(self) -> float:
        """``log10(size())``, handy to print the space explosion."""
        return 2 * math.log10(self.cell_size())

    def restrict(self, n_ops: int | None = None, n_nodes: int | None = None) -> SearchSpace:
        """The sub-space of the first ``n_ops`` ops and ``n_nodes`` nodes.

        Raises:
            ValueError: a count below 1 or above this space's.
        """
        k, n = self._limits(n_ops, n_nodes)
        return SearchSpace(self._ops[:k], n)

    def _limits(self, n_ops: int | None, n_nodes: int | None) -> tuple[int, int]:
        """``(n_ops, n_nodes)`` with ``None`` meaning all, checked against this space."""
        k = self.n_ops if n_ops is None else n_ops
        n = self._n_nodes if n_nodes is None else n_nodes
        if not isinstance(k, int) or not 1 <= k <= self.n_ops:
            raise ValueError(f"n_ops must be in 1..{self.n_ops}, got {k!r}")
        if not isinstance(n, int) or not 1 <= n <= self._n_nodes:
            raise ValueError(f"n_nodes must be in 1..{self._n_nodes}, got {n!r}")
        return k, n

    def sample(self, generator: torch.Generator | None = None) -> Genotype:
        """A uniformly random architecture (each edge's input and op drawn uniformly)."""
        cells: list[list[tuple[str, int, int]]] = []
        for _ in range(2):
            edges: list[tuple[str, int, int]] = []
            for t in range(2, self._n_nodes + 2):
                srcs = torch.randint(0, t, (2,), generator=generator).tolist()
                ops = torch.randint(0, self.n_ops, (2,), generator=generator).tolist()
                edges += [(self._ops[o], s, t) for o, s in zip(ops, srcs, strict=True)]
            cells.append(edges)
        return Genotype(cells[0], None, cells[1], None)

    def __contains__(self, genotype: object) -> bool:
        """Whether ``genotype`` uses only this space's ops, has ``n_nodes`` nodes and
        concatenates all of them."""
        if not isinstance(genotype, Genotype):
            return False
        full = tuple(range(2, self._n_nodes + 2))
        return (
            genotype.n_nodes == self._n_nodes
            and genotype.ops <= set(self._ops)
            and genotype.normal_concat == full
            and genotype.reduce_concat == full
        )
