"""The command line is "arguments -> configuration -> run": every flag sets a field, no
default is written in the CLI, ``--config`` reads a run's ``config.json`` and reproduces
the run, ``--print-config`` shows what a command line resolves to."""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import cnas
from cnas._config_fields import config_fields
from cnas.cli import build_parser, main
from cnas.search import SearchConfig
from cnas.training import TrainConfig

CLI = Path(cnas.__file__).parent / "cli"

TINY_SEARCH = [
    *("--dataset", "digits", "--ops", "sep_conv_3x3,max_pool_3x3,skip_connect", "--nodes", "2"),
    *("--init-channels", "4", "--layers", "3", "--warmup-epochs", "1", "--epochs-per-stage", "1"),
    *("--batch-size", "32", "--steps-per-epoch", "2", "--derive-batches", "2", "--seed", "5"),
    *("--no-progress", "--no-draw", "--no-tensorboard"),
]
TINY_TRAIN = [
    *("--dataset", "digits", "--arch", "DARTS_V2", "--init-channels", "4", "--layers", "3"),
    *("--epochs", "2", "--max-steps", "3", "--batch-size", "32", "--seed", "3"),
    *("--no-progress", "--no-tensorboard"),
]

# flags of the commands that are not fields of the configuration they build
COMMAND_FLAGS = {
    "search": {
        "-h", "--help", "-o", "--output", "--list-strategies", "--config", "--print-config",
        "--no-resume", "--local-rank", "--local_rank",
    },
    "train": {
        "-h", "--help", "-o", "--output", "--config", "--print-config", "--resume",
        "--local-rank", "--local_rank", "--preset",
    },
}  # fmt: skip
# flags that set a field through a translation (named with the field they set)
TRANSLATED = {
    "--batch_size": {"search": "optimizer.batch_size", "train": "batch_size"},
    "--n-ops": {"search": "space.ops"},
    "--n_ops": {"search": "space.ops"},
    "--label-smooth": {"train": "label_smoothing"},
    "--label_smooth": {"train": "label_smoothing"},
}


def _run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_search_fed_its_config_json_is_the_same_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert _run("search", *TINY_SEARCH, "-o", str(first), capsys=capsys)[0] == 0
    code, _, err = _run(
        "search", "--config", str(first / "config.json"), "-o", str(second), capsys=capsys
    )
    assert code == 0, err
    assert (first / "genotype.json").read_text() == (second / "genotype.json").read_text()
    a = torch.load(first / "checkpoint.pt", weights_only=True)
    b = torch.load(second / "checkpoint.pt", weights_only=True)
    assert _same_tensors(a["supernet"], b["supernet"])  # bit for bit
    for k in (1, 2, 3):
        stage = f"stages/stage-{k}/supernet.safetensors"
        assert _same_tensors(load_file(first / stage), load_file(second / stage))
    assert SearchConfig.load(first) == SearchConfig.load(second)
    recorded = json.loads((first / "config.json").read_text())
    assert recorded["run"]["kind"] == "search" and recorded["format"] == "cnas.search-config"
    # where the data is is not what it is: a resume from another folder is the same search
    moved = ["--config", str(first / "config.json"), "--data", str(tmp_path / "moved")]
    assert _run("search", *moved, "-o", str(first), capsys=capsys)[0] == 0
    code, _, err = _run("search", *moved, "--seed", "6", "-o", str(first), capsys=capsys)
    assert code == 2 and "belongs to a different search (seed: 5 -> 6)" in err


def test_a_training_fed_its_config_json_is_the_same_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert _run("train", *TINY_TRAIN, "-o", str(first), capsys=capsys)[0] == 0
    code, _, err = _run(
        "train", "--config", str(first / "config.json"), "-o", str(second), capsys=capsys
    )
    assert code == 0, err
    assert _same_tensors(
        load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    )
    config = TrainConfig.load(first)
    assert config == TrainConfig.load(second)
    assert config.genotype == cnas.genotypes.DARTS_V2  # the run records the cell itself
    saved = json.loads((first / "config.json").read_text())
    assert saved["network"] == "NetworkCIFAR" and saved["run"]["kind"] == "training"
    code, _, err = _run("search", "--config", str(first / "config.json"), capsys=capsys)
    assert code == 2 and "this is the config.json of a training run, not of a search" in err


