"""A study plan as command lines: every search, training and supernet scoring of a study
is a plain ``cnas`` command (``StudyRun``), run in the study folder, that a user or a
cluster scheduler could type."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ._plan import Arm, StudyPlan

__all__ = ["StudyRun", "plan_runs", "random_file"]


@dataclass(frozen=True)
class StudyRun:
    """One run of a study: a plain ``cnas`` command line, run in the study folder.

    Attributes:
        index: Its place in ``Study.runs`` (``cnas study --run-index``).
        id: ``search/ARM-sSEED``, ``train/ARM-sSEED-tSEED``, ``train/random-rNN-tSEED``
            or ``score/ARM-sSEED``; also its folder (a score run's file is ``ID.json``).
        kind: ``search``, ``train`` or ``score``.
        argv: The command line, starting with ``cnas`` (paths relative to the study
            folder). A training that holds a checkpoint is continued with ``--resume``
            added.
        depends: The runs that must finish first.
        arm: The arm's label (``random`` for a random architecture).
        seed: The search seed, or the random genotype's number.
        train_seed: The training seed (trainings only).
    """

    index: int
    id: str
    kind: str
    argv: tuple[str, ...]
    depends: tuple[str, ...] = ()
    arm: str = ""
    seed: int = 0
    train_seed: int | None = None

    @property
    def command(self) -> str:
        """``argv`` as one shell command line."""
        return shlex.join(self.argv)

    @property
    def output(self) -> str:
        """What the run writes, relative to the study folder."""
        return f"{self.id}.json" if self.kind == "score" else self.id


def random_file(i: int) -> str:
    return f"random/r{i:02d}.json"


def _search_id(arm: Arm, seed: int) -> str:
    return f"search/{arm.slug}-s{seed}"


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _data_flags(plan: StudyPlan) -> list[str]:
    flags = ["--dataset", plan.dataset]
    if plan.dataset == "cifar10":
        flags += ["--data", plan.data, "--no-download"]
    flags += ["--hold-out-test"]
    if plan.dataset != "cifar10":
        flags += ["--test-portion", repr(float(plan.test_portion))]
    flags += ["--test-seed", str(plan.test_seed)]
    if plan.device:
        flags += ["--device", plan.device]
    return flags


def _value(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _search_argv(plan: StudyPlan, arm: Arm, seed: int) -> tuple[str, ...]:
    warmup, epochs = plan.stage_epochs(arm)
    argv = ["cnas", "search", *_data_flags(plan), "--strategy", arm.strategy]
    argv += ["--curriculum", arm.curriculum]
    argv += ["--warmup-epochs", str(warmup), "--epochs-per-stage", str(epochs)]
    for key, value in plan.search.items():
        if key in ("warmup_epochs", "epochs"):
            continue
        if key == "ops":
            argv += ["--ops", ",".join(value)]
        else:
            argv += [_flag(key), _value(value)]
    for key, value in arm.settings.items():
        if isinstance(value, bool):
            argv.append(_flag(key) if value else "--no-" + key.replace("_", "-"))
        else:
            argv += [_flag(key), "off" if value is None else _value(value)]
    argv += ["--seed", str(seed), "--no-progress", "-o", _search_id(arm, seed)]
    return tuple(argv)


def _train_argv(plan: StudyPlan, genotype: str, seed: int, out: str) -> tuple[str, ...]:
    argv = ["cnas", "train", "--arch", genotype, *_data_flags(plan)]
    for key, value in plan.train.items():
        argv += [_flag(key), _value(value)]
    argv += ["--seed", str(seed), "--no-progress", "-o", out]
    return tuple(argv)


def plan_runs(plan: StudyPlan) -> list[StudyRun]:
    """Every run of ``plan``, in the order they are listed and started: searches, the
    random architectures' trainings, the derived cells' trainings, then one scoring per
    search of every trained genotype with its supernet (for Kendall's tau)."""
    runs: list[StudyRun] = []

    def add(**kw: Any) -> None:
        runs.append(StudyRun(index=len(runs), **kw))

    searches = [(arm, seed) for arm in plan.arms for seed in plan.search_seeds]
    for arm, seed in searches:
        add(
            id=_search_id(arm, seed),
            kind="search",
            argv=_search_argv(plan, arm, seed),
            arm=arm.label,
            seed=seed,
        )
    for i in range(plan.random_archs):
        for t in plan.train_seeds:
            out = f"train/random-r{i:02d}-t{t}"
            add(
                id=out,
                kind="train",
                argv=_train_argv(plan, random_file(i), t, out),
                arm="random",
                seed=i,
                train_seed=t,
            )
    for arm, seed in searches:
        for t in plan.train_seeds:
            out = f"train/{arm.slug}-s{seed}-t{t}"
            add(
                id=out,
                kind="train",
                argv=_train_argv(plan, f"{_search_id(arm, seed)}/genotype.json", t, out),
                depends=(_search_id(arm, seed),),
                arm=arm.label,
                seed=seed,
                train_seed=t,
            )
    genotypes = [random_file(i) for i in range(plan.random_archs)]
    genotypes += [f"{_search_id(arm, seed)}/genotype.json" for arm, seed in searches]
    for arm, seed in searches:
        argv = ["cnas", "derive", _search_id(arm, seed), "--score", *genotypes]
        if plan.dataset == "cifar10":
            argv += ["--data", plan.data, "--no-download"]
        if plan.device:
            argv += ["--device", plan.device]
        score_id = f"score/{arm.slug}-s{seed}"
        argv += ["-o", f"{score_id}.json", "--force"]
        add(
            id=score_id,
            kind="score",
            argv=tuple(argv),
            depends=tuple(_search_id(a, s) for a, s in searches),
            arm=arm.label,
            seed=seed,
        )
    return runs
