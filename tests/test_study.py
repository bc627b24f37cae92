"""cnas study: plans and their refusals, the statistics, the folder rules, and the smoke
preset end to end, killed and resumed, with every number of its report checked against
the runs' own outputs."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cnas.cli import build_parser, main
from cnas.search import SearchConfig
from cnas.study import (
    Study,
    StudyPlan,
    StudyPlanError,
    StudyRunError,
    kendall_tau,
    mean_std,
    permutation_test,
    relative_improvement,
)
from cnas.training import TrainConfig


def smoke(**changes: Any) -> StudyPlan:
    return StudyPlan.preset("smoke", **changes)


def cnas(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command line in this process: its exit status and standard error."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


# -- plans ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"arms": ["cnas/ops", "nope/fixed"]}, "arms[1]: unknown strategy 'nope'"),
        ({"arms": ["cnas/ops", "cnas/sideways"]}, "arms[1]: unknown curriculum 'sideways'"),
        ({"arms": ["cnas"]}, "arms[0]: expected 'strategy/curriculum'"),
        ({"arms": ["cnas/ops", "cnas/ops"]}, "arms[1]: the arm cnas/ops is given twice"),
        (
            {"arms": [{"strategy": "cnas", "curriculum": "ops", "settings": {"hiden_size": 3}}]},
            "arms[0].settings.hiden_size: not a setting of strategy 'cnas'",
        ),
        (
            {"arms": [{"strategy": "cnas", "curriculum": "ops", "settings": {"hidden_size": "x"}}]},
            "arms[0].settings.hidden_size: expected int",
        ),
        ({"dataset": "mnist"}, "dataset: unknown dataset 'mnist'"),
        ({"test_portion": 1.5}, "test_portion: must be between 0 and 1"),
        ({"search_seeds": []}, "search_seeds: give at least one seed"),
        ({"search_seeds": [0, 0]}, "search_seeds: a seed is given twice"),
        ({"train_seeds": "0"}, "train_seeds: expected a list"),
        ({"random_archs": -1}, "random_archs: must be at least 0"),
        ({"baseline": "darts/ops"}, "baseline: 'darts/ops' is not one of the arms"),
        ({"search": {"epochs": 3, "epoch": 2}}, "search.epoch: not a search setting"),
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer"),
        ({"train": {"train_portion": 1.0}}, "train.train_portion: expected a finite number > 0"),
        ({"search": {"epochs": 3, "lr": -1}}, "search.lr: expected a finite number > 0"),
        ({"search": {"epochs": 3, "optimizer.momentum": "x"}}, "search.optimizer.momentum"),
        ({"search": {"warmup_epochs": 3}}, "search.epochs: missing"),
        (
            {"search": {"epochs": 3, "ops": ["sep_conv_3x3", "warp_9x9"]}},
            "search.ops: unknown op 'warp_9x9'",
        ),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(StudyPlanError) as info:
        smoke(**change)
    assert str(info.value).startswith(field), str(info.value)


def test_a_budget_that_cannot_be_equal_across_arms_is_refused() -> None:
    # the ops curriculum has 3 stages over the smoke space, the fixed one 1: 4 epochs
    # cannot be split equally over the ops arm's stages
    search = {**smoke().search, "epochs": 4}
    with pytest.raises(
        StudyPlanError,
        match=r"^search\.epochs: 4 epochs do not split equally "
        r"over the 3 stages of cnas/ops.*multiple of 3",
    ):
        smoke(search=search)
    search = {**smoke().search, "warmup_epochs": 2}
    with pytest.raises(StudyPlanError, match=r"^search\.warmup_epochs: 2 epochs"):
        smoke(search=search)


def test_every_arm_trains_the_supernet_for_the_same_epochs() -> None:
    plan = StudyPlan.preset("digits")
    totals = set()
    for arm in plan.arms:
        warmup, epochs = plan.stage_epochs(arm)
        totals.add((warmup * plan.stages(arm), epochs * plan.stages(arm)))
    assert totals == {(plan.search["warmup_epochs"], plan.search["epochs"])}


def test_a_plan_file_round_trips_and_bad_files_get_one_line(tmp_path: Path) -> None:
    plan = smoke()
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    assert StudyPlan.from_file(path) == plan
    path.write_text("{not json")
    with pytest.raises(StudyPlanError, match="is not valid JSON"):
        StudyPlan.from_file(path)
    with pytest.raises(FileNotFoundError, match="no such study plan"):
        StudyPlan.from_file(tmp_path / "missing.json")
    path.write_text(json.dumps({"arms": ["cnas/ops"], "search": {"epochs": 8}, "seeds": [1]}))
    with pytest.raises(StudyPlanError, match="seeds: not a study plan field"):
        StudyPlan.from_file(path)


def test_the_cli_refuses_a_bad_plan_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = {**smoke().to_dict(), "arms": ["cnas/ops", "gdas/spiral"]}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code, err = cnas("study", str(path), "-o", str(tmp_path / "study"), capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "arms[1]: unknown curriculum 'spiral'" in lines[0]
    assert not (tmp_path / "study").exists()
    code, err = cnas("study", "-o", str(tmp_path / "study"), capsys=capsys)
    assert code == 2 and "give a study plan" in err
    code, err = cnas("study", "--preset", "huge", "-o", str(tmp_path / "study"), capsys=capsys)
    assert code == 2 and "unknown preset 'huge'; known: digits, quick, smoke" in err
    code, err = cnas("study", "--preset", "smoke", "--jobs", "0", capsys=capsys)
    assert code == 2 and "--jobs: expected a positive integer, got 0" in err


def test_every_run_is_a_configuration_file_its_command_reads(tmp_path: Path) -> None:
    plan = StudyPlan.preset("digits")
    study = Study(plan, tmp_path / "study")
    kinds = [r.kind for r in study.runs]
    searches = len(plan.arms) * len(plan.search_seeds)
    trained = (searches + plan.random_archs) * len(plan.train_seeds)
    assert kinds.count("search") == searches
    assert kinds.count("train") == trained
    assert kinds.count("score") == searches
    study.prepare()
    parser = build_parser()
    for run in study.runs:
        assert all(d in {r.id for r in study.runs[: run.index]} for d in run.depends)
        file = study.folder / run.config
        if run.kind == "score":
            assert run.command == f"cnas study -o . --resume --run-index {run.index}"
            continue
        config = (SearchConfig if run.kind == "search" else TrainConfig).load(file)
        assert config.data is not None and config.data.hold_out_test
        assert config.data.test_seed == plan.test_seed
        argv = run.command.split()  # what a cluster job types, in the study folder
        assert argv[:4] == ["cnas", run.kind, "--config", run.config], run.command
        args = parser.parse_args(argv[1:])  # exits (fails) on a bad flag
        assert args.output == run.output
    searched = SearchConfig.load(study.folder / study.runs[0].config)
    assert searched.curriculum.epochs_per_stage * plan.stages(plan.arms[0]) == plan.search["epochs"]
    assert searched.optimizer.batch_size == plan.search["batch_size"]


def test_a_cifar10_plan_points_every_run_at_the_data_folder(tmp_path: Path) -> None:
    plan = StudyPlan.preset("digits", dataset="cifar10", data="/data/c10")
    study = Study(plan, tmp_path / "study")
    study.prepare()
    for run in study.runs:
        if run.kind == "score":
            continue
        config = (SearchConfig if run.kind == "search" else TrainConfig).load(
            study.folder / run.config
        )
        assert config.data is not None
        assert config.data.root == "/data/c10" and not config.data.download, run.config


def test_the_slurm_example_matches_the_digits_preset_runs() -> None:
    script = (Path(__file__).parents[1] / "examples" / "slurm_study.sh").read_text()
    runs = Study(StudyPlan.preset("digits"), "unused").runs

    def span(kind: str) -> str:
        indices = [r.index for r in runs if r.kind == kind]
        return f"{indices[0]}-{indices[-1]}"

    assert f"--array={span('search')} " in script
    assert f"--array={span('train')} " in script
    assert f"--array={span('score')} " in script
    first_random = next(r.index for r in runs if r.kind == "train")
    last_random = max(r.index for r in runs if r.kind == "train" and r.arm == "random")
    assert f"{first_random}-{last_random} need no search" in script
    docs = (Path(__file__).parents[1] / "docs" / "study.md").read_text()
    for kind in ("search", "train", "score"):
        assert f"--array={span(kind)} " in docs


# -- statistics ----------------------------------------------------------------------------


def _tau_by_hand(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b, written out from its definition."""
    pairs = list(itertools.combinations(range(len(x)), 2))
    s = sum(((x[i] > x[j]) - (x[i] < x[j])) * ((y[i] > y[j]) - (y[i] < y[j])) for i, j in pairs)
    n0 = len(pairs)
    ties_x = sum(x[i] == x[j] for i, j in pairs)
    ties_y = sum(y[i] == y[j] for i, j in pairs)
    return s / math.sqrt((n0 - ties_x) * (n0 - ties_y))


