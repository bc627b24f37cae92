"""Write a search strategy in user code, register it, and search with it.

``Tournament`` trains the supernet on uniformly sampled architectures, like random
search, but learns while it searches: on every validation batch it scores two uniform
samples against each other and remembers, per op, how often the op's side won. At the
end of a stage it samples candidates from that record (ops that won more are drawn more
often) and keeps the best on the validation data. The curriculum, checkpoints, resume,
outputs and ``cnas derive`` all come from the library; the strategy is 60 lines.

Run:  python examples/custom_strategy.py [OUTPUT_DIR] [--quick]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import cnas
from cnas.search import Candidate, Derivation, Phase, Strategy


@cnas.search.register_strategy("tournament")
class Tournament(Strategy):
    """Pairwise tournaments of uniform samples on validation batches; candidates drawn by
    each op's share of wins.

    Args:
        candidates: Architectures drawn and scored at the end of each stage.
        smoothing: Wins every op starts with, so that no op is ruled out.
    """

    def __init__(self, *, candidates: int = 8, smoothing: float = 1.0) -> None:
        if candidates < 1 or smoothing <= 0:
            raise ValueError("candidates must be >= 1 and smoothing > 0")
        self.candidates = candidates
        self.smoothing = smoothing
        self.wins: dict[str, float] = {}

    def phases(self) -> Sequence[Phase]:
        # a supernet epoch on the training split, then a tournament epoch on validation
        return (Phase("supernet"), Phase("tournament", data="val"))

    def architecture(self, *, warmup: bool = False) -> cnas.Genotype:
        return self.stage.space.sample(generator=self.engine.generator)

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> Mapping[str, float]:
        a, b = (self.stage.space.sample(generator=self.engine.generator) for _ in range(2))
        score_a, score_b = self.engine.accuracy(x, y, a), self.engine.accuracy(x, y, b)
        winner = a if score_a >= score_b else b
        for edge in (*winner.normal, *winner.reduce):
            self.wins[edge.op] = self.wins.get(edge.op, 0.0) + 1.0
        return {"winner_top1": max(score_a, score_b)}

    def _draw(self) -> cnas.Genotype:
        space, gen = self.stage.space, self.engine.generator
        weights = torch.tensor([self.wins.get(op, 0.0) + self.smoothing for op in space.ops])
        cells = []
        for _ in range(2):
            edges = []
            for dst in range(2, space.n_nodes + 2):
                for _ in range(2):
                    op = space.ops[int(torch.multinomial(weights, 1, generator=gen))]
                    edges.append((op, int(torch.randint(0, dst, (1,), generator=gen)), dst))
            cells.append(edges)
        return cnas.Genotype(cells[0], None, cells[1], None)

    def derive(self) -> Derivation:
        drawn = [self._draw() for _ in range(self.candidates)]
        return Derivation([Candidate(g, self.engine.score(g)) for g in drawn])

    def state_dict(self) -> dict[str, Any]:
        return {"wins": dict(self.wins)}  # what a resumed search needs to continue exactly

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wins = dict(state["wins"])


def main(output_dir: Path, quick: bool) -> cnas.SearchResult:
    torch.manual_seed(0)
    train, val, info = cnas.data.load_search_data("digits")  # ships with cnas: no download
    space = cnas.SearchSpace(cnas.DARTS_OPS, n_nodes=4)
    schedule = cnas.CurriculumSchedule.grow_ops(space, warmup_epochs=1, epochs_per_stage=1)
    if quick:  # the first three stages only
        schedule = cnas.CurriculumSchedule(schedule.stages[:3], schedule.op_order)
    supernet = cnas.SuperNet(
        space, C=8, num_classes=info.num_classes, layers=5, in_channels=info.in_channels
    )
    searcher = cnas.Searcher(
        supernet,
        schedule,
        output_dir,
        strategy="tournament",  # the registered name: built with its defaults
        optimizer=cnas.search.OptimizerConfig(batch_size=64),
        derive_batches=4,
        steps_per_epoch=3 if quick else None,
    )
    result = searcher.fit(train, val)
    for stage in result.stages:
        print(f"stage {stage.index + 1} ({', '.join(stage.ops)}): {stage.summary()}")
    wins = searcher.strategy.wins  # type: ignore[attr-defined]
    print("wins per op:", {op: int(n) for op, n in sorted(wins.items())})
    print("final genotype:", result.genotype)
    print("outputs in", output_dir)
    return result


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="cnas-strategy-"))
    main(out, quick="--quick" in sys.argv)
