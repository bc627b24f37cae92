"""``cnas search``: arguments -> a ``SearchConfig`` -> ``Searcher.from_config(...).fit()``
(flags made from the configuration's fields: ``_config_flags``; the strategy settings'
flags: ``_strategy_flags``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._common import CLIError, join_processes, out, positive_int
from ._config_flags import (
    add_config_file_flags,
    add_config_flags,
    add_per_process_batch_flag,
    config_error,
    given_fields,
    load_config,
    per_process_batch,
)
from ._strategy_flags import add_strategy_flags, given_settings, strategy_listing

__all__ = ["add_search_parser", "search_config"]

logger = logging.getLogger("cnas")

_TITLES = {
    "data": "data",
    "space": "search space",
    "curriculum": "curriculum",
    "supernet": "supernet",
    "optimizer": "supernet training",
    "strategy": "strategy",
    "budget": "budget (costs of the derived cell's evaluation network; see docs/search.md#budgets)",
    "runtime": "run",
}


def add_search_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``search`` (its flags are added when it is used: they need the registries)."""
    sub.add_parser(
        "search",
        help="run a curriculum architecture search",
        description="Search a cell with CNAS, or with another strategy in the same "
        "curriculum (--list-strategies). Every flag sets a field of the search's "
        "configuration (docs/configuration.md); --config FILE reads one, and a search "
        "folder's config.json is one. Every flag also accepts the original code's "
        "spelling (e.g. --batch_size, --epochs_for_warmup, --mode CNAS_OP).",
        populate=_populate_search,
    )


def _populate_search(p: argparse.ArgumentParser) -> None:
    from ..search import SearchConfig

    p.add_argument(
        "-o",
        "--output",
        default="runs/search",
        help="output folder (default: runs/search); a folder holding a checkpoint is resumed",
    )
    p.add_argument(
        "--list-strategies",
        action="store_true",
        help="list the strategies and their settings, then exit",
    )
    add_config_file_flags(p, "search")
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="fail instead of resuming when the output folder holds a checkpoint",
    )
    add_per_process_batch_flag(p)
    p.add_argument(
        "--n-ops",
        "--n_ops",
        type=positive_int,
        default=None,
        help="use only the first N ops of --ops",
    )
    p.add_argument("--local-rank", "--local_rank", type=int, help=argparse.SUPPRESS)
    add_config_flags(p, SearchConfig, titles=_TITLES)
    add_strategy_flags(p)  # last: a plugin's setting never takes a flag of the command's
    p.set_defaults(func=_cmd_search)


def search_config(args: argparse.Namespace) -> Any:
    """The ``SearchConfig`` a ``cnas search`` command line gives."""
    from ..search import SearchConfig

    args = per_process_batch(args, "optimizer.batch_size")
    given = given_fields(args)
    name = given.get("strategy.name")

    def other_strategy(config: Any) -> Any:  # another strategy: the file's settings go
        if name is not None and name != config.strategy.name:
            return config.replace(strategy={"name": name, "settings": {}})
        return config

    config = load_config(SearchConfig, args, lambda: SearchConfig(), adjust=other_strategy)
    settings = given_settings(args, config.strategy.name)
    try:
        if args.n_ops is not None:
            if args.n_ops > len(config.space.ops):
                raise CLIError(
                    f"--n-ops {args.n_ops} is more than the {len(config.space.ops)} ops given"
                )
            config = config.replace(space={"ops": config.space.ops[: args.n_ops]})
        if settings:
            config = config.replace(strategy={"settings": {**config.strategy.settings, **settings}})
    except ConfigError as exc:
        raise config_error(exc, args) from None
    return config


def _cmd_search(args: argparse.Namespace) -> int:
    if args.list_strategies:
        out(strategy_listing())
        return 0
    config = search_config(args)
    if args.print_config:
        out(config.to_json().rstrip())
        return 0
    from .. import distributed as dist_utils
    from ..errors import CheckpointError, NonFiniteLossError
    from ..search import Searcher

    join_processes(config.runtime.device)
    try:
        searcher = Searcher.from_config(config, args.output, resume=not args.no_resume)
        result = searcher.fit()
    except ConfigError as exc:
        raise config_error(exc, args) from None
    except (CheckpointError, ValueError, NonFiniteLossError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    if dist_utils.is_main_process():
        folder = Path(args.output)
        if result.genotype is not None:
            out(f"final genotype: {result.genotype!r}")
            out(f"genotype:  {folder / 'genotype.json'}")
        out(f"report:    {folder / 'report.md'}")
        out(f"metrics:   {folder / 'metrics.jsonl'}")
        out(f"config:    {folder / 'config.json'} (cnas search --config reads it)")
    return 0


# -- cnas derive --------------------------------------------------------------------------------
