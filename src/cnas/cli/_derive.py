"""``cnas derive``: derive a finished stage of a search again, with its own or another
strategy."""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any

from ._common import (
    CLIError,
    out,
    parse_device,
    positive_int,
    recorded_hold_out,
    resolve_genotype,
)
from ._strategy_flags import add_strategy_flags, build_strategy, given_settings

__all__ = ["add_derive_parser"]


def add_derive_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``derive`` (its flags are added when it is used: they need the registries)."""
    sub.add_parser(
        "derive",
        help="derive a finished stage's genotype again, with any strategy",
        description="Load a finished stage's supernet and strategy state from a search "
        "folder (RUN/stages/stage-K) and derive its genotype again: with the run's strategy "
        "and other settings, or with a strategy that needs only the supernet (random, "
        "evolution). Candidates are scored on the run's validation split, rebuilt from its "
        "config.json. Nothing in RUN changes.",
        populate=_populate_derive,
    )


def _populate_derive(p: argparse.ArgumentParser) -> None:
    from ..search import list_strategies

    p.add_argument("run", metavar="RUN", help="the output folder of a cnas search")
    p.add_argument(
        "--stage",
        type=positive_int,
        default=None,
        help="the stage K, as numbered in RUN/report.md (default: the last finished one)",
    )
    p.add_argument(
        "--strategy",
        choices=list_strategies(),
        default=None,
        help="whose derivation runs (default: the run's own strategy)",
    )
    p.add_argument(
        "--derive-batches",
        type=positive_int,
        default=None,
        help="score candidates on at most N validation batches (default: as the run)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="validation batch size (default: the run's; the supernet's BatchNorms use "
        "batch statistics, so scores depend on it)",
    )
    p.add_argument("--data", default="data", help="data folder for CIFAR-10 (default: data)")
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    p.add_argument(
        "--score",
        nargs="+",
        default=None,
        metavar="GENOTYPE",
        help="instead of deriving, score these genotypes (names or genotype.json files) with "
        "the stage's supernet weights on the validation split; -o writes the scores as JSON",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="also write the genotype to FILE (with --score: the scores)",
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument(
        "--latency-table",
        default=None,
        metavar="FILE",
        help="the latency table of a run whose budget limits latency (its copy is checked "
        "against the run's record)",
    )
    add_strategy_flags(p)
    p.set_defaults(func=_cmd_derive)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CLIError(f"{path.parent} is not a cnas search folder (no {path.name})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CLIError(f"{path} is not valid JSON: {exc}") from None


def _stage_record(run: Path, number: int | None) -> dict[str, Any]:
    """What stage ``number`` (from 1; ``None``: the last finished) recorded of its run, or
    ``{}`` when it did not finish (``Searcher.derive`` then says which did)."""
    from ..errors import CheckpointError
    from ..search import stage_record

    try:
        return stage_record(run, number - 1 if number is not None else -1)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None


def _recorded_budget(recorded: Any, table_file: str | None, run: Path) -> Any:
    """The ``Budget`` a run searched with (from its ``config.json``), or ``None``."""
    if recorded is None:
        if table_file is not None:
            raise CLIError(f"{run} searched without a budget; --latency-table does not apply")
        return None
    from ..costs import Budget, LatencyTable, NetworkSpec
    from ..errors import BudgetError, LatencyTableError

    where = run / "config.json"
    try:
        table = None
        if recorded.get("latency_table") is not None:
            if table_file is None:
                raise CLIError(f"{run} searched with a latency budget: pass its --latency-table")
            table = LatencyTable.load(table_file)
        elif table_file is not None:
            raise CLIError(f"{run}'s budget uses no latency table; leave --latency-table out")
        budget = Budget(
            max_params=recorded.get("max_params"),
            max_madds=recorded.get("max_madds"),
            max_latency_ms=recorded.get("max_latency_ms"),
            latency_table=table,
            network=NetworkSpec.from_dict(recorded["network"]),
            penalty=recorded.get("penalty", "soft"),
            cost_weight=recorded.get("cost_weight"),
        )
    except (FileNotFoundError, BudgetError, LatencyTableError) as exc:
        raise CLIError(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CLIError(f"{where} records a budget this cnas cannot read: {exc}") from None
    if budget.to_dict() != recorded:
        raise CLIError(
            f"{table_file} is not the latency table {run} searched with (its entries differ)"
            if table is not None
            else f"{where} records a budget this cnas cannot rebuild: {recorded}"
        )
    return budget


def _cmd_derive(args: argparse.Namespace) -> int:
    from ..curriculum import CurriculumSchedule
    from ..data import DatasetNotFoundError, load_search_data
    from ..errors import CheckpointError
    from ..search import Searcher, get_strategy, list_strategies
    from ..space import SearchSpace
    from ..supernet import SuperNet

    run = Path(args.run)
    if not run.is_dir():
        raise CLIError(f"{run} is not a folder")
    config = _read_json(run / "config.json")
    try:
        schedule = CurriculumSchedule.from_dict(_read_json(run / "curriculum.json"))
        space = SearchSpace(config["space"]["ops"], config["space"]["n_nodes"])
        sizes = config["supernet"]
        searched_with = str(config["strategy"])
        seed = int(config["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CLIError(f"{run / 'config.json'} is not a cnas search configuration: {exc}") from None
    data = config.get("data")
    if not isinstance(data, dict) or "dataset" not in data:
        raise CLIError(
            f"{run / 'config.json'} does not record which data the search ran on (a search "
            "run from Python without data_config=); derive from Python instead: "
            "Searcher.derive(stage, strategy=..., data=...)"
        )
    name = args.strategy or searched_with
    if name not in list_strategies():
        raise CLIError(
            f"{run} was searched with strategy {name!r}, which is not registered here (one "
            "defined in a notebook?); pass --strategy random or --strategy evolution, or "
            "derive from Python"
        )
    scored: list[tuple[str, Any]] = [(spec, resolve_genotype(spec)) for spec in args.score or ()]
    for spec, g in scored:
        if g not in space:
            raise CLIError(f"{spec} is not in the search space of {run} ({space})")
    if args.output and not args.force and Path(args.output).exists():
        raise CLIError(f"{args.output} exists; pass --force to overwrite it")
    stage = _stage_record(run, args.stage)  # the settings the stage ran with
    settings: dict[str, Any] = {}
    if name == searched_with:
        accepted = inspect.signature(get_strategy(name).__init__).parameters
        recorded = stage.get("settings") or config.get("strategy_settings") or {}
        settings = {k: v for k, v in recorded.items() if k in accepted}
    settings.update(given_settings(args, name))
    recorded_searcher = stage.get("searcher") or config.get("searcher") or {}
    device = parse_device(args.device) if args.device else None
    try:
        _, score, _ = load_search_data(
            data["dataset"],
            args.data,
            download=not args.no_download,
            train_portion=float(data.get("train_portion", 0.4)),
            seed=int(data.get("split_seed", seed)),
            augment=False,
            **recorded_hold_out(data, run / "config.json"),
        )
    except DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None
    strategy = build_strategy(name, settings)
    supernet = SuperNet(
        space,
        C=sizes["C"],
        num_classes=sizes["num_classes"],
        layers=sizes["layers"],
        in_channels=sizes["in_channels"],
    )
    budget = _recorded_budget(config.get("budget"), args.latency_table, run)
    try:
        searcher = Searcher(
            supernet,
            schedule,
            run,
            budget=budget,
            strategy=strategy,
            batch_size=args.batch_size or int(recorded_searcher.get("batch_size", 96)),
            derive_batches=args.derive_batches or recorded_searcher.get("derive_batches"),
            device=device,
            channels_last=bool(recorded_searcher.get("channels_last", True)),
            seed=seed,
            progress=False,
            draw=False,
            tensorboard=False,
            data_config=data,
        )
        index = args.stage - 1 if args.stage else -1
        if scored:
            accuracies = searcher.evaluate_stage(
                index, [g for _, g in scored], score, searcher.engine.derive_batches
            )
            number = searcher.finished_stages()[index] + 1 if index < 0 else args.stage
            return _write_scores(
                args, run, number, searcher.engine.derive_batches, scored, accuracies
            )
        result = searcher.derive(index, data=score)
    except (CheckpointError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    out(
        f"stage {result.index + 1} ({result.n_ops} op(s), {result.n_nodes} node(s)), "
        f"derived by {result.strategy}: {result.summary()}"
    )
    out(f"genotype: {result.genotype!r}")
    for rank, candidate in enumerate(result.candidates, 1):
        out(f"  {rank}. {100 * candidate.accuracy:.2f}%  {candidate.genotype!r}")
    if args.output:
        try:
            path = result.genotype.save(args.output, overwrite=args.force)
        except FileExistsError:
            raise CLIError(f"{args.output} exists; pass --force to overwrite it") from None
        out(f"wrote {path}")
    return 0


def _write_scores(
    args: argparse.Namespace,
    run: Path,
    stage: int,
    derive_batches: int | None,
    scored: list[tuple[str, Any]],
    accuracies: list[float],
) -> int:
    from .._io import atomic_write_text

    for (spec, _), accuracy in zip(scored, accuracies, strict=True):
        out(f"{100 * accuracy:.2f}%  {spec}")
    if args.output:
        record = {
            "run": str(run),
            "stage": stage,
            "derive_batches": derive_batches,
            "scores": [
                {"genotype": spec, "arch": g.to_dict(), "val_accuracy": accuracy}
                for (spec, g), accuracy in zip(scored, accuracies, strict=True)
            ],
        }
        try:
            atomic_write_text(args.output, json.dumps(record, indent=2) + "\n")
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc}") from None
        out(f"wrote {args.output}")
    return 0
