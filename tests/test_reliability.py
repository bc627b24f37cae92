"""Reliability, round 3 (issue 26): cnas never writes outside a run or over a user's
files, bounds every input before expanding it, refuses empty data, and turns every
network failure of the Hub into its one documented error, in bounded time. One test (or
a few) per defect, each failing before its fix."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import cnas
from cnas.cli import main
from cnas.errors import CheckpointError

sys.path.insert(0, str(Path(__file__).with_name("scripts")))
import hostile_hub

TINY_TRAIN = [
    *("--dataset", "digits", "--init-channels", "4", "--layers", "3", "--epochs", "1"),
    *("--max-steps", "1", "--no-progress", "--no-tensorboard"),
]
TINY_SEARCH = [
    *("--dataset", "digits", "--ops", "sep_conv_3x3,skip_connect", "--nodes", "2"),
    *("--init-channels", "4", "--layers", "3", "--warmup-epochs", "0", "--epochs-per-stage"),
    *("1", "--steps-per-epoch", "1", "--derive-batches", "1", "--stages", "1"),
    *("--no-progress", "--no-tensorboard", "--no-draw"),
]


def _cnas(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# -- 1. a folder that is not a run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "files"),
    [
        ("train", {"README.md": "# my project\n", "config.json": '{"mine": true}'}),
        ("search", {"config.json": '{"model_type": "bert"}', "report.md": "mine\n"}),
        ("search", {"genotype.json": "{}"}),
    ],
    ids=["git-folder", "hf-folder", "a-genotype"],
)
def test_a_run_never_starts_in_a_folder_of_other_files(
    command: str, files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "theirs"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    before = _snapshot(out)
    argv = TINY_TRAIN if command == "train" else TINY_SEARCH
    code, err = _cnas(command, *argv, "-o", str(out), capsys=capsys)
    assert code == 2
    assert "is not empty and holds no cnas" in err and sorted(files)[0] in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(out) == before


def test_a_saved_model_folder_is_not_a_training_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = cnas.NetworkCIFAR(4, 10, 3, False, "CNAS", in_channels=1)
    folder = cnas.models.save_pretrained(net, tmp_path / "model", dataset="digits")
    before = _snapshot(folder)
    code, err = _cnas("train", *TINY_TRAIN, "-o", str(folder), capsys=capsys)
    assert code == 2 and "holds no cnas training run" in err
    assert _snapshot(folder) == before


def test_an_empty_folder_and_a_run_of_its_own_are_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert _cnas("train", *TINY_TRAIN, "-o", str(tmp_path / "empty"), capsys=capsys)[0] == 0
    # a run that stopped before its first checkpoint holds config.json only: it starts again
    (tmp_path / "empty" / "last.pt").unlink()
    (tmp_path / "empty" / "metrics.jsonl").unlink()
    assert _cnas("train", *TINY_TRAIN, "-o", str(tmp_path / "empty"), capsys=capsys)[0] == 0


# -- 2. symbolic links in a run or study folder ---------------------------------------------


@pytest.mark.parametrize(
    "link",
    [".lock", "metrics.jsonl", "stages", "tensorboard", "config.json"],
)
def test_a_link_in_a_run_folder_is_refused_and_nothing_outside_is_written(
    link: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, outside = tmp_path / "run", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "precious.txt").write_text("do not touch\n")
    target = outside if link in ("stages", "tensorboard") else outside / "precious.txt"
    (out / link).symlink_to(target)
    (out / "config.json" if link != "config.json" else out / "x").write_text(
        json.dumps({"run": {"kind": "search"}})
    )
    before = _snapshot(outside)
    code, err = _cnas("search", *TINY_SEARCH, "-o", str(out), capsys=capsys)
    assert code == 2 and "is a symbolic link" in err
    assert _snapshot(outside) == before and sorted(p.name for p in outside.iterdir()) == [
        "precious.txt"
    ]


def test_a_dangling_metrics_link_is_not_followed(tmp_path: Path) -> None:
    from cnas._run import RunFolder

    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").symlink_to(tmp_path / "created-outside.jsonl")
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        RunFolder(out, "training").prepare({}, resume=True)
    assert not (tmp_path / "created-outside.jsonl").exists()


def test_a_link_in_a_study_folder_is_refused(tmp_path: Path) -> None:
    from cnas.study import Study, StudyPlan, StudyPlanError

    plan = StudyPlan.preset("smoke", arms=["random/fixed"], search_seeds=[0], random_archs=1)
    study = Study(plan, tmp_path / "study")
    study.prepare()
    (tmp_path / "elsewhere.log").write_text("")
    (tmp_path / "study" / "logs").mkdir()
    (tmp_path / "study" / "logs" / "search--random-fixed-s0.log").symlink_to(
        tmp_path / "elsewhere.log"
    )
    with pytest.raises(StudyPlanError, match="is a symbolic link"):
        study.run(resume=True)
    assert (tmp_path / "elsewhere.log").read_text() == ""


# -- 4. the start-up cleanup keeps to the run's own temporaries ----------------------------------


def test_the_cleanup_removes_only_the_runs_own_temporaries(tmp_path: Path) -> None:
    from cnas._run import RunFolder

    out = tmp_path / "P"
    folder = RunFolder(out, "training")
    folder.prepare({}, resume=False)
    folder.release()
    own = out / ".last.pt.k3j9x_2a.tmp"
    own.write_bytes(b"half a checkpoint")
    users = out / ".notes.2024_v01.tmp"  # the shape of a temporary, but not of cnas's files
    users.write_text("mine")
    other_run = out / "a"  # a training running in a sub-folder
    other_run.mkdir()
    theirs = other_run / ".best.pt.abcdefgh.tmp"
    theirs.write_bytes(b"being written")
    again = RunFolder(out, "training")
    again.prepare({}, resume=True)
    again.release()
    assert not own.exists()
    assert users.read_text() == "mine" and theirs.read_bytes() == b"being written"


# -- 7. every network failure is one error, in bounded time ------------------------------------

STALL_SECONDS = 3.0


@pytest.fixture
def hub_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Short transfer limits, no offline mode, and a cache of this test's own."""
    from huggingface_hub import constants

    monkeypatch.setenv("CNAS_HUB_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("CNAS_HUB_READ_TIMEOUT", "1")
    monkeypatch.setenv("CNAS_HUB_STALL_SECONDS", str(STALL_SECONDS))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return tmp_path / "hub-cache"


@pytest.mark.alone  # a wall-clock bound on the error
@pytest.mark.parametrize("behaviour", hostile_hub.BEHAVIOURS)
def test_a_hostile_hub_gives_one_documented_error_in_bounded_time(
    behaviour: str, hub_limits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnas.errors import WeightsNotFoundError

    server = hostile_hub.HostileHub(behaviour)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    start = time.monotonic()
    try:
        with pytest.raises(WeightsNotFoundError) as info:
            cnas.models.from_pretrained("hf-hub:me/tiny", cache_dir=hub_limits)
    finally:
        server.stop()
    elapsed = time.monotonic() - start
    assert "\n" not in str(info.value) and "me/tiny" in str(info.value)
    assert elapsed < STALL_SECONDS + 5, f"{behaviour}: {elapsed:.1f} s"
    assert not list(hub_limits.rglob("config.json"))


@pytest.mark.alone  # a wall-clock bound on the error
@pytest.mark.parametrize("behaviour", ["silent", "trickle", "truncated", "not-http"])
def test_a_hostile_release_url_gives_one_documented_error_in_bounded_time(
    behaviour: str, hub_limits: Path, tmp_path: Path
) -> None:
    from cnas.errors import WeightsNotFoundError
    from cnas.models import UrlSource
    from cnas.models._download import url_download

    server = hostile_hub.HostileHub(behaviour)
    source = UrlSource(f"{server.endpoint}/weights-{'ab' * 4}.pth")
    start = time.monotonic()
    try:
        with pytest.raises(WeightsNotFoundError, match="could not download"):
            url_download(source, cache_dir=tmp_path / "torch-cache", progress=False)
    finally:
        server.stop()
    assert time.monotonic() - start < STALL_SECONDS + 5
    assert not (tmp_path / "torch-cache" / source.filename).exists()


def test_transfer_limits_are_settings_with_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnas.models._transfer import TransferLimits

    assert TransferLimits.from_environment() == TransferLimits()
    monkeypatch.setenv("CNAS_HUB_STALL_SECONDS", "2.5")
    monkeypatch.setenv("CNAS_HUB_MIN_RATE", "0")
    assert TransferLimits.from_environment() == TransferLimits(stall=2.5, min_rate=0.0)
    for bad in ("0", "-1", "nan", "soon"):
        monkeypatch.setenv("CNAS_HUB_READ_TIMEOUT", bad)
        with pytest.raises(ValueError, match="CNAS_HUB_READ_TIMEOUT must be a positive number"):
            TransferLimits.from_environment()


# -- 3. an hf-hub: revision cannot escape the cache --------------------------------------------


@pytest.mark.parametrize(
    "revision",
    ["../../../../tmp/x", "main/../../x", "a//b", "./x", "-rf", "a\\b", "ma in", "x\n", "a.lock"],
)
def test_a_revision_that_could_leave_the_cache_is_refused_before_any_request(
    revision: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnas.models import HubSource, _download

    def no_request(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request was made")

    monkeypatch.setattr(_download, "transfer", no_request)
    with pytest.raises(ValueError, match="is not a revision"):
        cnas.models.from_pretrained(f"hf-hub:org/name@{revision}")
    with pytest.raises(ValueError, match="is not a revision"):
        _download.hub_download("org/name", "config.json", revision=revision)
    with pytest.raises(ValueError, match="is not a revision"):
        HubSource("org/name", revision=revision)


@pytest.mark.parametrize(
    "revision", ["main", "v1.0", "refs/pr/1", "0123456789abcdef" * 2 + "01234567"]
)
def test_revisions_a_hub_has_are_taken(revision: str) -> None:
    from cnas.models._loading import parse_hf_hub

    assert parse_hf_hub(f"hf-hub:org/name@{revision}") == ("org/name", revision)


# -- 5. bounds before expansion ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"random_archs": 10**12}, "random_archs: at most 10,000"),
        ({"search_seeds": list(range(5000))}, "search_seeds: at most 1,000 seeds"),
        ({"arms": [f"random/{c}" for c in ("ops", "nodes", "fixed")] * 50}, "at most 100 arms"),
        (
            {"search_seeds": list(range(1000)), "train_seeds": list(range(1000))},
            "a study holds at most 100,000",
        ),
    ],
    ids=["random-archs", "seeds", "arms", "runs"],
)
def test_a_plan_too_large_is_refused_before_it_is_expanded(
    change: dict[str, Any], message: str
) -> None:
    from cnas.study import StudyPlan, StudyPlanError

    start = time.monotonic()
    data = {**StudyPlan.preset("smoke").to_dict(), **change}
    with pytest.raises(StudyPlanError, match=message):
        StudyPlan.from_dict(data)
    assert time.monotonic() - start < 5


def test_a_studys_files_grow_linearly_with_its_runs(tmp_path: Path) -> None:
    from cnas.study import Study, StudyPlan

    sizes = []
    for random_archs in (2, 200):
        plan = StudyPlan.preset("smoke", arms=["random/fixed"], random_archs=random_archs)
        study = Study(plan, tmp_path / f"r{random_archs}")
        study.prepare()
        scorings = list((study.folder / "configs" / "score").glob("*.json"))
        sizes.append((max(p.stat().st_size for p in scorings), len(study.runs)))
    (small, small_runs), (large, large_runs) = sizes
    assert large_runs > 20 * small_runs
    assert large == small  # a scoring's file does not list the genotypes it scores


def test_a_latency_table_with_a_huge_node_count_is_refused_at_once() -> None:
    from cnas.costs import LatencyTable
    from cnas.costs._latency import FORMAT, VERSION

    start = time.monotonic()
    with pytest.raises(ValueError, match="n_nodes must be an integer in 1..32"):
        LatencyTable.from_dict(
            {"format": FORMAT, "version": VERSION, "n_nodes": 10**9, "ops": ["skip_connect"]}
        )
    assert time.monotonic() - start < 2


def test_a_curriculum_with_a_huge_epoch_count_is_refused_at_once() -> None:
    # A search plans a stage's steps before running them: 10**9 epochs used to fill
    # memory (found by the search-checkpoint fuzz test, which edits the saved schedule).
    from cnas.errors import ConfigError
    from cnas.search import SearchConfig

    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], n_nodes=2)
    start = time.monotonic()
    with pytest.raises(ValueError, match="epochs must be at most 100,000"):
        cnas.CurriculumSchedule.fixed(space, warmup_epochs=1, epochs=10**9)
    with pytest.raises(ValueError, match="warmup_epochs must be at most 100,000"):
        cnas.CurriculumSchedule.from_dict(
            {
                "format": "cnas.curriculum",
                "version": 1,
                "op_order": list(space.ops),
                "stages": [{"n_ops": 2, "n_nodes": 2, "warmup_epochs": 10**12, "epochs": 1}],
            }
        )
    with pytest.raises(ConfigError, match="epochs_per_stage"):
        SearchConfig().replace(**{"curriculum.epochs_per_stage": 10**9})
    assert time.monotonic() - start < 2


