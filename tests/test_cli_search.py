"""The ``cnas search`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnas
from cnas.cli import main

TINY = [
    "--dataset",
    "digits",
    "--init-channels",
    "4",
    "--layers",
    "3",
    "--nodes",
    "2",
    "--steps-per-epoch",
    "2",
    "--derive-batches",
    "1",
    "--no-progress",
]


def test_search_help_lists_the_original_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["search", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--epochs_for_warmup",
        "--epoch_per_stage",
        "--batch_size",
        "--init_channels",
        "--mode",
        "--curriculum",
        "--no-resume",
        "--device",
    ):
        assert flag in out


def test_search_with_original_flag_spellings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "search",
            "-o",
            str(out),
            *TINY,
            "--mode",
            "CNAS_OP",
            "--batch_size",
            "64",
            "--epochs_for_warmup",
            "1",
            "--epoch_per_stage",
            "1",
            "--stages",
            "2",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"genotype:  {out / 'genotype.json'}" in printed
    assert f"report:    {out / 'report.md'}" in printed
    genotype = cnas.Genotype.load(out / "genotype.json")
    assert genotype.n_nodes == 2
    config = json.loads((out / "config.json").read_text())
    assert config["supernet"]["init_channels"] == 4 and config["supernet"]["layers"] == 3
    assert config["optimizer"]["batch_size"] == 64 and config["curriculum"]["kind"] == "ops"
    assert len(cnas.CurriculumSchedule.from_json((out / "curriculum.json").read_text())) == 2


def test_node_and_fixed_curricula(tmp_path: Path) -> None:
    assert (
        main(
            [
                "search",
                "-o",
                str(tmp_path / "n"),
                *TINY,
                "--curriculum",
                "nodes",
                "--warmup-epochs",
                "0",
                "--epochs-per-stage",
                "1",
            ]
        )
        == 0
    )
    lines = (tmp_path / "n" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["n_nodes"] for x in lines] == [1, 1, 2, 2]
    assert (
        main(
            [
                "search",
                "-o",
                str(tmp_path / "f"),
                *TINY,
                "--mode",
                "CNAS_FIX",
                "--warmup-epochs",
                "1",
                "--epochs-per-stage",
                "1",
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "CNAS_EDGE"], "argument --curriculum/--mode: invalid choice: 'CNAS_EDGE'"),
        (["--batch-size", "x"], "argument --batch-size: expected an integer >= 1, got 'x'"),
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["--colour", "red"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_flags_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["search", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ops", "sep_conv_3x3,sep3x3"], "unknown op 'sep3x3'"),
        (["--n-ops", "9"], "--n-ops 9 is more than the 8 ops given"),
        (["--train-portion", "1.5"], "--train-portion: expected a finite number > 0 and < 1"),
        (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0"),
        (["--tau-max", "5"], "--tau-max applies to --strategy gdas, not --strategy cnas"),
        (
            ["--strategy", "darts", "--tau-min", "0.5"],
            "--tau-min applies to --strategy gdas, not --strategy darts",
        ),
        (["--alpha-lr", "1e-3"], "--alpha-lr applies to --strategy darts or gdas"),
        (["--op-tanh-reduce", "0"], "--strategy cnas: op_tanh_reduce must be positive"),
        (
            ["--strategy", "gdas", "--controller_learning_rate", "1e-3"],
            "--controller-lr applies to --strategy cnas, not --strategy gdas",
        ),
        (["--strategy", "darts", "--derive-rounds", "2"], "--derive-rounds applies to"),
    ],
)
def test_bad_values_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "-o", str(tmp_path / "x"), *TINY, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_missing_cifar10_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "search",
            "-o",
            str(tmp_path / "x"),
            "--data",
            str(tmp_path / "none"),
            "--no-download",
            "--no-progress",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 not found" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_no_resume_refuses_an_existing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "search",
        "-o",
        str(tmp_path / "r"),
        *TINY,
        "--stages",
        "1",
        "--warmup-epochs",
        "1",
        "--epochs-per-stage",
        "0",
    ]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--no-resume"]) == 2
    assert "already holds a search" in capsys.readouterr().err


def test_list_strategies_names_every_strategy_and_its_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["search", "--list-strategies"]) == 0
    out = capsys.readouterr().out
    for name in cnas.search.list_strategies():
        assert f"\n{name}: " in out
    assert "--entropy-coeff / --entropy_coeff (default: 0.005)" in out
    assert "--population-size (default: 10)" in out
    assert "--tau-min (default: 0.1)" in out


def test_strategy_flags_show_their_strategies_and_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--num-candidates INT Uniform samples scored at the end of each stage (random;" in out
    assert (
        "--alpha-lr FLOAT Adam learning rate of the architecture parameters (darts or gdas;" in out
    )


@pytest.mark.parametrize(
    ("strategy", "flags"),
    [
        ("random", ["--num-candidates", "4", "--top-k", "2"]),
        ("evolution", ["--population-size", "3", "--sample-size", "2", "--cycles", "2"]),
    ],
)
def test_search_with_a_baseline_strategy(
    strategy: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["search", "-o", str(out), *TINY, "--strategy", strategy, *flags]
    args += ["--warmup-epochs", "1", "--epochs-per-stage", "1", "--stages", "2"]
    assert main(args) == 0
    assert "final genotype:" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"]["name"] == strategy
    assert config["data"]["dataset"] == "digits" and config["data"]["train_portion"] is None
    assert cnas.search.SearchConfig.load(out).data.portion("search") == 0.4  # the paper's
    result = json.loads((out / "stages" / "stage-2" / "result.json").read_text())
    assert result["strategy"] == strategy
    assert result["evaluated"] == (4 if strategy == "random" else 5)
    assert "derive mean ± std" in (out / "report.md").read_text()


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("derive") / "run"
    args = ["search", "-o", str(out), *TINY, "--warmup-epochs", "1", "--epochs-per-stage", "1"]
    assert main([*args, "--stages", "2", "--derive-rounds", "2", "--derive-samples", "3"]) == 0
    return out


def test_derive_again_with_the_runs_own_strategy(
    searched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["derive", str(searched), "--stage", "2"]) == 0
    out = capsys.readouterr().out
    saved = cnas.search.StageResult.from_dict(
        json.loads((searched / "stages" / "stage-2" / "result.json").read_text())
    )
    assert f"genotype: {saved.genotype!r}" in out  # the same settings give the same result
    assert "derived by cnas: " + saved.summary() in out
    assert "best of 6" in out  # the run's derive_rounds * derive_samples, from config.json


def test_derive_uses_the_settings_the_stage_ran_with(
    searched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(searched, run)
    config = json.loads((run / "config.json").read_text())
    config["strategy"]["settings"]["derive_samples"] = 9  # as after a resume with other ones
    (run / "config.json").write_text(json.dumps(config))
    stage = json.loads((run / "stages" / "stage-2" / "strategy.json").read_text())
    assert stage["settings"]["derive_samples"] == 3
    capsys.readouterr()
    assert main(["derive", str(run), "--stage", "2"]) == 0
    assert "best of 6" in capsys.readouterr().out  # 2 x 3, the stage's, not 2 x 9


def test_optional_settings_can_be_turned_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["search", "-o", str(out), *TINY, "--stages", "1", "--warmup-epochs", "0"]
    assert main([*args, "--epochs-per-stage", "1", "--grad-clip", "off"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["strategy"]["settings"]["grad_clip"] is None
    with pytest.raises(SystemExit):
        main([*args, "--grad-clip", "strong"])
    assert "expected float or 'off', got 'strong'" in capsys.readouterr().err


def test_derive_with_evolution_writes_the_genotype(
    searched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "g.json"
    args = ["derive", str(searched), "--stage", "1", "--strategy", "evolution"]
    args += ["--population-size", "3", "--cycles", "2", "--sample-size", "2", "-o", str(target)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "derived by evolution" in out and f"wrote {target}" in out
    genotype = cnas.Genotype.load(target)
    assert genotype.ops <= {cnas.CurriculumSchedule.grow_ops(cnas.SearchSpace()).op_order[0]}
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stage", "5"], "stage index 4 is not a finished stage"),
        (["--strategy", "darts"], "'darts' derives from its own trained state"),
        (["--strategy", "random", "--tau-max", "3"], "--tau-max applies to --strategy gdas"),
        (["--strategy", "evolution", "--cycles", "-1"], "--strategy evolution: cycles must be"),
    ],
)
def test_derive_refuses_in_one_line(
    searched: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["derive", str(searched), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_derive_on_a_folder_that_is_no_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["derive", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["derive", str(tmp_path)]) == 2
    assert "is not a cnas search folder (no config.json)" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{broken")
    assert main(["derive", str(tmp_path)]) == 2
    assert "config.json: not valid JSON" in capsys.readouterr().err
