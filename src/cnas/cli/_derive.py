"""``cnas derive``: derive a finished stage of a search again, with its own or another
strategy."""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path
from typing import Any

from .._io import parse_json
from ..errors import ConfigError
from ._common import CLIError, out, positive_int, resolve_genotype
from ._config_flags import config_error
from ._strategy_flags import add_strategy_flags, given_settings

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
    p.add_argument("--data", default=None, help="data folder (default: the run's)")
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


def _stage_record(run: Path, number: int | None) -> dict[str, Any]:
    """What stage ``number`` (from 1; ``None``: the last finished) recorded of its run, or
    ``{}`` when it did not finish (``Searcher.derive`` then says which did)."""
    from ..errors import CheckpointError
    from ..search import stage_record

    try:
        return stage_record(run, number - 1 if number is not None else -1)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None


def _open_run(args: argparse.Namespace, run: Path) -> Any:
    """The search in ``run``, rebuilt from its ``config.json`` with the command's changes
    (the stage's own strategy settings when it derives with its own strategy)."""
    from ..search import SearchConfig, Searcher, get_strategy, list_strategies

    try:
        config = SearchConfig.load(run / "config.json")
    except FileNotFoundError:
        raise CLIError(f"{run} is not a cnas search folder (no config.json)") from None
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    if config.data is None:
        raise CLIError(
            f"{run / 'config.json'} does not record which data the search ran on (a search "
            "given its data in Python); derive from Python instead: "
            "Searcher.derive(stage, strategy=..., data=...)"
        )
    searched_with = config.strategy.name
    name = args.strategy or searched_with
    if name not in list_strategies():
        raise CLIError(
            f"{run} was searched with strategy {name!r}, which is not registered here (one "
            "defined in a notebook?); pass --strategy random or --strategy evolution, or "
            "derive from Python"
        )
    settings: dict[str, Any] = {}
    stage = _stage_record(run, args.stage)  # what the stage ran with
    if name == searched_with:
        accepted = inspect.signature(get_strategy(name).__init__).parameters
        recorded = stage.get("settings") or config.strategy.settings
        settings = {k: v for k, v in recorded.items() if k in accepted}
    settings.update(given_settings(args, name))
    changes: dict[str, Any] = {
        "strategy": {"name": name, "settings": settings},
        "runtime": {"progress": False, "draw": False, "tensorboard": False},
        "data": {"download": not args.no_download},
    }
    recorded_searcher = stage.get("searcher")
    ran: dict[str, Any] = recorded_searcher if isinstance(recorded_searcher, dict) else {}
    for path, value in (
        ("strategy.derive_batches", args.derive_batches or ran.get("derive_batches")),
        ("optimizer.batch_size", args.batch_size or ran.get("batch_size")),
        ("runtime.device", args.device),
        ("data.root", args.data),
        ("budget.latency_table", args.latency_table),
    ):
        if value is not None:
            changes[path] = value
    _check_latency_table(args, run, config)
    try:
        searcher = Searcher.open(run, **changes)
    except ConfigError as exc:
        raise config_error(exc, args) from None
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    recorded = parse_json((run / "config.json").read_bytes()).get("run", {})
    budget = searcher.budget
    if budget is not None and recorded.get("budget") not in (None, budget.to_dict()):
        given = args.latency_table or (config.budget.latency_table if config.budget else None)
        raise CLIError(f"{given} is not the latency table {run} searched with (its entries differ)")
    return searcher


def _check_latency_table(args: argparse.Namespace, run: Path, config: Any) -> None:
    """``--latency-table`` applies to a run whose budget limits latency, and such a run
    needs its table (its record names the file it was; a moved copy is given so)."""
    if config.budget is None:
        if args.latency_table is not None:
            raise CLIError(f"{run} searched without a budget; --latency-table does not apply")
        return
    table = config.budget.latency_table
    if table is None and args.latency_table is not None:
        raise CLIError(f"{run}'s budget uses no latency table; leave --latency-table out")


def _cmd_derive(args: argparse.Namespace) -> int:
    from ..errors import CheckpointError

    run = Path(args.run)
    if not run.is_dir():
        raise CLIError(f"{run} is not a folder")
    scored: list[tuple[str, Any]] = [(spec, resolve_genotype(spec)) for spec in args.score or ()]
    if args.output and not args.force and Path(args.output).exists():
        raise CLIError(f"{args.output} exists; pass --force to overwrite it")
    searcher = _open_run(args, run)
    space = searcher.supernet.space
    for spec, g in scored:
        if g not in space:
            raise CLIError(f"{spec} is not in the search space of {run} ({space})")
    index = args.stage - 1 if args.stage else -1
    try:
        if scored:
            batches = searcher.engine.derive_batches
            accuracies = searcher.evaluate_stage(index, [g for _, g in scored], None, batches)
            number = searcher.finished_stages()[index] + 1 if index < 0 else args.stage
            return _write_scores(args, run, number, batches, scored, accuracies)
        result = searcher.derive(index)
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    _print_derivation(result)
    if args.output:
        try:
            path = result.genotype.save(args.output, overwrite=args.force)
        except FileExistsError:
            raise CLIError(f"{args.output} exists; pass --force to overwrite it") from None
        out(f"wrote {path}")
    return 0


def _print_derivation(result: Any) -> None:
    out(
        f"stage {result.index + 1} ({result.n_ops} op(s), {result.n_nodes} node(s)), "
        f"derived by {result.strategy}: {result.summary()}"
    )
    out(f"genotype: {result.genotype!r}")
    for rank, candidate in enumerate(result.candidates, 1):
        out(f"  {rank}. {100 * candidate.accuracy:.2f}%  {candidate.genotype!r}")


def _write_scores(
    args: argparse.Namespace,
    run: Path,
    stage: int,
    derive_batches: int | None,
    scored: list[tuple[str, Any]],
    accuracies: list[float],
) -> int:
    from .._io import atomic_write_text
    from ..search import scores_record

    for (spec, _), accuracy in zip(scored, accuracies, strict=True):
        out(f"{100 * accuracy:.2f}%  {spec}")
    if args.output:
        record = scores_record(run, stage, derive_batches, scored, accuracies)
        try:
            atomic_write_text(args.output, json.dumps(record, indent=2) + "\n")
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc}") from None
        out(f"wrote {args.output}")
    return 0