def test_a_checkpoint_with_a_huge_stage_is_refused_without_planning_it(tmp_path: Path) -> None:
    from cnas.search._checkpoint import checkpoint, restore
    from cnas.search._position import stage_length, stage_plan

    searcher = _tiny_searcher(tmp_path / "run")
    stage = searcher.loop.schedule.stages[0]
    assert stage_length(searcher.strategy, stage) == len(stage_plan(searcher.strategy, stage))
    state = checkpoint(
        searcher._identity(),
        searcher._settings(),
        searcher.loop,
        searcher.engine,
        searcher.strategy,
        searcher.callbacks,
    )
    state["schedule"]["stages"][0]["epochs"] = 10**9
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="epochs must be at most 100,000"):
        restore(
            state,
            tmp_path / "checkpoint.pt",
            identity=searcher._identity(),
            settings=searcher._settings(),
            space=searcher.supernet.space,
            engine=searcher.engine,
            strategy=searcher.strategy,
            callbacks=searcher.callbacks,
        )
    assert time.monotonic() - start < 2


# -- 6. empty data -------------------------------------------------------------------------


def _tiny_searcher(out: Path) -> Any:
    from cnas.search import SearchRuntime

    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], n_nodes=2)
    return cnas.Searcher(
        cnas.SuperNet(space, C=4, num_classes=10, layers=3),
        cnas.CurriculumSchedule.fixed(space, warmup_epochs=0, epochs=1),
        out,
        strategy=cnas.search.RandomSearch(num_candidates=2),
        steps_per_epoch=1,
        derive_batches=1,
        runtime=SearchRuntime(device="cpu", progress=False, draw=False, tensorboard=False),
    )


