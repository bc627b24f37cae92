"""Checkpoints carry a checksum of their contents and are checked against a schema before
any of them is used (issue 13, item 8): damaged or ill-formed checkpoints are refused
with a ``CheckpointError`` that names the file, and nothing in the folder changes."""

from __future__ import annotations

import random
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas._run import RunKind, load_checkpoint, save_checkpoint
from cnas._schema import digest
from cnas.errors import CheckpointError, WeightsFormatError
from cnas.training import TrainConfig, Trainer

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from tiny_search import build  # noqa: E402


@pytest.fixture(scope="module")
def search_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny search (four stages)."""
    out = tmp_path_factory.mktemp("search") / "run"
    searcher, train, val = build(str(out), steps_per_epoch=1)
    searcher.fit(train, val)
    return out


def _trainer(out: Path, **kwargs: Any) -> tuple[Trainer, Any, Any]:
    data = cnas.data.synthetic(num_samples=32, num_classes=4, image_size=8, seed=0)
    train = torch.utils.data.Subset(data, range(24))
    val = torch.utils.data.Subset(data, range(24, 32))
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    return (
        Trainer(model, config.replace(runtime={"device": "cpu", "progress": False}), out, **kwargs),
        train,
        val,
    )


@pytest.fixture(scope="module")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("training") / "run"
    trainer, train, val = _trainer(out)
    trainer.fit(train, val)
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _largest_record(path: Path) -> tuple[int, int]:
    """Where the largest tensor's bytes lie in a checkpoint file: (offset, size)."""
    with zipfile.ZipFile(path) as archive:
        records = [i for i in archive.infolist() if "/data/" in i.filename]
        info = max(records, key=lambda i: i.file_size)
        # the data starts after the local header, its name and its extra field
        with open(path, "rb") as raw:
            raw.seek(info.header_offset + 26)
            name_len = int.from_bytes(raw.read(2), "little")
            extra_len = int.from_bytes(raw.read(2), "little")
        return info.header_offset + 30 + name_len + extra_len, info.file_size


def _flip(data: bytes, offset: int, rng: random.Random, count: int = 64) -> bytes:
    damaged = bytearray(data)
    for i in range(offset, offset + count):
        damaged[i] ^= rng.randrange(1, 256)
    return bytes(damaged)


