"""Gradient-based strategies over the supernet's mixed mode: ``Darts`` and ``Gdas``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._genotype import Edge, Genotype
from .._metrics import batch_totals, summarize
from ..supernet import MixedWeights, edge_index
from ._arch import ArchParameters, edge_entropy_bound, tau_at
from ._engine import Engine
from ._registry import register_strategy
from ._results import Candidate, Derivation
from ._strategy import Phase, StageContext, Strategy

__all__ = ["Darts", "Gdas"]


@register_strategy("darts")
class Darts(Strategy):
    """First-order DARTS (Liu et al., ICLR 2019) within the curriculum.

    Architecture parameters (``ArchParameters``, one logit per edge and op) weight every
    op of every edge by the softmax of its logits, in the supernet's mixed mode. Each
    ``search`` epoch alternates, batch by batch, an Adam step of the logits on a
    validation batch (the supernet's weights taken as they are: first order) and a weight
    step on a training batch with the logits fixed. Warm-up epochs weigh every allowed op
    equally. The ops a stage admits start at their edge's mean logit
    (``ArchParameters.admit_ops``) and Adam restarts per stage; the weight decay acts on
    the logits in use only. A stage derives as DARTS does: per node, the two incoming
    edges with the strongest op other than ``none``. Defaults are DARTS's.

    Args:
        alpha_lr: Adam learning rate of the architecture parameters.
        alpha_betas: Adam betas of the architecture parameters.
        alpha_weight_decay: L2 penalty on the logits in use.

    Raises:
        ValueError: a setting out of range.
    """

    def __init__(
        self,
        *,
        alpha_lr: float = 3e-4,
        alpha_betas: tuple[float, float] = (0.5, 0.999),
        alpha_weight_decay: float = 1e-3,
    ) -> None:
        if alpha_lr <= 0:
            raise ValueError(f"alpha_lr must be positive, got {alpha_lr}")
        if alpha_weight_decay < 0:
            raise ValueError(f"alpha_weight_decay must be >= 0, got {alpha_weight_decay}")
        betas = tuple(float(b) for b in alpha_betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"alpha_betas must be two numbers in [0, 1), got {alpha_betas}")
        self.alpha_lr = alpha_lr
        self.alpha_betas: tuple[float, float] = (betas[0], betas[1])
        self.alpha_weight_decay = alpha_weight_decay
        self._phase = ""
        self._val_totals = torch.zeros(4, dtype=torch.float64)

    def settings(self) -> dict[str, Any]:
        """The hyper-parameters (the betas included)."""
        return {**super().settings(), "alpha_betas": list(self.alpha_betas)}

    def setup(self, engine: Engine) -> None:
        """Make the architecture parameters (DARTS's 1e-3 * N(0, 1), seeded by the search
        seed) and their optimizer."""
        init = torch.Generator().manual_seed(engine.seed)
        self.alphas = ArchParameters(engine.supernet.space, engine.op_order, generator=init)
        self.alphas.to(engine.device)
        self.optimizer = self._new_optimizer()

    def _new_optimizer(self) -> torch.optim.Optimizer:
        # Weight decay is added to the loss for the logits in use only (see learn): Adam's
        # own would also move the logits of ops and nodes the stage does not allow yet.
        return torch.optim.Adam(self.alphas.parameters(), lr=self.alpha_lr, betas=self.alpha_betas)

    def modules(self) -> Sequence[nn.Module]:
        """The architecture parameters."""
        return (self.alphas,)

    # -- the stage loop ---------------------------------------------------------------------

    def begin_stage(self, context: StageContext) -> None:
        """Admit the stage's new ops at their edge's mean logit; Adam starts afresh."""
        if context.resumed:
            return  # the checkpoint holds the admitted logits and the stage's Adam state
        if context.previous is not None and context.stage.n_ops > context.previous.n_ops:
            self.alphas.admit_ops(context.previous.n_ops, context.stage.n_ops)
        self.optimizer = self._new_optimizer()

    def phases(self) -> Sequence[Phase]:
        """One ``search`` epoch: an architecture step on a validation batch before each
        weight step."""
        return (Phase("search", learns=True),)

    def begin_epoch(self, phase: str, epoch: int) -> None:
        """Reset the epoch's totals."""
        self._phase = phase
        self._val_totals = torch.zeros(4, dtype=torch.float64)

    def _limits(self) -> tuple[int, int]:
        return self.stage.stage.n_ops, self.stage.stage.n_nodes

    def _search_weights(self) -> MixedWeights:
        """The (differentiable) weights an architecture step trains."""
        return self.alphas.weights(*self._limits())

    def architecture(self, *, warmup: bool = False) -> MixedWeights:
        """Equal weights on the allowed ops in the warm-up, else the softmax of the logits
        (no gradient reaches the logits from a weight step)."""
        with torch.no_grad():
            if warmup:
                return self.alphas.uniform(*self._limits())
            return self.alphas.weights(*self._limits())

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One Adam step of the logits on a validation batch."""
        k, n = self._limits()
        weights = self._search_weights()
        # the supernet's weights get no gradient here: with them not requiring grad,
        # autograd neither keeps nor computes anything for them
        frozen = [p for p in self.engine.supernet.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            logits = self.engine.supernet(x, weights)
        finally:
            for p in frozen:
                p.requires_grad_(True)
        loss = F.cross_entropy(logits, y)
        penalty = 0.5 * self.alpha_weight_decay * self.alphas.squared_norm(k, n)
        cost = self.engine.cost_loss(weights)  # with a budget: its expected-cost term
        if cost is not None:
            penalty = penalty + cost
        params = list(self.alphas.parameters())
        grads = torch.autograd.grad(loss + penalty, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        self.engine.average_gradients(params)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._val_totals += batch_totals(loss.detach(), logits.detach(), y)

    def end_epoch(self) -> Mapping[str, float]:
        """The validation loss and top-1 of the architecture steps, and the entropy of the
        op distributions (of the uniform ones in the warm-up)."""
        k, n = self._limits()
        if self._phase == "warmup":
            return {"entropy": edge_entropy_bound(k)}
        val = summarize(self._val_totals)
        return {
            "val_loss": val["loss"],
            "val_top1": val["top1"],
            "entropy": self.alphas.entropy(k, n),
        }

    # -- derive -------------------------------------------------------------------------------

    def derive(self) -> Derivation:
        """DARTS's discrete architecture, scored on the validation data.

        With a budget the stage's space can meet and a derived cell over it, the cell is
        repaired: edge by edge, the op change that costs the least logit per unit of cost
        saved, until it fits (``none`` only when nothing else fits)."""
        k, n = self._limits()
        genotype = self.alphas.derive(k, n)
        if self.engine.constrains(self.stage.space) and not self.engine.fits(genotype):
            genotype = self._repair(genotype)
        accuracy = self.engine.score(genotype)
        return Derivation([Candidate(genotype, accuracy, {"entropy": self.alphas.entropy(k, n)})])

    def _repair(self, genotype: Genotype) -> Genotype:
        engine = self.engine
        budget, k, n = engine.budget, *self._limits()
        assert budget is not None
        ops = list(self.alphas.op_names[:k])
        with torch.no_grad():
            logits = [t.log_softmax(-1).cpu() for t in self.alphas.logits(k, n)]

        def excess(g: Genotype) -> float:
            return sum(max(r, 1.0) for r in budget.ratios(engine.costs(g)).values())

        for allowed in ([o for o in ops if o != "none"] or ops, ops):
            while not engine.fits(genotype):
                now = excess(genotype)
                best: tuple[tuple[float, float], Genotype] | None = None
                cells = [list(genotype.normal), list(genotype.reduce)]
                for c, cell in enumerate(cells):
                    for i, edge in enumerate(cell):
                        row = logits[c][edge_index(edge.src, edge.dst)]
                        for op in allowed:
                            if op == edge.op:
                                continue
                            trial = [list(x) for x in cells]
                            trial[c][i] = Edge(op, edge.src, edge.dst)
                            g = Genotype(trial[0], None, trial[1], None)
                            saved = now - excess(g)
                            if saved <= 0:
                                continue
                            lost = float(row[ops.index(edge.op)] - row[ops.index(op)])
                            price = (max(lost, 0.0) / saved, -saved)
                            if best is None or price < best[0]:
                                best = (price, g)
                if best is None:
                    break
                genotype = best[1]
            if engine.fits(genotype):
                break
        return genotype

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The logits and their optimizer."""
        return {"alphas": self.alphas.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.alphas.load_state_dict(state["alphas"])
        self.optimizer = self._new_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])