def test_print_config_shows_what_config_reads_and_flags_override_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run("search", *TINY_SEARCH, "--print-config", capsys=capsys)
    assert code == 0
    config = SearchConfig.from_dict(json.loads(out))
    assert (config.supernet.layers, config.space.n_nodes, config.seed) == (3, 2, 5)
    file = config.save(tmp_path / "search.json")
    code, out, _ = _run(
        "search", "--config", str(file), "--lr", "0.05", "--layers", "4", "--print-config",
        capsys=capsys,
    )  # fmt: skip
    again = SearchConfig.from_dict(json.loads(out))
    assert again == config.replace(optimizer={"lr": 0.05}, supernet={"layers": 4})
    code, out, _ = _run("train", "--dataset", "digits", "--print-config", capsys=capsys)
    assert TrainConfig.from_dict(json.loads(out)) == TrainConfig.preset("digits")


def test_another_strategy_than_the_files_drops_its_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = (
        SearchConfig()
        .replace(strategy={"settings": {"entropy_coeff": 0.1}})
        .save(tmp_path / "s.json")
    )
    code, out, _ = _run(
        "search", "--config", str(file), "--strategy", "darts", "--print-config", capsys=capsys
    )
    assert code == 0
    assert SearchConfig.from_dict(json.loads(out)).strategy.settings == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["search", "--lr", "-1"],
            "cnas search: error: --lr: expected a finite number > 0, got -1",
        ),
        (["search", "--dataset", "imagenet"], "--dataset: a search reads cifar10, digits"),
        (
            ["search", "--test-seed", "3"],
            "--test-seed: applies to a held-out test split: set --hold-out-test",
        ),
        (["search", "--cost-weight", "1"], "budget: a budget needs a limit: --max-params"),
        (["search", "--strategy", "enas"], "--strategy: unknown strategy 'enas'"),
        (["train", "--precision", "fp64"], "argument --precision: invalid choice: 'fp64'"),
        (["train", "--config", "missing.json"], "missing.json: no such configuration file"),
        (["train", "--arch", "CNSA", "--dataset", "digits"], "--arch: unknown genotype 'CNSA'"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_flag(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(*argv, "-o", str(tmp_path / "out"), capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert message in lines[-1] and (len(lines) == 1 or "usage" in lines[0]), err
    assert not (tmp_path / "out").exists()


def _parser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.choices[command]
    p.format_help()  # a deferred parser adds its flags when it is used
    return p


def _paths(cls: Any, prefix: str = "") -> set[str]:
    out = set()
    for info in config_fields(cls):
        if info.kind == "part":
            out |= _paths(info.part_type, f"{prefix}{info.name}.")
        else:
            out.add(f"{prefix}{info.name}")
    return out


@pytest.mark.parametrize(("command", "cls"), [("search", SearchConfig), ("train", TrainConfig)])
def test_every_flag_sets_a_configuration_field(command: str, cls: Any) -> None:
    fields = _paths(cls)
    for action in _parser(command)._actions:
        for flag in action.option_strings:
            if flag in COMMAND_FLAGS[command]:
                continue
            dest = action.dest
            if dest.startswith("cfg:"):
                assert dest[4:] in fields, f"{flag} -> {dest}"
            elif dest.startswith("strategy__"):  # the strategies' settings
                assert command == "search" and "strategy.settings" in fields
            else:
                assert command in TRANSLATED.get(flag, {}), f"{flag} sets no field ({dest})"
                assert TRANSLATED[flag][command] in fields


def _fields(cls: Any) -> list[Any]:
    out = []
    for info in config_fields(cls):
        out += _fields(info.part_type) if info.kind == "part" else [info]
    return out


TRIVIAL = (None, 0, 1, "", True, False)
# the modules that build the configured commands: not one default of theirs is restated
CONFIGURED = ("_search.py", "_train.py", "_derive.py", "_config_flags.py", "_strategy_flags.py")


def test_no_default_of_a_configuration_field_is_written_in_the_cli() -> None:
    fields = _fields(SearchConfig) + _fields(TrainConfig)
    numbers = {
        f.default
        for f in fields
        if isinstance(f.default, (int, float)) and f.default not in TRIVIAL
    }
    by_flag = {flag: f.default for f in fields for flag in f.flags}
    found = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if path.name in CONFIGURED and isinstance(node, ast.Constant):
                value = node.value
                if not isinstance(value, (bool, str)) and value in numbers:
                    found.append(f"{path.name}:{node.lineno}: {value!r}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                flags = [a.value for a in node.args if isinstance(a, ast.Constant)]
                for keyword in node.keywords:
                    if keyword.arg != "default" or not isinstance(keyword.value, ast.Constant):
                        continue
                    value = keyword.value.value
                    for flag in flags:
                        if flag in by_flag and value == by_flag[flag] and value not in TRIVIAL:
                            found.append(f"{path.name}:{node.lineno}: {flag} default={value!r}")
    assert not found, found