def test_a_search_on_empty_data_is_refused_naming_the_split(tmp_path: Path) -> None:
    import torch

    data = cnas.data.synthetic(num_samples=16, num_classes=10, image_size=8, seed=0)
    empty = torch.utils.data.Subset(data, [])
    with pytest.raises(ValueError, match="training data holds no examples"):
        _tiny_searcher(tmp_path / "a").fit(empty, data)
    with pytest.raises(ValueError, match="validation data holds no examples"):
        _tiny_searcher(tmp_path / "b").fit(data, empty)
    with pytest.raises(TypeError, match="must be a torch Dataset or DataLoader"):
        _tiny_searcher(tmp_path / "c").fit(42, data)  # type: ignore[arg-type]


def test_a_training_on_empty_data_is_refused_naming_the_split(tmp_path: Path) -> None:
    import torch

    from cnas.training import TrainConfig, Trainer

    data = cnas.data.synthetic(num_samples=16, num_classes=4, image_size=8, seed=0)
    empty = torch.utils.data.Subset(data, [])
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
    config = config.replace(runtime={"device": "cpu", "progress": False, "tensorboard": False})
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    with pytest.raises(ValueError, match="validation data holds no examples"):
        Trainer(model, config, tmp_path / "t").fit(data, empty)
    assert not (tmp_path / "t" / "best.pt").exists()


