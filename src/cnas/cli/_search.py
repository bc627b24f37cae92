"""``cnas search`` and ``cnas derive``: run a curriculum search; derive a stage again.

Each strategy's flags come from its own definition (``cnas.search.strategy_settings``):
no default is restated here, and a plugin strategy gets its flags too.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
from pathlib import Path
from typing import Any

from ._common import CLIError, join_processes, non_negative_int, out, positive_int

__all__ = ["add_derive_parser", "add_search_parser"]

logger = logging.getLogger("cnas")

_MODES = {"CNAS_OP": "ops", "CNAS_NODE": "nodes", "CNAS_FIX": "fixed"}
_TABLE = "_strategy_flags"  # where a parser keeps its strategy flags (argparse defaults)


def _curriculum(text: str) -> str:
    value = _MODES.get(text.upper(), text.lower())
    if value not in ("ops", "nodes", "fixed"):
        raise argparse.ArgumentTypeError(
            f"unknown curriculum {text!r}; choose ops, nodes or fixed "
            "(or the original's CNAS_OP, CNAS_NODE, CNAS_FIX)"
        )
    return value


# -- strategy flags -----------------------------------------------------------------------------


_OFF = object()  # "off" given for an optional setting: None, as opposed to not given


def _strategy_table() -> dict[str, list[tuple[str, Any]]]:
    """Every registered strategy's settings: ``{name: [(strategy, Setting), ...]}``.

    A name that two strategies give different types gets no flag (a warning says so).
    """
    from ..search import get_strategy, list_strategies, strategy_settings

    table: dict[str, list[tuple[str, Any]]] = {}
    clashes: set[str] = set()
    for strategy in list_strategies():
        for setting in strategy_settings(get_strategy(strategy)):
            entry = table.setdefault(setting.name, [])
            if entry and (entry[0][1].type, entry[0][1].optional) != (
                setting.type,
                setting.optional,
            ):
                clashes.add(setting.name)
            entry.append((strategy, setting))
    for name in sorted(clashes):
        logger.warning(
            "strategies %s give the setting %r different types; no flag for it",
            ", ".join(strategy for strategy, _ in table[name]),
            name,
        )
        del table[name]
    return table


def _parser_for(setting: Any) -> Any:
    def parse(text: str) -> Any:
        if setting.optional and text.lower() in ("off", "none"):
            return _OFF
        try:
            return setting.type(text)
        except ValueError:
            kind = setting.type.__name__
            extra = " or 'off'" if setting.optional else ""
            raise argparse.ArgumentTypeError(f"expected {kind}{extra}, got {text!r}") from None

    return parse


def _add_strategy_flags(parser: argparse.ArgumentParser) -> None:
    """The strategies' settings as flags, after every other flag of ``parser``: a plugin's
    setting whose flag is taken gets none (a warning says so), never the other's."""
    group = parser.add_argument_group(
        "strategy settings", "each applies to the strategies named in its help"
    )
    added: dict[str, list[tuple[str, Any]]] = {}
    for name, entries in _strategy_table().items():
        setting = entries[0][1]
        defaults = {"off" if s.default is None else s.default for _, s in entries}
        if len(defaults) == 1:
            default = f"default: {defaults.pop()}"
        else:
            default = "defaults: " + ", ".join(
                f"{strategy} {'off' if s.default is None else s.default}" for strategy, s in entries
            )
        strategies = " or ".join(strategy for strategy, _ in entries)
        off = "; 'off' for none" if setting.optional else ""
        options: dict[str, Any] = {
            "dest": f"strategy__{name}",
            "default": None,
            "help": f"{setting.help or name} ({strategies}; {default}{off})",
        }
        if setting.type is bool and not setting.optional:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _parser_for(setting)
            options["metavar"] = setting.type.__name__.upper()
        try:
            group.add_argument(*setting.flags, **options)
        except argparse.ArgumentError as exc:
            logger.warning("no flag for strategy setting %r of %s: %s", name, strategies, exc)
            continue
        added[name] = entries
    parser.set_defaults(**{_TABLE: added})


def _given_settings(args: argparse.Namespace, strategy: str) -> dict[str, Any]:
    """The strategy settings given on the command line; a flag of another strategy is an
    error, not something to ignore."""
    given: dict[str, Any] = {}
    for name, entries in getattr(args, _TABLE).items():
        value = getattr(args, f"strategy__{name}")
        if value is None:
            continue
        if strategy not in [s for s, _ in entries]:
            strategies = " or ".join(s for s, _ in entries)
            raise CLIError(
                f"{entries[0][1].flags[0]} applies to --strategy {strategies}, "
                f"not --strategy {strategy}"
            )
        given[name] = None if value is _OFF else value
    return given


def _build_strategy(name: str, settings: dict[str, Any]) -> Any:
    from ..search import get_strategy

    try:
        return get_strategy(name)(**settings)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--strategy {name}: {exc}") from None


