"""``Evolution``: regularized (ageing) evolution over a trained supernet, SPOS-style."""

from __future__ import annotations

from collections import deque

import torch

from .._genotype import Edge, Genotype
from .._validation import check_int
from ..space import SearchSpace
from ._random import UniformTraining, top_candidates
from ._registry import register_strategy
from ._results import Derivation

__all__ = ["Evolution", "mutate"]


def mutate(genotype: Genotype, space: SearchSpace, generator: torch.Generator) -> Genotype:
    """``genotype`` with one edge changed: its op, or its input node, to another one.

    The cell (normal or reduction) and the edge are drawn uniformly; then the op or the
    input with probability 1/2 each (the input when ``space`` has a single op). The new op
    comes from ``space.ops``, the new input from the nodes before the edge's node.
    """

    def draw(n: int) -> int:
        return int(torch.randint(0, n, (1,), generator=generator))

    cells = [list(genotype.normal), list(genotype.reduce)]
    cell = cells[draw(2)]
    i = draw(len(cell))
    op, src, dst = cell[i]
    if space.n_ops > 1 and draw(2) == 0:
        others = [o for o in space.ops if o != op]
        cell[i] = Edge(others[draw(len(others))], src, dst)
    else:
        inputs = [s for s in range(dst) if s != src]
        cell[i] = Edge(op, inputs[draw(len(inputs))], dst)
    return Genotype(cells[0], genotype.normal_concat, cells[1], genotype.reduce_concat)


@register_strategy("evolution")
class Evolution(UniformTraining):
    """Regularized evolution (Real et al., AAAI 2019) over the trained supernet, as in
    single-path one-shot NAS (SPOS; Guo et al., ECCV 2020).

    The supernet trains as in ``RandomSearch``, on uniform samples of the stage's space.
    At the end of a stage a population of ``population_size`` uniform samples is scored
    on the validation data (fitness: top-1 with the supernet's weights); then, for
    ``cycles`` cycles, the fittest of ``sample_size`` members drawn at random is mutated
    (``mutate``: one edge's op or input, within the stage's space), the child is scored
    and joins the population, and the oldest member leaves. The fittest architecture
    seen is the stage's genotype. The defaults score 10 + 20 = 30 architectures, the
    budget of the CNAS controller's derivation; SPOS and Real et al. spend far more.

    Args:
        population_size: Architectures alive at a time (at least 2).
        sample_size: Members drawn to pick each parent, in 1..population_size.
        cycles: Children made and scored.
        top_k: How many of the best (distinct) architectures the stage result keeps.

    Raises:
        ValueError: a setting out of range.
    """

    def __init__(
        self, *, population_size: int = 10, sample_size: int = 3, cycles: int = 20, top_k: int = 3
    ) -> None:
        check_int("population_size", population_size, 2)
        check_int("sample_size", sample_size)
        check_int("cycles", cycles, 0)
        check_int("top_k", top_k)
        if sample_size > population_size:
            raise ValueError(
                f"sample_size ({sample_size}) cannot exceed population_size ({population_size})"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.cycles = cycles
        self.top_k = top_k

    def _child(self, parent: Genotype) -> Genotype:
        """A mutation of ``parent``; with a budget the stage's space can meet, mutations
        over it are rejected (up to 100, then a uniform sample within it)."""
        space, engine = self.stage.space, self.engine
        if not engine.constrains(space):
            return mutate(parent, space, engine.generator)
        child = engine.draw_within(lambda: mutate(parent, space, engine.generator), 100)
        return child if child is not None else self._draw()

    def derive(self) -> Derivation:
        """Evolve for ``cycles`` cycles; keep the ``top_k`` fittest architectures seen."""
        generator = self.engine.generator
        cache: dict[Genotype, float] = {}
        population: deque[tuple[Genotype, float]] = deque()
        history: list[tuple[Genotype, float, dict[str, float]]] = []
        first = [self._draw() for _ in range(self.population_size)]
        for g, acc in zip(first, self._score_all(first, cache), strict=True):
            population.append((g, acc))
            history.append((g, acc, {"generation": 0.0}))
        for cycle in range(1, self.cycles + 1):
            picks = torch.randperm(len(population), generator=generator)[: self.sample_size]
            parent = max((population[int(j)] for j in picks), key=lambda member: member[1])
            child = self._child(parent[0])
            (acc,) = self._score_all([child], cache)
            population.append((child, acc))
            population.popleft()  # ageing: the oldest dies, however fit
            history.append((child, acc, {"generation": float(cycle)}))
        return Derivation(top_candidates(history, self.top_k), [acc for _, acc, _ in history])