def test_kendall_tau() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # one swapped pair of 6 -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    x, y = [1, 1, 2, 3, 5, 5], [2, 1, 1, 4, 3, 6]
    assert kendall_tau(x, y) == pytest.approx(_tau_by_hand(x, y))
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="paired"):
        kendall_tau([1, 2], [1])


def test_permutation_test_and_relative_improvement() -> None:
    # 6 relabelings of {1, 2, 3, 4} into two pairs; 2 are as extreme as {1, 2} | {3, 4}
    assert permutation_test([1, 2], [3, 4]) == pytest.approx(2 / 6)
    assert permutation_test([1.0, 1.0], [1.0, 1.0]) == 1.0
    # C(30, 15) relabelings: sampled, and a clear difference is detected
    p = permutation_test([0.9 + 0.001 * i for i in range(15)], [0.5 + 0.001 * i for i in range(15)])
    assert p == pytest.approx(1 / 20_001)
    assert relative_improvement(0.55, 0.5) == pytest.approx(10.0)
    assert mean_std([1.0, 3.0]) == (2.0, statistics.stdev([1.0, 3.0]))


# -- the folder ----------------------------------------------------------------------------


def test_a_folder_with_another_plan_or_other_contents_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "study"
    Study(smoke(), folder).prepare()
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(StudyPlanError, match=r"holds another study .*random_archs"):
        Study(smoke(random_archs=3), folder).prepare(resume=True)
    with pytest.raises(StudyPlanError, match="holds this study already; pass --resume"):
        Study(smoke(), folder).prepare()
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    Study(smoke(), folder).prepare(resume=True)  # the documented way on
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(StudyPlanError, match="folder with other contents"):
        Study(smoke(), other).prepare()
    code, _ = cnas(
        "study", "--preset", "smoke", "-o", str(folder), "--random-archs", "3", capsys=capsys
    )
    assert code == 2  # not a flag: the plan is the file's or the preset's
    code, err = cnas("study", "--preset", "smoke", "-o", str(folder), capsys=capsys)
    assert code == 2 and "pass --resume" in err


