"""What a study is: its arms, seeds, budget, training recipe and data (``StudyPlan``),
read from a small JSON file or built in code, checked before anything runs."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import parse_json
from ..errors import StudyPlanError
from ._plan_values import (
    as_mapping,
    as_seeds,
    as_sequence,
    check_field,
    check_number,
    check_setting,
)

__all__ = ["CURRICULA", "Arm", "StudyPlan"]

CURRICULA = ("ops", "nodes", "fixed")
"""The curricula an arm can use: grow the op set (the paper's), grow the node count, or
none (one stage over the full space)."""

STUDY_DATASETS = ("digits", "synthetic", "cifar10", "folder")

MAX_ARMS = 100
MAX_RANDOM_ARCHS = 10_000
MAX_RUNS = 100_000
"""Bounds a plan is checked against before anything is expanded: a typo such as
``"random_archs": 10**12`` is refused in one line instead of filling the memory."""

PLAN_FORMAT = "cnas.study-plan"

# A plan's "search" block: the budget totals, and its other keys -> the SearchConfig field
# each sets (a dotted configuration path is taken as it is)
_BUDGET_KEYS = ("warmup_epochs", "epochs")  # totals over all stages, split between them
_SEARCH_FIELDS: dict[str, str] = {
    "ops": "space.ops",
    "nodes": "space.n_nodes",
    "init_channels": "supernet.init_channels",
    "layers": "supernet.layers",
    "batch_size": "optimizer.batch_size",
    "lr": "optimizer.lr",
    "momentum": "optimizer.momentum",
    "weight_decay": "optimizer.weight_decay",
    "idle_weights": "optimizer.idle_weights",
    "train_portion": "data.train_portion",
    "derive_batches": "strategy.derive_batches",
    "steps_per_epoch": "curriculum.steps_per_epoch",
}
# A plan's "train" block: TrainConfig's recipe fields by their names, and these
_TRAIN_FIELDS: dict[str, str] = {"train_portion": "data.train_portion", "scheduler": "schedule"}
_TRAIN_RECIPE = (
    "epochs",
    "init_channels",
    "layers",
    "batch_size",
    "lr",
    "lr_min",
    "momentum",
    "weight_decay",
    "no_bias_decay",
    "schedule",
    "warmup_epochs",
    "grad_clip",
    "auxiliary_weight",
    "drop_path_prob",
    "cutout",
    "label_smoothing",
    "precision",
    "max_steps",
)


@dataclass(frozen=True)
class Arm:
    """One arm of a study: a search strategy on a curriculum.

    Attributes:
        strategy: A registered strategy name (``cnas``, ``darts``, ``gdas``, ``random``,
            ``evolution`` or a plugin's).
        curriculum: ``ops``, ``nodes`` or ``fixed``.
        settings: The strategy's settings (``cnas search --list-strategies``), as keyword
            arguments.
    """

    strategy: str
    curriculum: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``strategy/curriculum``, as the report names the arm."""
        return f"{self.strategy}/{self.curriculum}"

    @property
    def slug(self) -> str:
        """The label as a folder name: ``cnas-ops``."""
        return f"{self.strategy}-{self.curriculum}"

    @classmethod
    def parse(cls, value: Any, where: str = "arm") -> Arm:
        """An arm from ``"strategy/curriculum"`` or ``{"strategy", "curriculum",
        "settings"}``.

        Raises:
            StudyPlanError: anything else, naming ``where``.
        """
        if isinstance(value, Arm):
            return value
        if isinstance(value, str):
            strategy, slash, curriculum = value.partition("/")
            if not slash or not strategy or not curriculum:
                raise StudyPlanError(
                    f"{where}: expected 'strategy/curriculum' (for example 'cnas/ops'), "
                    f"got {value!r}"
                )
            return cls(strategy, curriculum)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"strategy", "curriculum", "settings"})
            if unknown:
                raise StudyPlanError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
            try:
                strategy, curriculum = value["strategy"], value["curriculum"]
            except KeyError as exc:
                raise StudyPlanError(f"{where}: missing {exc}") from None
            settings = value.get("settings", {})
            if not isinstance(strategy, str) or not isinstance(curriculum, str):
                raise StudyPlanError(f"{where}: strategy and curriculum must be names")
            if not isinstance(settings, Mapping):
                raise StudyPlanError(f"{where}.settings: expected an object")
            return cls(strategy, curriculum, dict(settings))
        raise StudyPlanError(
            f"{where}: expected 'strategy/curriculum' or an object, got {type(value).__name__}"
        )

    def to_json(self) -> Any:
        """``"strategy/curriculum"``, or an object when it has settings."""
        if not self.settings:
            return self.label
        return {
            "strategy": self.strategy,
            "curriculum": self.curriculum,
            "settings": dict(self.settings),
        }


