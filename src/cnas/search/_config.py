"""``SearchConfig``: a whole search as one typed, frozen configuration, made of parts.

``Searcher.from_config`` assembles a search from it; ``cnas search`` builds its flags
from its fields and reads it from ``--config``; a search folder's ``config.json`` is it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._config import Config, custom_setting, mapping_setting, part, setting
from .._run import RuntimeConfig
from .._validation import MAX_CHANNELS, MAX_EPOCHS
from ..curriculum import CurriculumSchedule
from ..data import DataConfig
from ..errors import ConfigError, UnknownStrategyError
from ..ops import DARTS_OPS
from ..space import SearchSpace
from ._registry import get_strategy, list_strategies
from ._settings import strategy_settings
from ._strategy import Strategy

if TYPE_CHECKING:
    import torch

    from ..costs import Budget
    from ..data import DatasetInfo

__all__ = [
    "BudgetConfig",
    "CurriculumConfig",
    "OptimizerConfig",
    "SearchConfig",
    "SearchRuntime",
    "SpaceConfig",
    "StrategyConfig",
    "SuperNetConfig",
]

CurriculumKind = Literal["ops", "nodes", "fixed", "custom"]

_MODES = {"CNAS_OP": "ops", "CNAS_NODE": "nodes", "CNAS_FIX": "fixed"}


def curriculum_kind(text: str) -> str:
    """A curriculum's name from the command line: ``ops``, ``nodes``, ``fixed``, or the
    original code's ``--mode`` spellings (``CNAS_OP``, ``CNAS_NODE``, ``CNAS_FIX``)."""
    lower = text.lower()
    return _MODES.get(text.upper(), lower if lower in ("ops", "nodes", "fixed", "custom") else text)


def parse_count(text: str) -> float:
    """A count, with an optional K/M/G suffix: ``3.7M``, ``600M``, ``250000``.

    Raises:
        ValueError: anything else.
    """
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}
    value = text.strip().replace("_", "").replace(",", "")
    factor = scale.get(value[-1:].lower(), 1.0)
    if factor != 1.0:
        value = value[:-1]
    try:
        return float(value) * factor
    except ValueError:
        raise ValueError(f"expected a count such as 250000, 3.7M or 600M, got {text!r}") from None


@dataclass(frozen=True)
class SpaceConfig(Config):
    """The cell search space.

    Attributes:
        ops: The candidate operations, in order. Source: the DARTS space of the paper
            (Sec. 4.1), the original code's `PRIMITIVES`.
        n_nodes: Intermediate nodes per cell. Source: the paper (4, as DARTS).
    """

    ops: tuple[str, ...] = setting(DARTS_OPS, flags=("--ops",), nonempty=True, metavar="OP,OP,...")
    n_nodes: int = setting(4, flags=("--nodes", "--n-nodes", "--n_nodes"), minimum=1)

    def validate(self) -> None:
        """The ops must be registered and distinct."""
        try:
            SearchSpace(self.ops, self.n_nodes)
        except (KeyError, ValueError) as exc:
            message = str(exc.args[0] if exc.args else exc).removeprefix("search space: ")
            if message.startswith("n_nodes "):
                raise ConfigError("n_nodes", message.removeprefix("n_nodes ")) from None
            raise ConfigError("ops", message) from None

    def build(self) -> SearchSpace:
        """The ``SearchSpace``."""
        return SearchSpace(self.ops, self.n_nodes)