def test_64_flipped_bytes_in_a_search_checkpoint_are_refused_on_resume(
    search_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(search_run, out)
    ckpt = out / "checkpoint.pt"
    offset, size = _largest_record(ckpt)
    ckpt.write_bytes(_flip(ckpt.read_bytes(), offset + size // 2 - 32, random.Random(0)))
    before = _snapshot(out)
    searcher, train, val = build(str(out), resume=True)
    with pytest.raises(CheckpointError, match=f"{ckpt}.*does not match its checksum"):
        searcher.fit(train, val)
    assert _snapshot(out) == before  # the file is left in place, nothing else is written


def test_flipped_bytes_anywhere_never_load_a_different_state(
    search_run: Path, tmp_path: Path
) -> None:
    original = (search_run / "checkpoint.pt").read_bytes()
    expected = digest(load_checkpoint(search_run / "checkpoint.pt", "search"))
    rng = random.Random(13)
    outcomes = {"refused": 0, "same contents": 0}
    for _ in range(40):
        path = tmp_path / "damaged.pt"
        path.write_bytes(_flip(original, rng.randrange(0, len(original) - 64), rng))
        try:
            state = load_checkpoint(path, "search")
        except CheckpointError as exc:
            refusal = str(exc)
            outcomes["refused"] += 1
            assert refusal.startswith(str(path)), refusal
        else:  # the bytes hit no content (a zip header's name or padding)
            assert digest(state) == expected
            outcomes["same contents"] += 1
    assert outcomes["refused"] >= 30, outcomes


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda state: state.pop(key)


def _edited_copy(
    run: Path, tmp_path: Path, kind: RunKind, change: Callable[[dict[str, Any]], None]
) -> tuple[Path, Path, dict[str, bytes]]:
    """A copy of ``run`` whose checkpoint has ``change`` applied and a valid checksum over
    the wrong contents: (folder, checkpoint, snapshot of the folder)."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    ckpt = out / ("checkpoint.pt" if kind == "search" else "last.pt")
    state = load_checkpoint(ckpt, kind)
    change(state)
    save_checkpoint(ckpt, state, kind, check=False)
    return out, ckpt, _snapshot(out)


SEARCH_EDITS = {
    "position.stage=99": (_set(("position", "stage"), 99), "stage 100 of 4"),
    "position.step=-1": (_set(("position", "step"), -1), r"position.step: expected an integer"),
    "history='garbage'": (_set(("history",), "garbage"), "history: expected a list"),
    "a string learning rate": (
        _set(("optimizer", "param_groups", 0, "lr"), "0.1"),
        r"optimizer.param_groups\[0\].lr: expected a finite number",
    ),
    "no supernet": (_delete("supernet"), "missing 'supernet'"),
    "a stage result too many": (
        lambda s: s["stages"].append(s["stages"][0]),
        r"5 stage result\(s\) for 4 finished",
    ),
    "a controller without weights": (
        _set(("strategy", "state", "controller"), {}),
        "does not fit this search",
    ),
    "a python random state cut short": (
        _set(("rng", "python", 1), [1, 2, 3]),
        r"rng.python\[1\]: expected 625 items",
    ),
}


@pytest.mark.parametrize("edit", list(SEARCH_EDITS))
def test_a_well_formed_search_checkpoint_with_wrong_contents_is_refused(
    search_run: Path, tmp_path: Path, edit: str
) -> None:
    change, message = SEARCH_EDITS[edit]
    out, ckpt, before = _edited_copy(search_run, tmp_path, "search", change)
    searcher, train, val = build(str(out), resume=True)
    with pytest.raises(CheckpointError, match=message) as caught:
        searcher.fit(train, val)
    assert str(ckpt) in str(caught.value)
    assert _snapshot(out) == before


TRAINING_EDITS = {
    "no model": (_delete("model"), "missing 'model'"),
    "epoch='1'": (_set(("epoch",), "1"), "epoch: expected an integer"),
    "history='garbage'": (_set(("history",), "garbage"), "history: expected a list"),
    "a best epoch in the future": (_set(("best_epoch",), 7), "its best epoch 7"),
    "an infinite learning rate": (
        _set(("optimizer", "param_groups", 0, "lr"), float("inf")),
        "expected a finite number",
    ),
    "a model of another shape": (
        lambda s: s["model"].update({k: torch.zeros(1) for k in list(s["model"])[:1]}),
        "does not fit this training run",
    ),
}


@pytest.mark.parametrize("edit", list(TRAINING_EDITS))
def test_a_well_formed_training_checkpoint_with_wrong_contents_is_refused(
    training_run: Path, tmp_path: Path, edit: str
) -> None:
    change, message = TRAINING_EDITS[edit]
    out, ckpt, before = _edited_copy(training_run, tmp_path, "training", change)
    trainer, train, val = _trainer(out, resume=True)
    trainer.config = trainer.config.replace(epochs=2)
    with pytest.raises(CheckpointError, match=message) as caught:
        trainer.fit(train, val)
    assert str(ckpt) in str(caught.value)
    assert _snapshot(out) == before


def test_a_training_resumed_with_other_settings_is_refused(
    training_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(training_run, out)
    before = _snapshot(out)
    trainer, train, val = _trainer(out, resume=True)
    trainer.config = trainer.config.replace(seed=3)
    with pytest.raises(CheckpointError, match=r"other settings \(seed: 0 -> 3\)"):
        trainer.fit(train, val)
    assert _snapshot(out) == before


def test_a_training_may_go_on_with_a_lower_learning_rate(
    training_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What NonFiniteLossError advises: resume with a lower --lr (logged, not refused)."""
    out = tmp_path / "run"
    shutil.copytree(training_run, out)
    trainer, train, val = _trainer(out, resume=True)
    trainer.config = trainer.config.replace(lr=trainer.config.lr / 10, epochs=2)
    result = trainer.fit(train, val)
    assert len(result.history) == 2
    assert "with lr=" in caplog.text and "scaled from here on" in caplog.text


def test_damaged_training_checkpoints_are_refused_where_weights_are_read(
    training_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "last.pt"
    original = (training_run / "last.pt").read_bytes()
    offset, size = _largest_record(training_run / "last.pt")
    path.write_bytes(_flip(original, offset + size // 2 - 32, random.Random(1)))
    with pytest.raises(WeightsFormatError, match="does not match its checksum"):
        cnas.models.read_state_dict(path)
    with pytest.raises(WeightsFormatError, match="does not match its checksum"):
        cnas.models.convert(path, tmp_path / "converted")
    assert not (tmp_path / "converted").exists()


def test_a_damaged_stage_state_is_refused(search_run: Path, tmp_path: Path) -> None:
    from cnas.search._state import read_stage_state, stage_folder

    folder = tmp_path / "stage"
    shutil.copytree(stage_folder(search_run, 0), folder)
    read_stage_state(folder)  # whole
    weights = folder / "supernet.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(_flip(data, len(data) - 200, random.Random(2), count=16))
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        read_stage_state(folder)


@pytest.mark.slow
def test_the_attack_script_prints_its_table(tmp_path: Path) -> None:
    """tests/scripts/attack.py makes the table of docs/reliability.md; its file attacks,
    shortened, hold here too (the kills and bad command lines have their own tests)."""
    import subprocess

    run = subprocess.run(
        [sys.executable, str(SCRIPTS / "attack.py"), "--quick", "--only", "files"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 5  # the header and four attacks
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == cells[2], row  # tried == held