@dataclass(frozen=True)
class StudyPlan:
    """A study: several arms at one search budget, with several seeds each, every
    derived cell and ``random_archs`` random ones trained with one recipe and scored on
    a test split that no search and no model selection sees.

    Attributes:
        arms: The arms (at least one; labels unique).
        dataset: ``digits``, ``synthetic``, ``cifar10`` or ``folder`` (an image folder).
        data: The data folder (CIFAR-10, or the image folder).
        test_portion: The held-out test share of digits/synthetic or of an image
            folder without ``test/`` (CIFAR-10 holds out its test set, an image folder
            its ``test/``).
        test_seed: The seed of the held-out split (``cnas.data.hold_out``).
        search_seeds: One search per arm and seed.
        train_seeds: One training per derived or random genotype and seed.
        random_archs: Genotypes sampled uniformly from the full space (``random_seed``).
        random_seed: The seed of the random genotypes.
        baseline: The arm every other is tested against (default: the first arm with the
            ``fixed`` curriculum, the no-curriculum search).
        search: The search budget and supernet: ``warmup_epochs`` and ``epochs`` are
            totals that each arm splits equally over its curriculum's stages (so every
            arm trains the supernet on the same number of images), and any of ``ops``,
            ``nodes``, ``init_channels``, ``layers``, ``batch_size``, ``train_portion``,
            ``derive_batches``, ``steps_per_epoch``, ``lr``, ``momentum``,
            ``weight_decay``, or a ``SearchConfig`` field by its dotted path
            (``"optimizer.lr"``).
        train: The training recipe: ``TrainConfig`` fields (``epochs``,
            ``init_channels``, ``layers``, ``batch_size``, ``lr``, ``warmup_epochs``, ...)
            and ``train_portion``.
        device: The device of every run (default: each run's default).
        name: A name for the report.
    """

    arms: tuple[Arm, ...]
    dataset: str = "digits"
    data: str = "data"
    test_portion: float = 0.3
    test_seed: int = 0
    search_seeds: tuple[int, ...] = (0, 1, 2)
    train_seeds: tuple[int, ...] = (0,)
    random_archs: int = 10
    random_seed: int = 0
    baseline: str | None = None
    search: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    device: str | None = None
    name: str = "study"

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "arms",
            tuple(Arm.parse(a, f"arms[{i}]") for i, a in enumerate(as_sequence(self.arms, "arms"))),
        )
        object.__setattr__(self, "search_seeds", as_seeds(self.search_seeds, "search_seeds"))
        object.__setattr__(self, "train_seeds", as_seeds(self.train_seeds, "train_seeds"))
        object.__setattr__(self, "search", dict(as_mapping(self.search, "search")))
        object.__setattr__(self, "train", dict(as_mapping(self.train, "train")))
        self._validate()

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> StudyPlan:
        """A plan from its JSON object (``to_dict``'s form; ``format`` may be left out).

        Raises:
            StudyPlanError: an unknown key, a value of the wrong kind, an unknown strategy,
                curriculum or dataset, or a budget that cannot be equal across arms; the
                message names the field.
        """
        if not isinstance(data, Mapping):
            raise StudyPlanError(f"a study plan is a JSON object, got {type(data).__name__}")
        data = dict(data)
        fmt = data.pop("format", PLAN_FORMAT)
        if fmt != PLAN_FORMAT:
            raise StudyPlanError(f"format: expected {PLAN_FORMAT!r}, got {fmt!r}")
        data.pop("version", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StudyPlanError(
                f"{unknown[0]}: not a study plan field; known: {', '.join(sorted(known))}"
            )
        if "arms" not in data:
            raise StudyPlanError('arms: missing (for example ["cnas/ops", "cnas/fixed"])')
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> StudyPlan:
        """Read a plan from a JSON file.

        Raises:
            FileNotFoundError: no such file.
            StudyPlanError: not valid JSON, or not a valid plan (naming the field).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such study plan") from None
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise StudyPlanError(f"{path} is not a JSON study plan: {exc}") from None
        try:
            data = parse_json(text)
        except ValueError as exc:
            raise StudyPlanError(f"{path} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except StudyPlanError as exc:
            raise StudyPlanError(f"{path}: {exc}") from None

    @classmethod
    def preset(cls, name: str, **changes: Any) -> StudyPlan:
        """A shipped plan (``PRESETS``): ``smoke`` (the tests'), ``digits`` (the
        documented study on the embedded digits, about 25 minutes on a 2-core CPU) or
        ``quick`` (an image folder: give ``data``), with ``changes``.

        Raises:
            StudyPlanError: an unknown preset.
        """
        from ._presets import PRESETS

        try:
            base = PRESETS[name]
        except KeyError:
            raise StudyPlanError(
                f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}"
            ) from None
        return cls.from_dict({**base, **changes})

    def to_dict(self) -> dict[str, Any]:
        """The plan as a JSON object (``from_dict`` reads it back)."""
        return {
            "format": PLAN_FORMAT,
            "version": 1,
            "name": self.name,
            "arms": [a.to_json() for a in self.arms],
            "dataset": self.dataset,
            "data": self.data,
            "test_portion": self.test_portion,
            "test_seed": self.test_seed,
            "search_seeds": list(self.search_seeds),
            "train_seeds": list(self.train_seeds),
            "random_archs": self.random_archs,
            "random_seed": self.random_seed,
            "baseline": self.baseline,
            "search": dict(self.search),
            "train": dict(self.train),
            "device": self.device,
        }

    # -- what it implies ----------------------------------------------------------------

    @property
    def ops(self) -> tuple[str, ...]:
        """The search space's ops (``search.ops``, default the 8 DARTS ops)."""
        from ..ops import DARTS_OPS

        return tuple(self.search.get("ops") or DARTS_OPS)

    @property
    def nodes(self) -> int:
        """Intermediate nodes per cell (``search.nodes``, default 4)."""
        return int(self.search.get("nodes", 4))

    def stages(self, arm: Arm) -> int:
        """How many stages ``arm``'s curriculum has over this plan's space."""
        if arm.curriculum == "ops":
            return len(self.ops)
        if arm.curriculum == "nodes":
            return self.nodes
        return 1

    def stage_epochs(self, arm: Arm) -> tuple[int, int]:
        """``(warm-up epochs, epochs)`` per stage for ``arm``: the budget's totals split
        equally over its stages."""
        n = self.stages(arm)
        return int(self.search.get("warmup_epochs", 0)) // n, int(self.search["epochs"]) // n

    @property
    def baseline_arm(self) -> Arm | None:
        """The arm the report's p-values test against (``None``: no such arm)."""
        if self.baseline is not None:
            return next(a for a in self.arms if a.label == self.baseline)
        return next((a for a in self.arms if a.curriculum == "fixed"), None)

    # -- checks -------------------------------------------------------------------------

    def _validate(self) -> None:
        from ..search import get_strategy, list_strategies, strategy_settings

        if not self.arms:
            raise StudyPlanError("arms: a study needs at least one arm")
        self._check_size()
        labels = [a.label for a in self.arms]
        for i, arm in enumerate(self.arms):
            where = f"arms[{i}]"
            if arm.strategy not in list_strategies():
                raise StudyPlanError(
                    f"{where}: unknown strategy {arm.strategy!r}; known: "
                    f"{', '.join(list_strategies())}"
                )
            if arm.curriculum not in CURRICULA:
                raise StudyPlanError(
                    f"{where}: unknown curriculum {arm.curriculum!r}; known: {', '.join(CURRICULA)}"
                )
            if arm.label in labels[:i]:
                raise StudyPlanError(f"{where}: the arm {arm.label} is given twice")
            known = {s.name: s for s in strategy_settings(get_strategy(arm.strategy))}
            for key, value in arm.settings.items():
                if key not in known:
                    raise StudyPlanError(
                        f"{where}.settings.{key}: not a setting of strategy {arm.strategy!r}; "
                        f"known: {', '.join(sorted(known)) or 'none'}"
                    )
                check_setting(known[key], value, f"{where}.settings.{key}")
        if self.dataset not in STUDY_DATASETS:
            raise StudyPlanError(
                f"dataset: unknown dataset {self.dataset!r}; a study searches on "
                f"{', '.join(STUDY_DATASETS)}"
            )
        if not isinstance(self.data, str):
            raise StudyPlanError("data: expected a folder path")
        check_number(self.test_portion, "test_portion", float, 0.0)
        if not 0.0 < float(self.test_portion) < 1.0:
            raise StudyPlanError(f"test_portion: must be between 0 and 1, got {self.test_portion}")
        check_number(self.test_seed, "test_seed", int, 0)
        check_number(self.random_archs, "random_archs", int, 0)
        check_number(self.random_seed, "random_seed", int, 0)
        if self.baseline is not None and self.baseline not in labels:
            raise StudyPlanError(
                f"baseline: {self.baseline!r} is not one of the arms ({', '.join(labels)})"
            )
        if self.device is not None and not isinstance(self.device, str):
            raise StudyPlanError("device: expected a device name such as 'cpu' or 'cuda'")
        if not isinstance(self.name, str) or not self.name:
            raise StudyPlanError("name: expected a non-empty string")
        if "epochs" not in self.search:
            raise StudyPlanError("search.epochs: missing (the search budget, in supernet epochs)")
        for key in _BUDGET_KEYS:
            if key in self.search:
                check_number(self.search[key], f"search.{key}", int, 1 if key == "epochs" else 0)
        self._check_configs()
        self._check_budget()

    def search_fields(self) -> dict[str, Any]:
        """The ``search`` block (but its budget totals) as ``SearchConfig`` changes."""
        return {
            _SEARCH_FIELDS.get(key, key): value
            for key, value in self.search.items()
            if key not in _BUDGET_KEYS
        }

    def train_fields(self) -> dict[str, Any]:
        """The ``train`` block as ``TrainConfig`` changes."""
        return {_TRAIN_FIELDS.get(key, key): value for key, value in self.train.items()}

    def _check_configs(self) -> None:
        """Every ``search`` and ``train`` key must set a field the configurations take."""
        from ..search import SearchConfig
        from ..training import TrainConfig

        if self.device is not None:
            check_field(SearchConfig(), {"runtime.device": self.device}, "device")
        check_field(SearchConfig(), {"data.root": self.data}, "data")
        search_keys = sorted([*_BUDGET_KEYS, *_SEARCH_FIELDS])
        for key, value in self.search.items():
            if key in _BUDGET_KEYS:
                continue
            path = _SEARCH_FIELDS.get(key, key)
            if key not in _SEARCH_FIELDS and "." not in key:
                raise StudyPlanError(
                    f"search.{key}: not a search setting of a study; known: "
                    f"{', '.join(search_keys)} (or a SearchConfig field's dotted path)"
                )
            check_field(SearchConfig(), {path: value}, f"search.{key}")
        train_keys = sorted([*_TRAIN_RECIPE, *_TRAIN_FIELDS])
        for key, value in self.train.items():
            if key not in train_keys:
                raise StudyPlanError(
                    f"train.{key}: not a train setting of a study; known: {', '.join(train_keys)}"
                )
            path = _TRAIN_FIELDS.get(key, key)
            check_field(TrainConfig.preset(self.dataset), {path: value}, f"train.{key}")

    def _check_size(self) -> None:
        """The plan's runs, counted before any is made, stay within the bounds."""
        if len(self.arms) > MAX_ARMS:
            raise StudyPlanError(f"arms: at most {MAX_ARMS} arms, got {len(self.arms)}")
        check_number(self.random_archs, "random_archs", int, 0)
        if self.random_archs > MAX_RANDOM_ARCHS:
            raise StudyPlanError(
                f"random_archs: at most {MAX_RANDOM_ARCHS:,}, got {str(self.random_archs)[:30]}"
            )
        searches = len(self.arms) * len(self.search_seeds)
        runs = searches * 2 + (searches + self.random_archs) * len(self.train_seeds)
        if runs > MAX_RUNS:
            raise StudyPlanError(
                f"the plan makes {runs:,} runs (searches, trainings and scorings); a study "
                f"holds at most {MAX_RUNS:,}"
            )

    def _check_budget(self) -> None:
        """Every arm must train the supernet for the same epochs (the same images)."""
        for key in ("warmup_epochs", "epochs"):
            total = int(self.search.get(key, 0))
            for arm in self.arms:
                n = self.stages(arm)
                if total % n:
                    multiple = math.lcm(*(self.stages(a) for a in self.arms))
                    raise StudyPlanError(
                        f"search.{key}: {total} epochs do not split equally over the {n} "
                        f"stages of {arm.label}, so the arms' budgets could not be equal; "
                        f"give a multiple of {multiple}"
                    )
        for arm in self.arms:
            if self.stage_epochs(arm)[1] < 1:
                raise StudyPlanError(
                    f"search.epochs: {arm.label} would get no search epoch in a stage"
                )
