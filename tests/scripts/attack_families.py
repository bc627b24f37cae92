"""The attack families of reliability round 3 (issue 26), for tests/scripts/attack.py:
folders that are not runs, symbolic links in run and study folders, hostile Hub servers
on loopback, plan and table bounds, empty data, huge JSON integers and damaged study
outputs. Each family returns one row of the table: (attack, tried, held, held means).

Everything runs in this process, through the library (the command line's checks are the
library's; tests/test_reliability.py runs the command line too). Importing this module
runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

Row = tuple[str, int, int, str]
HUGE = "9" * 5000


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links as links): name -> content hash or link target."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _raises(call: Callable[[], Any], errors: tuple[type[BaseException], ...]) -> str | None:
    """The message of the expected error ``call`` raised; ``None`` if it raised none or
    another."""
    try:
        call()
    except errors as exc:
        return str(exc)
    except Exception as exc:  # another error: a failure of the attack
        print(f"  unexpected {type(exc).__name__}: {str(exc)[:200]}")
        return None
    return None


# -- folders that are not runs ---------------------------------------------------------------


def _foreign_folders(work: Path) -> dict[str, dict[str, str]]:
    import cnas

    saved = work / "saved-model"
    if not saved.exists():
        cnas.models.save_pretrained(
            cnas.NetworkCIFAR(4, 10, 3, False, "CNAS", in_channels=1), saved, dataset="digits"
        )
    return {
        "a git project": {
            "README.md": "# mine\n",
            "config.json": '{"mine": true}',
            ".git/HEAD": "",
        },
        "a Hugging Face model": {"config.json": '{"model_type": "bert"}', "report.md": "x"},
        "a saved cnas model": {
            p.name: p.read_text(errors="replace") for p in saved.iterdir() if p.suffix == ".json"
        }
        | {"model.safetensors": "weights"},
        "a genotype file": {"genotype.json": "{}"},
        "one unknown file": {"notes.txt": "mine"},
        "a hidden file": {".notes": "mine"},
        "a sub-folder": {"data/train.csv": "1,2"},
        "a temporary of the user": {".notes.2024_v01.tmp": "mine"},
        "the other kind's run": {"config.json": json.dumps({"run": {"kind": "OTHER"}})},
    }


def foreign_folders(work: Path) -> Row:
    """A search or a training pointed at a folder that holds other files, fresh or
    resumed: refused naming what is there, nothing written."""
    from cnas._run import RunFolder
    from cnas.errors import CheckpointError

    tried = held = 0
    for label, files in _foreign_folders(work).items():
        for kind in ("search", "training"):
            for resume in (False, True):
                folder = work / f"foreign-{len(label)}-{kind}-{resume}-{tried}"
                for name, text in files.items():
                    path = folder / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    other = "training" if kind == "search" else "search"
                    path.write_text(text.replace("OTHER", other))
                before = _tree(folder)
                run = RunFolder(folder, kind)  # type: ignore[arg-type]
                message = _raises(partial(run.prepare, {}, resume=resume), (CheckpointError,))
                tried += 1
                held += message is not None and _tree(folder) == before
    return (
        "a run started in a folder of other files (9 kinds of folder, search and training, "
        "fresh and resumed)",
        tried,
        held,
        "refused in one line naming what is there; no file in the folder changed",
    )


# -- symbolic links --------------------------------------------------------------------------


RUN_LINKS = [".lock", "metrics.jsonl", "stages", "tensorboard", "config.json", "checkpoint.pt"]
TRAIN_LINKS = [".lock", "metrics.jsonl", "tensorboard", "last.pt", "best.pt", "model.safetensors"]


def links(work: Path) -> Row:
    """A symbolic link in a run folder (to a file, a folder or nowhere) or in a study's
    folder: refused, and nothing outside the folder is created or changed."""
    from cnas._run import RunFolder
    from cnas.errors import CheckpointError
    from cnas.study import Study, StudyPlan, StudyPlanError

    tried = held = 0
    cases = [("search", n) for n in RUN_LINKS] + [("training", n) for n in TRAIN_LINKS]
    for i, (kind, name) in enumerate(cases):
        for dangling in (False, True):
            outside = work / f"outside-{i}-{dangling}"
            outside.mkdir(parents=True)
            (outside / "precious.txt").write_text("do not touch\n")
            folder = work / f"linked-{i}-{dangling}"
            folder.mkdir()
            (folder / "config.json").write_text(json.dumps({"run": {"kind": kind}}))
            directory = name in ("stages", "tensorboard")
            target = (
                outside / "gone" if dangling else outside if directory else outside / "precious.txt"
            )
            if name == "config.json":
                (folder / "config.json").unlink()
            (folder / name).symlink_to(target)
            before = _tree(outside)
            run = RunFolder(folder, kind)  # type: ignore[arg-type]
            message = _raises(partial(run.prepare, {}, resume=True), (CheckpointError,))
            tried += 1
            held += message is not None and "symbolic link" in message and _tree(outside) == before
    plan = StudyPlan.preset("smoke", arms=["random/fixed"], search_seeds=[0], random_archs=1)
    for name in ("logs", "configs", "random", "search", "train", "study.json", "logs/x.log"):
        outside = work / f"study-outside-{name.replace('/', '-')}"
        outside.mkdir()
        folder = work / f"study-{name.replace('/', '-')}"
        (folder / Path(name).parent).mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(outside if "." not in name else outside / "f")
        before = _tree(outside)
        message = _raises(Study(plan, folder).prepare, (StudyPlanError,))
        tried += 1
        held += message is not None and "symbolic link" in message and _tree(outside) == before
    return (
        "symbolic links in run folders (search and training files and folders, to files, "
        "folders and nowhere) and study folders",
        tried,
        held,
        "refused naming the link; nothing outside the folder created or changed",
    )


# -- hostile Hub servers ---------------------------------------------------------------------


def hostile_hubs(stall: float = 3.0) -> Row:
    """Weights from a loopback server that misbehaves (hostile_hub.BEHAVIOURS), as an
    ``hf-hub:`` repository and as a release URL, with short limits."""
    import tempfile

    import hostile_hub

    import cnas
    from cnas.errors import WeightsNotFoundError
    from cnas.models import UrlSource
    from cnas.models._download import url_download

    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "CNAS_HUB_STALL_SECONDS")}
    os.environ.update(
        CNAS_HUB_STALL_SECONDS=str(stall), CNAS_HUB_READ_TIMEOUT="1", CNAS_HUB_CONNECT_TIMEOUT="1"
    )
    tried = held = 0
    slowest = 0.0
    try:
        for behaviour in hostile_hub.BEHAVIOURS:
            for how in ("hub", "url"):
                server = hostile_hub.HostileHub(behaviour)
                os.environ["HF_ENDPOINT"] = server.endpoint
                cache = Path(tempfile.mkdtemp(prefix="cnas-attack-hub-"))
                if how == "hub":
                    call: Callable[[], Any] = partial(
                        cnas.models.from_pretrained, "hf-hub:me/tiny", cache_dir=cache
                    )
                else:
                    source = UrlSource(f"{server.endpoint}/weights-abababab.pth")
                    call = partial(url_download, source, cache_dir=cache, progress=False)
                start = time.monotonic()
                try:
                    message = _raises(call, (WeightsNotFoundError,))
                finally:
                    server.stop()
                elapsed = time.monotonic() - start
                slowest = max(slowest, elapsed)
                tried += 1
                held += message is not None and "\n" not in message and elapsed < stall + 5
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return (
        f"hostile servers on loopback ({len(hostile_hub.BEHAVIOURS)} behaviours: silent, "
        "trickling, truncated, redirect loop, bad Location, Xet, not HTTP, reset, ...), as "
        "hf-hub: and as release URL",
        tried,
        held,
        f"WeightsNotFoundError in one line, within the stall limit ({stall:g} s here; the "
        f"slowest took {slowest:.1f} s)",
    )


# -- plan and table bounds -------------------------------------------------------------------


def bounds() -> Row:
    """Small inputs that would expand into huge ones: refused before expansion, fast."""
    import cnas
    from cnas.costs import LatencyTable
    from cnas.costs._latency import FORMAT, VERSION
    from cnas.errors import GenotypeError, LatencyTableError
    from cnas.study import StudyPlan, StudyPlanError

    smoke = StudyPlan.preset("smoke").to_dict()

    def plan(**change: Any) -> Callable[[], Any]:
        return lambda: StudyPlan.from_dict({**smoke, **change})

    def table(**change: Any) -> Callable[[], Any]:
        base = {"format": FORMAT, "version": VERSION, "n_nodes": 4, "ops": ["skip_connect"]}
        return lambda: LatencyTable.from_dict({**base, **change})

    cases: list[tuple[Callable[[], Any], tuple[type[BaseException], ...]]] = [
        (plan(random_archs=10**12), (StudyPlanError,)),
        (plan(random_archs=10**400), (StudyPlanError,)),
        (plan(search_seeds=list(range(5000))), (StudyPlanError,)),
        (plan(train_seeds=list(range(5000))), (StudyPlanError,)),
        (plan(arms=["random/fixed", "random/ops", "random/nodes"] * 60), (StudyPlanError,)),
        (plan(search_seeds=list(range(1000)), train_seeds=list(range(1000))), (StudyPlanError,)),
        (plan(search={**smoke["search"], "nodes": 33}), (StudyPlanError,)),
        (plan(search={**smoke["search"], "nodes": 10**9}), (StudyPlanError,)),
        (table(n_nodes=10**9), (LatencyTableError,)),
        (table(n_nodes=-1), (LatencyTableError,)),
        (table(n_nodes="4"), (LatencyTableError,)),
        (
            lambda: cnas.Genotype.from_darts(f"Genotype(normal=[], normal_concat=range({10**12}))"),
            (GenotypeError,),
        ),
        (lambda: cnas.SearchSpace(n_nodes=10**9), (ValueError,)),
        (lambda: cnas.NetworkCIFAR(10**6, 10, 3, False, "CNAS"), (ValueError,)),
        (lambda: cnas.SearchSpace(["x" * 10_000_000]), (ValueError,)),
    ]
    held = 0
    for call, errors in cases:
        start = time.monotonic()
        message = _raises(call, errors)
        held += message is not None and len(message) < 2000 and time.monotonic() - start < 5
    return (
        "plans, latency tables, genotypes and sizes that would expand (10**12 random "
        "architectures, 5,000 seeds, 10**9 nodes, C = 10**6, a 10 MB op name)",
        len(cases),
        held,
        "refused before expanding, in under 5 s, with a message under 2,000 characters",
    )


# -- empty data ------------------------------------------------------------------------------


def empty_data(work: Path) -> Row:
    """A search or a training given an empty split, or data of the wrong shape."""
    import torch

    import cnas
    from cnas.search import SearchRuntime
    from cnas.training import TrainConfig, Trainer

    data = cnas.data.synthetic(num_samples=16, num_classes=4, image_size=8, seed=0)
    empty = torch.utils.data.Subset(data, [])
    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], n_nodes=2)

    def search(train: Any, val: Any, i: int) -> Callable[[], Any]:
        def run() -> Any:
            searcher = cnas.Searcher(
                cnas.SuperNet(space, C=4, num_classes=4, layers=3),
                cnas.CurriculumSchedule.fixed(space, warmup_epochs=0, epochs=1),
                work / f"empty-search-{i}",
                strategy=cnas.search.RandomSearch(num_candidates=2),
                steps_per_epoch=1,
                derive_batches=1,
                runtime=SearchRuntime(device="cpu", progress=False, draw=False, tensorboard=False),
            )
            return searcher.fit(train, val)

        return run

    def train(train: Any, val: Any, i: int) -> Callable[[], Any]:
        config = TrainConfig.preset("synthetic", init_channels=4, layers=3, epochs=1, batch_size=8)
        config = config.replace(runtime={"device": "cpu", "progress": False, "tensorboard": False})
        model = cnas.NetworkCIFAR(4, 4, 3, False, "DARTS_V2")
        return lambda: Trainer(model, config, work / f"empty-train-{i}").fit(train, val)

    shifted = [(x, y + 10) for x, y in data]
    images = [x for x, _ in data]
    cases = [
        (search(empty, data, 0), ValueError, "training data holds no examples"),
        (search(data, empty, 1), ValueError, "validation data holds no examples"),
        (search(shifted, shifted, 2), ValueError, "out of range"),
        (search(images, images, 3), TypeError, "(image, label) pair"),
        (train(empty, data, 4), ValueError, "training data holds no examples"),
        (train(data, empty, 5), ValueError, "validation data holds no examples"),
        (train(shifted, shifted, 6), ValueError, "out of range"),
        (train(images, images, 7), TypeError, "(image, label) pair"),
        (train(42, 42, 8), TypeError, "Dataset or DataLoader"),
    ]
    held = 0
    for call, error, words in cases:
        message = _raises(call, (error,))
        held += message is not None and words in message
    return (
        "empty splits and data of the wrong shape (search and training)",
        len(cases),
        held,
        "a ValueError or TypeError naming the split or the problem, before any step",
    )


# -- huge JSON integers ----------------------------------------------------------------------


def huge_integers(work: Path) -> Row:
    """An integer of 5,000 digits (past Python's int() limit) in every file cnas reads."""
    import cnas
    from cnas._run import RunFolder
    from cnas.costs import LatencyTable
    from cnas.errors import (
        CheckpointError,
        ConfigError,
        GenotypeError,
        LatencyTableError,
        WeightsFormatError,
    )
    from cnas.search import SearchConfig
    from cnas.study import Study, StudyPlan, StudyPlanError
    from cnas.training import TrainConfig

    def file(name: str, text: str) -> Path:
        path = work / "huge" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    genotype = json.dumps(cnas.genotypes.CNAS.to_dict()).replace("2", HUGE, 1)
    number = '{"format": ' + HUGE + "}"
    model = work / "huge" / "model"
    cnas.models.save_pretrained(cnas.NetworkCIFAR(4, 10, 3, False, "CNAS"), model)
    (model / "config.json").write_text(number)
    run = work / "huge" / "run"
    run.mkdir()
    (run / "config.json").write_text(number)
    study = work / "huge" / "study"
    study.mkdir()
    (study / "study.json").write_text(number)
    cases: list[tuple[Callable[[], Any], tuple[type[BaseException], ...]]] = [
        (lambda: cnas.Genotype.from_json(genotype), (GenotypeError,)),
        (lambda: cnas.Genotype.load(file("g.json", genotype)), (GenotypeError,)),
        (lambda: cnas.models.from_pretrained(model), (WeightsFormatError,)),
        (lambda: SearchConfig.load(file("s.json", number)), (ConfigError,)),
        (lambda: TrainConfig.load(file("t.json", number)), (ConfigError,)),
        (lambda: StudyPlan.from_file(file("p.json", number)), (StudyPlanError,)),
        (lambda: Study.open(study), (StudyPlanError,)),
        (lambda: LatencyTable.load(file("l.json", number)), (LatencyTableError,)),
        (lambda: cnas.CurriculumSchedule.from_json(number), (ValueError,)),
        (lambda: RunFolder(run, "search").prepare({}, resume=True), (CheckpointError,)),
        (lambda: cnas.Searcher.open(run), (ConfigError, CheckpointError)),
    ]
    messages = [_raises(call, errors) for call, errors in cases]
    held = sum(m is not None and "\n" not in m for m in messages)
    return (
        "a 5,000-digit integer in each JSON file cnas reads (genotypes, configurations, "
        "plans, study records, latency tables, curricula, run and model config.json)",
        len(cases),
        held,
        "the reader's documented error (GenotypeError, WeightsFormatError, ConfigError, "
        "StudyPlanError, LatencyTableError, CheckpointError, ValueError), in one line",
    )


# -- damaged study outputs -------------------------------------------------------------------


def damaged_study_outputs(work: Path) -> Row:
    """Each output of a finished study damaged in turn: the report completes, leaves the
    run out and names the file."""
    from cnas.study import Study, StudyPlan

    plan = StudyPlan.preset("smoke", arms=["random/fixed"], search_seeds=[0], random_archs=1)
    base = Study(plan, work / "study-base")
    base.prepare()
    for run in base.runs:
        base.run_one(run.index, threads=1)
    test = "train/random-r00-t0/test.json"
    metrics = "search/random-fixed-s0/metrics.jsonl"
    result = "search/random-fixed-s0/stages/stage-1/result.json"
    scores = "score/random-fixed-s0.json"

    def edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
        def apply(path: Path) -> None:
            data = json.loads(path.read_text())
            change(data)
            path.write_text(json.dumps(data))

        return apply

    def append(line: bytes) -> Callable[[Path], None]:
        return lambda path: path.write_bytes(path.read_bytes() + line)

    damage: list[tuple[str, Callable[[Path], None]]] = [
        (test, lambda p: p.write_text("{}")),
        (test, edit(lambda d: d.update(top1="abc"))),
        (test, edit(lambda d: d.update(top1=float("nan")))),
        (test, edit(lambda d: d.update(top5=7))),
        (test, lambda p: p.write_text('{"top1": ' + HUGE + "}")),
        (test, lambda p: p.write_bytes(b"\xff\xfe")),
        (metrics, append(b'{"images": "many"}\n')),
        (metrics, append(b'{"images": 1e999}\n')),
        (metrics, append(b'{"time_s": 1' + b"0" * 400 + b"}\n")),
        (metrics, append(b"\xff\n")),
        (metrics, append(b"[1, 2]\n")),
        (result, edit(lambda d: d.pop("val_accuracy"))),
        (result, edit(lambda d: d.update(val_accuracy=-1))),
        (scores, edit(lambda d: d.update(scores=[1, 2]))),
        (scores, edit(lambda d: d.update(scores=[{"genotype": 3, "val_accuracy": 0.1}]))),
        (scores, lambda p: p.write_text("[]")),
    ]
    held = 0
    for i, (name, change) in enumerate(damage):
        folder = work / f"study-damaged-{i}"
        shutil.copytree(base.folder, folder)
        change(folder / name)
        try:
            results = Study.open(folder).finish()
        except Exception as exc:
            print(f"  {name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        reasons = list(results.get("damaged", {}).values())
        held += len(reasons) == 1 and str(folder / name) in reasons[0]
    for i, wall in enumerate(['"slow"', "1e999", "-5", "1" + "0" * 400, "true"]):
        folder = work / f"study-wall-{i}"
        shutil.copytree(base.folder, folder)
        record = json.loads((folder / "study.json").read_text())
        record["runs"] = {"train/random-r00-t0": {"wall_s": "WALL", "attempts": "WALL"}}
        (folder / "study.json").write_text(json.dumps(record).replace('"WALL"', wall))
        try:
            results = Study.open(folder).finish()
        except Exception as exc:
            print(f"  wall_s {wall[:10]}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        held += (
            results["complete"] and results["trainings"]["train/random-r00-t0"]["wall_s"] is None
        )
    return (
        "damaged outputs of a finished study (test.json, metrics.jsonl, result.json, "
        "scores, wall times in study.json)",
        len(damage) + 5,
        held,
        "the report completes; a damaged run is left out, named with its file; a damaged "
        "wall time is left blank",
    )
