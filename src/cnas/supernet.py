"""``SuperNet``: the weight-sharing network that holds every op of a search space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from ._genotype import Edge, Genotype
from ._validation import check_int
from .ops import FactorizedReduce, ReLUConvBN, get_op
from .ops._blocks import Tail, preactivated_tail
from .space import SearchSpace

__all__ = ["SuperNet"]


def edge_index(src: int, dst: int) -> int:
    """Position of edge ``src -> dst`` among a cell's candidate edges (ordered by dst, src)."""
    return (dst - 2) * (dst + 1) // 2 + src


def _batch_stats_only(module: nn.Module) -> None:
    """Make every BatchNorm normalize with batch statistics, in training and eval alike.

    Weights are shared by many architectures; running statistics would mix them. The
    original search code kept its supernet in training mode throughout, to the same effect.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None


class _GradLayout(torch.autograd.Function):
    """Identity whose backward hands on a gradient made contiguous in a given layout.

    Gradients that reach a tensor in another layout than its own (after slicing, ``cat``
    or a layout switch) make the CPU kernels that consume them take slow, strided paths.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
        ctx.layout = layout
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.contiguous(memory_format=ctx.layout), None


def _dense_grad(x: torch.Tensor) -> torch.Tensor:
    if x.requires_grad and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return _GradLayout.apply(x, torch.channels_last)  # type: ignore[no-any-return]
    return x


