"""``ArchParameters``: the architecture logits of gradient-based search (DARTS, GDAS)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._genotype import Genotype
from ..space import SearchSpace
from ..supernet import MixedWeights, edge_count, edge_index

__all__ = ["ArchParameters"]

_CELLS = ("normal", "reduce")


class ArchParameters(nn.Module):
    """Architecture parameters of a gradient-based search: one logit per edge and op.

    DARTS's "alphas": for each cell type, a ``(n_edges, n_ops)`` matrix of logits whose
    row-wise softmax weights the candidate ops of every edge in the supernet's mixed
    mode. Rows follow the supernet's edge order (``MixedWeights``); columns follow
    ``op_names``, the order in which a curriculum introduces the ops, so that a stage
    allowing ``n_ops`` ops and ``n_nodes`` nodes uses the top-left block
    ``[:edge_count(n_nodes), :n_ops]``; the rest is neither used nor changed.

    Args:
        space: The search space (its ``n_nodes`` fixes the rows).
        op_order: The column order: a permutation of the space's ops (default: the
            space's own order), e.g. ``schedule.op_order``.
        init_scale: The logits start as ``init_scale * N(0, 1)`` (DARTS: 1e-3).
        generator: Random numbers for the initial logits.

    Raises:
        ValueError: ``op_order`` is not a permutation of the space's ops.

    Examples:
        >>> import torch, cnas
        >>> space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
        >>> alphas = cnas.ArchParameters(space, generator=torch.Generator().manual_seed(0))
        >>> tuple(alphas.normal.shape)
        (14, 8)
        >>> w = alphas.weights(n_ops=3, n_nodes=2)      # a stage: 3 ops, 2 nodes
        >>> tuple(w.normal.shape), w.ops
        ((5, 3), ('sep_conv_3x3', 'sep_conv_5x5', 'max_pool_3x3'))
        >>> alphas.derive(n_ops=3, n_nodes=2) in space.restrict(n_ops=3, n_nodes=2)
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        op_order: Sequence[str] | None = None,
        *,
        init_scale: float = 1e-3,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a cnas.SearchSpace, got {type(space).__name__}")
        order = tuple(space.ops if op_order is None else op_order)
        if sorted(order) != sorted(space.ops):
            raise ValueError(
                f"op order {list(order)} is not a permutation of the space's ops {list(space.ops)}"
            )
        self.space = space
        self.op_names = order
        shape = (edge_count(space.n_nodes), space.n_ops)
        self.normal = nn.Parameter(init_scale * torch.randn(shape, generator=generator))
        self.reduce = nn.Parameter(init_scale * torch.randn(shape, generator=generator))

    def logits(
        self, n_ops: int | None = None, n_nodes: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(normal, reduce)`` logits of the first ``n_ops`` ops and ``n_nodes`` nodes."""
        k, n = self.space._limits(n_ops, n_nodes)
        rows = edge_count(n)
        return self.normal[:rows, :k], self.reduce[:rows, :k]

    def weights(self, n_ops: int | None = None, n_nodes: int | None = None) -> MixedWeights:
        """DARTS's mixture: the row-wise softmax of the logits, differentiable."""
        k, n = self.space._limits(n_ops, n_nodes)
        normal, reduce = self.logits(k, n)
        return MixedWeights(normal.softmax(-1), reduce.softmax(-1), self.op_names[:k])

    def uniform(self, n_ops: int | None = None, n_nodes: int | None = None) -> MixedWeights:
        """Equal weights ``1 / n_ops`` on every op of every edge (no gradient)."""
        k, n = self.space._limits(n_ops, n_nodes)
        w = torch.full((edge_count(n), k), 1.0 / k, device=self.normal.device)
        return MixedWeights(w, w, self.op_names[:k])

    def sample(
        self,
        tau: float,
        n_ops: int | None = None,
        n_nodes: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> MixedWeights:
        """GDAS's draw: one op per edge by hard Gumbel-softmax, with straight-through gradients.

        Each edge's op is ``argmax(logits + g)`` with Gumbel noise ``g``; its weight has the
        value 1 and the gradient of ``softmax((log_softmax(logits) + g) / tau)``, so that
        the loss reaches every logit of the edge while only one op runs (``active``).

        Args:
            tau: The softmax temperature (GDAS anneals it from 10 to 0.1).
            n_ops: Ops allowed (the first ones of ``op_names``).
            n_nodes: Nodes allowed.
            generator: Random numbers for the noise (drawn on the CPU).
        """
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        k, n = self.space._limits(n_ops, n_nodes)
        hard: list[torch.Tensor] = []
        active: list[tuple[int, ...]] = []
        for logits in self.logits(k, n):
            u = torch.rand(logits.shape, generator=generator).clamp_(1e-20, 1.0 - 1e-7)
            gumbel = (-torch.log(-torch.log(u))).to(logits.device)
            soft = ((logits.log_softmax(-1) + gumbel) / tau).softmax(-1)
            index = (logits.detach() + gumbel).argmax(-1)
            one_hot = F.one_hot(index, k).to(soft.dtype)
            hard.append(one_hot - soft.detach() + soft)
            active.append(tuple(index.tolist()))
        return MixedWeights(hard[0], hard[1], self.op_names[:k], (active[0], active[1]))

    def sample_uniform(
        self,
        n_ops: int | None = None,
        n_nodes: int | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> MixedWeights:
        """One op per edge drawn uniformly, with weight 1 (no gradient): GDAS's warm-up."""
        k, n = self.space._limits(n_ops, n_nodes)
        rows = edge_count(n)
        picks = torch.randint(0, k, (2, rows), generator=generator).tolist()
        w = torch.ones(rows, k, device=self.normal.device)
        return MixedWeights(w, w, self.op_names[:k], (tuple(picks[0]), tuple(picks[1])))

    def entropy(self, n_ops: int | None = None, n_nodes: int | None = None) -> float:
        """Mean entropy (nats) of the op distributions of the allowed edges, both cells."""
        with torch.no_grad():
            total = [
                -(logits.log_softmax(-1) * logits.softmax(-1)).sum(-1).mean()
                for logits in self.logits(n_ops, n_nodes)
            ]
        return float(sum(total)) / 2

    def squared_norm(self, n_ops: int | None = None, n_nodes: int | None = None) -> torch.Tensor:
        """Sum of the squared logits in use: the weight decay acts on these only."""
        normal, reduce = self.logits(n_ops, n_nodes)
        return normal.square().sum() + reduce.square().sum()

    def admit_ops(self, old_n_ops: int, new_n_ops: int) -> None:
        """Give ops ``old_n_ops .. new_n_ops - 1`` neutral logits when a stage admits them.

        Each edge's new logits are set to the mean of its existing ones, so that a new op
        starts with the geometric mean of the weights the edge's ops had, and the existing
        ops keep their relative weights. The mean, not zero: a softmax ignores a common
        shift of an edge's logits, and trained logits drift by such shifts, so zero has no
        meaning relative to them. With one existing op, the two then weigh the same.
        """
        if not 1 <= old_n_ops <= new_n_ops <= self.space.n_ops:
            raise ValueError(
                f"admit_ops needs 1 <= old_n_ops <= new_n_ops <= {self.space.n_ops}, got "
                f"{old_n_ops} and {new_n_ops}"
            )
        with torch.no_grad():
            for logits in (self.normal, self.reduce):
                mean = logits[:, :old_n_ops].mean(-1, keepdim=True)
                logits[:, old_n_ops:new_n_ops] = mean

    def derive(self, n_ops: int | None = None, n_nodes: int | None = None) -> Genotype:
        """The discrete architecture, as DARTS derives it.

        For every node, its two incoming edges with the strongest non-``none`` op (by
        softmax weight over the allowed ops, ``none`` included in the softmax) are kept,
        each with that op. Ties go to the lower source node and the earlier op. Only when
        ``none`` is the sole allowed op does the genotype use it.
        """
        k, n = self.space._limits(n_ops, n_nodes)
        ops = self.op_names[:k]
        candidates = [j for j, op in enumerate(ops) if op != "none"] or [0]
        cells: list[list[tuple[str, int, int]]] = []
        with torch.no_grad():
            for logits in self.logits(k, n):
                weights = logits.softmax(-1)[:, candidates].cpu()
                edges: list[tuple[str, int, int]] = []
                for dst in range(2, n + 2):
                    rows = weights[[edge_index(src, dst) for src in range(dst)]]
                    strength, best = rows.max(-1)  # first maximum: the earlier op on ties
                    order = sorted(range(dst), key=lambda src: (-float(strength[src]), src))
                    edges += [(ops[candidates[int(best[src])]], src, dst) for src in order[:2]]
                cells.append(edges)
        return Genotype(cells[0], None, cells[1], None)

    def extra_repr(self) -> str:
        return f"ops={list(self.op_names)}, n_nodes={self.space.n_nodes}"


def tau_at(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """GDAS's temperature: linear from ``tau_max`` (first epoch) to ``tau_min`` (last)."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)


def edge_entropy_bound(n_ops: int) -> float:
    """The entropy of a uniform choice among ``n_ops`` ops (the warm-up's)."""
    return math.log(n_ops)
