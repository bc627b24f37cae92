"""What a search produces: scored candidates, a stage's derivation, the stage and run results."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._genotype import Genotype

__all__ = ["Candidate", "Derivation", "SearchResult", "StageResult"]


@dataclass(frozen=True)
class Candidate:
    """An architecture scored at the end of a stage.

    Attributes:
        genotype: The architecture.
        accuracy: Its top-1 accuracy (0..1) on the validation data, with supernet weights.
        stats: What the strategy knows about it, by name (for example the controller's
            ``log_prob`` and ``entropy``, or ``generation`` in an evolution).
    """

    genotype: Genotype
    accuracy: float
    stats: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.genotype, Genotype):
            raise TypeError(f"Candidate.genotype must be a cnas.Genotype, got {self.genotype!r}")
        accuracy = float(self.accuracy)
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"Candidate.accuracy must be in [0, 1], got {self.accuracy!r}")
        object.__setattr__(self, "accuracy", accuracy)
        object.__setattr__(self, "stats", {str(k): float(v) for k, v in self.stats.items()})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "genotype": self.genotype.to_dict(),
            "accuracy": self.accuracy,
            "stats": dict(self.stats),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        """Read ``to_dict`` output back."""
        return cls(
            Genotype.from_dict(data["genotype"]),
            float(data["accuracy"]),
            dict(data.get("stats", {})),
        )


@dataclass(frozen=True)
class Derivation:
    """What a strategy's ``derive`` returns: the candidates it keeps, and every score.

    Attributes:
        candidates: The candidates worth keeping (at least one); the best by accuracy is
            the stage's genotype (on ties, the earliest).
        accuracies: The accuracy of every architecture scored while deriving, for the
            mean and standard deviation the stage reports; default: the candidates'.
    """

    candidates: Sequence[Candidate]
    accuracies: Sequence[float] = ()

    def __post_init__(self) -> None:
        candidates = tuple(self.candidates)
        if not candidates:
            raise ValueError("a Derivation needs at least one candidate")
        for c in candidates:
            if not isinstance(c, Candidate):
                raise TypeError(f"Derivation.candidates must hold Candidates, got {c!r}")
        object.__setattr__(self, "candidates", candidates)
        accuracies = tuple(float(a) for a in self.accuracies) or tuple(
            c.accuracy for c in candidates
        )
        object.__setattr__(self, "accuracies", accuracies)

    def ranked(self) -> tuple[Candidate, ...]:
        """The candidates, best first (a stable sort: ties keep their order)."""
        return tuple(sorted(self.candidates, key=lambda c: -c.accuracy))


@dataclass(frozen=True)
class StageResult:
    """What one curriculum stage produced.

    Attributes:
        index: Stage number, from 0 (the folder ``stages/stage-{index + 1}``).
        n_ops: Ops the stage allowed.
        n_nodes: Nodes the stage allowed.
        ops: The names of the allowed ops.
        genotype: The architecture derived at the end of the stage.
        val_accuracy: Its top-1 accuracy (0..1) on the validation data, with supernet weights.
        strategy: The registered name of the strategy that derived it.
        candidates: The candidates the derivation kept, best first, with their statistics.
        accuracy_mean: Mean accuracy of every architecture scored in the derivation.
        accuracy_std: Their standard deviation (population, as the original code reports).
        evaluated: How many architectures the derivation scored.
        scored: With a budget: every architecture the derivation scored, in order, its
            costs in ``stats`` (``params``, ``madds``, ``latency_ms``, and ``within``: 1 or
            0): what the accuracy/cost front is drawn from.
        within_budget: With a budget: whether the genotype meets it (a stage whose space
            cannot, such as a curriculum's first, derives the best cell regardless).
    """

    index: int
    n_ops: int
    n_nodes: int
    ops: tuple[str, ...]
    genotype: Genotype
    val_accuracy: float
    strategy: str = ""
    candidates: tuple[Candidate, ...] = ()
    accuracy_mean: float | None = None
    accuracy_std: float | None = None
    evaluated: int = 0
    scored: tuple[Candidate, ...] = ()
    within_budget: bool | None = None

    @classmethod
    def from_derivation(
        cls,
        index: int,
        n_ops: int,
        n_nodes: int,
        ops: Sequence[str],
        strategy: str,
        derivation: Derivation,
        scored: Sequence[Candidate] = (),
        within_budget: bool | None = None,
    ) -> StageResult:
        """The result of a stage whose strategy derived ``derivation``."""
        ranked = derivation.ranked()
        scores = derivation.accuracies
        return cls(
            index,
            n_ops,
            n_nodes,
            tuple(ops),
            ranked[0].genotype,
            ranked[0].accuracy,
            strategy,
            ranked,
            statistics.fmean(scores),
            statistics.pstdev(scores) if len(scores) > 1 else 0.0,
            len(scores),
            tuple(scored),
            within_budget,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "n_ops": self.n_ops,
            "n_nodes": self.n_nodes,
            "ops": list(self.ops),
            "genotype": self.genotype.to_dict(),
            "val_accuracy": self.val_accuracy,
            "strategy": self.strategy,
            "candidates": [c.to_dict() for c in self.candidates],
            "accuracy_mean": self.accuracy_mean,
            "accuracy_std": self.accuracy_std,
            "evaluated": self.evaluated,
            # a search with a budget only
            **(
                {"scored": [c.to_dict() for c in self.scored], "within_budget": self.within_budget}
                if self.scored or self.within_budget is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageResult:
        """Read ``to_dict`` output back."""

        def optional_float(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            int(data["index"]),
            int(data["n_ops"]),
            int(data["n_nodes"]),
            tuple(data["ops"]),
            Genotype.from_dict(data["genotype"]),
            float(data["val_accuracy"]),
            str(data.get("strategy", "")),
            tuple(Candidate.from_dict(c) for c in data.get("candidates", ())),
            optional_float("accuracy_mean"),
            optional_float("accuracy_std"),
            int(data.get("evaluated", 0)),
            tuple(Candidate.from_dict(c) for c in data.get("scored", ())),
            None if data.get("within_budget") is None else bool(data["within_budget"]),
        )

    def summary(self) -> str:
        """One line: the accuracy, and the mean ± std of the derivation when it scored more."""
        line = f"val top-1 {100 * self.val_accuracy:.2f}%"
        if self.evaluated > 1 and self.accuracy_mean is not None:
            std = self.accuracy_std or 0.0
            line += (
                f" (best of {self.evaluated}; mean {100 * self.accuracy_mean:.2f}"
                f" ± {100 * std:.2f}%)"
            )
        return line


@dataclass
class SearchResult:
    """The outcome of ``Searcher.fit``.

    Attributes:
        genotype: The final architecture (derived at the end of the last completed stage),
            or ``None`` when the search stopped before any stage ended.
        stages: One record per completed stage.
        history: One dict per epoch, as written to ``metrics.jsonl``.
        output_dir: Where the outputs are.
        stopped_early: Whether a callback stopped the search before the schedule ended.
    """

    genotype: Genotype | None
    stages: list[StageResult]
    history: list[dict[str, Any]]
    output_dir: Path
    stopped_early: bool = False
