"""A study plan as runs: every search, training and supernet scoring of a study is a
configuration file in the study folder (``configs/``), run by the library; on a cluster,
each search or training is ``cnas search --config FILE`` / ``cnas train --config FILE``."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import Config
from ..data import DataConfig
from ..errors import ConfigError, StudyPlanError
from ..search import SearchConfig
from ..training import TrainConfig
from ._plan import Arm, StudyPlan

__all__ = [
    "GENOTYPE_LIST",
    "ScoreConfig",
    "StudyRun",
    "config_path",
    "genotype_files",
    "plan_runs",
    "random_file",
    "run_config",
    "search_config",
    "train_config",
]


GENOTYPE_LIST = "configs/genotypes.json"
"""The study's list of every genotype it trains (what each scoring scores)."""


@dataclass(frozen=True)
class StudyRun:
    """One run of a study: a configuration file in the study folder and what it writes.

    Attributes:
        index: Its place in ``Study.runs`` (``cnas study --run-index``).
        id: ``search/ARM-sSEED``, ``train/ARM-sSEED-tSEED``, ``train/random-rNN-tSEED``
            or ``score/ARM-sSEED``; also its output (a score run's file is ``ID.json``).
        kind: ``search``, ``train`` or ``score``.
        config: Its configuration file, relative to the study folder
            (``configs/ID.json``): a ``SearchConfig``, a ``TrainConfig`` or a
            ``ScoreConfig``.
        depends: The runs that must finish first.
        arm: The arm's label (``random`` for a random architecture).
        seed: The search seed, or the random genotype's number.
        train_seed: The training seed (trainings only).
        genotype: The genotype file a training trains (trainings only).
    """

    index: int
    id: str
    kind: str
    config: str
    depends: tuple[str, ...] = ()
    arm: str = ""
    seed: int = 0
    train_seed: int | None = None
    genotype: str | None = None

    @property
    def output(self) -> str:
        """What the run writes, relative to the study folder."""
        return f"{self.id}.json" if self.kind == "score" else self.id

    @property
    def command(self) -> str:
        """The command that runs it by hand or on a cluster, in the study folder."""
        if self.kind == "score":
            return f"cnas study -o . --resume --run-index {self.index}"
        verb = "search" if self.kind == "search" else "train"
        return (
            f"cnas {verb} --config {shlex.quote(self.config)} -o {shlex.quote(self.output)} "
            "--no-progress"
        )


@dataclass(frozen=True)
class ScoreConfig(Config):
    """A study's scoring of genotypes with a search's last-stage supernet (Kendall's tau of
    weight sharing): what ``Searcher.evaluate_stage`` computes, as a file.

    Attributes:
        search: The search folder, relative to the study folder.
        genotypes: A JSON file that lists the genotype files to score (one list for every
            scoring of the study: its size stays linear in its runs), relative to the
            study folder.
        device: The device (unset: the default).
    """

    FORMAT = "cnas.study-score"

    search: str = ""
    genotypes: str = GENOTYPE_LIST
    device: str | None = None


def random_file(i: int) -> str:
    """The file of the study's ``i``-th random genotype."""
    return f"random/r{i:02d}.json"


def _search_id(arm: Arm, seed: int) -> str:
    return f"search/{arm.slug}-s{seed}"


def _data(plan: StudyPlan) -> DataConfig:
    """Every run's data: the plan's dataset with its held-out test split."""
    return DataConfig(
        dataset=plan.dataset,  # type: ignore[arg-type]
        root=plan.data,
        download=plan.dataset != "cifar10",
        hold_out_test=True,
        test_portion=plan.test_portion,
        test_seed=plan.test_seed,
    )


def _runtime(plan: StudyPlan) -> dict[str, Any]:
    return {"progress": False, **({"device": plan.device} if plan.device else {})}