def test_a_run_whose_inputs_are_missing_is_refused(tmp_path: Path) -> None:
    study = Study(smoke(), tmp_path / "study")
    train = next(r for r in study.runs if r.depends)
    with pytest.raises(StudyPlanError, match=rf"run {train.index} \({train.id}\) needs search/"):
        study.run_one(train.index)
    with pytest.raises(StudyPlanError, match="--run-index 999: the study has runs 0 to"):
        study.run_one(999)


def test_the_cluster_path_runs_each_run_by_index_then_reports(tmp_path: Path) -> None:
    # what a job array does: --prepare, then --run-index I for every run, then --report
    plan = smoke(arms=["random/fixed"], search_seeds=[0], random_archs=1)
    study = Study(plan, tmp_path / "study")
    study.prepare()
    for run in study.runs:
        assert study.run_one(run.index, threads=1) == 0, run.id
        assert study.is_done(run)
    assert study.run_one(0) == 0  # finished: skipped
    results = study.finish()
    assert results["complete"]
    assert [g["arm"] for g in results["genotypes"]] == ["random", "random/fixed"]
    assert (tmp_path / "study" / "report.md").is_file()


def test_a_failed_run_stops_the_study_and_names_its_log(tmp_path: Path) -> None:
    plan = smoke(arms=["random/fixed"], search_seeds=[0], random_archs=1)
    study = Study(plan, tmp_path / "study")
    study.prepare()
    # something else already holds the random architecture's training folder
    foreign = tmp_path / "study" / "train" / "random-r00-t0"
    foreign.mkdir(parents=True)
    (foreign / "config.json").write_text('{"run": {"kind": "search"}}')
    with pytest.raises(
        StudyRunError,
        match=r"run 1 \(train/random-r00-t0\) failed with exit "
        r"status 1: error: .*holds a search run.*logs/train--random-r00-t0\.log",
    ):
        study.run(resume=True, jobs=2)
    assert study.is_done(study.runs[0])  # the search that ran beside it finished
    assert not study.is_done(study.runs[1])
    assert (foreign / "config.json").read_text() == '{"run": {"kind": "search"}}'