@dataclass(frozen=True)
class CurriculumConfig(Config):
    """The curriculum: how the space grows, stage by stage, and how long each stage trains.

    Attributes:
        kind: `ops` grows the op set one op a stage, `sep_conv_3x3` first and the rest in
            a seeded random order (the paper's curriculum, the original's `--mode
            CNAS_OP`); `nodes` grows the node count (`CNAS_NODE`); `fixed` is one stage
            over the whole space, the no-curriculum baseline (`CNAS_FIX`); `custom` is the
            `schedule` given (composed in code).
        warmup_epochs: Warm-up epochs per stage: the supernet trains on uniformly sampled
            architectures, so that newly admitted ops get trained. Source: the paper (20),
            the original's `--epochs_for_warmup`.
        epochs_per_stage: Rounds of the strategy's epochs per stage. Source: the paper
            (40), the original's `--epoch_per_stage`.
        stages: Run only the first this many stages (unset: all).
        steps_per_epoch: Cap every epoch at this many batches (unset: whole epochs; for
            quick runs).
        schedule: With `kind` `custom`: the schedule's `to_dict()` (stages and op order).
    """

    kind: CurriculumKind = setting("ops", flags=("--curriculum", "--mode"), parse=curriculum_kind)
    warmup_epochs: int = setting(
        20,
        flags=("--warmup-epochs", "--epochs-for-warmup", "--epochs_for_warmup"),
        minimum=0,
        maximum=MAX_EPOCHS,
    )
    epochs_per_stage: int = setting(
        40,
        flags=("--epochs-per-stage", "--epoch-per-stage", "--epoch_per_stage"),
        minimum=0,
        maximum=MAX_EPOCHS,
    )
    stages: int | None = setting(None, flags=("--stages",), minimum=1)
    steps_per_epoch: int | None = setting(None, flags=("--steps-per-epoch",), minimum=1)
    schedule: Mapping[str, Any] = mapping_setting()

    def validate(self) -> None:
        """A ``custom`` curriculum holds a schedule, and only it does."""
        if self.kind == "custom":
            if not self.schedule:
                raise ConfigError(
                    "kind",
                    "a 'custom' curriculum holds its schedule (CurriculumSchedule.to_dict() "
                    "as curriculum.schedule, in a configuration file)",
                )
            try:
                CurriculumSchedule.from_dict(dict(self.schedule))
            except ValueError as exc:
                raise ConfigError("schedule", str(exc)) from None
        elif self.schedule:
            raise ConfigError("schedule", f"applies to kind 'custom', not {self.kind!r}")

    @classmethod
    def of(cls, schedule: CurriculumSchedule) -> CurriculumConfig:
        """The configuration of a schedule composed in code (kind ``custom``)."""
        return cls(kind="custom", schedule=schedule.to_dict())

    def build(self, space: SearchSpace, seed: int) -> CurriculumSchedule:
        """The ``CurriculumSchedule`` over ``space`` (``seed`` orders the ``ops`` curriculum's
        ops), cut to ``stages``."""
        if self.kind == "custom":
            schedule = CurriculumSchedule.from_dict(dict(self.schedule))
        elif self.kind == "ops":
            schedule = CurriculumSchedule.grow_ops(
                space, self.warmup_epochs, self.epochs_per_stage, seed=seed
            )
        elif self.kind == "nodes":
            schedule = CurriculumSchedule.grow_nodes(
                space, self.warmup_epochs, self.epochs_per_stage
            )
        else:
            schedule = CurriculumSchedule.fixed(space, self.warmup_epochs, self.epochs_per_stage)
        if self.stages is not None:
            schedule = CurriculumSchedule(schedule.stages[: self.stages], schedule.op_order)
        return schedule


@dataclass(frozen=True)
class SuperNetConfig(Config):
    """The weight-sharing supernet.

    Attributes:
        init_channels: Channels of the first cells (C). Source: the paper (16, as DARTS's
            search), the original's `--init_channels`.
        layers: Cells in the supernet. Source: the paper (8).
        num_classes: Classes of its classifier (unset: the dataset's).
        in_channels: Channels of its input images (unset: the dataset's).
    """

    init_channels: int = setting(
        16, flags=("--init-channels", "--init_channels"), minimum=1, maximum=MAX_CHANNELS
    )
    layers: int = setting(8, flags=("--layers",), minimum=1)
    num_classes: int | None = setting(None, minimum=1)
    in_channels: int | None = setting(None, minimum=1)