@pytest.mark.parametrize(
    "flags", [["--train-portion", "0.0001"], ["--test-portion", "0.9999"]], ids=["train", "test"]
)
def test_portions_that_leave_a_split_empty_get_one_line(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _cnas("train", *TINY_TRAIN, *flags, "-o", str(tmp_path / "o"), capsys=capsys)
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "no examples" in err or "portion" in err


# -- 9. runs in threads of one process -----------------------------------------------------


def test_a_second_run_in_another_thread_is_refused_while_one_runs(tmp_path: Path) -> None:
    import threading

    from cnas.errors import ConcurrentRunError

    data = cnas.data.synthetic(num_samples=32, num_classes=10, image_size=8, seed=0)
    outcome: list[BaseException | None] = []

    class StartAnother(cnas.search.Callback):
        def on_fit_start(self, searcher: Any) -> None:
            def other() -> None:
                try:
                    _tiny_searcher(tmp_path / "b").fit(data, data)
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=other)
            thread.start()
            thread.join()

    first = _tiny_searcher(tmp_path / "a")
    first.callbacks.append(StartAnother())
    first.fit(data, data)
    (error,) = outcome
    assert isinstance(error, ConcurrentRunError) and isinstance(error, RuntimeError)
    assert str(tmp_path / "a") in str(error) and "sequential" in str(error)
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    # once the first has ended, the same search in a thread of its own runs, and derives
    # what it derives alone
    alone = _tiny_searcher(tmp_path / "c").fit(data, data)
    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(_tiny_searcher(tmp_path / "d").fit(data, data))
    )
    thread.start()
    thread.join()
    assert results[0].genotype == alone.genotype


