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
    assert config["supernet"] == {"C": 4, "layers": 3, "num_classes": 10, "in_channels": 1}
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
        (["--mode", "CNAS_EDGE"], "unknown curriculum 'CNAS_EDGE'"),
        (["--batch-size", "0"], "expected a positive integer, got 0"),
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
        (["--train-portion", "1.5"], "--train-portion must be between 0 and 1"),
        (["--tau-max", "5"], "--tau-max applies to --strategy gdas, not --strategy cnas"),
        (
            ["--strategy", "darts", "--tau-min", "0.5"],
            "--tau-min applies to --strategy gdas, not --strategy darts",
        ),
        (["--alpha-lr", "1e-3"], "--alpha-lr applies to --strategy darts or gdas"),
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