def search_config(plan: StudyPlan, arm: Arm, seed: int) -> SearchConfig:
    """The configuration of ``arm``'s search with ``seed``: the plan's budget split over
    the arm's stages, its data, space, supernet and settings.

    Raises:
        StudyPlanError: a ``search`` value that the configuration refuses, named.
    """
    warmup, epochs = plan.stage_epochs(arm)
    try:
        config = SearchConfig(data=_data(plan), seed=seed).replace(**plan.search_fields())
        return config.replace(
            curriculum={
                "kind": arm.curriculum,
                "warmup_epochs": warmup,
                "epochs_per_stage": epochs,
            },
            strategy={"name": arm.strategy, "settings": dict(arm.settings)},
            runtime=_runtime(plan),
        )
    except ConfigError as exc:
        raise StudyPlanError(f"search: {exc}") from None


def train_config(plan: StudyPlan, genotype: str, seed: int) -> TrainConfig:
    """The configuration of a training of ``genotype`` (a file relative to the study
    folder) with ``seed``: the dataset's preset with the plan's recipe.

    Raises:
        StudyPlanError: a ``train`` value that the configuration refuses, named.
    """
    try:
        config = TrainConfig.preset(plan.dataset).replace(data=_data(plan))
        config = config.replace(**plan.train_fields())
        return config.replace(genotype=genotype, seed=seed, runtime=_runtime(plan))
    except ConfigError as exc:
        raise StudyPlanError(f"train: {exc}") from None


def run_config(plan: StudyPlan, run: StudyRun) -> Config:
    """The configuration file's contents of ``run``."""
    if run.kind == "search":
        arm = next(a for a in plan.arms if a.label == run.arm)
        return search_config(plan, arm, run.seed)
    if run.kind == "train":
        assert run.genotype is not None
        assert run.train_seed is not None
        return train_config(plan, run.genotype, run.train_seed)
    return ScoreConfig(search=run.id.replace("score/", "search/"), device=plan.device)


def plan_runs(plan: StudyPlan) -> list[StudyRun]:
    """Every run of ``plan``, in the order they are listed and started: searches, the
    random architectures' trainings, the derived cells' trainings, then one scoring per
    search of every trained genotype with its supernet (for Kendall's tau)."""
    runs: list[StudyRun] = []

    def add(**kw: Any) -> None:
        runs.append(StudyRun(index=len(runs), config=f"configs/{kw['id']}.json", **kw))

    searches = [(arm, seed) for arm in plan.arms for seed in plan.search_seeds]
    for arm, seed in searches:
        add(id=_search_id(arm, seed), kind="search", arm=arm.label, seed=seed)
    for i in range(plan.random_archs):
        for t in plan.train_seeds:
            add(
                id=f"train/random-r{i:02d}-t{t}",
                kind="train",
                arm="random",
                seed=i,
                train_seed=t,
                genotype=random_file(i),
            )
    for arm, seed in searches:
        for t in plan.train_seeds:
            add(
                id=f"train/{arm.slug}-s{seed}-t{t}",
                kind="train",
                depends=(_search_id(arm, seed),),
                arm=arm.label,
                seed=seed,
                train_seed=t,
                genotype=f"{_search_id(arm, seed)}/genotype.json",
            )
    for arm, seed in searches:
        add(
            id=f"score/{arm.slug}-s{seed}",
            kind="score",
            depends=tuple(_search_id(a, s) for a, s in searches),
            arm=arm.label,
            seed=seed,
        )
    return runs


def genotype_files(plan: StudyPlan) -> list[str]:
    """Every genotype a study trains: the random ones, then each search's."""
    files = [random_file(i) for i in range(plan.random_archs)]
    files += [
        f"{_search_id(arm, seed)}/genotype.json" for arm in plan.arms for seed in plan.search_seeds
    ]
    return files


def config_path(folder: Path, run: StudyRun) -> Path:
    """Where ``run``'s configuration file is in the study ``folder``."""
    return folder / run.config