# -- 10. huge JSON integers ----------------------------------------------------------------

HUGE = "9" * 5000  # past Python's 4,300-digit limit for int("...")


def test_huge_integers_in_library_files_raise_the_documented_errors(tmp_path: Path) -> None:
    from cnas.errors import GenotypeError, WeightsFormatError

    text = json.dumps(cnas.genotypes.CNAS.to_dict()).replace("2", HUGE, 1)
    with pytest.raises(GenotypeError):
        cnas.Genotype.from_json(text)
    (tmp_path / "g.json").write_text(text)
    with pytest.raises(GenotypeError):
        cnas.Genotype.load(tmp_path / "g.json")
    folder = tmp_path / "model"
    cnas.models.save_pretrained(cnas.NetworkCIFAR(4, 10, 3, False, "DARTS_V2"), folder)
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config.replace('"layers": 3', f'"layers": {HUGE}'))
    with pytest.raises(WeightsFormatError):
        cnas.models.from_pretrained(folder)
    with pytest.raises(ValueError, match="cnas.CurriculumSchedule|integer|digits"):
        cnas.CurriculumSchedule.from_json('{"stages": [' + HUGE + "]}")


def _huge(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": ' + HUGE + "}")
    return path


@pytest.mark.parametrize(
    "case",
    [
        "train -o",
        "evaluate",
        "study plan",
        "study --resume",
        "study --report",
        "search --latency-table",
        "derive",
        "train --config",
        "draw",
    ],
)
def test_huge_integers_in_files_the_command_line_reads_give_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = {
        "train -o": lambda: (_huge(run / "config.json"), ["train", *TINY_TRAIN, "-o", str(run)]),
        "evaluate": lambda: (
            _huge(run / "config.json"),
            (run / "model.safetensors").write_bytes(b"x"),
            ["evaluate", "--weights", str(run)],
        ),
        "study plan": lambda: (["study", str(_huge(tmp_path / "plan.json")), "-o", str(run)]),
        "study --resume": lambda: (
            _huge(run / "study.json"),
            ["study", "--preset", "smoke", "--resume", "-o", str(run)],
        ),
        "study --report": lambda: (
            _huge(run / "study.json"),
            ["study", "--report", "-o", str(run)],
        ),
        "search --latency-table": lambda: [
            "search",
            *TINY_SEARCH,
            "--latency-table",
            str(_huge(tmp_path / "table.json")),
            "--max-latency-ms",
            "5",
            "-o",
            str(run),
        ],
        "derive": lambda: (_huge(run / "config.json"), ["derive", str(run)]),
        "train --config": lambda: [
            "train",
            "--config",
            str(_huge(tmp_path / "c.json")),
            "-o",
            str(run),
        ],
        "draw": lambda: ["draw", str(_huge(tmp_path / "g.json"))],
    }[case]()
    args = argv[-1] if isinstance(argv, tuple) else argv
    code, err = _cnas(*args, capsys=capsys)
    assert code != 0, err
    assert "Traceback" not in err, err
    errors = [line for line in err.strip().splitlines() if "error" in line]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err


# -- 11. damaged study outputs -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished study of four runs (a search, its scoring, two trainings)."""
    from cnas.study import Study, StudyPlan

    plan = StudyPlan.preset("smoke", arms=["random/fixed"], search_seeds=[0], random_archs=1)
    study = Study(plan, tmp_path_factory.mktemp("study") / "s")
    study.prepare()
    for run in study.runs:
        assert study.run_one(run.index, threads=1) == 0, run.id
    return study.folder


