"""What a study reads of its runs' outputs: each file through a schema, so that a damaged
output is named and its run left out of the report, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._io import parse_json
from .._run import TEST_RESULT_NAME
from .._schema import STR, Dict, Int, ListOf, Number, SchemaError, finite_or_none, validate
from ._plan import StudyPlan
from ._runs import StudyRun

__all__ = [
    "METRICS_SCHEMA",
    "RESULT_SCHEMA",
    "SCORES_SCHEMA",
    "TEST_SCHEMA",
    "DamagedOutputError",
    "collect_run",
    "read_json",
    "search_summary",
    "unreadable",
    "wall_time",
]

_SHARE = Number(0.0)
TEST_SCHEMA = Dict(
    {"top1": _SHARE, "top5": _SHARE, "images": Int(0), "params": Int(0), "madds": Int(0)}
)
RESULT_SCHEMA = Dict({"val_accuracy": _SHARE})
METRICS_SCHEMA = Dict({}, optional={"images": Int(0), "time_s": Number(0.0), "phase": STR})
SCORES_SCHEMA = Dict({"scores": ListOf(Dict({"genotype": STR, "val_accuracy": _SHARE}))})
"""What a study reads of its runs' outputs, checked before a number of them is used."""


class DamagedOutputError(ValueError):
    """A run's output that is not what its run writes (named, with what is wrong)."""


def read_json(path: Path, schema: Any = None) -> Any:
    """The JSON in ``path`` (``None`` when it is missing or unreadable), checked against
    ``schema``.

    Raises:
        DamagedOutputError: the file is there but is not JSON, or does not fit ``schema``.
    """
    try:
        data = parse_json(path.read_bytes())
    except OSError:
        return None
    except ValueError as exc:
        raise DamagedOutputError(f"{path}: {exc}") from None
    if schema is not None:
        try:
            validate(data, schema)
        except SchemaError as exc:
            raise DamagedOutputError(f"{path}: {exc}") from None
        _check_shares(data, path)
    return data


def _check_shares(data: Any, path: Path) -> None:
    """Accuracies are shares, from 0 to 1."""
    values = (
        [data.get(k) for k in ("top1", "top5", "val_accuracy")] if isinstance(data, dict) else []
    )
    values += (
        [s.get("val_accuracy") for s in data.get("scores", [])] if isinstance(data, dict) else []
    )
    for value in values:
        if isinstance(value, (int, float)) and not 0.0 <= value <= 1.0:
            raise DamagedOutputError(f"{path}: an accuracy of {value} is not a share from 0 to 1")


def search_summary(folder: Path, stages: int) -> dict[str, Any] | None:
    """A finished search's numbers: its last stage's validation accuracy and what its
    ``metrics.jsonl`` counts (``None`` without the stage's ``result.json``).

    Raises:
        DamagedOutputError: a file that is not what the search writes.
    """
    result = read_json(folder / "stages" / f"stage-{stages}" / "result.json", RESULT_SCHEMA)
    if not isinstance(result, dict):
        return None
    images = controller = 0
    seconds = 0.0
    try:
        lines = (folder / "metrics.jsonl").read_bytes().decode("utf-8").splitlines()
    except OSError:
        lines = []
    except UnicodeDecodeError as exc:
        raise DamagedOutputError(f"{folder / 'metrics.jsonl'}: not UTF-8 ({exc.reason})") from None
    for number, line in enumerate(lines, 1):
        try:
            record = parse_json(line)
            validate(record, METRICS_SCHEMA)
        except (ValueError, SchemaError) as exc:
            raise DamagedOutputError(f"{folder / 'metrics.jsonl'} line {number}: {exc}") from None
        n = int(record.get("images", 0))
        if record.get("phase") == "controller":
            controller += n
        else:
            images += n
        seconds += float(record.get("time_s", 0.0))
    return {
        "val_accuracy": float(result["val_accuracy"]),
        "supernet_images": images,
        "controller_images": controller,
        "epochs_s": seconds,
        "stages": stages,
    }


def wall_time(walls: Any, run_id: str) -> float | None:
    """The wall time ``study.json`` records for a run, if it is a finite, non-negative
    number (else ``None``: a damaged record leaves the time blank)."""
    entry = walls.get(run_id) if isinstance(walls, dict) else None
    value = finite_or_none(entry.get("wall_s") if isinstance(entry, dict) else None)
    return value if value is not None and value >= 0 else None


def collect_run(
    plan: StudyPlan,
    folder: Path,
    run: StudyRun,
    walls: Any,
    searches: dict[str, Any],
    trainings: dict[str, Any],
    scores: dict[str, dict[str, float]],
    missing: list[str],
) -> None:
    """Add the numbers of ``run`` (of the study of ``plan`` in ``folder``) to the results.

    Raises:
        DamagedOutputError: an output that is not what the run writes.
    """
    path = folder / run.output
    wall = wall_time(walls, run.id)
    if run.kind == "search":
        arm = next(a for a in plan.arms if a.label == run.arm)
        summary = search_summary(path, plan.stages(arm))
        if summary is None:
            missing.append(run.id)
            return
        summary.update(
            {
                "arm": run.arm,
                "seed": run.seed,
                "wall_s": wall,
                "genotype": f"{run.id}/genotype.json",
            }
        )
        searches[run.id] = summary
    elif run.kind == "train":
        test = read_json(path / TEST_RESULT_NAME, TEST_SCHEMA)
        if not isinstance(test, dict):
            missing.append(run.id)
            return
        trainings[run.id] = {
            "genotype": run.genotype,
            "arm": run.arm,
            "seed": run.seed,
            "train_seed": run.train_seed,
            "top1": float(test["top1"]),
            "top5": float(test["top5"]),
            "test_images": int(test["images"]),
            "params": int(test["params"]),
            "madds": int(test["madds"]),
            "wall_s": wall,
        }
    else:
        data = read_json(path, SCORES_SCHEMA)
        if isinstance(data, dict):
            scores[run.id.replace("score/", "search/")] = {
                str(s["genotype"]): float(s["val_accuracy"]) for s in data["scores"]
            }


def unreadable(folder: Path, run: StudyRun) -> str | None:
    """Why the output of an unfinished training or scoring run cannot be read, when it
    is there (``None`` when it is absent: the run has not run)."""
    if run.kind == "search":
        return None
    path = folder / run.output
    target = path / TEST_RESULT_NAME if run.kind == "train" else path
    if not target.is_file():
        return None
    try:
        read_json(target)
    except DamagedOutputError as exc:
        return str(exc)
    return None
