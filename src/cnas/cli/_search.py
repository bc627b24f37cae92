"""``cnas search``: run a curriculum search (the strategy flags: ``_strategy_flags``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ._budget_flags import add_budget_flags, budget_from_args
from ._common import (
    CLIError,
    add_batch_size_flags,
    add_hold_out_flags,
    global_batch,
    hold_out_config,
    join_processes,
    non_negative_int,
    out,
    positive_int,
    seed_int,
)
from ._strategy_flags import add_strategy_flags, build_strategy, given_settings, strategy_listing

__all__ = ["add_search_parser"]

logger = logging.getLogger("cnas")

_MODES = {"CNAS_OP": "ops", "CNAS_NODE": "nodes", "CNAS_FIX": "fixed"}


def _curriculum(text: str) -> str:
    value = _MODES.get(text.upper(), text.lower())
    if value not in ("ops", "nodes", "fixed"):
        raise argparse.ArgumentTypeError(
            f"unknown curriculum {text!r}; choose ops, nodes or fixed "
            "(or the original's CNAS_OP, CNAS_NODE, CNAS_FIX)"
        )
    return value


# -- strategy flags -----------------------------------------------------------------------------


def add_search_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``search`` (its flags are added when it is used: they need the registries)."""
    sub.add_parser(
        "search",
        help="run a curriculum architecture search",
        description="Search a cell with CNAS, or with another strategy in the same "
        "curriculum (--list-strategies). Every flag also accepts the original code's "
        "spelling (e.g. --batch_size, --epochs_for_warmup, --mode CNAS_OP).",
        populate=_populate_search,
    )


