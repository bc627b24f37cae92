"""``Controller``: the pair of LSTM policies (normal cell, reduction cell) that samples
architectures, trained with REINFORCE."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._genotype import Genotype
from .._validation import check_int
from ..space import SearchSpace

__all__ = ["Controller", "ControllerSample"]

_CELLS = 2  # normal, reduce: both policies run side by side as a batch of two
_MASKED = -1e9  # logit of a node that may not be chosen yet


@dataclass(frozen=True)
class ControllerSample:
    """One sampled architecture and the statistics REINFORCE needs.

    Attributes:
        genotype: The sampled architecture.
        log_prob: Log-probability of the whole sample (both cells); differentiable when
            sampled with gradients enabled.
        entropy: Sum of the entropies of every decision (both cells).
        log_prob_normal: The normal cell's share of ``log_prob``.
        log_prob_reduce: The reduction cell's share of ``log_prob``.
        entropy_normal: The normal cell's share of ``entropy``.
        entropy_reduce: The reduction cell's share of ``entropy``.
    """

    genotype: Genotype
    log_prob: torch.Tensor
    entropy: torch.Tensor
    log_prob_normal: torch.Tensor
    log_prob_reduce: torch.Tensor
    entropy_normal: torch.Tensor
    entropy_reduce: torch.Tensor


def check_logit_scaling(
    temperature: float | None, tanh_constant: float | None, op_tanh_reduce: float | None
) -> None:
    """Raise ``ValueError`` unless each logit-scaling setting is ``None`` or positive."""
    for name, value in (
        ("temperature", temperature),
        ("tanh_constant", tanh_constant),
        ("op_tanh_reduce", op_tanh_reduce),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be positive (or None: off), got {value}")


class Controller(nn.Module):
    """The CNAS controller: one LSTM policy per cell type.

    For each intermediate node a policy emits, twice, an input node (attention over the
    embeddings of the nodes available so far) and then, twice, an op (a softmax over the
    first ``n_ops`` logits, the ops the current curriculum stage allows). The two policies
    (normal and reduction cell) have separate weights and are evaluated together, one
    batched LSTM step per decision, which makes sampling cheap.

    Args:
        space: The full search space; ``space.ops`` fixes the op order the logits index
            (see ``set_op_order``) and ``space.n_nodes`` the number of nodes.
        hidden_size: LSTM and embedding width (128 in the paper).
        temperature: Divide node and op logits by this before the softmax.
        tanh_constant: Squash logits to ``tanh_constant * tanh(logits)``.
        op_tanh_reduce: Divide ``tanh_constant`` by this for the op logits.

    Examples:
        >>> import cnas
        >>> space = cnas.SearchSpace()
        >>> controller = cnas.Controller(space)
        >>> controller.restrict(n_ops=2)
        >>> s = controller.sample()
        >>> s.genotype.ops <= set(controller.op_names[:2])
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        hidden_size: int = 128,
        temperature: float | None = None,
        tanh_constant: float | None = None,
        op_tanh_reduce: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a cnas.SearchSpace, got {type(space).__name__}")
        check_int("hidden_size", hidden_size)
        check_logit_scaling(temperature, tanh_constant, op_tanh_reduce)
        self.space = space
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.op_tanh_reduce = op_tanh_reduce
        self._op_names: tuple[str, ...] = space.ops
        self._n_ops = space.n_ops
        self._n_nodes = space.n_nodes
        H, n, k = hidden_size, space.n_nodes, space.n_ops
        # tokens: input nodes 0..n (n+1 of them), then the ops
        self.embedding = nn.Parameter(torch.empty(_CELLS, n + 1 + k, H))
        self.weight_ih = nn.Parameter(torch.empty(_CELLS, 4 * H, H))
        self.weight_hh = nn.Parameter(torch.empty(_CELLS, 4 * H, H))
        self.bias_ih = nn.Parameter(torch.empty(_CELLS, 4 * H))
        self.bias_hh = nn.Parameter(torch.empty(_CELLS, 4 * H))
        self.emb_attn = nn.Parameter(torch.empty(_CELLS, H, H))
        self.hid_attn = nn.Parameter(torch.empty(_CELLS, H, H))
        self.v_attn = nn.Parameter(torch.empty(_CELLS, H))
        self.op_weight = nn.Parameter(torch.empty(_CELLS, k, H))
        self.op_bias = nn.Parameter(torch.empty(_CELLS, k))
        self.reset_parameters()

    def reset_parameters(self, init_range: float = 0.1) -> None:
        """Initialize every weight uniformly in ``[-init_range, init_range]`` (as the paper)."""
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init_range, init_range)

    # -- what may be sampled ------------------------------------------------------------

    @property
    def op_names(self) -> tuple[str, ...]:
        """The ops in the order the op logits index them."""
        return self._op_names

    @property
    def n_ops(self) -> int:
        """How many ops (the first ones of ``op_names``) may be sampled now."""
        return self._n_ops

    @property
    def n_nodes(self) -> int:
        """How many intermediate nodes a sampled cell has now."""
        return self._n_nodes

    def set_op_order(self, op_order: Sequence[str]) -> None:
        """Set which op each logit stands for (a permutation of the space's ops)."""
        order = tuple(op_order)
        if sorted(order) != sorted(self.space.ops):
            raise ValueError(
                f"op order {list(order)} is not a permutation of the space's ops "
                f"{list(self.space.ops)}"
            )
        self._op_names = order

    def restrict(self, n_ops: int | None = None, n_nodes: int | None = None) -> None:
        """Allow only the first ``n_ops`` ops and ``n_nodes`` nodes (``None``: all)."""
        self._n_ops, self._n_nodes = self.space._limits(n_ops, n_nodes)

    # -- sampling -------------------------------------------------------------------------

    def _scale(self, logits: torch.Tensor, reduce: float | None) -> torch.Tensor:
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            constant = self.tanh_constant / reduce if reduce is not None else self.tanh_constant
            logits = constant * torch.tanh(logits)
        return logits

    def _to_genotype(self, nodes: list[list[int]], ops: list[list[int]]) -> Genotype:
        cells = []
        for cell in range(_CELLS):
            edges = []
            for i in range(self._n_nodes):
                for j in range(2):
                    edges.append(
                        (self._op_names[ops[2 * i + j][cell]], nodes[2 * i + j][cell], i + 2)
                    )
            cells.append(edges)
        return Genotype(cells[0], None, cells[1], None)

    def _sample_uniform(self, generator: torch.Generator | None) -> ControllerSample:
        nodes: list[list[int]] = []
        ops: list[list[int]] = []
        log_prob = 0.0
        for i in range(self._n_nodes):
            nodes += torch.randint(0, i + 2, (2, _CELLS), generator=generator).tolist()
            ops += torch.randint(0, self._n_ops, (2, _CELLS), generator=generator).tolist()
            log_prob -= 2 * (math.log(i + 2) + math.log(self._n_ops))
        per_cell = torch.tensor(log_prob)
        return ControllerSample(
            self._to_genotype(nodes, ops),
            2 * per_cell,
            -2 * per_cell,
            per_cell,
            per_cell,
            -per_cell,
            -per_cell,
        )

    def sample(
        self, *, uniform: bool = False, generator: torch.Generator | None = None
    ) -> ControllerSample:
        """Sample an architecture within the allowed ops and nodes.

        Args:
            uniform: Draw every decision uniformly instead of from the policy (the warm-up
                mode); ``log_prob`` and ``entropy`` are then those of the uniform policy.
            generator: Random number generator for the draws (default: torch's global one).

        Returns:
            The genotype with its log-probability and entropy. Gradients flow into the
            controller's weights when gradients are enabled; sample under
            ``torch.no_grad()`` when only the architecture is needed.
        """
        if uniform:
            return self._sample_uniform(generator)
        return self._sample_batch(1, generator)[0]

    def sample_many(
        self, n: int, *, uniform: bool = False, generator: torch.Generator | None = None
    ) -> list[ControllerSample]:
        """Sample ``n`` architectures at once from the current policy.

        Equivalent to ``n`` calls of ``sample`` with unchanged weights, but the
        decisions of all ``n`` samples run batched, so it costs little more than one. The
        search uses it for supernet epochs, where the controller does not change.
        """
        check_int("n", n)
        if uniform:
            return [self._sample_uniform(generator) for _ in range(n)]
        return self._sample_batch(n, generator)

    def _sample_batch(
        self, batch: int, generator: torch.Generator | None
    ) -> list[ControllerSample]:
        H, n_in, k = self.hidden_size, self.space.n_nodes + 1, self._n_ops
        n_steps = 2 * self._n_nodes
        # Everything that multiplies the hidden state h goes into one matrix, so a decision
        # costs a single small matmul: the next step's recurrent gates, the attention query
        # and the op logits. The input projection is a lookup table over the tokens.
        w_all = torch.cat(
            [
                self.weight_hh.transpose(1, 2),
                self.hid_attn.transpose(1, 2),
                self.op_weight[:, :k].transpose(1, 2),
            ],
            dim=2,
        )  # (2, H, 4H + H + k)
        bias = (self.bias_ih + self.bias_hh).unsqueeze(1)  # (2, 1, 4H)
        x_proj = torch.baddbmm(bias, self.embedding, self.weight_ih.transpose(1, 2))
        node_keys = torch.bmm(self.embedding[:, :n_in], self.emb_attn.transpose(1, 2))
        node_keys = node_keys.unsqueeze(1)  # (2, 1, n_in, H)
        v = self.v_attn[:, None, :, None]  # (2, 1, H, 1)
        op_b = self.op_bias[:, None, :k]
        cells = torch.arange(_CELLS, device=x_proj.device).unsqueeze(1)  # (2, 1)
        # Gumbel-max draws: argmax(logits + gumbel) is a sample of softmax(logits)
        u = torch.rand(2 * n_steps, _CELLS, batch, max(n_in, k), generator=generator)
        gumbel = -torch.log(-torch.log(u.clamp_(1e-20, 1.0)))
        # not -inf: masked entries must give zero probability *and* finite gradients
        node_mask = torch.full((self._n_nodes, 1, 1, n_in), _MASKED)
        for i in range(self._n_nodes):
            node_mask[i, ..., : i + 2] = 0.0

        x_in = bias.expand(_CELLS, batch, 4 * H)  # a zero first input leaves the biases
        hh = torch.zeros_like(x_in)
        c = x_in.new_zeros(_CELLS, batch, H)
        node_logps: list[torch.Tensor] = []
        op_logps: list[torch.Tensor] = []
        node_actions: list[torch.Tensor] = []
        op_actions: list[torch.Tensor] = []
        draw = 0
        for node in range(self._n_nodes):
            for is_op in (False, True):
                for _ in range(2):
                    gates = x_in + hh
                    s = torch.sigmoid(gates)
                    c = s[..., H : 2 * H] * c + s[..., :H] * torch.tanh(gates[..., 2 * H : 3 * H])
                    h = s[..., 3 * H :] * torch.tanh(c)
                    y = torch.bmm(h, w_all)  # (2, B, 4H + H + k)
                    hh = y[..., : 4 * H]
                    if is_op:
                        logits = self._scale(y[..., 5 * H :] + op_b, self.op_tanh_reduce)
                    else:
                        query = torch.tanh(node_keys + y[..., 4 * H : 5 * H].unsqueeze(2))
                        logits = self._scale(torch.matmul(query, v).squeeze(3), None)
                        logits = logits + node_mask[node]
                    logp = F.log_softmax(logits, dim=-1)  # (2, B, width)
                    action = (logp.detach() + gumbel[draw, ..., : logp.shape[-1]]).argmax(-1)
                    draw += 1
                    if is_op:
                        op_logps.append(logp)
                        op_actions.append(action)
                        x_in = x_proj[cells, action + n_in]
                    else:
                        node_logps.append(logp)
                        node_actions.append(action)
                        x_in = x_proj[cells, action]
        nodes_t = torch.stack(node_actions)  # (steps, 2, B)
        ops_t = torch.stack(op_actions)
        node_lp = torch.stack(node_logps)  # (steps, 2, B, n_in); unavailable nodes ~ -1e9
        op_lp = torch.stack(op_logps)  # (steps, 2, B, k)
        log_prob = node_lp.gather(3, nodes_t.unsqueeze(3)).sum((0, 3)) + op_lp.gather(
            3, ops_t.unsqueeze(3)
        ).sum((0, 3))  # (2, B)
        node_p, op_p = node_lp.exp(), op_lp.exp()
        entropy = -((node_p * node_lp).sum((0, 3)) + (op_p * op_lp).sum((0, 3)))
        nodes_l, ops_l = nodes_t.tolist(), ops_t.tolist()
        samples = []
        for b in range(batch):
            genotype = self._to_genotype(
                [[step[0][b], step[1][b]] for step in nodes_l],
                [[step[0][b], step[1][b]] for step in ops_l],
            )
            lp, ent = log_prob[:, b], entropy[:, b]
            samples.append(
                ControllerSample(genotype, lp.sum(), ent.sum(), lp[0], lp[1], ent[0], ent[1])
            )
        return samples

    def forward(
        self, *, uniform: bool = False, generator: torch.Generator | None = None
    ) -> ControllerSample:
        """Same as ``sample``."""
        return self.sample(uniform=uniform, generator=generator)
