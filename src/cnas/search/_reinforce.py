"""``Reinforce``: CNAS, the paper's strategy: an LSTM controller trained with REINFORCE."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .._genotype import Genotype
from .._validation import check_int
from ._controller import Controller, ControllerSample, check_logit_scaling
from ._engine import Engine
from ._registry import register_strategy
from ._results import Candidate, Derivation
from ._strategy import Phase, StageContext, Strategy

__all__ = ["Reinforce"]

_DRAWS = 64  # supernet epochs draw their architectures this many at a time


@register_strategy("cnas")
class Reinforce(Strategy):
    """CNAS (Guo et al., ICML 2020): a controller sampling architectures, trained with
    REINFORCE on validation batches.

    Per round of a stage: a ``supernet`` epoch, each training batch a weight step through
    one architecture the controller samples (64 drawn at a time: the controller does not
    change meanwhile), then a ``controller`` epoch: for each validation batch the
    controller samples an architecture, the supernet scores it (top-1 on the batch), and
    the controller takes an Adam step on
    ``-(log p_normal + log p_reduce) * (accuracy - baseline) - entropy_coeff * entropy``,
    the baseline a moving average of the accuracies. Warm-up epochs sample uniformly. At
    the end of a stage, ``derive_rounds`` rounds of ``derive_samples`` samples are scored
    on the validation data; each round's best is kept, and the best of all is the stage's
    genotype. Defaults are the paper's and the original code's.

    Args:
        controller: The policy to train; default: a ``Controller`` of the supernet's
            space with the ``hidden_size``, ``temperature``, ``tanh_constant`` and
            ``op_tanh_reduce`` given here. It is kept on the CPU (it is small).
        hidden_size: LSTM width of the default controller.
        temperature: Logit temperature of the default controller (none: off).
        tanh_constant: Logit tanh squashing of the default controller (none: off).
        op_tanh_reduce: Divides the tanh constant for the op logits (none: off).
        controller_lr: Adam learning rate of the controller.
        controller_weight_decay: Adam weight decay of the controller.
        grad_clip: Gradient-norm clip of the controller steps (``None``: no clip).
        entropy_coeff: Weight of the entropy bonus in the policy loss.
        baseline_decay: Moving-average factor of the reward baseline, in [0, 1).
        derive_rounds: Rounds of candidates at the end of each stage.
        derive_samples: Candidates sampled per round.

    Raises:
        ValueError: a setting out of range, or controller settings given together with a
            controller.

    Examples:
        >>> import cnas
        >>> space = cnas.SearchSpace()
        >>> strategy = cnas.search.Reinforce(cnas.Controller(space), entropy_coeff=0.01)
        >>> strategy.entropy_coeff, strategy.derive_rounds * strategy.derive_samples
        (0.01, 30)
    """

    cli_aliases: ClassVar[Mapping[str, Sequence[str]]] = {
        "hidden_size": ("--hidden_size",),
        "tanh_constant": ("--tanh_constant",),
        "op_tanh_reduce": ("--op_tanh_reduce",),
        "controller_lr": ("--controller_learning_rate",),
        "controller_weight_decay": ("--controller_weight_decay",),
        "entropy_coeff": ("--entropy_coeff",),
        "grad_clip": ("--grad_clip",),
        "baseline_decay": ("--baseline_moving_gamma",),
    }

    def __init__(
        self,
        controller: Controller | None = None,
        *,
        hidden_size: int = 128,
        temperature: float | None = None,
        tanh_constant: float | None = None,
        op_tanh_reduce: float | None = None,
        controller_lr: float = 3e-4,
        controller_weight_decay: float = 5e-4,
        grad_clip: float | None = 5.0,
        entropy_coeff: float = 0.005,
        baseline_decay: float = 0.99,
        derive_rounds: int = 3,
        derive_samples: int = 10,
    ) -> None:
        if controller is not None and not isinstance(controller, Controller):
            raise TypeError(
                f"controller must be a cnas.Controller, got {type(controller).__name__}"
            )
        if controller is not None:
            given = {
                "hidden_size": (hidden_size, 128),
                "temperature": (temperature, None),
                "tanh_constant": (tanh_constant, None),
                "op_tanh_reduce": (op_tanh_reduce, None),
            }
            clash = [k for k, (value, default) in given.items() if value != default]
            if clash:
                raise ValueError(
                    f"{', '.join(clash)} configure the default controller; with a controller "
                    "given, pass them to cnas.Controller instead"
                )
            hidden_size = controller.hidden_size
            temperature = controller.temperature
            tanh_constant = controller.tanh_constant
            op_tanh_reduce = controller.op_tanh_reduce
        check_int("hidden_size", hidden_size)
        check_logit_scaling(temperature, tanh_constant, op_tanh_reduce)
        check_int("derive_rounds", derive_rounds)
        check_int("derive_samples", derive_samples)
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        if controller_lr <= 0:
            raise ValueError(f"controller_lr must be positive, got {controller_lr}")
        if controller_weight_decay < 0:
            raise ValueError(f"controller_weight_decay must be >= 0, got {controller_weight_decay}")
        if grad_clip is not None and grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive (or None), got {grad_clip}")
        if entropy_coeff < 0:
            raise ValueError(f"entropy_coeff must be >= 0, got {entropy_coeff}")
        self.controller = controller
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.op_tanh_reduce = op_tanh_reduce
        self.controller_lr = controller_lr
        self.controller_weight_decay = controller_weight_decay
        self.grad_clip = grad_clip
        self.entropy_coeff = entropy_coeff
        self.baseline_decay = baseline_decay
        self.derive_rounds = derive_rounds
        self.derive_samples = derive_samples
        self.baseline: float | None = None
        self._samples: Iterator[ControllerSample] | None = None
        self._phase = ""
        self._entropy = 0.0
        self._steps = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_samples"] = None  # a suspended generator: copies and pickles start afresh
        return state

    # -- setup --------------------------------------------------------------------------------

    def setup(self, engine: Engine) -> None:
        """Build the controller (unless given) and its Adam optimizer."""
        space = engine.supernet.space
        if self.controller is None:
            self.controller = Controller(
                space,
                hidden_size=self.hidden_size,
                temperature=self.temperature,
                tanh_constant=self.tanh_constant,
                op_tanh_reduce=self.op_tanh_reduce,
            )
        elif self.controller.space != space:
            raise ValueError(
                f"the supernet's space {space} differs from the controller's "
                f"{self.controller.space}"
            )
        self.controller = self.controller.cpu()
        self.controller.set_op_order(engine.op_order)
        self.optimizer = torch.optim.Adam(
            self.controller.parameters(),
            lr=self.controller_lr,
            weight_decay=self.controller_weight_decay,
        )

    @property
    def policy(self) -> Controller:
        """The controller (built by ``setup`` when none was given)."""
        if self.controller is None:
            raise RuntimeError("the strategy has no controller before Searcher setup")
        return self.controller

    def modules(self) -> Sequence[nn.Module]:
        """The controller."""
        return (self.policy,)

    # -- the stage loop ---------------------------------------------------------------------

    def begin_stage(self, context: StageContext) -> None:
        """Let the controller sample only the stage's ops and nodes."""
        self.policy.restrict(context.stage.n_ops, context.stage.n_nodes)

    def phases(self) -> Sequence[Phase]:
        """A supernet epoch, then a controller epoch on the validation data."""
        return (Phase("supernet"), Phase("controller", data="val"))

    def begin_epoch(self, phase: str, epoch: int) -> None:
        """Start a new batch of samples; reset the epoch's entropy total."""
        self._phase = phase
        self._samples = self._draws(uniform=phase == "warmup")
        self._entropy, self._steps = 0.0, 0

    def _draws(self, uniform: bool) -> Iterator[ControllerSample]:
        while True:
            with torch.no_grad():
                batch = self.policy.sample_many(
                    _DRAWS, uniform=uniform, generator=self.engine.generator
                )
            yield from batch  # outside no_grad: a suspended generator would leak it

    def architecture(self, *, warmup: bool = False) -> Genotype:
        """The next of this epoch's samples (uniform ones in the warm-up)."""
        if self._samples is None:
            self._samples = self._draws(uniform=warmup)
        sample = next(self._samples)
        self._entropy += sample.entropy.item()
        self._steps += 1
        return sample.genotype

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> Mapping[str, float]:
        """One REINFORCE step on a validation batch."""
        controller = self.policy
        controller.train()
        sample = controller.sample(generator=self.engine.generator)
        acc = self.engine.accuracy(x, y, sample.genotype)
        objective = self.engine.objective(acc, sample.genotype)  # acc, without a budget
        reward = self._update_baseline(objective)
        loss = -sample.log_prob * reward - self.entropy_coeff * sample.entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(controller.parameters(), self.grad_clip)
        self.optimizer.step()
        stats = {
            "policy_loss": float(loss.detach()),
            "reward": reward,
            "top1": acc,
            "entropy": sample.entropy.item(),
        }
        if self.engine.budget is not None:
            stats["objective"] = objective
        return stats

    def _update_baseline(self, accuracy: float) -> float:
        if self.baseline is None:
            self.baseline = accuracy
        else:
            self.baseline = (
                self.baseline_decay * self.baseline + (1 - self.baseline_decay) * accuracy
            )
        return accuracy - self.baseline

    def end_epoch(self) -> Mapping[str, float]:
        """The baseline after a controller epoch, else the mean entropy of the samples
        the supernet trained."""
        self._samples = None
        if self._phase == "controller":
            return {"baseline": self.baseline if self.baseline is not None else 0.0}
        return {"entropy": self._entropy / max(self._steps, 1)}

    # -- derive --------------------------------------------------------------------------------

    def derive(self) -> Derivation:
        """Score ``derive_rounds * derive_samples`` samples; keep each round's best.

        With a budget the stage's space can meet, each round scores ``derive_samples``
        samples within it (samples over it are drawn again, up to 20 times as many)."""
        if self.engine.constrains(self.stage.space):
            return self._derive_within_budget()
        with torch.no_grad():
            samples = self.policy.sample_many(
                self.derive_rounds * self.derive_samples, generator=self.engine.generator
            )
        scores = [self.engine.score(s.genotype) for s in samples]
        kept: list[Candidate] = []
        for r in range(self.derive_rounds):
            round_ = range(r * self.derive_samples, (r + 1) * self.derive_samples)
            best = max(round_, key=lambda i: (scores[i], -i))  # the first of equal scores
            kept.append(self._candidate(samples[best], scores[best], r))
        return Derivation(kept, scores)

    def _derive_within_budget(self) -> Derivation:
        rounds: list[list[ControllerSample]] = []
        for _ in range(self.derive_rounds):
            round_: list[ControllerSample] = []
            for _ in range(20):
                with torch.no_grad():
                    drawn = self.policy.sample_many(
                        self.derive_samples, generator=self.engine.generator
                    )
                round_ += [s for s in drawn if self.engine.fits(s.genotype)]
                if len(round_) >= self.derive_samples:
                    break
            if round_:
                rounds.append(round_[: self.derive_samples])
        if not rounds:  # the policy keeps to costly cells: the Searcher falls back
            with torch.no_grad():
                rounds = [self.policy.sample_many(1, generator=self.engine.generator)]
        kept: list[Candidate] = []
        scores: list[float] = []
        for r, round_ in enumerate(rounds):
            accuracies = [self.engine.score(s.genotype) for s in round_]
            best = max(range(len(round_)), key=lambda i: (accuracies[i], -i))
            kept.append(self._candidate(round_[best], accuracies[best], r))
            scores += accuracies
        return Derivation(kept, scores)

    def _candidate(self, s: ControllerSample, score: float, round_: int) -> Candidate:
        return Candidate(
            s.genotype,
            score,
            {
                "round": float(round_),
                "log_prob": s.log_prob.item(),
                "log_prob_normal": s.log_prob_normal.item(),
                "log_prob_reduce": s.log_prob_reduce.item(),
                "entropy": s.entropy.item(),
                "entropy_normal": s.entropy_normal.item(),
                "entropy_reduce": s.entropy_reduce.item(),
            },
        )

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The controller, its optimizer and the baseline."""
        return {
            "controller": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.policy.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.policy.set_op_order(self.engine.op_order)
        baseline = state["baseline"]
        self.baseline = None if baseline is None else float(baseline)