@dataclass(frozen=True)
class OptimizerConfig(Config):
    """The supernet's SGD (Nesterov momentum) and its batch.

    Attributes:
        batch_size: The global batch of a supernet step, summed over `torchrun`
            processes (the original's `--batch_size` is per process). Source: the paper
            (96).
        lr: The learning rate. Source: the paper and the original (0.01,
            `--arch_learning_rate`).
        momentum: Nesterov momentum. Source: the original (0.9, `--arch_momentum`).
        weight_decay: Weight decay. Source: the original (3e-4, `--arch_weight_decay`).
        idle_weights: What a step does with the weights its architecture did not use.
            `step`: every weight that has had a gradient is stepped on every step, with
            a zero gradient, so weight decay and momentum keep moving the ops a step
            did not sample, and the layers read only through `none` edges get a zero
            gradient too. `hold`: only the weights the step used move (about 10-20x
            weaker weight decay on a candidate op late in a search). Source: the
            original (`step`: its `optimizer.zero_grad()` zeroes gradients; its `none`
            op is `x * 0`).
    """

    batch_size: int = setting(96, flags=("--batch-size",), minimum=1)
    lr: float = setting(
        0.01, flags=("--lr", "--arch-learning-rate", "--arch_learning_rate"), above=0.0
    )
    momentum: float = setting(0.9, flags=("--momentum", "--arch_momentum"), minimum=0.0)
    weight_decay: float = setting(
        3e-4, flags=("--weight-decay", "--arch_weight_decay"), minimum=0.0
    )
    idle_weights: Literal["step", "hold"] = setting("step", flags=("--idle-weights",))


