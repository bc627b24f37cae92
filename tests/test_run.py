"""The run layer that search and training share: folders, checkpoints, random state,
loaders, and the batch-size convention."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas import _run
from cnas._run import (
    RunFolder,
    load_checkpoint,
    make_loader,
    per_process_batch,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cnas.cli import build_parser
from cnas.errors import CheckpointError, NonFiniteLossError, RunLockedError
from cnas.training import TrainConfig, Trainer

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from checkpoint_states import minimal_state  # noqa: E402
from tiny_search import build  # noqa: E402


def test_a_fresh_folder_gets_its_identity_first(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run", "training")
    assert folder.prepare({"note": 1}, resume=False) is None
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["run"]["kind"] == "training" and config["note"] == 1
    assert config["run"]["cnas_version"] == cnas.__version__


def test_a_folder_with_a_run_is_refused_without_resume_and_resumed_with_it(
    tmp_path: Path,
) -> None:
    folder = RunFolder(tmp_path, "search")
    folder.prepare({}, resume=True)
    folder.save({**minimal_state("search"), "epoch": 3})
    with pytest.raises(CheckpointError, match="already holds a search run"):
        folder.prepare({}, resume=False)
    state = folder.prepare({}, resume=True)
    assert state is not None and state["epoch"] == 3


@pytest.mark.parametrize(("first", "second"), [("search", "training"), ("training", "search")])
def test_a_run_of_the_other_kind_is_refused_even_with_resume(
    tmp_path: Path, first: _run.RunKind, second: _run.RunKind
) -> None:
    RunFolder(tmp_path, first).prepare({}, resume=False)
    for resume in (False, True):
        with pytest.raises(CheckpointError, match=f"holds a {first} run .*not a {second} run"):
            RunFolder(tmp_path, second).prepare({}, resume=resume)


def test_metrics_without_a_checkpoint_are_another_runs_and_kept(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(CheckpointError, match="holds metrics.jsonl but no last.pt"):
        RunFolder(tmp_path, "training").prepare({}, resume=True)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n'


def test_nothing_to_resume_when_a_checkpoint_is_required(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing to resume"):
        RunFolder(tmp_path, "training").prepare({}, resume=True, require_checkpoint=True)
    with pytest.raises(CheckpointError, match="nothing to resume: .*missing.pt"):
        RunFolder(tmp_path, "training").prepare({}, resume=tmp_path / "missing.pt")


def test_checkpoints_name_their_kind_and_refuse_corrupt_files(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "a.pt", {**minimal_state("search"), "x": torch.ones(2)}, "search")
    assert torch.equal(load_checkpoint(tmp_path / "a.pt", "search")["x"], torch.ones(2))
    with pytest.raises(CheckpointError, match="is a checkpoint of a search run, not of a training"):
        load_checkpoint(tmp_path / "a.pt", "training")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*left untouched"):
        load_checkpoint(tmp_path / "junk.pt", "search")
    torch.save({"format": "cnas.search-checkpoint", "version": 1}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="version 1; this cnas reads version 4"):
        load_checkpoint(tmp_path / "old.pt", "search")


def test_random_state_comes_back_exactly() -> None:
    state = rng_state()
    expected = (torch.rand(3), random.random())
    torch.rand(5)
    random.random()
    set_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]


def test_resume_rewrites_metrics_to_the_checkpoints_history(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, "training")
    folder.prepare({}, resume=False)
    for epoch in (1, 2, 3):
        folder.append_metrics({"epoch": epoch}, step=epoch)
    folder.rewrite_metrics([{"epoch": 1}])
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n'


# -- the batch-size convention ----------------------------------------------------------------


def test_the_batch_size_is_global_and_split_over_processes() -> None:
    assert per_process_batch(96, 2) == 48 and per_process_batch(256, 4) == 64
    with pytest.raises(ValueError, match="global batch size 96 is not divisible by the 5"):
        per_process_batch(96, 5)


def test_one_process_sees_what_two_processes_see_together(monkeypatch: pytest.MonkeyPatch) -> None:
    data = torch.utils.data.TensorDataset(torch.arange(40.0), torch.arange(40))

    def first_batches(world: int, rank: int) -> list[list[int]]:
        monkeypatch.setattr(cnas.distributed, "world_size", lambda: world)
        monkeypatch.setattr(cnas.distributed, "rank", lambda: rank)
        loader = make_loader(data, batch_size=8, shuffle=True, seed=3, epoch=1)
        return [y.tolist() for _, y in loader][:2]

    one = first_batches(1, 0)
    r0, r1 = first_batches(2, 0), first_batches(2, 1)
    assert all(len(b) == 4 for b in r0 + r1)
    for step in range(2):
        assert sorted(one[step]) == sorted(r0[step] + r1[step])


@pytest.mark.parametrize("command", ["search", "train"])
def test_batch_size_flags_mean_the_same_in_search_and_training(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnas.cli._search import search_config
    from cnas.cli._train import train_config

    def global_batch(argv: list[str]) -> int:
        args = parser.parse_args(argv)
        if command == "search":
            return int(search_config(args).optimizer.batch_size)
        return int(train_config(args).batch_size)

    parser = build_parser()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert global_batch([command, "--batch-size", "96"]) == 96
    assert global_batch([command, "--batch_size", "48"]) == 96  # original
    monkeypatch.delenv("WORLD_SIZE")
    assert global_batch([command, "--batch_size", "48"]) == 48


# -- search and training through the same layer ------------------------------------------------


def _tiny_trainer(out: Path, **kwargs: Any) -> tuple[Trainer, Any, Any]:
    data = cnas.data.synthetic(num_samples=32, num_classes=4, image_size=8, seed=0)
    train, val = (
        torch.utils.data.Subset(data, range(24)),
        torch.utils.data.Subset(data, range(24, 32)),
    )
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    return (
        Trainer(model, config.replace(runtime={"device": "cpu", "progress": False}), out, **kwargs),
        train,
        val,
    )


def test_search_and_training_refuse_each_others_folders(tmp_path: Path) -> None:
    searcher, strain, sval = build(str(tmp_path / "search"), steps_per_epoch=1)
    searcher.fit(strain, sval)
    trainer, train, val = _tiny_trainer(tmp_path / "train")
    trainer.fit(train, val)
    # a finished run leaves no lock file behind
    assert not (tmp_path / "search" / ".lock").exists()
    assert not (tmp_path / "train" / ".lock").exists()
    into_search, train, val = _tiny_trainer(tmp_path / "search", resume=True)
    with pytest.raises(CheckpointError, match="holds a search run .*not a training run"):
        into_search.fit(train, val)
    into_training, strain, sval = build(str(tmp_path / "train"))
    with pytest.raises(CheckpointError, match="holds a training run .*not a search run"):
        into_training.fit(strain, sval)
    # both record the same identity, and training's survives its final export
    for name, kind in (("search", "search"), ("train", "training")):
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["run"]["kind"] == kind


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "tiny_train.py"), str(out), "--epochs", "3", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_a_killed_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    reference = _train(tmp_path / "ref")
    assert reference.returncode == 0, reference.stderr
    killed = _train(tmp_path / "killed", "--kill-after-items", "70")  # in epoch 2
    assert killed.returncode == -9, killed.stderr
    metrics = (tmp_path / "killed" / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 1  # epoch 1 finished and was checkpointed
    resumed = _train(tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "ref" / "weights-rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "weights-rank0.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key

    def strip(path: Path) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("time_s", "images_per_s")} for r in lines]

    assert strip(tmp_path / "killed" / "run" / "metrics.jsonl") == strip(
        tmp_path / "ref" / "run" / "metrics.jsonl"
    )


# -- one writer per folder ----------------------------------------------------------------------


def test_a_second_run_in_a_held_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = RunFolder(tmp_path, "training")
    first.prepare({}, resume=False)
    try:
        with pytest.raises(RunLockedError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            RunFolder(tmp_path, "training").prepare({}, resume=True)
        trainer, train, val = _tiny_trainer(tmp_path, resume=True)
        with pytest.raises(CheckpointError, match="in use by another run"):
            trainer.fit(train, val)
    finally:
        first.release()
    assert not (tmp_path / ".lock").exists()
    again = RunFolder(tmp_path, "training")
    assert again.prepare({}, resume=True) is None  # free again
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    again.release()
    assert not (tmp_path / ".lock").exists()


def test_a_lock_taken_on_a_file_removed_meanwhile_is_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run that ends removes .lock while holding it; a process that opened the old file
    # just before must not believe it holds the folder: it locks the file now there.
    import cnas._io as io_module

    real = io_module.same_file
    calls: list[int] = []

    def removed_once(handle: Any, path: Path) -> bool:
        calls.append(1)
        if len(calls) == 1:
            path.unlink()  # as if the previous holder released it right then
        return real(handle, path)

    monkeypatch.setattr(io_module, "same_file", removed_once)
    folder = RunFolder(tmp_path, "training")
    folder.acquire()
    try:
        assert len(calls) == 2  # the first lock was on a removed file: taken again
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunLockedError):
            RunFolder(tmp_path, "training").prepare({}, resume=True)
    finally:
        folder.release()


_HOLDER = """
import sys
from cnas._run import RunFolder
folder = RunFolder(sys.argv[1], "search")
folder.prepare({}, resume=True)
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
"""


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_the_lock_of_a_process_goes_with_it(tmp_path: Path, how: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            RunFolder(tmp_path, "search").prepare({}, resume=True)
    finally:
        if how == "exits":
            assert holder.stdin is not None
            holder.stdin.close()
        else:
            holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
    folder = RunFolder(tmp_path, "search")
    assert folder.prepare({}, resume=True) is None  # no stale lock
    folder.release()


# -- a folder is empty, resumable or finished, whenever a run stops -------------------------------


class _Killed(BaseException):
    """Stands for the process dying in the middle of writing a checkpoint."""


def _die_on_first_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    def die(path: Any, sealed: Any) -> None:
        raise _Killed

    monkeypatch.setattr(_run._folder, "write_checkpoint", die)


def test_a_training_killed_in_its_first_checkpoint_starts_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer, train, val = _tiny_trainer(tmp_path)
    with monkeypatch.context() as patch:
        _die_on_first_checkpoint(patch)
        with pytest.raises(_Killed):
            trainer.fit(train, val)
    assert not (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "last.pt").exists()
    for resume in (False, True):  # neither a fresh start nor a resume refuses the folder
        again, train, val = _tiny_trainer(tmp_path, resume=resume)
        again.fit(train, val)
        assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
        if not resume:
            (tmp_path / "last.pt").unlink()
            (tmp_path / "metrics.jsonl").unlink()


def test_a_search_killed_in_its_first_checkpoint_starts_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher, train, val = build(str(tmp_path), steps_per_epoch=1)
    with monkeypatch.context() as patch:
        _die_on_first_checkpoint(patch)
        with pytest.raises(_Killed):
            searcher.fit(train, val)
    assert not (tmp_path / "metrics.jsonl").exists()
    again, train, val = build(str(tmp_path), steps_per_epoch=1)
    result = again.fit(train, val)
    records = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(records) == len(result.history) and result.genotype is not None


@pytest.mark.parametrize("command", ["train", "search"])
def test_the_commands_refuse_a_held_folder_in_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cnas.cli import main

    holder = RunFolder(tmp_path, "training" if command == "train" else "search")
    holder.prepare({}, resume=True)
    try:
        argv = [command, "--dataset", "digits", "--init-channels", "4", "--layers", "3"]
        assert main([*argv, "--no-progress", "-o", str(tmp_path)]) == 2
    finally:
        holder.release()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"in use by another run (pid {os.getpid()})" in err


# -- non-finite numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["lr", "lr_min", "momentum", "weight_decay", "grad_clip", "auxiliary_weight"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_training_refuses_non_finite_settings(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{field}: expected a finite number"):
        TrainConfig.preset("synthetic", **{field: value})


@pytest.mark.parametrize("setting", ["lr", "momentum", "weight_decay"])
def test_search_refuses_non_finite_settings(setting: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"^{setting}: expected a finite number.*got nan"):
        build(str(tmp_path), **{setting: float("nan")})


def test_search_refuses_non_finite_strategy_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="setting entropy_coeff must be finite, got inf"):
        build(str(tmp_path), settings={"entropy_coeff": float("inf")})


def test_metrics_lines_are_strict_json_even_for_nan() -> None:
    line = _run.json_line({"loss": float("nan"), "top1": 0.5, "nested": [float("inf")]})
    assert json.loads(line) == {"loss": None, "top1": 0.5, "nested": [None]}


def test_a_training_whose_loss_diverges_stops_and_keeps_its_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer, train, val = _tiny_trainer(tmp_path)
    trainer.fit(train, val)  # epoch 1: a good checkpoint
    good = (tmp_path / "last.pt").read_bytes()
    again, train, val = _tiny_trainer(tmp_path, resume=True)
    again.config = again.config.replace(epochs=2)
    original = again.criterion.forward
    monkeypatch.setattr(again.criterion, "forward", lambda a, b: original(a, b) * float("nan"))
    with pytest.raises(NonFiniteLossError, match="loss became nan in epoch 2 .*last checkpoint"):
        again.fit(train, val)
    assert (tmp_path / "last.pt").read_bytes() == good
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_search_whose_loss_diverges_stops_and_keeps_its_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searcher, train, val = build(str(tmp_path), steps_per_epoch=1)
    calls = {"n": 0}
    forward = searcher.supernet.forward

    def diverging(x: torch.Tensor, arch: Any) -> torch.Tensor:
        calls["n"] += 1
        out = forward(x, arch)
        return out * float("nan") if calls["n"] > 3 else out

    monkeypatch.setattr(searcher.supernet, "forward", diverging)
    with pytest.raises(
        NonFiniteLossError, match=r"became nan in stage \d, .*last checkpoint .* is kept"
    ):
        searcher.fit(train, val)
    records = (tmp_path / "metrics.jsonl").read_text().splitlines()
    state = load_checkpoint(tmp_path / "checkpoint.pt", "search")
    assert len(records) == len(state["history"]) >= 1