class SuperEdge(nn.Module):
    """All candidate ops of one edge; runs one of them by name."""

    def __init__(self, ops: Sequence[str], C: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict()
        for name in ops:
            spec = get_op(name)
            op = spec(C, stride, False)
            if spec.pooling:  # as in the original supernet: pooling gets a BatchNorm
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self.ops[name] = op
        self._tails: dict[str, Tail | None] = {n: preactivated_tail(m) for n, m in self.ops.items()}

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        """Apply candidate ``op`` to ``x``."""
        return self.ops[op](x)  # type: ignore[no-any-return]

    def tail(self, op: str) -> Tail | None:
        """Candidate ``op`` without its leading ReLU, or None if it has none."""
        return self._tails[op]


class SuperCell(nn.Module):
    """A cell holding every candidate edge ``src -> dst`` for ``dst`` in 2..n_nodes+1."""

    def __init__(
        self,
        ops: Sequence[str],
        n_nodes: int,
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.n_nodes = n_nodes
        self.C = C
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_prev_prev, C, affine=False)
            if reduction_prev
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        )
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            SuperEdge(ops, C, 2 if reduction and src < 2 else 1)
            for dst in range(2, n_nodes + 2)
            for src in range(dst)
        )

        self._pre0 = preactivated_tail(self.preprocess0)
        self._pre1 = preactivated_tail(self.preprocess1)

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        edges: Sequence[Edge],
        concat: Sequence[int],
        relu_s0: torch.Tensor | None = None,
        relu_s1: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run only ``edges``; nodes without edges or outside ``concat`` output zeros.

        ``relu_s0`` and ``relu_s1`` may pass ``relu(s0)`` and ``relu(s1)`` when the caller
        has them already (the supernet computes each cell output's ReLU once).
        """
        x0 = self._preprocess(self.preprocess0, self._pre0, s0, relu_s0)
        x1 = self._preprocess(self.preprocess1, self._pre1, s1, relu_s1)
        channels_last = x1.dim() == 4 and x1.is_contiguous(memory_format=torch.channels_last)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        n, _, h, w = x1.shape
        node_shape = (
            (n, self.C, (h + 1) // 2, (w + 1) // 2) if self.reduction else (n, self.C, h, w)
        )
        states: dict[int, torch.Tensor] = {0: x0, 1: x1}
        relued: dict[int, torch.Tensor] = {}

        def zeros() -> torch.Tensor:
            return x1.new_zeros(node_shape).contiguous(memory_format=fmt)

        for op, src, dst in edges:
            if op == "none":  # contributes zeros: nothing to compute
                continue
            if src not in states:  # a node that only 'none' edges reached
                states[src] = zeros()
            edge = cast(SuperEdge, self.edges[edge_index(src, dst)])
            tail = edge.tail(op)
            if tail is not None:  # share one ReLU per input node
                r = relued.get(src)
                if r is None:
                    r = relued[src] = torch.relu(states[src])
                out = tail(r)
            else:
                out = edge(states[src], op)
            out = _dense_grad(out)
            prev = states.get(dst)
            states[dst] = out if prev is None else prev + out
        chunks: list[torch.Tensor] = []
        missing = 0
        for node in range(2, self.n_nodes + 2):
            if node in concat and node in states:
                if missing:
                    chunks.append(torch.cat([zeros()] * missing, dim=1) if missing > 1 else zeros())
                    missing = 0
                chunks.append(_dense_grad(states[node]))
            else:  # not allowed yet in a node curriculum, unused, or reached by 'none' only
                missing += 1
        if missing:
            chunks.append(torch.cat([zeros()] * missing, dim=1) if missing > 1 else zeros())
        out = torch.cat(chunks, dim=1) if len(chunks) > 1 else chunks[0]
        return out.contiguous(memory_format=fmt)

    @staticmethod
    def _preprocess(
        module: nn.Module, tail: Tail | None, x: torch.Tensor, relu_x: torch.Tensor | None
    ) -> torch.Tensor:
        if tail is None:
            return _dense_grad(module(x))
        return _dense_grad(tail(relu_x if relu_x is not None else torch.relu(x)))


class SuperNet(nn.Module):
    """The weight-sharing supernet of a search space (ENAS-style single path).

    Every edge ``src -> dst`` of every cell holds one module per op of the space; a
    forward pass runs only the ops of the given architecture. As in the original
    implementation, every BatchNorm in the cells has ``affine=False`` and pooling ops are
    followed by a BatchNorm; all BatchNorms normalize with batch statistics.

    Args:
        space: The search space; its ``n_nodes`` fixes the cell width.
        C: Channels of the first cells' nodes (16 in the paper).
        num_classes: Output classes.
        layers: Number of cells (8 in the paper); reductions at ``layers // 3`` and
            ``2 * layers // 3``.
        in_channels: Input image channels.
        stem_multiplier: The stem outputs ``stem_multiplier * C`` channels.

    Examples:
        >>> import torch, cnas
        >>> space = cnas.SearchSpace()
        >>> net = cnas.SuperNet(space, C=16, num_classes=10, layers=8)
        >>> cnas.utils.count_params(net)
        1930618
        >>> net(torch.randn(2, 3, 32, 32), space.sample()).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        space: SearchSpace,
        C: int = 16,
        num_classes: int = 10,
        layers: int = 8,
        *,
        in_channels: int = 3,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        for name, value in (
            ("C", C),
            ("num_classes", num_classes),
            ("layers", layers),
            ("in_channels", in_channels),
            ("stem_multiplier", stem_multiplier),
        ):
            check_int(name, value)
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a cnas.SearchSpace, got {type(space).__name__}")
        self.space = space
        self.C = C
        self.num_classes = num_classes
        self.layers = layers
        self.in_channels = in_channels
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(
                SuperCell(
                    space.ops, space.n_nodes, C_prev_prev, C_prev, C_curr, reduction, reduction_prev
                )
            )
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, space.n_nodes * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        _batch_stats_only(self)

    def check_genotype(self, genotype: Genotype) -> None:
        """Raise ``ValueError`` unless the supernet can run ``genotype``.

        It must use only the space's ops and have at most ``space.n_nodes`` nodes.
        """
        if not isinstance(genotype, Genotype):
            raise TypeError(f"expected a cnas.Genotype, got {type(genotype).__name__}")
        unknown = sorted(genotype.ops - set(self.space.ops))
        if unknown:
            raise ValueError(
                f"genotype uses ops outside the search space: {unknown}; "
                f"the space has {list(self.space.ops)}"
            )
        if genotype.n_nodes > self.space.n_nodes:
            raise ValueError(
                f"genotype has {genotype.n_nodes} nodes; the supernet holds {self.space.n_nodes}"
            )

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        """Logits of architecture ``genotype``, running only its ops.

        Raises:
            ValueError: ``genotype`` uses an op outside the space or too many nodes.
        """
        self.check_genotype(genotype)
        s0 = s1 = self.stem(x)
        a0 = a1 = torch.relu(s1)  # each cell starts by applying ReLU to both inputs
        last = len(self.cells) - 1
        for i, cell in enumerate(self.cells):
            edges, concat = genotype.cell("reduce" if cell.reduction else "normal")
            out = cell(s0, s1, edges, concat, a0, a1)
            s0, s1 = s1, out
            a0, a1 = a1, (torch.relu(out) if i < last else out)
        out = self.global_pooling(s1).flatten(1)
        return self.classifier(out)  # type: ignore[no-any-return]
