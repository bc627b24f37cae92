"""Random search with weight sharing (Li & Talwalkar, UAI 2019): the baseline of baselines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .._genotype import Genotype
from .._validation import check_int
from ._registry import register_strategy
from ._results import Candidate, Derivation
from ._strategy import Strategy

__all__ = ["RandomSearch", "UniformTraining"]


class UniformTraining(Strategy):
    """A supernet trained on uniformly sampled architectures of each stage's space, as in
    single-path one-shot search; subclasses say how a stage derives.

    Every supernet step, warm-up or not, trains one architecture drawn uniformly (each
    edge's input and op) from the stage's space. Nothing learns from validation data
    before the derivation, so ``derives_from_supernet`` is True: these strategies derive
    from any finished stage of any run.
    """

    derives_from_supernet = True

    def architecture(self, *, warmup: bool = False) -> Genotype:
        """A uniform sample of the stage's space."""
        return self.stage.space.sample(generator=self.engine.generator)

    def _draw(self) -> Genotype:
        """A uniform sample of the stage's space; with a budget the space can meet, one
        within it (samples over it are rejected before they are scored)."""
        space, engine = self.stage.space, self.engine
        if engine.constrains(space):
            found = engine.draw_within(lambda: space.sample(generator=engine.generator))
            if found is not None:
                return found
        return space.sample(generator=engine.generator)

    def _score_all(
        self, genotypes: Iterable[Genotype], cache: dict[Genotype, float]
    ) -> list[float]:
        """Validation accuracy of each genotype; each distinct one is scored once."""
        scores = []
        for g in genotypes:
            if g not in cache:
                cache[g] = self.engine.score(g)
            scores.append(cache[g])
        return scores


def top_candidates(
    scored: Iterable[tuple[Genotype, float, Mapping[str, float]]], k: int
) -> list[Candidate]:
    """The ``k`` best distinct genotypes (the earliest of equal scores first)."""
    best: dict[Genotype, tuple[int, float, Mapping[str, float]]] = {}
    for i, (g, acc, stats) in enumerate(scored):
        if g not in best:
            best[g] = (i, acc, stats)
    ranked = sorted(best.items(), key=lambda item: (-item[1][1], item[1][0]))
    return [Candidate(g, acc, stats) for g, (_, acc, stats) in ranked[:k]]


@register_strategy("random")
class RandomSearch(UniformTraining):
    """Random search with weight sharing, RS-WS (Li & Talwalkar, UAI 2019).

    The supernet trains on uniformly sampled architectures of the stage's space; at the
    end of a stage ``num_candidates`` more uniform samples are scored on the validation
    data and the best is the stage's genotype. The default of 30 matches the 3 x 10
    candidates the CNAS controller scores, so both search at equal cost.

    Args:
        num_candidates: Uniform samples scored at the end of each stage.
        top_k: How many of the best (distinct) samples the stage result keeps.

    Raises:
        ValueError: a count below 1.
    """

    def __init__(self, *, num_candidates: int = 30, top_k: int = 3) -> None:
        check_int("num_candidates", num_candidates)
        check_int("top_k", top_k)
        self.num_candidates = num_candidates
        self.top_k = top_k

    def derive(self) -> Derivation:
        """Score ``num_candidates`` uniform samples (within the budget, with one); keep
        the ``top_k`` best."""
        samples = [self._draw() for _ in range(self.num_candidates)]
        scores = self._score_all(samples, {})
        scored = [
            (g, acc, {"sample": float(i)})
            for i, (g, acc) in enumerate(zip(samples, scores, strict=True))
        ]
        return Derivation(top_candidates(scored, self.top_k), scores)