TEST_JSON = "train/random-r00-t0/test.json"
METRICS = "search/random-fixed-s0/metrics.jsonl"
RESULT = "search/random-fixed-s0/stages/stage-1/result.json"
SCORES = "score/random-fixed-s0.json"


def _edit_json(change: Any) -> Any:
    def edit(path: Path) -> None:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


DAMAGE = {
    "test {}": (TEST_JSON, lambda p: p.write_text("{}")),
    "test top1 abc": (TEST_JSON, _edit_json(lambda d: d.update(top1="abc"))),
    "test top1 NaN": (TEST_JSON, _edit_json(lambda d: d.update(top1=float("nan")))),
    "test top1 5": (TEST_JSON, _edit_json(lambda d: d.update(top1=5))),
    "test huge int": (TEST_JSON, lambda p: p.write_text('{"top1": ' + HUGE + "}")),
    "test not UTF-8": (TEST_JSON, lambda p: p.write_bytes(b'{"top1": "\xff"}')),
    "metrics images many": (
        METRICS,
        lambda p: p.write_text(p.read_text() + '{"images": "many"}\n'),
    ),
    "metrics images 1e999": (
        METRICS,
        lambda p: p.write_text(p.read_text() + '{"images": 1e999}\n'),
    ),
    "metrics time 10**400": (
        METRICS,
        lambda p: p.write_text(p.read_text() + '{"time_s": 1' + "0" * 400 + "}\n"),
    ),
    "metrics not UTF-8": (METRICS, lambda p: p.write_bytes(p.read_bytes() + b"\xff\xfe\n")),
    "result without val_accuracy": (RESULT, _edit_json(lambda d: d.pop("val_accuracy"))),
    "scores [1, 2]": (SCORES, _edit_json(lambda d: d.update(scores=[1, 2]))),
    "scores not a list": (SCORES, _edit_json(lambda d: d.update(scores="all good"))),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_report_over_damaged_outputs_leaves_the_run_out_naming_the_file(
    case: str, small_study: Path, tmp_path: Path
) -> None:
    import shutil

    from cnas.study import Study

    folder = tmp_path / "s"
    shutil.copytree(small_study, folder)
    name, damage = DAMAGE[case]
    damage(folder / name)
    results = Study.open(folder).finish()
    assert not results["complete"]
    (reason,) = results["damaged"].values()
    assert str(folder / name) in reason
    assert "Damaged output, left out" in (folder / "report.md").read_text()


@pytest.mark.parametrize("wall", ['"slow"', "1e999", "-5", "1" + "0" * 400, "true", "null"])
def test_a_damaged_wall_time_in_the_study_record_is_left_blank(
    wall: str, small_study: Path, tmp_path: Path
) -> None:
    import shutil

    from cnas.study import Study

    folder = tmp_path / "s"
    shutil.copytree(small_study, folder)
    record = json.loads((folder / "study.json").read_text())
    record["runs"] = {"train/random-r00-t0": {"wall_s": "__WALL__", "attempts": "__WALL__"}}
    text = json.dumps(record).replace('"__WALL__"', wall)
    (folder / "study.json").write_text(text)
    results = Study.open(folder).finish()
    assert results["complete"]
    assert results["trainings"]["train/random-r00-t0"]["wall_s"] is None


# -- 8. a killed study ends its runs -------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux (pidfd_open)")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM", "SIGHUP"])
def test_a_killed_study_in_subprocess_mode_leaves_no_run_running(sig: str, tmp_path: Path) -> None:
    import select
    import signal
    import subprocess

    env = {**os.environ, "CNAS_STUDY_SUBPROCESS": "1"}
    argv = [sys.executable, "-m", "cnas", "study", "--preset", "smoke", "--jobs", "1"]
    process = subprocess.Popen(
        [*argv, "--no-progress", "-o", str(tmp_path / "study")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a suite run under nohup would hand its ignored SIGHUP on to the study
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    assert process.stderr is not None
    for line in process.stderr:  # the study says when it starts a run
        if "run 1/" in line:
            break
    children = _children(process.pid)
    assert children, "the study started no run process"
    watched = [(c, os.pidfd_open(c)) for c in children]
    os.kill(process.pid, getattr(signal, sig))
    process.wait(timeout=60)
    process.stderr.close()
    for child, fd in watched:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(30_000), f"run process {child} outlived the study ({sig})"
        os.close(fd)


# -- 12. one line where a traceback was --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"search": {"nodes": 33}}, "must be at most 32"),
        ({"search": {"ops": ["sep_conv_3x3", "sep_conv_3x3"]}}, "listed twice"),
        ({"device": "cu\0da"}, "device"),
        ({"data": "da\0ta"}, "data"),
    ],
    ids=["nodes-33", "duplicate-ops", "nul-device", "nul-data"],
)
def test_a_plan_the_runs_could_not_use_is_refused_by_list_runs(
    change: dict[str, Any], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cnas.study import StudyPlan

    plan = StudyPlan.preset("smoke").to_dict()
    for key, value in change.items():
        plan[key] = {**plan[key], **value} if isinstance(value, dict) else value
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    code, err = _cnas("study", str(tmp_path / "plan.json"), "--list-runs", capsys=capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "m"
    cnas.models.save_pretrained(
        cnas.NetworkCIFAR(4, 10, 3, False, "DARTS_V2", in_channels=1), folder, dataset="digits"
    )
    return folder


@pytest.mark.parametrize("flag", ["--init-channels", "config.json"])
def test_evaluate_refuses_a_network_too_large_in_one_line(
    flag: str, saved_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(saved_model, folder)
    argv = ["evaluate", "--weights", str(folder), "--dataset", "digits"]
    if flag == "--init-channels":
        argv += ["--init-channels", "1000000"]
    else:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "init_channels": 10**6}))
    code, err = _cnas(*argv, capsys=capsys)
    assert code != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "1,024" in err, err


# -- 13. API edges -------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
def test_an_output_folder_name_that_is_not_utf8_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = os.fsdecode(bytes(tmp_path) + b"/run-\xff")
    code, err = _cnas("train", *TINY_TRAIN, "-o", name, capsys=capsys)
    assert code != 0 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_huge_op_name_gives_a_short_error_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(ValueError, match="unknown op") as info:
        cnas.SearchSpace(["x" * 10_000_000], n_nodes=2)
    assert len(str(info.value)) < 2000
    with pytest.raises(KeyError) as key_info:
        cnas.ops.get_op("y" * 10_000_000)
    assert len(str(key_info.value)) < 2000
    assert time.monotonic() - start < 5


def test_a_config_error_keeps_the_file_and_the_field_of_a_long_path(tmp_path: Path) -> None:
    # found by CI, whose temporary folders are deep: cutting the end of the path lost
    # the file's name and the field
    from cnas.errors import ConfigError
    from cnas.search import SearchConfig

    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    (deep / "bad.json").write_text('{"optimizer": {"lr": "fast"}}')
    with pytest.raises(ConfigError, match=r"bad\.json: optimizer\.lr: expected a finite") as info:
        SearchConfig.load(deep / "bad.json")
    assert len(str(info.value)) < 400
    huge = ConfigError("k" * 10_000_000, "unknown field")
    assert len(str(huge)) < 300 and str(huge).endswith("k: unknown field")


@pytest.mark.parametrize("method", ["grow_ops", "grow_nodes", "fixed"])
def test_a_curriculum_of_something_that_is_no_space_is_a_type_error(method: str) -> None:
    with pytest.raises(TypeError, match=f"CurriculumSchedule.{method} takes a cnas.SearchSpace"):
        getattr(cnas.CurriculumSchedule, method)("x")


def test_networks_too_wide_to_hold_are_refused_before_the_allocator() -> None:
    space = cnas.SearchSpace(["skip_connect"], n_nodes=2)
    with pytest.raises(ValueError, match="C must be at most 1,024"):
        cnas.SuperNet(space, C=10**6, num_classes=10, layers=3)
    with pytest.raises(ValueError, match="C must be at most 1,024"):
        cnas.NetworkCIFAR(10**6, 10, 3, False, "DARTS_V2")
    with pytest.raises(ValueError, match="in_channels must be at most"):
        cnas.NetworkImageNet(4, 10, 3, False, "DARTS_V2", in_channels=10**6)
    with pytest.raises(ValueError, match="num_classes must be at most"):
        cnas.NetworkCIFAR(4, 10**9, 3, False, "DARTS_V2")


def test_an_auxiliary_head_on_images_too_small_for_it_says_so() -> None:
    import torch

    model = cnas.NetworkCIFAR(4, 10, 8, True, "DARTS_V2").train()
    with pytest.raises(ValueError, match="auxiliary=False"):
        model.forward_with_aux(torch.randn(2, 3, 8, 8))
    logits, aux = model.forward_with_aux(torch.randn(2, 3, 32, 32))
    assert aux is not None and aux.shape == logits.shape == (2, 10)


@pytest.mark.parametrize(
    ("key", "value"),
    [("init_channels", 4.5), ("num_classes", "10"), ("layers", True), ("auxiliary", "no")],
)
def test_from_pretrained_takes_sizes_only_as_integers(
    key: str, value: Any, saved_model: Path, tmp_path: Path
) -> None:
    import shutil

    from cnas.errors import WeightsFormatError

    folder = tmp_path / "m"
    shutil.copytree(saved_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(WeightsFormatError, match=key):
        cnas.models.from_pretrained(folder)


def _bad_items() -> dict[str, Any]:
    import torch

    data = cnas.data.synthetic(num_samples=16, num_classes=4, image_size=8, seed=0)
    return {
        "labels out of range": ([(x, y + 10) for x, y in data], ValueError, "out of range"),
        "negative labels": ([(x, -1) for x, _ in data], ValueError, "out of range"),
        "float labels": ([(x, 0.5) for x, _ in data], ValueError, "integer class indices"),
        "images alone": ([x for x, _ in data], TypeError, r"\(image, label\) pair"),
        "triples": ([(x, y, 0) for x, y in data], TypeError, r"\(image, label\) pair"),
        "not tensors": ([("a", 1)] * 16, TypeError, r"\(image, label\) pair"),
        "one-hot labels": (
            [(x, torch.nn.functional.one_hot(torch.as_tensor(y), 4)) for x, y in data],
            ValueError,
            "integer class indices",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "labels out of range",
        "negative labels",
        "float labels",
        "images alone",
        "triples",
        "not tensors",
        "one-hot labels",
    ],
)
def test_data_of_the_wrong_shape_is_refused_by_cnas_not_inside_torch(
    case: str, tmp_path: Path
) -> None:
    from cnas.training import TrainConfig, Trainer

    items, error, message = _bad_items()[case]
    config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
    config = config.replace(runtime={"device": "cpu", "progress": False, "tensorboard": False})
    model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
    with pytest.raises(error, match=message):
        Trainer(model, config, tmp_path / "t").fit(items, items)
    with pytest.raises(error, match=message):
        _tiny_searcher(tmp_path / "s").fit(items, items)


# -- the attack script's families ----------------------------------------------------------


@pytest.mark.slow
def test_the_attack_script_holds_on_the_round_3_families(tmp_path: Path) -> None:
    """tests/scripts/attack.py makes the table of docs/reliability.md; its fast families
    run here (the hostile servers and damaged study outputs have their tests above)."""
    import subprocess

    families = ["folders", "links", "bounds", "empty", "json"]
    run = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("scripts") / "attack.py"),
            *[arg for name in families for arg in ("--only", name)],
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(families)
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == cells[2], row


def test_seeds_and_devices_are_checked_by_cnas_not_inside_torch() -> None:
    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], n_nodes=2)
    data = cnas.data.synthetic(num_samples=8, num_classes=2, image_size=8, seed=0)
    for seed in (1.5, -1, "3", True, 2**64):
        with pytest.raises(ValueError, match="seed must be an integer"):
            cnas.data.synthetic(num_samples=4, num_classes=2, image_size=8, seed=seed)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="seed must be an integer"):
            cnas.CurriculumSchedule.grow_ops(space, seed=seed)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="seed must be an integer"):
            cnas.data.search_split(data, seed=seed)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="seed must be an integer"):
            cnas.data.hold_out(data, seed=seed)  # type: ignore[arg-type]
    network = cnas.costs.NetworkSpec.for_dataset("cifar10")
    for device in ("bogus", "cu\0da", 3.5):
        with pytest.raises(ValueError, match="is not a device"):
            cnas.costs.measure_latency(network, cnas.genotypes.CNAS, device=device)  # type: ignore[arg-type]
