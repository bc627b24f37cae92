"""Files and strings a hostile user hands the parsers (issue 13, items 6 and 7): each ends
in the parser's documented error, quickly, without materializing what it describes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import cnas
from cnas.cli import main
from cnas.errors import CheckpointError, GenotypeError, WeightsFormatError

# The case was 1,100 levels (2.2 KB), past Python's default recursion limit of
# 1,000; torch.compile raises that limit for the rest of a process, so nest far deeper to
# stay past it whatever ran before.
NESTED = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_genotype_json_is_a_genotype_error() -> None:
    with pytest.raises(GenotypeError, match="malformed genotype JSON"):
        cnas.Genotype.from_json(NESTED)
    record = json.dumps({"arch": NESTED})  # the original search's arch-*.json layout
    with pytest.raises(GenotypeError):
        cnas.Genotype.from_json(record)


def test_deeply_nested_curriculum_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed curriculum JSON"):
        cnas.CurriculumSchedule.from_json(NESTED)


@pytest.mark.parametrize(
    "content", [NESTED.encode(), b"\xff\xfe not utf-8", b"[1, 2]", b'"a string"']
)
def test_a_bad_config_json_beside_weights_is_a_weights_format_error(
    tmp_path: Path, content: bytes
) -> None:
    net = cnas.NetworkCIFAR(4, 10, 3, False, "CNAS")
    folder = cnas.models.save_pretrained(net, tmp_path / "model")
    (folder / "config.json").write_bytes(content)
    with pytest.raises(WeightsFormatError, match="config.json"):
        cnas.models.from_pretrained(folder)


@pytest.mark.parametrize("command", [["genotypes"], ["draw"], ["train", "--arch"]])
def test_the_commands_refuse_a_nested_genotype_file_in_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "evil.json"
    path.write_text(NESTED)
    argv = [*command, str(path)]
    if command == ["draw"]:
        argv += ["-o", str(tmp_path / "out.svg")]
    if command[0] == "train":  # refused before anything is written or loaded
        argv += ["--dataset", "digits", "-o", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "malformed genotype JSON" in err


@pytest.mark.parametrize(
    "content", [NESTED.encode(), b"\xff\xfe not utf-8", b"[1, 2]"], ids=["nested", "bytes", "list"]
)
def test_evaluate_refuses_a_bad_config_json_in_one_line(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = cnas.NetworkCIFAR(4, 10, 3, False, "CNAS")
    folder = cnas.models.save_pretrained(net, tmp_path / "model")
    (folder / "config.json").write_bytes(content)
    assert main(["evaluate", "--weights", str(folder / "model.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "config.json is not" in err


def test_darts_strings_never_expand_a_huge_range() -> None:
    with pytest.raises(GenotypeError, match="has 6454128603 values; .* at most 1000"):
        cnas.Genotype.from_darts("Genotype(normal=[], normal_concat=range(6454128603))")


def test_darts_strings_with_a_zero_step_range_are_a_genotype_error() -> None:
    with pytest.raises(GenotypeError, match="range\\(\\) arg 3 must not be zero"):
        cnas.Genotype.from_darts("Genotype(normal=[], normal_concat=range(0, 10, 0))")


def test_deeply_nested_darts_strings_are_a_genotype_error() -> None:
    with pytest.raises(GenotypeError):
        cnas.Genotype.from_darts(f"Genotype(normal={NESTED})")


# -- smaller ones (issue 13, item 9) --------------------------------------------------------------


def test_a_curriculum_refuses_an_unknown_op_in_its_order() -> None:
    with pytest.raises(KeyError, match="unknown op 'bogus'"):
        cnas.CurriculumSchedule([cnas.Stage(1, 4, 0, 1)], op_order=("bogus",))


def test_a_search_space_refuses_a_node_count_that_cannot_be_meant() -> None:
    with pytest.raises(ValueError, match="n_nodes must be at most 32"):
        cnas.SearchSpace(n_nodes=10**6)
    assert cnas.SearchSpace(n_nodes=32).log10_size() > 0


def test_search_refuses_an_empty_op_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--dataset", "digits", "--ops", "", "-o", str(tmp_path / "o")]) == 2
    assert "--ops: expected a non-empty list of strings, got []" in capsys.readouterr().err


def test_evaluate_takes_a_trained_folder_and_refuses_nan_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    net = cnas.NetworkCIFAR(4, 10, 3, False, "CNAS", in_channels=1)
    folder = cnas.models.save_pretrained(net, tmp_path / "run", dataset="digits")
    assert main(["evaluate", "--weights", str(folder)]) == 0  # the folder, not its file
    assert "digits val" in capsys.readouterr().out
    with torch.no_grad():
        net.classifier.weight[0, 0] = float("nan")
    cnas.models.save_pretrained(net, folder, dataset="digits", overwrite=True)
    assert main(["evaluate", "--weights", str(folder)]) == 2
    assert "NaN or infinite values (classifier.weight)" in capsys.readouterr().err


def test_stale_temporary_files_of_a_killed_write_are_removed(tmp_path: Path) -> None:
    from cnas._run import RunFolder

    folder = RunFolder(tmp_path, "search")
    folder.prepare({}, resume=False)
    folder.release()
    stale = tmp_path / ".checkpoint.pt.abc123_x.tmp"  # as mkstemp names atomic_path's files
    stale.write_bytes(b"half a checkpoint")
    (tmp_path / "stages" / "stage-1").mkdir(parents=True)
    deep = tmp_path / "stages" / "stage-1" / ".supernet.safetensors.k3j9x_2a.tmp"
    deep.write_bytes(b"half the weights")
    mine = tmp_path / ".notes.txt.tmp"  # not a name atomic_path makes: left alone
    mine.write_text("x")
    again = RunFolder(tmp_path, "search")
    again.prepare({}, resume=True)
    again.release()
    assert not stale.exists() and not deep.exists() and mine.exists()


# -- operating-system and device errors, before any work (issue 13, item 5, in part) --------------


@pytest.mark.parametrize("command", ["train", "search"])
def test_a_device_that_is_not_one_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--dataset", "digits", "--device", "foo", "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device: 'foo' is not a device" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["train", "search"])
def test_a_seed_beyond_64_bits_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--dataset", "digits", "--seed", str(2**70), "-o", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seed: expected an integer in 0 .. 2**64 - 1" in err
    assert not (tmp_path / "o").exists()


def test_cuda_without_a_gpu_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--dataset", "digits", "--device", "cuda", "-o", str(tmp_path)]) == 2
    assert "no CUDA device is available here" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "search"])
def test_an_output_folder_under_a_file_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert main([command, "--dataset", "digits", "-o", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "which is a file, not a folder" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--arch", "CNAS", "--init-channels", "100000"], "<= 1024"),
        (["search", "--init-channels", "100000"], "<= 1024"),
        (
            ["train", "--arch", "CNAS", "--init-channels", "1000", "--layers", "60"],
            "the network would have",
        ),
        (["search", "--init-channels", "1000", "--layers", "20"], "the supernet would have"),
        (["train", "--arch", "CNAS", "--layers", "5000"], "layers must be at most 200"),
        (["search", "--nodes", "1000"], "--nodes: must be at most 32"),
        (["search", "--temperature", "0"], "temperature must be positive"),
    ],
    ids=[
        "train C",
        "search C",
        "train memory",
        "search memory",
        "train layers",
        "search nodes",
        "temperature 0",
    ],
)
def test_sizes_that_cannot_fit_are_refused_before_any_work(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert main([*argv, "--dataset", "digits", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()  # refused before the folder, the data or the network


def test_a_config_json_too_large_to_hold_is_refused_before_it_is_built() -> None:
    from cnas.models._config import network_from_config

    config = {
        "network": "NetworkCIFAR",
        "genotype": cnas.genotypes.CNAS.to_dict(),
        "init_channels": 1000,
        "num_classes": 10,
        "layers": 100,
        "auxiliary": False,
    }
    with pytest.raises(WeightsFormatError, match="would have .* weights: .* GiB for its weights"):
        network_from_config(config, "config.json")
    with pytest.raises(WeightsFormatError, match="C must be at most 1,024"):
        network_from_config({**config, "init_channels": 2**40}, "config.json")


# -- a full disk ----------------------------------------------------------------------------------


def test_a_full_disk_during_a_checkpoint_keeps_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import torch

    from cnas import _io
    from cnas._run import load_checkpoint, save_checkpoint

    sys.path.insert(0, str(Path(__file__).with_name("scripts")))
    from checkpoint_states import minimal_state

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, minimal_state("search"), "search")
    good = path.read_bytes()

    def full(obj: object, f: object) -> None:  # what torch raises when the disk fills
        Path(str(f)).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 2")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(_io.shutil, "disk_usage", lambda p: usage._replace(free=0))
    with pytest.raises(CheckpointError, match=r"could not write .*: no space left on device"):
        save_checkpoint(path, minimal_state("search"), "search")
    assert path.read_bytes() == good and load_checkpoint(path, "search")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no partial file left


def test_a_full_disk_is_one_line_from_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from cnas import viz

    target = tmp_path / "cells.svg"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(viz, "atomic_write_bytes", full)
    monkeypatch.setattr(viz, "atomic_write_text", full)
    assert main(["draw", "CNAS", "-o", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"cnas draw: error: No space left on device: {target}"


# -- what a network takes (issue 13, item 9) ------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        ("3d", ValueError, r"takes a batch of images \(N, 3, H, W\), got .* x.unsqueeze\(0\)"),
        ("1 channel", ValueError, r"takes images with 3 channel\(s\).*in_channels=1"),
        ("uint8", TypeError, "takes floating-point images, got torch.uint8"),
        ("float64", TypeError, "has torch.float32 weights and got torch.float64 images"),
    ],
)
def test_networks_say_what_images_they_take(images: str, error: type, message: str) -> None:
    import torch

    x = {
        "3d": torch.rand(3, 16, 16),
        "1 channel": torch.rand(2, 1, 16, 16),
        "uint8": torch.zeros(2, 3, 16, 16, dtype=torch.uint8),
        "float64": torch.rand(2, 3, 16, 16, dtype=torch.float64),
    }[images]
    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], 2)
    nets = {
        "NetworkCIFAR": (cnas.NetworkCIFAR(4, 10, 3, True, "CNAS"), ()),
        "NetworkImageNet": (cnas.NetworkImageNet(4, 10, 3, False, "CNAS"), ()),
        "SuperNet": (cnas.SuperNet(space, C=4, num_classes=10, layers=3), (space.sample(),)),
    }
    for name, (net, extra) in nets.items():
        with pytest.raises(error, match=f"{name} {message}"):
            net.eval()(x, *extra)
    cifar = nets["NetworkCIFAR"][0]
    with pytest.raises(error, match=message):
        cifar.train().forward_with_aux(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast takes any floating dtype
        assert cifar.eval()(torch.rand(2, 3, 16, 16, dtype=torch.bfloat16)).shape == (2, 10)


@pytest.mark.parametrize(
    ("message", "errno_name"),
    [
        ("Error while serializing: I/O error: No space left on device (os error 28)", "ENOSPC"),
        ("I/O error: Disk quota exceeded (os error 122)", "EDQUOT"),
        ("[enforce fail at inline_container.cc:672] . unexpected pos 1 vs 2", "EIO"),
    ],
    ids=["safetensors, full", "safetensors, quota", "torch, disk not full"],
)
def test_a_writers_own_failure_becomes_the_os_error_behind_it(
    message: str, errno_name: str, tmp_path: Path
) -> None:
    import errno

    from cnas._io import atomic_path

    def write(target: Path, exc: Exception) -> None:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise exc

    with pytest.raises(OSError, match=r"\[Errno \d+\]") as caught:
        write(tmp_path / "w.safetensors", RuntimeError(message))
    assert caught.value.errno == getattr(errno, errno_name)
    assert caught.value.filename == str(tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []  # the partial file is gone
    with pytest.raises(ValueError, match="not a write"):  # other errors pass as they are
        write(tmp_path / "x", ValueError("not a write"))


def test_a_state_that_a_resume_would_refuse_is_refused_when_saved(tmp_path: Path) -> None:
    from cnas._run import save_checkpoint
    from cnas._schema import SchemaError

    sys.path.insert(0, str(Path(__file__).with_name("scripts")))
    from checkpoint_states import minimal_state

    state = {**minimal_state("training"), "history": [{"loss": [1.0]}]}
    with pytest.raises(SchemaError, match=r"history\[0\].loss: expected a number"):
        save_checkpoint(tmp_path / "last.pt", state, "training")
    assert not (tmp_path / "last.pt").exists()


@pytest.mark.parametrize("content", ["deep", "sparse", "meta", "surrogate"])
def test_checkpoints_holding_what_no_checkpoint_holds_are_checkpoint_errors(
    content: str, tmp_path: Path
) -> None:
    import torch

    from cnas._run import load_checkpoint

    sys.path.insert(0, str(Path(__file__).with_name("scripts")))
    from checkpoint_states import minimal_state

    nested: list[object] = []
    for _ in range(200):  # past MAX_DEPTH, within what torch.save can write
        nested = [nested]
    odd = {
        "deep": nested,
        "sparse": torch.eye(3).to_sparse(),
        "meta": torch.empty(2, device="meta"),
        "surrogate": "\udc80",
    }[content]
    state = {
        **minimal_state("search"),
        "extra": odd,
        "format": "cnas.search-checkpoint",
        "version": 3,
        "checksum": "sha256:0",
    }
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        load_checkpoint(tmp_path / "checkpoint.pt", "search")
    with pytest.raises(WeightsFormatError, match="checkpoint.pt"):
        cnas.models.read_state_dict(tmp_path / "checkpoint.pt")