# -- end to end ----------------------------------------------------------------------------


def _done(folder: Path) -> int:
    study = Study(smoke(), folder)
    return sum(study.is_done(r) for r in study.runs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The smoke study, killed (SIGKILL to its process group) while runs are in flight,
    then resumed to the end."""
    folder = tmp_path_factory.mktemp("study") / "smoke"
    argv = [sys.executable, "-m", "cnas", "study", "--preset", "smoke", "-o", str(folder)]
    process = subprocess.Popen(
        [*argv, "--jobs", "2", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while _done(folder) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the folder for progress, not timing the test
    assert process.poll() is None, "the study ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    study = Study(smoke(), folder)
    before = {r.id: _stamp(folder, r) for r in study.runs if study.is_done(r)}
    assert 5 <= len(before) < len(study.runs)
    with pytest.raises(StudyPlanError, match="pass --resume"):
        study.prepare()
    resumed = subprocess.run(
        [*argv, "--resume", "--jobs", "2", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"folder": folder, "before": before, "log": resumed.stderr, "study": study}


def _stamp(folder: Path, run: Any) -> float:
    path = folder / run.output
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return max(p.stat().st_mtime_ns for p in files)


@pytest.mark.slow
def test_a_killed_study_resumes_skipping_finished_runs(finished: dict[str, Any]) -> None:
    folder, study = finished["folder"], finished["study"]
    assert all(study.is_done(r) for r in study.runs)
    for run_id, stamp in finished["before"].items():
        run = next(r for r in study.runs if r.id == run_id)
        assert _stamp(folder, run) == stamp, f"{run_id} ran again"
    assert (
        f"{len(finished['before'])} of {len(study.runs)} runs finished already" in finished["log"]
    )
    record = json.loads((folder / "study.json").read_text())
    assert record["results"]["complete"]
    assert [c["command"] for c in record["commands"]] == [r.command for r in study.runs]
    env = record["environment"]
    assert env["torch"] and env["jobs"] == 2 and env["threads_per_job"] >= 1


def _mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


@pytest.mark.slow
def test_the_report_holds_only_numbers_the_runs_produced(finished: dict[str, Any]) -> None:
    folder, study = finished["folder"], finished["study"]
    plan = study.plan
    # what the runs wrote, read here independently of cnas.study
    test: dict[str, list[float]] = {}
    params: dict[str, list[int]] = {}
    for run in study.runs:
        if run.kind == "train":
            record = json.loads((folder / run.id / "test.json").read_text())
            arch = json.loads((folder / run.config).read_text())["genotype"]
            test.setdefault(arch, []).append(record["top1"])
            params[arch] = [record["params"]]
    per_arm: dict[str, list[float]] = {}
    images: dict[str, set[int]] = {}
    for run in study.runs:
        if run.kind == "search":
            genotype = f"{run.id}/genotype.json"
            per_arm.setdefault(run.arm, []).append(sum(test[genotype]) / len(test[genotype]))
            lines = (folder / run.id / "metrics.jsonl").read_text().splitlines()
            records = [json.loads(line) for line in lines]
            images.setdefault(run.arm, set()).add(
                sum(r["images"] for r in records if r["phase"] != "controller")
            )
    randoms = [sum(v) / len(v) for k, v in test.items() if k.startswith("random/")]
    report = (folder / "report.md").read_text()
    assert "A smoke study: its numbers mean nothing." in report
    rows = {
        line.split("|")[1].strip().removesuffix(" (baseline)"): [
            c.strip() for c in line.split("|")[2:-1]
        ]
        for line in report.splitlines()
        if line.startswith("| ") and " ± " in line and not line.startswith("| arm |")
    }
    assert set(rows) == {*(a.label for a in plan.arms), "random architectures"}
    random_mean = sum(randoms) / len(randoms)
    for label, values in [*per_arm.items(), ("random architectures", randoms)]:
        cells = rows[label]
        assert "0.000" not in cells[2]  # hours that would round to zero are in seconds
        mean, std = _mean_std(values)
        assert cells[3] == f"{100 * mean:.2f} ± {100 * std:.2f} ({len(values)})"
        assert cells[4] == f"{100 * (mean - random_mean) / random_mean:+.2f}"
        if label in images:
            assert cells[1] == ", ".join(f"{i:,}" for i in sorted(images[label]))
    # the same budget for every arm, from the searches' own metrics
    assert len({i for s in images.values() for i in s}) == 1
    # Kendall's tau: from the scoring runs' files and the trainings' test.json
    taus = []
    for run in study.runs:
        if run.kind == "score":
            scores = json.loads((folder / f"{run.id}.json").read_text())["scores"]
            x = [s["val_accuracy"] for s in scores]
            y = [sum(test[s["genotype"]]) / len(test[s["genotype"]]) for s in scores]
            taus.append(_tau_by_hand(x, y))
            own = next(
                s
                for s in scores
                if s["genotype"] == f"{run.id.replace('score', 'search')}/genotype.json"
            )
            stages = plan.stages(next(a for a in plan.arms if a.label == run.arm))
            result = json.loads(
                (
                    folder
                    / run.id.replace("score", "search")
                    / "stages"
                    / f"stage-{stages}"
                    / "result.json"
                ).read_text()
            )
            assert own["val_accuracy"] == pytest.approx(result["val_accuracy"])
    assert f"| all supernets | {sum(taus) / len(taus):+.3f} |" in report
    assert (folder / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    if shutil.which("dot"):
        for arm in plan.arms:
            assert f"![{arm.label}](cells/{arm.slug}.svg)" in report
            assert (folder / "cells" / f"{arm.slug}.svg").is_file()


@pytest.mark.slow
def test_without_matplotlib_the_report_says_how_to_get_the_figure(
    finished: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    study = finished["study"]
    (finished["folder"] / "accuracy.png").unlink()
    study.finish()
    report = (finished["folder"] / "report.md").read_text()
    assert 'pip install "cnas[plot]"' in report
    assert "| cnas/ops |" in report  # the tables stay


_FORK_AFTER_PARALLEL_WORK = """
import os, signal, sys, torch
from cnas.study._processes import release_openmp
torch.set_num_threads(2)
images = torch.randint(0, 255, (20000, 3, 32, 32), dtype=torch.uint8)
order = torch.randperm(20000)
images[order]  # a parallel region: the parent's OpenMP pool now has a second thread
if sys.argv[1] == "release":
    assert release_openmp()
pid = os.fork()
if pid == 0:
    signal.alarm(5)  # a hung child ends itself
    torch.set_num_threads(2)
    images[order]
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child", "finished" if os.WIFEXITED(status) else "hung")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs are forked on Linux")
def test_a_run_forked_after_parallel_work_does_not_hang() -> None:
    # found by the image-folder study test: GNU OpenMP is not fork-safe, and a study
    # forked from a process that had run a parallel region hung in its first run
    def child(mode: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", _FORK_AFTER_PARALLEL_WORK, mode],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.strip()

    assert child("release") == "child finished"
    assert child("keep") == "child hung"  # what a fork without the release does


_FORK_AFTER_COMPILED_BACKWARD = """
import sys, torch
from cnas.study._processes import fork_can_train
assert fork_can_train()
if sys.argv[1] == "compiled":
    f = torch.compile(lambda a: (a * 2).sum(), backend="aot_eager")
    f(torch.ones(2, requires_grad=True)).backward()
print(fork_can_train(), fork_can_train())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs are forked on Linux")
def test_runs_start_as_new_processes_once_a_fork_could_not_train() -> None:
    # found when the cluster-path test ran after the export tests: once the process had
    # run a compiled backward, every forked run failed in its first backward
    def probe(mode: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", _FORK_AFTER_COMPILED_BACKWARD, mode],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.strip()

    assert probe("plain") == "True True"
    assert probe("compiled") == "False False"