@register_strategy("gdas")
class Gdas(Darts):
    """GDAS (Dong & Yang, CVPR 2019): one path per step, drawn from the logits.

    As ``Darts``, but each step runs one op per edge, drawn by hard Gumbel-softmax (the
    op ``argmax(logits + g)`` with Gumbel noise ``g``, weight 1, and the gradient of
    ``softmax((log_softmax(logits) + g) / tau)``, straight through). The temperature
    ``tau`` falls linearly from ``tau_max`` to ``tau_min`` over each stage's search
    epochs. Warm-up epochs draw one op per edge uniformly.

    Args:
        alpha_lr: Adam learning rate of the architecture parameters.
        alpha_betas: Adam betas of the architecture parameters.
        alpha_weight_decay: L2 penalty on the logits in use.
        tau_max: Gumbel-softmax temperature at a stage's first search epoch.
        tau_min: Gumbel-softmax temperature at a stage's last search epoch.

    Raises:
        ValueError: a setting out of range, or ``tau_min > tau_max``.
    """

    def __init__(
        self,
        *,
        alpha_lr: float = 3e-4,
        alpha_betas: tuple[float, float] = (0.5, 0.999),
        alpha_weight_decay: float = 1e-3,
        tau_max: float = 10.0,
        tau_min: float = 0.1,
    ) -> None:
        super().__init__(
            alpha_lr=alpha_lr, alpha_betas=alpha_betas, alpha_weight_decay=alpha_weight_decay
        )
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min} and {tau_max}")
        self.tau_max = tau_max
        self.tau_min = tau_min
        self._tau = tau_max

    def begin_epoch(self, phase: str, epoch: int) -> None:
        """Reset the totals; set the epoch's temperature."""
        super().begin_epoch(phase, epoch)
        self._tau = tau_at(epoch, self.stage.stage.epochs, self.tau_max, self.tau_min)

    def _search_weights(self) -> MixedWeights:
        return self.alphas.sample(self._tau, *self._limits(), generator=self.engine.generator)

    def architecture(self, *, warmup: bool = False) -> MixedWeights:
        """One op per edge: drawn uniformly in the warm-up, else from the logits."""
        with torch.no_grad():
            if warmup:
                return self.alphas.sample_uniform(*self._limits(), generator=self.engine.generator)
            return self._search_weights()

    def end_epoch(self) -> Mapping[str, float]:
        """As ``Darts``, and the epoch's temperature."""
        stats = dict(super().end_epoch())
        if self._phase != "warmup":
            stats["tau"] = self._tau
        return stats
