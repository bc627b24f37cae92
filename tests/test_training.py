"""Training a genotype's network from scratch: recipe, trainer, resume, CLI, distributed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import cnas
from cnas.cli import main
from cnas.data import Cutout
from cnas.models._config import network_from_config
from cnas.training import LabelSmoothingCrossEntropy, TrainConfig, Trainer, learning_rate

SCRIPTS = Path(__file__).with_name("scripts")


def test_presets_are_the_original_readmes_commands() -> None:
    c10 = TrainConfig.preset("cifar10")
    assert (c10.init_channels, c10.layers, c10.epochs, c10.batch_size) == (36, 20, 600, 96)
    assert (c10.lr, c10.lr_min, c10.schedule, c10.warmup_epochs) == (0.05, 0.0, "cosine", 0)
    assert (c10.weight_decay, c10.no_bias_decay, c10.momentum, c10.grad_clip) == (
        3e-4,
        True,
        0.9,
        5.0,
    )
    assert (c10.cutout, c10.drop_path_prob, c10.auxiliary_weight) == (16, 0.2, 0.4)
    assert c10.label_smoothing == 0.0 and c10.seed == 2020
    inet = TrainConfig.preset("imagenet")
    assert (inet.init_channels, inet.layers, inet.epochs, inet.batch_size) == (48, 14, 250, 256)
    assert (inet.lr, inet.schedule, inet.warmup_epochs) == (0.05, "linear", 0)
    assert (inet.weight_decay, inet.no_bias_decay, inet.label_smoothing) == (3e-4, True, 0.0)
    assert (inet.cutout, inet.drop_path_prob, inet.auxiliary_weight) == (0, 0.2, 0.4)
    assert TrainConfig.preset("digits", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="epoch: unknown field; did you mean 'epochs'"):
        TrainConfig.preset("cifar10", epoch=3)
    with pytest.raises(ValueError, match="no preset for 'mnist'"):
        TrainConfig.preset("mnist")


# The two evaluation commands of the original README (guoyongcs/CNAS), after
# "python -m torch.distributed.launch --nproc_per_node=N --master_port=P eval_arch.py",
# with the --local-rank flag that launcher passes to each process.
ORIGINAL_CIFAR10 = (
    "--batch_size 48 --no_bias_decay --num_workers 4 "
    "--arch CNAS --init_channels 36 --layers 20 -o outputs/cifar10"
)
ORIGINAL_IMAGENET = (
    "--max_epochs 250 --scheduler linear --dataset imagenet --data /path/to/imagenet "
    "--batch_size 64 --no_bias_decay --num_workers 8 "
    "--arch CNAS --init_channels 48 --layers 14 -o outputs/imagenet"
)


@pytest.mark.parametrize(
    ("line", "processes", "expected"),
    [
        # global batch, per process, lr, schedule, epochs, weight decay, label smoothing
        (ORIGINAL_CIFAR10, 2, (96, 48, 0.05, "cosine", 600, 3e-4, 0.0)),
        (ORIGINAL_IMAGENET, 4, (256, 64, 0.05, "linear", 250, 3e-4, 0.0)),
    ],
)
def test_the_original_readme_commands_give_the_original_runs(
    line: str,
    processes: int,
    expected: tuple[Any, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WORLD_SIZE", str(processes))  # what the launcher sets
    argv = ["train", *line.split(), "--local-rank=0", "--print-config"]
    assert main(argv) == 0
    cfg = json.loads(capsys.readouterr().out)
    got = (
        cfg["batch_size"],
        cfg["batch_size"] // processes,
        cfg["lr"],
        cfg["schedule"],
        cfg["epochs"],
        cfg["weight_decay"],
        cfg["label_smoothing"],
    )
    assert got == expected
    assert cfg["no_bias_decay"] is True and cfg["runtime"]["num_workers"] in (4, 8)
    assert (cfg["warmup_epochs"], cfg["lr_min"]) == (0, 0.0)


# The final README's CIFAR-10 command (commit b47229f dropped --batch_size 48
# --no_bias_decay --num_workers 4 from it), on 2 processes.
FINAL_CIFAR10 = "--arch CNAS --init_channels 36 --layers 20 -o outputs/cifar10"


def test_the_final_readme_command_with_the_defaults_preset_gives_the_final_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = ["train", "--preset", "cifar10-defaults", *FINAL_CIFAR10.split(), "--print-config"]
    assert main([*argv, "--local-rank=0"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["batch_size"], cfg["batch_size"] // 2, cfg["no_bias_decay"]) == (128, 64, False)
    assert (cfg["lr"], cfg["schedule"], cfg["warmup_epochs"], cfg["seed"]) == (
        0.05, "cosine", 0, 2020,
    )  # fmt: skip
    assert cfg["data"]["dataset"] == "cifar10"
    assert main(["train", "--preset", "cifar10-defaults", "--dataset", "digits"]) == 2
    assert "trains on cifar10, not --dataset digits" in capsys.readouterr().err


def _stated_presets(section: str, column: int = 1) -> dict[str, str]:
    """A preset's column (the first: the dataset's own) of one table of
    docs/training.md, by field."""
    docs = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    table = docs.split(section, 1)[1].split("\n### ", 1)[0]
    stated: dict[str, str] = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            names = [n.strip().strip("`") for n in cells[0].split(",")]
            values = [v.strip() for v in cells[column].split(",")]
            stated.update(zip(names, values, strict=True))
    return stated


@pytest.mark.parametrize(
    ("dataset", "section", "column"),
    [
        ("cifar10", "### CIFAR-10 (`--dataset cifar10`)", 1),
        ("cifar10-defaults", "### CIFAR-10 (`--dataset cifar10`)", 2),
        ("imagenet", "### ImageNet", 1),
    ],
)
def test_the_tables_in_the_training_docs_state_the_presets(
    dataset: str, section: str, column: int
) -> None:
    stated = _stated_presets(section, column)
    cfg = TrainConfig.preset(dataset)
    assert len(stated) >= 15
    for field, value in stated.items():
        got = getattr(cfg.runtime, field) if hasattr(cfg.runtime, field) else getattr(cfg, field)
        assert value == str(got), (dataset, field)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "step", "schedule: expected one of 'cosine', 'linear'"),
        ("precision", "fp8", "precision: expected one of 'fp32', 'bf16', 'fp16'"),
        ("warmup_epochs", 700, "warmup_epochs: expected at most the epochs"),
        ("epochs", 0, "epochs: expected an integer >= 1"),
        ("drop_path_prob", 1.0, "drop_path_prob: expected a finite number >= 0 and < 1"),
        ("lr", 0.0, "lr: expected a finite number > 0"),
    ],
)
def test_config_refuses_impossible_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.preset("cifar10", **{field: value})


def test_learning_rate_warms_up_then_follows_the_schedule() -> None:
    cfg = TrainConfig(epochs=10, warmup_epochs=2, lr=0.1, lr_min=0.0)
    assert learning_rate(cfg, 1) == pytest.approx(0.05)
    assert learning_rate(cfg, 2) == pytest.approx(0.1)
    assert learning_rate(cfg, 3) == pytest.approx(0.1)
    assert learning_rate(cfg, 7) == pytest.approx(0.05 * (1 + math.cos(math.pi * 4 / 8)))
    lin = TrainConfig(epochs=10, warmup_epochs=0, lr=0.1, schedule="linear")
    assert [round(learning_rate(lin, e), 4) for e in (1, 6, 10)] == [0.1, 0.05, 0.01]


def test_label_smoothing_matches_its_definition() -> None:
    logits = torch.randn(4, 5)
    target = torch.tensor([0, 3, 1, 4])
    smooth = torch.full((4, 5), 0.1 / 4)
    smooth[torch.arange(4), target] = 0.9
    expected = -(smooth * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(LabelSmoothingCrossEntropy(0.1)(logits, target), expected)


def test_cutout_zeroes_one_square() -> None:
    torch.manual_seed(0)
    out = Cutout(4)(torch.ones(3, 32, 32))
    zeros = (out[0] == 0).nonzero()
    assert 4 <= len(zeros) <= 16
    assert (out[:, zeros[:, 0], zeros[:, 1]] == 0).all()


def tiny(tmp: Path, resume: bool = False, **overrides: object) -> tuple[Trainer, object, object]:
    torch.manual_seed(0)
    data = cnas.data.synthetic(num_samples=64, num_classes=4, image_size=32, seed=0)
    train = torch.utils.data.Subset(data, range(48))
    val = torch.utils.data.Subset(data, range(48, 64))
    kwargs = {
        "init_channels": 4,
        "layers": 3,
        "epochs": 2,
        "batch_size": 16,
        "auxiliary_weight": 0.4,
        "drop_path_prob": 0.2,
    }
    kwargs.update(overrides)
    config = TrainConfig.preset("synthetic", **kwargs)
    model = cnas.NetworkCIFAR(4, 4, 3, True, "CNAS")
    return (
        Trainer(
            model, config.replace(runtime={"device": "cpu", "progress": False}), tmp, resume=resume
        ),
        train,
        val,
    )


def test_trainer_writes_metrics_checkpoints_and_loadable_weights(tmp_path: Path) -> None:
    trainer, train, val = tiny(tmp_path)
    result = trainer.fit(train, val)  # type: ignore[arg-type]
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for key in (
        "train_loss",
        "train_top1",
        "val_loss",
        "val_top1",
        "val_top5",
        "lr",
        "images_per_s",
    ):
        assert key in lines[0]
    assert (tmp_path / "last.pt").is_file()
    assert (tmp_path / "best.pt").is_file()
    config = json.loads((tmp_path / "config.json").read_text())
    assert cnas.Genotype.from_dict(config["genotype"]) == cnas.genotypes.CNAS
    assert (config["init_channels"], config["layers"], config["num_classes"]) == (4, 3, 4)
    assert config["metrics"]["best_top1"] == result.best_top1
    fresh = cnas.NetworkCIFAR(4, 4, 3, True, "CNAS")
    fresh.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
    assert trainer.model.drop_path_prob == pytest.approx(0.2)  # grew linearly to the target


def test_resume_continues_the_schedule_exactly(tmp_path: Path) -> None:
    full, train, val = tiny(tmp_path / "full")
    full.fit(train, val)  # type: ignore[arg-type]
    half, train, val = tiny(tmp_path / "half", max_steps=3)  # one epoch of 3 batches
    half.fit(train, val)  # type: ignore[arg-type]
    resumed, train, val = tiny(tmp_path / "half", resume=True)
    resumed.fit(train, val)  # type: ignore[arg-type]
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    lines = (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_resuming_another_architecture_is_refused(tmp_path: Path) -> None:
    trainer, train, val = tiny(tmp_path, epochs=1)
    trainer.fit(train, val)  # type: ignore[arg-type]
    config = trainer.config.replace(runtime={"device": "cpu", "progress": False})

    def fit_into_the_folder(model: torch.nn.Module, resume: bool) -> None:
        Trainer(model, config, tmp_path, resume=resume).fit(train, val)  # type: ignore[arg-type]

    other = cnas.NetworkCIFAR(4, 4, 3, True, "DARTS_V2")
    with pytest.raises(cnas.CheckpointError, match="checkpoint of another network"):
        fit_into_the_folder(other, resume=True)
    with pytest.raises(cnas.CheckpointError, match="already holds a training run"):
        fit_into_the_folder(other, resume=False)
    # only what changed is named, not both network descriptions
    described = cnas.models.network_config(trainer.model)
    deeper = network_from_config({**described, "layers": 4})
    with pytest.raises(cnas.CheckpointError) as info:
        fit_into_the_folder(deeper, resume=True)
    assert "(layers: 3 -> 4)" in str(info.value) and "init_channels" not in str(info.value)


def test_bf16_autocast_trains(tmp_path: Path) -> None:
    trainer, train, val = tiny(tmp_path, epochs=1, precision="bf16")
    result = trainer.fit(train, val)  # type: ignore[arg-type]
    assert math.isfinite(result.history[0]["train_loss"])


@pytest.mark.slow
def test_digits_reach_95_percent_in_ten_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "train",
            "--dataset",
            "digits",
            "--arch",
            "CNAS",
            "--init-channels",
            "16",
            "--layers",
            "8",
            "--epochs",
            "10",
            "-o",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["metrics"]["best_top1"] >= 0.95
    capsys.readouterr()
    assert main(["evaluate", "--weights", str(tmp_path / "model.safetensors")]) == 0
    printed = capsys.readouterr().out
    assert "digits val (the split the run held out (seed 0)): top-1" in printed


def test_evaluate_scores_the_split_the_run_held_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 13, item 1: with seed 3 the run held out other images than seed 0 would
    argv = ["train", "--dataset", "digits", "--init-channels", "4", "--layers", "3"]
    argv += ["--epochs", "1", "--seed", "3", "--no-progress", "-o", str(tmp_path)]
    assert main(argv) == 0
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    capsys.readouterr()
    assert main(["evaluate", "--weights", str(tmp_path / "model.safetensors")]) == 0
    printed = capsys.readouterr().out
    assert "the split the run held out (seed 3)" in printed
    assert f"top-1 {100 * record['val_top1']:.2f}%" in printed and "(360 images)" in printed
    assert (
        main(["evaluate", "--weights", str(tmp_path / "model.safetensors"), "--split-seed", "0"])
        == 0
    )
    assert "split seed 0, as given" in capsys.readouterr().out


def test_a_held_out_training_scores_its_test_split_once_and_evaluate_agrees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--dataset", "digits", "--init-channels", "4", "--layers", "3"]
    argv += ["--epochs", "1", "--no-progress", "--hold-out-test", "--train-portion", "0.25"]
    assert main([*argv, "-o", str(tmp_path)]) == 0
    test = json.loads((tmp_path / "test.json").read_text())
    assert test["images"] == 539 and test["epochs"] == 1 and test["weights"] == "final"
    assert (
        test["data"]
        == cnas.data.DataConfig(dataset="digits", hold_out_test=True, train_portion=0.25).to_dict()
    )
    record = json.loads((tmp_path / "metrics.jsonl").read_text())
    capsys.readouterr()
    weights = str(tmp_path / "model.safetensors")
    assert main(["evaluate", "--weights", weights, "--split", "test"]) == 0
    assert f"top-1 {100 * test['top1']:.2f}%" in capsys.readouterr().out
    assert main(["evaluate", "--weights", weights]) == 0  # the run's own validation part
    out = capsys.readouterr().out
    assert f"top-1 {100 * record['val_top1']:.2f}%" in out and "(944 images)" in out
    # another split on resume is refused; the test flags alone are an error
    assert main([*argv[:-1], "0.5", "--resume", "-o", str(tmp_path)]) == 2
    assert "other settings (data.train_portion: 0.25 -> 0.5)" in capsys.readouterr().err
    assert (
        main(["train", "--dataset", "digits", "--test-seed", "1", "-o", str(tmp_path / "x")]) == 2
    )
    assert "--test-seed: applies to a held-out test split" in capsys.readouterr().err
    assert (
        main(["train", "--dataset", "cifar10", "--train-portion", "0.5", "-o", str(tmp_path / "x")])
        == 2
    )
    assert "--train-portion: cifar10 trains on its training set" in capsys.readouterr().err


def test_train_cli_accepts_the_original_spellings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "train",
            "--dataset",
            "synthetic",
            "--arch",
            "DARTS_V2",
            "--init_channels",
            "4",
            "--layers",
            "3",
            "--max_epochs",
            "1",
            "--batch_size",
            "32",
            "--no_bias_decay",
            "--scheduler",
            "linear",
            "--auxiliary_weight",
            "0",
            "--drop_path_prob",
            "0.1",
            "--label_smooth",
            "--max-steps",
            "2",
            "-o",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "config.json").read_text())["train"]
    assert (saved["no_bias_decay"], saved["schedule"], saved["label_smoothing"]) == (
        True,
        "linear",
        0.1,
    )
    assert saved["max_steps"] == 2
    assert "weights:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--arch", "nope.json"], "genotype file not found: nope.json"),
        (["--arch", "CNSA"], "unknown genotype 'CNSA'"),
        (["--dataset", "imagenet"], "data/train is not a folder; an ImageNet folder holds"),
        (["--warmup-epochs", "5", "--epochs", "2"], "--warmup-epochs: expected at most the"),
        (["--precision", "fp16", "--device", "cpu"], "fp16 needs a GPU"),
        (["--auxiliary-weight", "0.4"], "the auxiliary head needs inputs of at least 32x32"),
    ],
)
def test_train_cli_bad_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--dataset", "synthetic", "-o", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_an_imagenet_folder_that_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "inet" / "train").mkdir(parents=True)
    code = main(
        [
            "train",
            "--dataset",
            "imagenet",
            "--data",
            str(tmp_path / "inet"),
            "-o",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert "not an ImageNet folder" in capsys.readouterr().err


def test_evaluate_refuses_weights_of_another_architecture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(cnas.NetworkCIFAR(4, 10, 3, False, "DARTS_V2").state_dict(), tmp_path / "w.pt")
    code = main(
        [
            "evaluate",
            "--weights",
            str(tmp_path / "w.pt"),
            "--arch",
            "CNAS",
            "--dataset",
            "synthetic",
            "--init-channels",
            "4",
            "--layers",
            "3",
        ]
    )
    assert code == 2
    assert "does not fit NetworkCIFAR(C=4, layers=3)" in capsys.readouterr().err
    (tmp_path / "evil.pt").write_bytes(b"\x80\x04junk")
    assert main(["evaluate", "--weights", str(tmp_path / "evil.pt"), "--arch", "CNAS"]) == 2


@pytest.mark.slow
def test_two_process_training_equals_one_process_with_the_same_global_batch(
    tmp_path: Path,
) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run(
        [sys.executable, str(SCRIPTS / "tiny_train.py"), str(tmp_path / "1")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPTS / "tiny_train.py"),
            str(tmp_path / "2"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one = torch.load(tmp_path / "1" / "weights-rank0.pt", weights_only=True)
    rank0 = torch.load(tmp_path / "2" / "weights-rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "2" / "weights-rank1.pt", weights_only=True)
    for key in one:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0)
        torch.testing.assert_close(rank0[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    assert (tmp_path / "2" / "run" / "metrics.jsonl").read_text().count("\n") == 2


def test_cutout_lives_in_data() -> None:
    assert not hasattr(cnas.training, "Cutout") and Cutout is cnas.data.Cutout


def test_a_refused_resume_lets_go_of_the_folder_at_once(tmp_path: Path) -> None:
    # In a notebook the refused Trainer lives on in a variable: the folder must be free
    # for the corrected run right away, not once the object is garbage collected.
    trainer, train, val = tiny(tmp_path, epochs=1)
    trainer.fit(train, val)  # type: ignore[arg-type]
    refused, train, val = tiny(tmp_path, resume=True, epochs=1, batch_size=8)
    with pytest.raises(cnas.CheckpointError, match=r"other settings \(batch_size: 16 -> 8\)"):
        refused.fit(train, val)  # type: ignore[arg-type]
    assert not (tmp_path / ".lock").exists()
    again, train, val = tiny(tmp_path, resume=True, epochs=2)
    again.fit(train, val)  # type: ignore[arg-type]
    assert refused is not None  # still alive while the corrected run used the folder
