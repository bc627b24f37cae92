"""``SuperNet``: the weight-sharing network that holds every op of a search space."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, cast

import torch
from torch import nn

from . import kernels
from ._genotype import Edge, Genotype
from ._mixed_weights import MixedWeights as MixedWeights
from ._mixed_weights import _nodes_for_edges
from ._mixed_weights import edge_count as edge_count
from ._mixed_weights import edge_index as edge_index
from ._reach import reached_modules
from ._supernet_paths import dense_grad as _dense_grad
from ._supernet_paths import is_channels_last as _is_channels_last
from ._supernet_paths import recomputing_body as _recomputing_body
from ._validation import check_images, check_network_sizes
from .ops import (
    FactorizedReduce,
    FinalBatchNorm,
    ReLUConvBN,
    get_op,
    split_final_batchnorm,
)
from .ops import _preactivated_tail as preactivated_tail
from .ops import _Tail as Tail
from .space import SearchSpace

__all__ = ["MixedWeights", "SuperNet", "edge_count", "edge_index"]


@functools.lru_cache(maxsize=4096)
def _index_tensor(indices: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(indices, dtype=torch.long, device=device)


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
        # deep-copyable (partials and bound methods over the layers, see preactivated_tail)
        self._tails: dict[str, Tail | None] = {n: preactivated_tail(m) for n, m in self.ops.items()}
        self._final_bns: dict[str, FinalBatchNorm | None] = {
            n: split_final_batchnorm(m) for n, m in self.ops.items()
        }
        # filled on first use (the SuperNet turns running statistics off after building);
        # like the tails above, it holds the layers as they were then
        self._recomputing: dict[str, Tail | None] = {}

    def forward(self, x: torch.Tensor, op: str) -> torch.Tensor:
        """Apply candidate ``op`` to ``x``."""
        return self.ops[op](x)  # type: ignore[no-any-return]

    def tail(self, op: str) -> Tail | None:
        """Candidate ``op`` without its leading ReLU, or None if it has none."""
        return self._tails[op]

    def final_batchnorm(self, op: str) -> FinalBatchNorm | None:
        """Candidate ``op`` split before its final BatchNorm, or None if it has none or its
        BatchNorm keeps running statistics (the mixed mode normalizes with batch
        statistics, as every supernet BatchNorm does)."""
        split = self._final_bns[op]
        return split if split is not None and split.bn.running_mean is None else None

    def recomputing_body(self, op: str) -> Tail | None:
        """The body of ``final_batchnorm(op)`` with its cheap runs rebuilt in backward
        (see ``SuperNet.recompute_tails``), or None where nothing qualifies."""
        if op not in self._recomputing:
            split = self.final_batchnorm(op)
            self._recomputing[op] = (
                _recomputing_body(self.ops[op], split) if split is not None else None
            )
        return self._recomputing[op]


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
        fmt = torch.channels_last if _is_channels_last(x1) else torch.contiguous_format
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

    def forward_mixed(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        weights: torch.Tensor,
        ops: Sequence[str],
        active: Sequence[int] | None,
        relu_s0: torch.Tensor | None = None,
        relu_s1: torch.Tensor | None = None,
        recompute: bool = True,
    ) -> torch.Tensor:
        """Weighted mode: each node sums all candidate ops of all its incoming edges.

        ``weights`` is ``(n_edges, len(ops))`` (see ``MixedWeights``); its row count fixes
        how many nodes run, later nodes output zeros. Per node, every candidate that ends
        in an affine-free BatchNorm contributes its pre-BatchNorm output to one
        ``mixed_bn_sum`` call, the others (identity, ops of plugins) theirs to one
        ``mixed_sum`` call; ``none`` and, with ``active``, all but the active op of an edge
        are skipped. With ``recompute``, the ``BatchNorm -> ReLU -> depthwise conv`` runs
        of the candidates run again in backward instead of keeping their outputs (see
        ``SuperNet.recompute_tails``).
        """
        x0 = self._preprocess(self.preprocess0, self._pre0, s0, relu_s0)
        x1 = self._preprocess(self.preprocess1, self._pre1, s1, relu_s1)
        fmt = torch.channels_last if _is_channels_last(x1) else torch.contiguous_format
        n, _, h, w = x1.shape
        node_shape = (
            (n, self.C, (h + 1) // 2, (w + 1) // 2) if self.reduction else (n, self.C, h, w)
        )
        n_nodes = _nodes_for_edges(weights.shape[0])
        assert n_nodes is not None
        assert n_nodes <= self.n_nodes
        flat = weights.reshape(-1)
        k = len(ops)
        states: dict[int, torch.Tensor] = {0: x0, 1: x1}
        relued: dict[int, torch.Tensor] = {}

        def relu_of(src: int) -> torch.Tensor:
            r = relued.get(src)
            if r is None:
                r = relued[src] = torch.relu(states[src])
            return r

        def zeros() -> torch.Tensor:
            return x1.new_zeros(node_shape).contiguous(memory_format=fmt)

        for dst in range(2, n_nodes + 2):
            normalized: dict[float, tuple[list[torch.Tensor], list[int]]] = {}
            plain: tuple[list[torch.Tensor], list[int]] = ([], [])
            for src in range(dst):
                e = edge_index(src, dst)
                edge = cast(SuperEdge, self.edges[e])
                for j in range(k) if active is None else (active[e],):
                    op = ops[j]
                    if op == "none":
                        continue
                    split = edge.final_batchnorm(op)
                    if split is not None:
                        body = (edge.recomputing_body(op) if recompute else None) or split.body
                        y = body(relu_of(src) if split.preactivated else states[src])
                        group = normalized.setdefault(split.bn.eps, ([], []))
                    else:
                        tail = edge.tail(op)
                        y = tail(relu_of(src)) if tail is not None else edge(states[src], op)
                        group = plain
                    group[0].append(y)
                    group[1].append(e * k + j)
            node: torch.Tensor | None = None
            for eps, (ys, idx) in normalized.items():
                part = kernels.mixed_bn_sum(
                    ys, flat[_index_tensor(tuple(idx), flat.device)], eps=eps
                )
                node = part if node is None else node + part
            if plain[0]:
                part = kernels.mixed_sum(
                    plain[0], flat[_index_tensor(tuple(plain[1]), flat.device)]
                )
                node = part if node is None else node + part
            states[dst] = _dense_grad(node) if node is not None else zeros()
        chunks = [states[i] for i in range(2, n_nodes + 2)]
        if n_nodes < self.n_nodes:
            missing = self.n_nodes - n_nodes
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
    """The weight-sharing supernet of a search space.

    Every edge ``src -> dst`` of every cell holds one module per op of the space. Given a
    ``Genotype``, a forward pass runs only that architecture's ops (ENAS-style single
    path, what the CNAS controller trains). Given ``MixedWeights``, every edge computes
    the weighted sum of its candidate ops (DARTS-style mixed mode, for gradient-based
    search), through the fused ``cnas.kernels`` operators. As in the original
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
        channels_last: Keep the weights, and run every input, in channels-last memory
            format: the fast layout of the CPU and GPU convolution kernels. Inputs in
            another layout are converted, so ``supernet(x, genotype)`` on an NCHW tensor
            runs as fast as inside the ``Searcher``. The outputs are the same either way.

    Attributes:
        recompute_tails: In mixed mode, run the second stage of every separable
            convolution (``BatchNorm -> ReLU -> depthwise conv``, before its pointwise
            convolution) again in backward instead of keeping its two full-size
            activations; its input is kept anyway. In ``benchmarks/mixed_memory.py`` the
            fused step keeps 46% less than the stock composition instead of 31%, for a
            1.12x slower step on a 2-core CPU; values and gradients are the same bit
            for bit. True by default. What runs again is fixed at a candidate's first
            mixed pass: for layers swapped in later (a ``SyncBatchNorm``), set False.

    Examples:
        >>> import torch, cnas
        >>> space = cnas.SearchSpace()
        >>> net = cnas.SuperNet(space, C=16, num_classes=10, layers=8)
        >>> cnas.utils.count_params(net)
        1930618
        >>> net(torch.randn(2, 3, 32, 32), space.sample()).shape
        torch.Size([2, 10])
        >>> w = torch.softmax(torch.zeros(14, 8), -1)         # 14 edges x 8 ops
        >>> net(torch.randn(2, 3, 32, 32), cnas.MixedWeights(w, w, space.ops)).shape
        torch.Size([2, 10])
    """

    recompute_tails: bool = True

    def __init__(
        self,
        space: SearchSpace,
        C: int = 16,
        num_classes: int = 10,
        layers: int = 8,
        *,
        in_channels: int = 3,
        stem_multiplier: int = 3,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        check_network_sizes(C, num_classes, layers, in_channels, stem_multiplier=stem_multiplier)
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
        self._channels_last = False
        self.channels_last = channels_last

    @property
    def channels_last(self) -> bool:
        """Whether weights and inputs use channels-last memory format; assign to switch."""
        return self._channels_last

    @channels_last.setter
    def channels_last(self, value: bool) -> None:
        fmt = torch.channels_last if value else torch.contiguous_format
        self.to(memory_format=fmt)
        self._channels_last = bool(value)

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

    def check_weights(self, weights: MixedWeights) -> None:
        """Raise ``ValueError`` unless the supernet can run ``weights`` (mixed mode).

        Their ops must be ops of the space and their rows cover at most ``space.n_nodes``
        nodes.
        """
        if not isinstance(weights, MixedWeights):
            raise TypeError(f"expected cnas.MixedWeights, got {type(weights).__name__}")
        unknown = [op for op in weights.ops if op not in self.space.ops]
        if unknown:
            raise ValueError(
                f"mixed weights name ops outside the search space: {unknown}; "
                f"the space has {list(self.space.ops)}"
            )
        if weights.n_nodes > self.space.n_nodes:
            raise ValueError(
                f"mixed weights cover {weights.n_nodes} nodes ({weights.normal.shape[0]} "
                f"edges); the supernet holds {self.space.n_nodes}"
            )

    def reached_modules(self, arch: Genotype | MixedWeights) -> list[nn.Module]:
        """The modules a forward pass of ``arch`` connects to the logits, counting
        ``none`` edges as reading their input (see ``reached_parameters``): the stem
        (when a cell reads it), the cells' preprocessing layers and ops, the classifier.
        """
        cells = [cast(SuperCell, c) for c in self.cells]
        return reached_modules(self.stem, cells, self.classifier, arch)

    def reached_parameters(self, arch: Genotype | MixedWeights) -> list[nn.Parameter]:
        """The parameters a forward pass of ``arch`` connects to the logits, counting
        ``none`` edges as reading their input: those the original code gives a gradient.

        The original supernet computes ``none`` as ``x * 0``, so the layers such an edge
        reads stay in the autograd graph and get a gradient of zeros; this supernet skips
        ``none`` edges, so a layer read only through them gets no gradient at all. The
        search gives the parameters listed here that got none a zero gradient, so that
        weight decay and momentum move them as the original's optimizer does (see
        ``cnas.search.OptimizerConfig.idle_weights``).

        Args:
            arch: A ``Genotype`` or ``MixedWeights`` the supernet can run.

        Returns:
            Each such parameter once: the stem's (when a cell reads it), the cells' and
            the classifier's.

        Examples:
            >>> import cnas
            >>> space = cnas.SearchSpace(["sep_conv_3x3", "none"], n_nodes=1)
            >>> net = cnas.SuperNet(space, C=4, layers=3)
            >>> g = cnas.Genotype([("none", 0, 2), ("none", 1, 2)], None,
            ...                   [("none", 0, 2), ("none", 1, 2)], None)
            >>> len(net.reached_parameters(g)) == len(list(net.parameters())) - 3 * 4 * 2
            True
        """
        modules = self.reached_modules(arch)
        return list(dict.fromkeys(p for m in modules for p in m.parameters()))

    def forward(self, x: torch.Tensor, arch: Genotype | MixedWeights) -> torch.Tensor:
        """Logits of an architecture (single path) or of weighted op mixtures (mixed mode).

        Args:
            x: Input images ``(N, in_channels, H, W)``.
            arch: A ``Genotype``: run only its ops (single path). Or ``MixedWeights``: run,
                on every edge, the weighted sum of the ops they name, DARTS-style (see
                ``MixedWeights`` for the shape and the edge order).

        Raises:
            ValueError: ``arch`` uses an op outside the space or too many nodes; ``x`` is
                not 4-D or has another number of channels.
            TypeError: ``x`` is not floating point, or of another dtype than the weights
                (outside autocast).
        """
        check_images(x, self.in_channels, getattr(self.stem[0], "weight", None), "SuperNet")
        if isinstance(arch, MixedWeights):
            self.check_weights(arch)
        else:
            self.check_genotype(arch)
        if self._channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        a0 = a1 = torch.relu(s1)  # each cell starts by applying ReLU to both inputs
        last = len(self.cells) - 1
        for i, module in enumerate(self.cells):
            cell = cast(SuperCell, module)
            kind: Literal["normal", "reduce"] = "reduce" if cell.reduction else "normal"
            if isinstance(arch, MixedWeights):
                weights, active = arch.cell(kind)
                out = cell.forward_mixed(
                    s0, s1, weights, arch.ops, active, a0, a1, self.recompute_tails
                )
            else:
                edges, concat = arch.cell(kind)
                out = cell(s0, s1, edges, concat, a0, a1)
            s0, s1 = s1, out
            a0, a1 = a1, (torch.relu(out) if i < last else out)
        out = self.global_pooling(s1).flatten(1)
        return self.classifier(out)  # type: ignore[no-any-return]
