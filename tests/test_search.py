"""Searcher: the stage loop, outputs, callbacks, checkpoints and resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas._run import load_checkpoint
from cnas.search import Callback, CheckpointError, Searcher, StageResult

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from tiny_search import build  # noqa: E402


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("search") / "run"
    searcher, train, val = build(str(out))
    return out, searcher.fit(train, val)


def test_fit_runs_every_stage_and_returns_the_last_derived_genotype(
    finished: tuple[Path, Any],
) -> None:
    _, result = finished
    assert [s.n_ops for s in result.stages] == [1, 2, 3, 4]
    assert result.genotype == result.stages[-1].genotype
    assert all(0.0 <= s.val_accuracy <= 1.0 for s in result.stages)
    for stage in result.stages:
        assert stage.genotype.ops <= set(stage.ops)
        assert stage.genotype.n_nodes == stage.n_nodes
    phases = [r["phase"] for r in result.history]
    assert phases == ["warmup", "supernet", "controller"] * 4
    assert not result.stopped_early


def test_outputs_are_written(finished: tuple[Path, Any]) -> None:
    out, result = finished
    assert cnas.Genotype.load(out / "genotype.json") == result.genotype
    for k in range(1, 5):
        stage_dir = out / "stages" / f"stage-{k}"
        assert cnas.Genotype.load(stage_dir / "genotype.json") == result.stages[k - 1].genotype
        assert (stage_dir / "cells.svg").exists() or (stage_dir / "cells.gv").exists()
        saved = StageResult.from_dict(json.loads((stage_dir / "result.json").read_text()))
        assert saved == result.stages[k - 1]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == result.history
    supernet_line = next(r for r in lines if r["phase"] == "supernet")
    controller_line = next(r for r in lines if r["phase"] == "controller")
    for key in ("stage", "n_ops", "loss", "top1", "top5", "entropy", "images_per_s"):
        assert key in supernet_line
    for key in ("reward", "baseline", "policy_loss", "entropy", "top1"):
        assert key in controller_line
    schedule = cnas.CurriculumSchedule.from_json((out / "curriculum.json").read_text())
    assert len(schedule) == 4
    report = (out / "report.md").read_text()
    assert "| 4 | 4 | 2 |" in report
    assert repr(result.genotype) in report


def test_tensorboard_events_are_written_when_tensorboard_is_installed(
    finished: tuple[Path, Any],
) -> None:
    pytest.importorskip("tensorboard")  # a test dependency; optional for users
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(finished[0] / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "controller/reward" in tags
    assert "supernet/loss" in tags
    assert len(events.Scalars("supernet/loss")) == 4


def test_fit_on_a_finished_run_returns_its_result_without_training(
    finished: tuple[Path, Any],
) -> None:
    out, result = finished
    before = (out / "metrics.jsonl").read_text()
    searcher, train, val = build(str(out))
    again = searcher.fit(train, val)
    assert again.genotype == result.genotype
    assert again.history == result.history
    assert (out / "metrics.jsonl").read_text() == before


def test_corrupt_checkpoint_is_reported_and_left_untouched(
    finished: tuple[Path, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    ckpt = out / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated, as by a full disk
    searcher, train, val = build(str(out))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        searcher.fit(train, val)
    assert len(ckpt.read_bytes()) == 1000


def test_foreign_checkpoint_is_refused(finished: tuple[Path, Any], tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    torch.manual_seed(0)
    space = cnas.SearchSpace(["sep_conv_3x3", "max_pool_3x3", "skip_connect", "none"], 2)
    other = Searcher(
        cnas.SuperNet(space, C=8, num_classes=4, layers=3),
        cnas.CurriculumSchedule.fixed(space, 1, 1),
        out,
        strategy=cnas.search.Reinforce(cnas.Controller(space, hidden_size=16)),
        runtime=cnas.search.SearchRuntime(progress=False),
    )
    with pytest.raises(
        CheckpointError, match=r"belongs to a different search \(.*supernet\.C: 4 -> 8"
    ):
        other.fit(*build(str(tmp_path / "unused"))[1:])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt", "search")


def test_resume_false_refuses_an_existing_search(
    finished: tuple[Path, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished[0], out)
    searcher, train, val = build(str(out), resume=False)
    with pytest.raises(CheckpointError, match="already holds a search"):
        searcher.fit(train, val)


def test_a_folder_with_another_runs_metrics_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"precious": true}\n')
    searcher, train, val = build(str(tmp_path))
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        searcher.fit(train, val)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"precious": true}\n'


class StopAfter(Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs, self.seen = epochs, 0

    def on_epoch_end(self, searcher: Searcher, record: dict[str, Any]) -> None:
        self.seen += 1
        if self.seen == self.epochs:
            searcher.request_stop()


def test_a_callback_can_stop_the_search_early(tmp_path: Path) -> None:
    searcher, train, val = build(str(tmp_path), callbacks=[StopAfter(4)])
    result = searcher.fit(train, val)
    assert result.stopped_early
    assert len(result.history) == 4
    assert len(result.stages) == 1


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_fit_start(self, searcher: Searcher) -> None:
        self.events.append("fit_start")

    def on_stage_start(self, searcher: Searcher, index: int, stage: cnas.Stage) -> None:
        self.events.append(f"stage_start {index}")

    def on_stage_end(self, searcher: Searcher, result: StageResult) -> None:
        self.events.append(f"stage_end {result.index}")
        if result.index == 0:  # cut the curriculum short: jump to the full space
            old = searcher.schedule
            searcher.schedule = cnas.CurriculumSchedule(
                [old.stages[0], cnas.Stage(4, 2, 0, 1)], old.op_order
            )

    def on_fit_end(self, searcher: Searcher, result: Any) -> None:
        self.events.append("fit_end")


def test_callbacks_see_stage_boundaries_and_may_change_the_schedule(tmp_path: Path) -> None:
    recorder = Recorder()
    searcher, train, val = build(str(tmp_path), callbacks=[recorder])
    result = searcher.fit(train, val)
    assert recorder.events == [
        "fit_start",
        "stage_start 0",
        "stage_end 0",
        "stage_start 1",
        "stage_end 1",
        "fit_end",
    ]
    assert [s.n_ops for s in result.stages] == [1, 4]
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert len(saved["schedule"]["stages"]) == 2  # the new schedule is what resumes


def test_the_schedule_may_not_rewrite_stages_already_run(tmp_path: Path) -> None:
    searcher, train, val = build(str(tmp_path), callbacks=[StopAfter(3)])
    searcher.fit(train, val)
    with pytest.raises(ValueError, match="keep the 1 stage"):
        searcher.schedule = cnas.CurriculumSchedule(
            [cnas.Stage(2, 2, 1, 1)], searcher.schedule.op_order
        )


def test_searcher_checks_its_parts() -> None:
    space = cnas.SearchSpace()
    with pytest.raises(ValueError, match="differs from the controller's"):
        Searcher(
            cnas.SuperNet(space, C=4, layers=3),
            cnas.CurriculumSchedule.fixed(space),
            "unused",
            strategy=cnas.search.Reinforce(cnas.Controller(space.restrict(n_ops=2))),
        )
    with pytest.raises(ValueError, match="op_order must be a permutation of the space's ops"):
        Searcher(
            cnas.SuperNet(space.restrict(n_ops=2), C=4, layers=3),
            cnas.CurriculumSchedule.fixed(space),
            "unused",
        )
    with pytest.raises(TypeError, match="supernet must be a cnas.SuperNet"):
        Searcher("net", cnas.CurriculumSchedule.fixed(space), "unused")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule must be a cnas.CurriculumSchedule"):
        Searcher(cnas.SuperNet(space, C=4, layers=3), "ops", "unused")  # type: ignore[arg-type]


def _run_script(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "tiny_search.py"), str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_distributed_search_on_two_processes_agrees_on_everything(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPTS / "tiny_search.py"),
            str(tmp_path / "run"),
            "--rank-file-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0["genotype"] is not None
    assert rank0 == rank1  # same genotype and bit-identical supernet weights
    assert cnas.Genotype.load(tmp_path / "run" / "genotype.json") == cnas.Genotype.from_dict(
        rank0["genotype"]
    )
