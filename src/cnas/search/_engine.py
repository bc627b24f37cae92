"""``Engine``: what every strategy shares: supernet weight steps and scoring on validation data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .. import distributed as dist_utils
from .._genotype import Genotype
from .._metrics import count_correct
from .._run import device_batches, make_loader
from ..errors import NonFiniteLossError
from ..space import SearchSpace
from ..supernet import MixedWeights, SuperNet

if TYPE_CHECKING:
    from ..costs import Budget, CostModel, Costs

__all__ = ["Engine"]

Data = Dataset[Any] | DataLoader[Any]
Batch = tuple[torch.Tensor, torch.Tensor]

IdleWeights = Literal["step", "hold"]
"""What a supernet step does with the weights it did not use (``OptimizerConfig.idle_weights``)."""

SCORE_CACHE_BYTES = 512 * 2**20
"""The most scoring batches a derivation keeps, in bytes, for its next candidates."""


class Engine:
    """The supernet, its optimizer, the data and the random generator of one search.

    The ``Searcher`` makes one and hands it to its strategy (``strategy.engine``). A
    strategy uses it to score architectures (``score``, ``accuracy``) and to draw random
    numbers (``generator``, checkpointed by the ``Searcher``); the ``Searcher`` uses it for
    the weight steps.

    Attributes:
        supernet: The weight-sharing supernet.
        optimizer: SGD (Nesterov) over the supernet's weights.
        idle_weights: ``"step"`` (the original's semantics): every weight that has had
            a gradient is stepped on every weight step, with a zero gradient where the
            step did not use it, so weight decay and momentum keep moving it. ``"hold"``:
            only the weights the step used move.
        op_order: The order in which the curriculum introduces the ops.
        device: Where the supernet runs.
        generator: The random generator strategies draw architectures from.
        seed: The search's seed (data order, architecture draws).
        batch_size: The global batch size of the loaders made from datasets (each of
            ``world_size`` processes loads ``batch_size / world_size``).
        num_workers: ``DataLoader`` workers for those.
        steps_per_epoch: Cap on the batches of an epoch (``None``: all).
        derive_batches: Cap on the validation batches ``score`` uses (``None``: all).
        train_data: The training split (bound by ``Searcher.fit``).
        val_data: The validation split strategies learn from (bound by ``Searcher.fit``).
        score_data: What scores candidates: the validation split without augmentation,
            when ``fit`` got one; else ``val_data``.
        budget: The search's cost ``Budget``, or ``None``.
        cost_model: Costs of genotypes on the budget's network (with a budget).
    """

    def __init__(
        self,
        supernet: SuperNet,
        op_order: Sequence[str],
        *,
        batch_size: int,
        lr: float,
        momentum: float,
        weight_decay: float,
        device: torch.device,
        channels_last: bool,
        seed: int,
        num_workers: int,
        steps_per_epoch: int | None,
        derive_batches: int | None,
        progress: bool,
        idle_weights: IdleWeights = "step",
    ) -> None:
        if idle_weights not in ("step", "hold"):
            raise ValueError(f"idle_weights must be 'step' or 'hold', got {idle_weights!r}")
        self.idle_weights: IdleWeights = idle_weights
        self.supernet = supernet
        self.op_order = tuple(op_order)
        self.device = device
        supernet.channels_last = channels_last
        supernet.to(device)
        self.optimizer = torch.optim.SGD(
            supernet.parameters(),
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            nesterov=momentum > 0,
        )
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.steps_per_epoch = steps_per_epoch
        self.derive_batches = derive_batches
        self.progress = progress
        self.train_data: Data | None = None
        self.val_data: Data | None = None
        self.score_data: Data | None = None
        self.budget: Budget | None = None
        self.cost_model: CostModel | None = None
        self._reachable: dict[SearchSpace, bool] = {}
        self._parameters_of: dict[torch.nn.Module, tuple[torch.nn.Parameter, ...]] = {}
        self._scored: list[tuple[Genotype, float]] | None = None
        # the scoring data of the derivation under way, how many candidates it scored,
        # and its batches once kept (None before, and where they did not fit)
        self._score_batches: tuple[Data, int, list[Batch] | None] | None = None

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout batches are handed to the supernet in: the supernet's own."""
        return torch.channels_last if self.supernet.channels_last else torch.contiguous_format

    @property
    def space(self) -> SearchSpace:
        """The supernet's whole space, its ops in the curriculum's order."""
        return SearchSpace(self.op_order, self.supernet.space.n_nodes)

    # -- data -------------------------------------------------------------------------------

    def loader(self, data: Data, key: int, shuffle: bool = True) -> Iterable[Any]:
        """Batches of ``data``: a ``DataLoader`` as given, or one made from a dataset whose
        order depends only on the seed and ``key`` (distributed: one shard per rank)."""
        if isinstance(data, DataLoader):
            return data
        return make_loader(
            data,
            batch_size=self.batch_size,
            shuffle=shuffle,
            seed=self.seed,
            epoch=key,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def batches(
        self,
        data: Data,
        key: int,
        desc: str,
        limit: int | None,
        show: bool = True,
        shuffle: bool = True,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)`` on the device, ``x`` in the supernet's layout, at most ``limit``."""
        return device_batches(
            self.loader(data, key, shuffle),
            self.device,
            self.memory_format,
            limit=limit,
            desc=desc,
            progress=show and self.progress,
            classes=self.supernet.num_classes,
        )

    def cycle(self, data: Data, key: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``data`` without end: a new (seeded) pass whenever one runs out."""
        passes = 0
        while True:
            yielded = False
            for batch in self.batches(data, key + passes, "", None, show=False):
                yielded = True
                yield batch
            if not yielded:
                raise ValueError("the validation data holds no batch")
            passes += 1

    def _scoring(self, data: Data | None) -> Data:
        for candidate in (data, self.score_data, self.val_data):
            if candidate is not None:
                return candidate
        raise ValueError("no validation data: pass it, or call Searcher.fit() first")

    # -- steps -------------------------------------------------------------------------------

    def weight_step(
        self, x: torch.Tensor, y: torch.Tensor, arch: Genotype | MixedWeights
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of the supernet weights on ``(x, y)`` through ``arch``.

        With ``idle_weights="step"`` (the default), gradients are zeroed, not removed, as
        the original's optimizer did (torch 1.5): every weight that has ever had a
        gradient is stepped, its weight decay and momentum applied even where ``arch``
        does not use it; and the layers ``arch`` reads only through ``none`` edges get a
        zero gradient (``SuperNet.reached_parameters``), as the original's ``x * 0``
        gave them. With ``"hold"``, only the weights ``arch`` used move.

        Gradients are averaged over processes in a distributed search. Returns the loss
        and the logits, detached.
        """
        logits = self.supernet(x, arch)
        loss = F.cross_entropy(logits, y)
        if not bool(torch.isfinite(loss)):  # before the step could spread it into the weights
            raise NonFiniteLossError(f"the supernet's training loss became {loss.item()}")
        step_idle = self.idle_weights == "step"
        self.optimizer.zero_grad(set_to_none=not step_idle)
        loss.backward()  # type: ignore[no-untyped-call]
        if step_idle:
            reached = self._reached_parameters(arch)
            for p in reached:
                if p.grad is None and p.requires_grad:
                    p.grad = torch.zeros_like(p)
            # every other gradient is zero on every process: only these need averaging
            self.average_gradients(reached)
        else:
            self.average_gradients(self.supernet.parameters())
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def _reached_parameters(self, arch: Genotype | MixedWeights) -> list[torch.nn.Parameter]:
        """``supernet.reached_parameters(arch)``, with each module's parameters listed
        once per search (listing them anew costs more than a small step on a GPU)."""
        modules = self.supernet.reached_modules(arch)
        for m in modules:
            if m not in self._parameters_of:
                self._parameters_of[m] = tuple(m.parameters())
        return list(dict.fromkeys(p for m in modules for p in self._parameters_of[m]))

    def gradient_holders(self) -> list[str]:
        """The names of the supernet parameters that hold a gradient: with
        ``idle_weights="step"``, those every weight step moves (a checkpoint keeps them)."""
        return [name for name, p in self.supernet.named_parameters() if p.grad is not None]

    def restore_gradient_holders(self, names: Sequence[str] | None) -> None:
        """Give the parameters ``names`` zero gradients, as ``gradient_holders`` had them
        when saved. ``None`` (a checkpoint from before it was recorded): those with
        optimizer state, which every parameter that has been stepped has with momentum.

        Raises:
            ValueError: a name that is not one of the supernet's parameters.
        """
        params = dict(self.supernet.named_parameters())
        if names is None:
            stepped = {id(p) for p, state in self.optimizer.state.items() if state}
            names = [n for n, p in params.items() if id(p) in stepped]
        unknown = [n for n in names if n not in params]
        if unknown:
            raise ValueError(f"unknown supernet parameters {unknown[:3]}")
        holders = set(names)
        for name, p in params.items():
            p.grad = torch.zeros_like(p) if name in holders else None

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, arch: Genotype | MixedWeights) -> float:
        """Top-1 accuracy (0..1) of ``arch`` on one batch, averaged over processes."""
        self.supernet.train()  # batch statistics, as everywhere in the supernet
        with torch.no_grad():
            logits = self.supernet(x, arch)
            acc = (count_correct(logits, y, 1).double() / y.shape[0]).cpu()
        return float(dist_utils.all_reduce_mean(acc))

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over processes (nothing outside torchrun)."""
        if dist_utils.is_distributed():
            dist_utils.average_gradients(list(params))

    def evaluate(
        self, genotype: Genotype, data: Data | None = None, max_batches: int | None = None
    ) -> float:
        """Top-1 accuracy (0..1) of ``genotype`` with the current supernet weights.

        Args:
            genotype: An architecture of the supernet's space.
            data: Defaults to the search's scoring data (``score_data``, else the
                validation data).
            max_batches: Use at most this many batches (in a fixed order).

        Raises:
            ValueError: no data given and none bound by ``Searcher.fit``.
        """
        return self._evaluate(genotype, self._score_batches_of(self._scoring(data), max_batches))

    def _score_batches_of(self, data: Data, limit: int | None) -> Iterator[Batch]:
        """The batches every score is taken on: fixed order, no bar (what the kept
        scoring batches of a derivation must equal)."""
        return self.batches(data, 0, "", limit, show=False, shuffle=False)

    def _evaluate(self, genotype: Genotype, batches: Iterable[Batch]) -> float:
        self.supernet.train()  # batch statistics, as everywhere in the supernet
        totals = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            for x, y in batches:
                logits = self.supernet(x, genotype)
                totals += torch.tensor(
                    [count_correct(logits, y, 1).item(), y.shape[0]], dtype=torch.float64
                )
        dist_utils.all_reduce_mean(totals)
        return float(totals[0] / max(float(totals[1]), 1.0))

    def score(self, genotype: Genotype) -> float:
        """``evaluate(genotype)`` on the scoring data, capped at ``derive_batches``: how
        every strategy scores its candidates (the ``Searcher`` records every score of a
        stage's derivation, for the accuracy/cost front).

        Within a derivation (between ``record_scores`` and ``recorded_scores``) that
        scores more than one candidate, the scoring batches of a dataset are kept from
        the second candidate on, up to ``SCORE_CACHE_BYTES``: they are the same batches
        every time (fixed order, no augmentation), and loading them again for each of a
        derivation's candidates would cost more than scoring on them. A derivation of
        one candidate keeps nothing, and a ``DataLoader`` passed as it is runs again
        for every candidate."""
        batches = self._cached_score_batches()
        accuracy = (
            self.evaluate(genotype, max_batches=self.derive_batches)
            if batches is None
            else self._evaluate(genotype, batches)
        )
        if self._scored is not None:
            self._scored.append((genotype, accuracy))
        return accuracy

    def _cached_score_batches(self) -> Iterable[Batch] | None:
        """The scoring batches of the derivation under way: kept ones, or, for its second
        candidate, ones that are kept as they load; None outside a derivation, for its
        first candidate, for a ``DataLoader``, and where they did not fit
        ``SCORE_CACHE_BYTES``."""
        if self._scored is None:
            return None
        data = self._scoring(None)
        if isinstance(data, DataLoader):
            return None
        if self._score_batches is None or self._score_batches[0] is not data:
            self._score_batches = (data, 1, None)
            return None
        _, scored, kept = self._score_batches
        if scored > 1:
            return kept
        self._score_batches = (data, 2, None)
        return self._keep_score_batches(data)

    def _keep_score_batches(self, data: Data) -> Iterator[Batch]:
        kept: list[Batch] | None = []
        size = 0
        for x, y in self._score_batches_of(data, self.derive_batches):
            if kept is not None:
                size += x.untyped_storage().nbytes() + y.untyped_storage().nbytes()
                if size <= SCORE_CACHE_BYTES:
                    kept.append((x, y))
                else:
                    kept = None
            yield x, y
        self._score_batches = (data, 2, kept)

    def record_scores(self) -> None:
        """Start recording what ``score`` scores (the ``Searcher``, before a derivation)."""
        self._scored = []
        self._score_batches = None

    def recorded_scores(self) -> list[tuple[Genotype, float]]:
        """Stop recording; what ``score`` scored since ``record_scores``."""
        scored, self._scored = self._scored or [], None
        self._score_batches = None
        return scored

    # -- budget -------------------------------------------------------------------------------

    def costs(self, genotype: Genotype) -> Costs:
        """The costs of ``genotype``'s evaluation network (needs a budget)."""
        if self.cost_model is None:
            raise ValueError("costs need a budget (Searcher(..., budget=...))")
        return self.cost_model.costs(genotype)

    def fits(self, genotype: Genotype) -> bool:
        """Whether ``genotype`` meets the budget (always, without one)."""
        if self.budget is None:
            return True
        return self.budget.within(self.costs(genotype))

    def constrains(self, space: SearchSpace) -> bool:
        """Whether derivations in ``space`` must meet the budget: there is one, and some
        genotype of ``space`` can meet it (a curriculum's first stages may not)."""
        if self.budget is None or self.cost_model is None:
            return False
        if space not in self._reachable:
            self._reachable[space] = self.budget.reachable(self.cost_model, space)
        return self._reachable[space]

    def objective(self, accuracy: float, genotype: Genotype) -> float:
        """The controller's reward: ``accuracy``, or with a budget MnasNet's
        ``accuracy * prod((cost / limit) ** w)`` (see ``cnas.costs.Budget.reward``)."""
        if self.budget is None:
            return accuracy
        return self.budget.reward(accuracy, self.costs(genotype))

    def cost_loss(self, weights: MixedWeights) -> torch.Tensor | None:
        """The budget's term of a differentiable search's loss for mixed ``weights``
        (``None`` without a budget or with ``cost_weight`` 0)."""
        if self.budget is None or self.cost_model is None or self.budget.loss_weight() == 0:
            return None
        model = self.cost_model
        expected = {m: model.expected(weights, m) for m in self.budget.limits()}
        return self.budget.loss(expected)

    def draw_within(self, draw: Callable[[], Genotype], attempts: int = 1000) -> Genotype | None:
        """The first of up to ``attempts`` draws that meets the budget, or ``None``."""
        for _ in range(attempts):
            genotype = draw()
            if self.fits(genotype):
                return genotype
        return None
