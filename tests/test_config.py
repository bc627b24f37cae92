"""Run configurations: one default per field, checks that name the field's path, a JSON
round trip, ``replace`` for notebooks, files, and the docs table generated from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cnas
from cnas._config_fields import config_fields, field_help
from cnas.data import DataConfig
from cnas.errors import ConfigError
from cnas.search import (
    BudgetConfig,
    CurriculumConfig,
    OptimizerConfig,
    SearchConfig,
    SearchRuntime,
    SpaceConfig,
    StrategyConfig,
    SuperNetConfig,
)
from cnas.training import TrainConfig, TrainRuntime

ROOT = Path(__file__).parents[1]
PARTS = (
    DataConfig,
    SpaceConfig,
    CurriculumConfig,
    SuperNetConfig,
    OptimizerConfig,
    StrategyConfig,
    BudgetConfig,
    SearchRuntime,
    SearchConfig,
    TrainRuntime,
    TrainConfig,
)


def test_the_defaults_are_the_papers_search_on_cifar10() -> None:
    config = SearchConfig()
    assert config.data is not None and config.data.dataset == "cifar10"
    assert config.data.portion("search") == 0.4
    assert (config.space.ops, config.space.n_nodes) == (cnas.DARTS_OPS, 4)
    curriculum = config.curriculum
    assert (curriculum.kind, curriculum.warmup_epochs, curriculum.epochs_per_stage) == (
        "ops",
        20,
        40,
    )
    assert (config.supernet.init_channels, config.supernet.layers) == (16, 8)
    optimizer = config.optimizer
    assert (optimizer.batch_size, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        96,
        0.01,
        0.9,
        3e-4,
    )
    assert (config.strategy.name, config.seed, config.budget) == ("cnas", 2020, None)
    assert TrainConfig() == TrainConfig.preset("cifar10").replace(init_channels=None, layers=None)


@pytest.mark.parametrize(
    "config",
    [
        SearchConfig(),
        SearchConfig().replace(
            data={"dataset": "digits", "hold_out_test": True, "test_seed": 3},
            strategy={"name": "darts", "settings": {"alpha_lr": 0.001}},
            budget={"max_params": 1e6, "cost_penalty": "hard"},
            curriculum={"kind": "nodes", "stages": 2},
            runtime={"device": "cpu", "progress": False},
        ),
        SearchConfig(data=None, supernet=SuperNetConfig(num_classes=4, in_channels=1)),
        TrainConfig.preset("digits", epochs=3, runtime={"compile": True}),
        TrainConfig(genotype=cnas.genotypes.DARTS_V2, grad_clip=None),
    ],
    ids=["defaults", "changed", "no-data", "train-digits", "train-genotype"],
)
def test_a_config_round_trips_through_json(config: Any) -> None:
    text = json.dumps(config.to_dict())
    assert type(config).from_dict(json.loads(text)) == config


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"strategy": {"settings": {"entropy_coeff": "x"}}},
            "strategy.settings.entropy_coeff: expected a finite number, got 'x'",
        ),
        (
            {"strategy": {"settings": {"entropy_coef": 0.1}}},
            "strategy.settings.entropy_coef: not a setting of strategy 'cnas'; did you mean "
            "'entropy_coeff'?",
        ),
        (
            {"optimizer": {"learning_rate": 0.1}},
            "optimizer.learning_rate: unknown field; did you mean 'lr'?",
        ),
        ({"optimizer": {"lr": 0}}, "optimizer.lr: expected a finite number > 0, got 0"),
        (
            {"optimizer": {"lr": float("nan")}},
            "optimizer.lr: expected a finite number > 0, got nan",
        ),
        ({"seed": -1}, "seed: expected an integer in 0 .. 2**64 - 1, got -1"),
        ({"seed": True}, "seed: expected an integer in 0 .. 2**64 - 1, got True"),
        ({"curriculum": {"kind": "op"}}, "curriculum.kind: expected one of 'ops', 'nodes'"),
        ({"space": {"ops": ["sep_conv_3x3", "warp"]}}, "space.ops: unknown op 'warp'"),
        ({"space": "ops"}, "space: expected a SpaceConfig or an object, got 'ops'"),
        ({"data": {"dataset": "imagenet"}}, "data.dataset: a search reads cifar10, digits"),
        ({"data": {"test_seed": 4}}, "data.test_seed: applies to a held-out test split"),
        ({"budget": {"cost_weight": 1}}, "budget: a budget needs a limit"),
        ({"strategy": {"name": "enas"}}, "strategy.name: unknown strategy 'enas'; known: cnas"),
        ({"runtime": {"device": "gpu0"}}, "runtime.device: 'gpu0' is not a device"),
        ({"format": "cnas.train-config"}, "format: this is a 'cnas.train-config' file"),
        ({"optimizer": []}, "optimizer: expected a OptimizerConfig or an object"),
    ],
)
def test_a_bad_value_or_key_is_refused_naming_its_path(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SearchConfig.from_dict(data)
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError)


def test_replace_merges_parts_and_takes_dotted_paths() -> None:
    config = SearchConfig()
    changed = config.replace(
        seed=1, optimizer={"lr": 0.05}, **{"strategy.settings.entropy_coeff": 0.1}
    )
    assert (changed.seed, changed.optimizer.lr, changed.optimizer.momentum) == (1, 0.05, 0.9)
    assert changed.strategy.settings == {"entropy_coeff": 0.1}
    assert config.optimizer.lr == 0.01  # frozen: a copy
    with_budget = config.replace(**{"budget.max_params": 2e6})
    assert with_budget.budget == BudgetConfig(max_params=2e6)
    with pytest.raises(ConfigError, match=r"^optimizer\.lr: expected a finite number > 0"):
        config.replace(optimizer={"lr": -1})
    with pytest.raises(ConfigError, match=r"^sed: unknown field; did you mean 'seed'\?"):
        config.replace(sed=1)
    with pytest.raises(AttributeError):
        config.seed = 3  # type: ignore[misc]


def test_a_file_is_read_back_and_a_bad_one_names_the_file(tmp_path: Path) -> None:
    config = SearchConfig().replace(data={"dataset": "digits"})
    path = config.save(tmp_path / "search.json")
    assert SearchConfig.load(path) == config
    run = {"run": {"kind": "search"}, **config.to_dict()}  # a run folder's config.json
    (tmp_path / "config.json").write_text(json.dumps(run))
    assert SearchConfig.load(tmp_path) == config
    (tmp_path / "bad.json").write_text('{"optimizer": {"lr": "fast"}}')
    with pytest.raises(ConfigError, match=r"bad\.json: optimizer\.lr: expected a finite"):
        SearchConfig.load(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SearchConfig.load(tmp_path / "broken.json")
    with pytest.raises(FileNotFoundError, match="no such configuration file"):
        SearchConfig.load(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="this is a 'cnas.search-config' file"):
        TrainConfig.load(path)


def test_a_training_folders_config_json_is_a_model_and_holds_its_config(tmp_path: Path) -> None:
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3)
    net = cnas.NetworkCIFAR(4, 10, 3, False, "CNAS")
    folder = cnas.models.save_pretrained(net, tmp_path / "m", extra={"train": config.to_dict()})
    assert TrainConfig.load(folder) == config
    assert cnas.models.from_pretrained(folder).genotype == cnas.genotypes.CNAS


def test_train_presets_and_their_checks() -> None:
    digits = TrainConfig.preset("digits")
    assert digits.data == DataConfig(dataset="digits")
    assert (digits.init_channels, digits.layers) == (16, 8)  # the dataset's default network
    assert TrainConfig.preset("imagenet").network_size() == (48, 14)
    with pytest.raises(ConfigError, match=r"^data\.dataset: no preset for 'mnist'"):
        TrainConfig.preset("mnist")
    with pytest.raises(ConfigError, match=r"^warmup_epochs: expected at most the epochs"):
        TrainConfig(epochs=2, warmup_epochs=3)
    with pytest.raises(ConfigError, match=r"^genotype: unknown genotype 'CNSA'"):
        TrainConfig(genotype="CNSA").resolved_genotype()
    with pytest.raises(ConfigError, match=r"^genotype: expected a genotype name"):
        TrainConfig.from_dict({"genotype": 3})


@pytest.mark.parametrize("cls", PARTS, ids=lambda c: c.__name__)
def test_every_field_is_described_and_has_one_default(cls: Any) -> None:
    for info in config_fields(cls):
        assert field_help(cls, info.name), f"{cls.__name__}.{info.name} has no description"
    if cls is not BudgetConfig:  # a budget needs a limit; every other part has defaults
        cls()


def test_the_configuration_page_lists_every_field_as_the_code_declares_it() -> None:
    from cnas._config_docs import markdown

    committed = (ROOT / "docs" / "_generated" / "config.md").read_text()
    assert committed == markdown(), (
        "docs/_generated/config.md is stale; regenerate it with "
        "python -m cnas._config_docs --write docs/_generated/config.md"
    )
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert '--8<-- "docs/_generated/config.md"' in page