@dataclass(frozen=True)
class StrategyConfig(Config):
    """The search strategy and its settings.

    Attributes:
        name: A registered strategy: `cnas` (the paper's LSTM controller trained with
            REINFORCE), `darts`, `gdas`, `random` (random search with weight sharing),
            `evolution` (regularized evolution over the supernet), or a plugin's
            (`cnas search --list-strategies`). Source: the paper.
        settings: The strategy's settings, by name (its constructor's keyword arguments;
            `cnas search --list-strategies` lists them with their defaults).
        derive_batches: Score a stage's candidates on at most this many validation
            batches (unset: all).
    """

    name: str = setting("cnas", flags=("--strategy",), nonempty=True, metavar="NAME")
    settings: Mapping[str, Any] = mapping_setting()
    derive_batches: int | None = setting(None, flags=("--derive-batches",), minimum=1)

    def validate(self) -> None:
        """The strategy must be registered and take the settings given (a setting of a
        simple type is checked here; the strategy checks the rest when it is built)."""
        import inspect

        try:
            cls = get_strategy(self.name)
        except UnknownStrategyError:
            raise ConfigError(
                "name", f"unknown strategy {self.name!r}; known: {', '.join(list_strategies())}"
            ) from None
        simple = {s.name: s for s in strategy_settings(cls)}
        parameters = inspect.signature(cls.__init__).parameters
        known = [
            name
            for name, p in parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        for key, value in self.settings.items():
            path = f"settings.{key}"
            if key not in known:
                from .._config_fields import close_matches

                hint = close_matches(key, known)
                raise ConfigError(
                    path,
                    f"not a setting of strategy {self.name!r}{hint}"
                    + ("" if hint else f" (known: {', '.join(sorted(known)) or 'none'})"),
                )
            if key in simple:
                _check_setting(simple[key], value, path)

    def build(self) -> Strategy:
        """A new strategy object with these settings.

        Raises:
            ConfigError: the strategy refuses a setting.
        """
        try:
            return get_strategy(self.name)(**self.settings)
        except (TypeError, ValueError) as exc:
            raise ConfigError("settings", f"{self.name}: {exc}") from None


def _check_setting(setting_: Any, value: Any, path: str) -> None:
    import math

    if value is None:
        if not setting_.optional:
            raise ConfigError(path, f"expected {setting_.type.__name__}, got null")
        return
    kind = setting_.type
    if kind is bool:
        ok = isinstance(value, bool)
        expected = "true or false"
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    elif kind is float:
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        expected = "a finite number"
    else:
        ok = isinstance(value, str)
        expected = "a string"
    if not ok:
        extra = " or null" if setting_.optional else ""
        raise ConfigError(path, f"expected {expected}{extra}, got {value!r}")


def _decode_table(value: Any, path: str) -> str | dict[str, Any]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(path, f"expected a latency table file or a table, got {value!r}")


def _encode_table(value: str | Mapping[str, Any]) -> Any:
    return value if isinstance(value, str) else dict(value)


@dataclass(frozen=True)
class BudgetConfig(Config):
    """Limits on the derived cell's evaluation network (see docs/search.md#budgets).

    Attributes:
        max_params: Most parameters, without the auxiliary head (e.g. 3.7M).
        max_madds: Most multiply-adds per image (e.g. 600M).
        max_latency_ms: Most predicted latency per batch; needs `latency_table`.
        latency_table: A latency table file written by `cnas profile` for this
            evaluation network, or the table itself (a budget made in code records its
            table so).
        latency_device: The device the latency limit is for (unset: the search's device
            type); a table measured on another is refused.
        cost_weight: The strength of the cost objective: MnasNet's exponent for `cnas`
            (unset: 0.07 soft, 1.0 hard), the loss weight for `darts`/`gdas` (0.1); 0
            keeps only the hard limit at derive.
        cost_penalty: `soft` prefers cheaper cells everywhere (MnasNet's soft regime);
            `hard` penalizes only costs over the limit.
        eval_init_channels: Channels of the evaluation network the budget counts on
            (unset: the dataset's default network, 36 for CIFAR-10).
        eval_layers: Cells of that network (unset: the dataset's default network).
    """

    max_params: float | None = setting(None, flags=("--max-params",), above=0.0, parse=parse_count)
    max_madds: float | None = setting(None, flags=("--max-madds",), above=0.0, parse=parse_count)
    max_latency_ms: float | None = setting(None, flags=("--max-latency-ms",), above=0.0)
    latency_table: str | Mapping[str, Any] | None = custom_setting(
        None,
        decode=_decode_table,
        encode=_encode_table,
        expected="a latency table file or a table",
        flags=("--latency-table",),
        metavar="FILE",
    )
    latency_device: str | None = setting(
        None, flags=("--latency-device",), nonempty=True, metavar="DEVICE"
    )
    cost_weight: float | None = setting(None, flags=("--cost-weight",), minimum=0.0)
    cost_penalty: Literal["soft", "hard"] = setting("soft", flags=("--cost-penalty",))
    eval_init_channels: int | None = setting(
        None, flags=("--eval-init-channels",), minimum=1, maximum=MAX_CHANNELS
    )
    eval_layers: int | None = setting(None, flags=("--eval-layers",), minimum=3)

    def validate(self) -> None:
        """A budget needs a limit, and a latency device a table."""
        if self.max_params is None and self.max_madds is None and self.max_latency_ms is None:
            raise ConfigError("", "a budget needs a limit: max_params, max_madds or max_latency_ms")
        if self.max_latency_ms is not None and self.latency_table is None:
            raise ConfigError(
                "latency_table", "max_latency_ms needs a latency table (written by cnas profile)"
            )
        if self.latency_device is not None and self.latency_table is None:
            raise ConfigError("latency_device", "applies to a latency_table")

    def build(self, dataset: str, info: DatasetInfo, device: torch.device) -> Budget:
        """The ``cnas.costs.Budget`` for a search on ``dataset``.

        Raises:
            BudgetError, LatencyTableError: (``ValueError``) a table that does not fit,
                or a bad network.
            FileNotFoundError: no such latency table.
        """
        from ..costs import Budget, LatencyTable, NetworkSpec

        overrides: dict[str, Any] = {}
        if self.eval_init_channels is not None:
            overrides["C"] = self.eval_init_channels
        if self.eval_layers is not None:
            overrides["layers"] = self.eval_layers
        network = NetworkSpec.for_dataset(dataset, **overrides)
        network = NetworkSpec(
            **{
                **network.to_dict(),
                "num_classes": info.num_classes,
                "in_channels": info.in_channels,
            }
        )
        table = None
        if isinstance(self.latency_table, str):
            table = LatencyTable.load(self.latency_table)
        elif self.latency_table is not None:
            table = LatencyTable.from_dict(self.latency_table, "budget.latency_table")
        if table is not None:
            table.check(network=network, device=self.latency_device or device.type)
        return Budget(
            max_params=self.max_params,
            max_madds=self.max_madds,
            max_latency_ms=self.max_latency_ms,
            latency_table=table,
            network=network,
            penalty=self.cost_penalty,
            cost_weight=self.cost_weight,
        )

    @classmethod
    def of(cls, budget: Budget) -> BudgetConfig:
        """The configuration of a ``Budget`` made in code (its latency table, if any, held
        as the table itself)."""
        spec = budget.spec
        table = budget.latency_table
        return cls(
            max_params=budget.max_params,
            max_madds=budget.max_madds,
            max_latency_ms=budget.max_latency_ms,
            latency_table=None if table is None else table.to_dict(),
            latency_device=None if table is None else table.device,
            cost_weight=budget.cost_weight,
            cost_penalty=budget.penalty,
            eval_init_channels=spec.C,
            eval_layers=spec.layers,
        )


@dataclass(frozen=True)
class SearchRuntime(RuntimeConfig):
    """How a search runs (a resumed search may change any of it).

    Attributes:
        draw: Draw each stage's cells (`cells.svg`; needs graphviz's `dot`, skipped
            without it).
    """

    draw: bool = setting(True, flags=("--draw",))


@dataclass(frozen=True)
class SearchConfig(Config):
    """A whole search: what ``Searcher.from_config`` builds, what ``cnas search`` reads
    from its flags or ``--config``, and what a search folder's ``config.json`` holds.

    Every field has one default, written once, with its source; ``to_dict()`` /
    ``from_dict()`` round-trip through JSON, ``replace()`` changes a copy. The defaults
    are the paper's search on CIFAR-10.

    Attributes:
        data: The images (`DataConfig`); null in the `config.json` of a search composed
            in code whose data was given to `fit` (it cannot be rebuilt from the file).
        space: The cell search space (`SpaceConfig`).
        curriculum: How the space grows and how long stages train (`CurriculumConfig`).
        supernet: The weight-sharing supernet (`SuperNetConfig`).
        optimizer: The supernet's SGD and batch (`OptimizerConfig`).
        strategy: The search strategy and its settings (`StrategyConfig`).
        budget: Limits on the derived cell's costs (`BudgetConfig`; unset: none).
        seed: Seeds the data split, the data order, the op order of the `ops`
            curriculum and every architecture draw. Source: the original code (2020).
        runtime: How the search runs: device, workers, progress, drawings
            (`SearchRuntime`).

    Examples:
        >>> from cnas.search import SearchConfig
        >>> config = SearchConfig.from_dict({"data": {"dataset": "digits"}, "seed": 0})
        >>> config.data.dataset, config.optimizer.batch_size, config.curriculum.kind
        ('digits', 96, 'ops')
        >>> SearchConfig.from_dict({"optimizer": {"learning_rate": 0.1}})
        Traceback (most recent call last):
        ...
        cnas.errors.ConfigError: optimizer.learning_rate: unknown field; did you mean 'lr'?
    """

    FORMAT = "cnas.search-config"
    RUN_KIND = "search"

    data: DataConfig | None = part(DataConfig)
    space: SpaceConfig = part(SpaceConfig)
    curriculum: CurriculumConfig = part(CurriculumConfig)
    supernet: SuperNetConfig = part(SuperNetConfig)
    optimizer: OptimizerConfig = part(OptimizerConfig)
    strategy: StrategyConfig = part(StrategyConfig)
    budget: BudgetConfig | None = part(None)
    seed: int = setting(2020, flags=("--seed",), seed=True)
    runtime: SearchRuntime = part(SearchRuntime)

    def validate(self) -> None:
        """A search reads a dataset it can split, and a custom curriculum fits the space."""
        from ..data import DATASETS

        if self.data is not None and self.data.dataset not in (*DATASETS, "folder"):
            raise ConfigError(
                "data.dataset",
                f"a search reads {', '.join(DATASETS)} or an image folder (folder), not "
                f"{self.data.dataset!r}",
            )
        if self.curriculum.kind == "custom":
            schedule = CurriculumSchedule.from_dict(dict(self.curriculum.schedule))
            try:
                schedule.validate(self.space.build())
            except ValueError as exc:
                raise ConfigError("curriculum.schedule", str(exc)) from None