def _listing() -> str:
    from ..search import get_strategy, list_strategies, strategy_settings

    lines = ["search strategies (--strategy NAME) and their settings:"]
    for name in list_strategies():
        cls = get_strategy(name)
        doc = inspect.getdoc(cls) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        lines += ["", f"{name}: {cls.__module__.split('._')[0]}.{cls.__name__}", f"  {summary}"]
        for s in strategy_settings(cls):
            default = "off" if s.default is None else s.default
            lines.append(f"  {' / '.join(s.flags)} (default: {default}): {s.help}")
    return "\n".join(lines)


# -- cnas search --------------------------------------------------------------------------------


def add_search_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``search``."""
    from ..data import DATASETS
    from ..search import list_strategies

    p = sub.add_parser(
        "search",
        help="run a curriculum architecture search",
        description="Search a cell with CNAS, or with another strategy in the same "
        "curriculum (--list-strategies). Every flag also accepts the original code's "
        "spelling (e.g. --batch_size, --epochs_for_warmup, --mode CNAS_OP).",
    )
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
    data.add_argument("--batch-size", "--batch_size", type=positive_int, default=96)
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
    run.add_argument("--seed", type=int, default=2020)
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
    _add_strategy_flags(p)  # last: a plugin's setting never takes a flag of the command's
    p.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    if args.list_strategies:
        out(_listing())
        return 0
    import torch

    from .. import distributed as dist_utils
    from ..curriculum import CurriculumSchedule
    from ..data import DatasetNotFoundError, load_search_data
    from ..errors import CheckpointError
    from ..ops import DARTS_OPS
    from ..search import Searcher
    from ..space import SearchSpace
    from ..supernet import SuperNet

    settings = _given_settings(args, args.strategy)
    if not 0.0 < args.train_portion < 1.0:
        raise CLIError(f"--train-portion must be between 0 and 1, got {args.train_portion}")
    ops = [o.strip() for o in args.ops.split(",") if o.strip()] if args.ops else list(DARTS_OPS)
    if args.n_ops is not None:
        if args.n_ops > len(ops):
            raise CLIError(f"--n-ops {args.n_ops} is more than the {len(ops)} ops given")
        ops = ops[: args.n_ops]
    try:
        space = SearchSpace(ops, args.nodes)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    strategy = _build_strategy(args.strategy, settings)  # bad settings fail before any work
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
    augment = bool(args.search_augment and args.dataset == "cifar10")
    data_config = {
        "dataset": args.dataset,
        "train_portion": args.train_portion,
        "split_seed": args.seed,
        "augment": augment,
    }
    try:
        train, val, info = load_search_data(
            args.dataset,
            args.data,
            download=not args.no_download,
            train_portion=args.train_portion,
            seed=args.seed,
            augment=augment,
        )
        score = (
            load_search_data(
                args.dataset,
                args.data,
                train_portion=args.train_portion,
                seed=args.seed,
                augment=False,
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
            batch_size=args.batch_size,
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
        )
        result = searcher.fit(train, val, score)
    except (CheckpointError, ValueError) as exc:
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


def add_derive_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``derive``."""
    from ..search import list_strategies

    p = sub.add_parser(
        "derive",
        help="derive a finished stage's genotype again, with any strategy",
        description="Load a finished stage's supernet and strategy state from a search "
        "folder (RUN/stages/stage-K) and derive its genotype again: with the run's strategy "
        "and other settings, or with a strategy that needs only the supernet (random, "
        "evolution). Candidates are scored on the run's validation split, rebuilt from its "
        "config.json. Nothing in RUN changes.",
    )
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
        "-o", "--output", default=None, metavar="FILE", help="also write the genotype to FILE"
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    _add_strategy_flags(p)
    p.set_defaults(func=_cmd_derive)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CLIError(f"{path.parent} is not a cnas search folder (no {path.name})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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


def _cmd_derive(args: argparse.Namespace) -> int:
    import torch

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
    stage = _stage_record(run, args.stage)  # the settings the stage ran with
    settings: dict[str, Any] = {}
    if name == searched_with:
        accepted = inspect.signature(get_strategy(name).__init__).parameters
        recorded = stage.get("settings") or config.get("strategy_settings") or {}
        settings = {k: v for k, v in recorded.items() if k in accepted}
    settings.update(_given_settings(args, name))
    recorded_searcher = stage.get("searcher") or config.get("searcher") or {}
    device = torch.device(args.device) if args.device else None
    try:
        _, score, _ = load_search_data(
            data["dataset"],
            args.data,
            download=not args.no_download,
            train_portion=float(data.get("train_portion", 0.4)),
            seed=int(data.get("split_seed", seed)),
            augment=False,
        )
    except DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None
    strategy = _build_strategy(name, settings)
    supernet = SuperNet(
        space,
        C=sizes["C"],
        num_classes=sizes["num_classes"],
        layers=sizes["layers"],
        in_channels=sizes["in_channels"],
    )
    try:
        searcher = Searcher(
            supernet,
            schedule,
            run,
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
        result = searcher.derive(args.stage - 1 if args.stage else -1, data=score)
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