def _populate_search(p: argparse.ArgumentParser) -> None:
    from ..data import DATASETS
    from ..search import list_strategies

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
    data = p.add_argument_group("data")
    data.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default="cifar10",
        help="cifar10 (downloaded), digits (embedded, no download) or synthetic (default: cifar10)",
    )
    data.add_argument("--data", default="data", help="data folder for CIFAR-10 (default: data)")
    data.add_argument(
        "--no-download", action="store_true", help="never download CIFAR-10; fail if it is missing"
    )
    data.add_argument(
        "--train-portion",
        "--train_portion",
        type=float,
        default=0.4,
        help="share of the training set that trains the supernet weights; the "
        "rest is the validation split the strategy learns from (default: 0.4)",
    )
    data.add_argument(
        "--search-augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="CIFAR-10: random crop (padding 4) and flip on both splits, as the original "
        "search; candidates are scored on the validation split without them (default: on)",
    )
    add_hold_out_flags(data)
    add_batch_size_flags(data, default=96)
    data.add_argument("--num-workers", "--num_workers", type=non_negative_int, default=0)
    strat = p.add_argument_group("strategy")
    strat.add_argument(
        "--strategy",
        choices=list_strategies(),
        default="cnas",
        help="cnas (the paper's LSTM controller), darts, gdas, random (random search with "
        "weight sharing), evolution (regularized evolution over the supernet), or a "
        "plugin's; default: cnas",
    )
    cur = p.add_argument_group("curriculum")
    cur.add_argument(
        "--curriculum",
        "--mode",
        type=_curriculum,
        default="ops",
        help="ops (grow the op set, the paper's), nodes (grow the node count) "
        "or fixed (no curriculum); default: ops",
    )
    cur.add_argument(
        "--stages", type=positive_int, default=None, help="run only the first N stages"
    )
    cur.add_argument(
        "--warmup-epochs",
        "--epochs-for-warmup",
        "--epochs_for_warmup",
        type=non_negative_int,
        default=20,
        help="warm-up epochs per stage (20)",
    )
    cur.add_argument(
        "--epochs-per-stage",
        "--epoch-per-stage",
        "--epoch_per_stage",
        type=non_negative_int,
        default=40,
        help="rounds of the strategy's epochs per stage (40)",
    )
    space = p.add_argument_group("search space and supernet")
    space.add_argument(
        "--ops", default=None, help="comma-separated op names, in order (default: the 8 DARTS ops)"
    )
    space.add_argument(
        "--n-ops",
        "--n_ops",
        type=positive_int,
        default=None,
        help="use only the first N ops of --ops",
    )
    space.add_argument(
        "--nodes",
        "--n-nodes",
        "--n_nodes",
        type=positive_int,
        default=4,
        help="intermediate nodes per cell (4)",
    )
    space.add_argument(
        "--init-channels",
        "--init_channels",
        type=positive_int,
        default=16,
        help="supernet channels C (16)",
    )
    space.add_argument("--layers", type=positive_int, default=8, help="supernet cells (8)")
    opt = p.add_argument_group("supernet training and scoring")
    opt.add_argument(
        "--lr",
        "--arch-learning-rate",
        "--arch_learning_rate",
        type=float,
        default=0.01,
        help="supernet SGD learning rate (0.01)",
    )
    opt.add_argument("--momentum", "--arch_momentum", type=float, default=0.9)
    opt.add_argument("--weight-decay", "--arch_weight_decay", type=float, default=3e-4)
    opt.add_argument(
        "--derive-batches",
        type=positive_int,
        default=None,
        help="score candidates on at most N validation batches (default: all)",
    )
    opt.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        default=None,
        help="cap every epoch at N batches (quick runs)",
    )
    run = p.add_argument_group("run")
    run.add_argument("--seed", type=seed_int, default=2020)
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: auto)")
    run.add_argument(
        "--no-resume",
        action="store_true",
        help="fail instead of resuming when the output folder holds a checkpoint",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--no-channels-last",
        action="store_true",
        help="run the supernet in NCHW instead of channels-last",
    )
    add_budget_flags(p)
    add_strategy_flags(p)  # last: a plugin's setting never takes a flag of the command's
    p.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    if args.list_strategies:
        out(strategy_listing())
        return 0
    import torch

    from .. import distributed as dist_utils
    from .._memory import check_fits
    from ..curriculum import CurriculumSchedule
    from ..data import DATASETS, DatasetInfo, DatasetNotFoundError, load_search_data
    from ..errors import CheckpointError, NonFiniteLossError
    from ..ops import DARTS_OPS
    from ..search import Searcher
    from ..space import SearchSpace
    from ..supernet import SuperNet

    settings = given_settings(args, args.strategy)
    held_out = hold_out_config(args)
    if not 0.0 < args.train_portion < 1.0:
        raise CLIError(f"--train-portion must be between 0 and 1, got {args.train_portion}")
    ops = list(DARTS_OPS)
    if args.ops is not None:
        ops = [o.strip() for o in args.ops.split(",") if o.strip()]
        if not ops:
            raise CLIError("--ops names no op; give comma-separated op names, or leave it out")
    if args.n_ops is not None:
        if args.n_ops > len(ops):
            raise CLIError(f"--n-ops {args.n_ops} is more than the {len(ops)} ops given")
        ops = ops[: args.n_ops]
    try:
        space = SearchSpace(ops, args.nodes)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    strategy = build_strategy(args.strategy, settings)  # bad settings fail before any work
    if args.curriculum == "ops":
        schedule = CurriculumSchedule.grow_ops(
            space, args.warmup_epochs, args.epochs_per_stage, seed=args.seed
        )
    elif args.curriculum == "nodes":
        schedule = CurriculumSchedule.grow_nodes(space, args.warmup_epochs, args.epochs_per_stage)
    else:
        schedule = CurriculumSchedule.fixed(space, args.warmup_epochs, args.epochs_per_stage)
    if args.stages is not None:
        schedule = CurriculumSchedule(schedule.stages[: args.stages], schedule.op_order)
    device = join_processes(args.device)
    budget = budget_from_args(args, args.dataset, device)
    shaped = args.cost_weight is not None or args.cost_penalty != "soft"
    if budget is not None and shaped and args.strategy in ("random", "evolution"):
        logger.warning(
            "--cost-weight and --cost-penalty shape a soft objective, and %s has none: it "
            "rejects cells over the budget",
            args.strategy,
        )
    if budget is not None:  # refused before any data is loaded
        from ..errors import BudgetError, LatencyTableError

        try:
            budget.search_model(space, schedule)  # the Searcher checks again, after the data
        except (BudgetError, LatencyTableError) as exc:
            raise CLIError(str(exc)) from None
    known = DATASETS.get(args.dataset, DatasetInfo(args.dataset, 3, 10, 32))
    try:  # before any data is loaded
        check_fits(
            lambda: SuperNet(
                space,
                C=args.init_channels,
                num_classes=known.num_classes,
                layers=args.layers,
                in_channels=known.in_channels,
            ),
            device,
            what="the supernet",
            hint="use fewer channels (--init-channels), layers (--layers) or nodes (--nodes)",
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    augment = bool(args.search_augment and args.dataset == "cifar10")
    data_config = {
        "dataset": args.dataset,
        "train_portion": args.train_portion,
        "split_seed": args.seed,
        "augment": augment,
        **held_out,
    }
    try:
        train, val, info = load_search_data(
            args.dataset,
            args.data,
            download=not args.no_download,
            train_portion=args.train_portion,
            seed=args.seed,
            augment=augment,
            **held_out,
        )
        score = (
            load_search_data(
                args.dataset,
                args.data,
                train_portion=args.train_portion,
                seed=args.seed,
                augment=False,
                **held_out,
            )[1]
            if augment
            else None
        )
    except DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None
    torch.manual_seed(args.seed)
    supernet = SuperNet(
        space,
        C=args.init_channels,
        num_classes=info.num_classes,
        layers=args.layers,
        in_channels=info.in_channels,
    )
    try:
        searcher = Searcher(
            supernet,
            schedule,
            args.output,
            strategy=strategy,
            batch_size=global_batch(args) or 96,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            derive_batches=args.derive_batches,
            steps_per_epoch=args.steps_per_epoch,
            device=device,
            channels_last=not args.no_channels_last,
            seed=args.seed,
            num_workers=args.num_workers,
            resume=not args.no_resume,
            progress=False if args.no_progress else None,
            data_config=data_config,
            budget=budget,
        )
        result = searcher.fit(train, val, score)
    except (CheckpointError, ValueError, NonFiniteLossError) as exc:
        raise CLIError(str(exc)) from None
    if dist_utils.is_main_process():
        folder = Path(args.output)
        if result.genotype is not None:
            out(f"final genotype: {result.genotype!r}")
            out(f"genotype:  {folder / 'genotype.json'}")
        out(f"report:    {folder / 'report.md'}")
        out(f"metrics:   {folder / 'metrics.jsonl'}")
    return 0


# -- cnas derive --------------------------------------------------------------------------------
