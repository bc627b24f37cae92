"""The ``cnas`` command line (also ``python -m cnas``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("cnas")


def _out(message: str) -> None:
    """Write a result line to standard output (the CLI's job; library code logs instead)."""
    sys.stdout.write(message + "\n")


def _err(message: str) -> None:
    """Write a message line to standard error."""
    sys.stderr.write(message + "\n")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _resolve_genotype(spec: str) -> object:
    from . import genotypes

    try:
        return genotypes.resolve(spec)
    except (KeyError, FileNotFoundError, ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def _cmd_draw(args: argparse.Namespace) -> int:
    from . import viz
    from ._genotype import Genotype

    genotype = _resolve_genotype(args.arch)
    assert isinstance(genotype, Genotype)
    out = Path(args.output)
    fmt = args.format or (out.suffix.lstrip(".").lower() or "svg")
    if not out.suffix:
        out = out.with_suffix(f".{fmt}")
    if out.exists() and not args.force:
        raise CLIError(f"{out} exists; pass --force to overwrite it")
    try:
        written = viz.draw(genotype, out, format=fmt, title=args.title)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if written != out:
        _err(f"once graphviz is installed: dot -T{fmt} {written} -o {out}")
        return 1
    _out(f"wrote {out}")
    return 0


def _cmd_genotypes(args: argparse.Namespace) -> int:
    from . import genotypes

    if args.name is None:
        for name in genotypes.list():
            _out(name)
        return 0
    genotype = _resolve_genotype(args.name)
    from ._genotype import Genotype

    assert isinstance(genotype, Genotype)
    if args.format == "json":
        _out(genotype.to_json(indent=2))
    elif args.format == "darts":
        _out(repr(genotype.to_darts()))
    else:
        _out(repr(genotype))
    return 0


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers of at least ``minimum``."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _join_processes(device_flag: str | None) -> Any:
    """The device to run on (``--device`` or this process's default), after joining the
    process group ``torchrun`` describes, if any."""
    import torch

    from . import distributed as dist_utils

    device = torch.device(device_flag) if device_flag else dist_utils.default_device()
    dist_utils.init_from_env(device)
    return device


_MODES = {"CNAS_OP": "ops", "CNAS_NODE": "nodes", "CNAS_FIX": "fixed"}


def _curriculum(text: str) -> str:
    value = _MODES.get(text.upper(), text.lower())
    if value not in ("ops", "nodes", "fixed"):
        raise argparse.ArgumentTypeError(
            f"unknown curriculum {text!r}; choose ops, nodes or fixed "
            "(or the original's CNAS_OP, CNAS_NODE, CNAS_FIX)"
        )
    return value


def _add_search_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .data import DATASETS

    p = sub.add_parser(
        "search",
        help="run a curriculum architecture search",
        description="Search a cell with CNAS. Every flag also accepts the original code's "
        "spelling (e.g. --batch_size, --epochs_for_warmup, --mode CNAS_OP).",
    )
    p.add_argument(
        "-o",
        "--output",
        default="runs/search",
        help="output folder (default: runs/search); a folder holding a checkpoint is resumed",
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
        "rest trains the controller (default: 0.4)",
    )
    data.add_argument("--batch-size", "--batch_size", type=_positive_int, default=96)
    data.add_argument("--num-workers", "--num_workers", type=_non_negative_int, default=0)
    strat = p.add_argument_group("strategy")
    strat.add_argument(
        "--strategy",
        choices=("cnas", "darts", "gdas"),
        default="cnas",
        help="cnas (the LSTM controller, the paper's), darts (first-order DARTS on the "
        "mixed supernet) or gdas (Gumbel one-path sampling); default: cnas",
    )
    strat.add_argument(
        "--alpha-lr",
        type=float,
        default=None,
        help="darts/gdas: Adam learning rate of the architecture parameters (3e-4)",
    )
    strat.add_argument(
        "--alpha-weight-decay",
        type=float,
        default=None,
        help="darts/gdas: weight decay of the architecture parameters (1e-3)",
    )
    strat.add_argument(
        "--tau-max", type=float, default=None, help="gdas: temperature at a stage's start (10)"
    )
    strat.add_argument(
        "--tau-min", type=float, default=None, help="gdas: temperature at a stage's end (0.1)"
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
        "--stages", type=_positive_int, default=None, help="run only the first N stages"
    )
    cur.add_argument(
        "--warmup-epochs",
        "--epochs-for-warmup",
        "--epochs_for_warmup",
        type=_non_negative_int,
        default=20,
        help="warm-up epochs per stage (20)",
    )
    cur.add_argument(
        "--epochs-per-stage",
        "--epoch-per-stage",
        "--epoch_per_stage",
        type=_non_negative_int,
        default=40,
        help="supernet+controller epochs per stage (40)",
    )
    space = p.add_argument_group("search space and networks")
    space.add_argument(
        "--ops", default=None, help="comma-separated op names, in order (default: the 8 DARTS ops)"
    )
    space.add_argument(
        "--n-ops",
        "--n_ops",
        type=_positive_int,
        default=None,
        help="use only the first N ops of --ops",
    )
    space.add_argument(
        "--nodes",
        "--n-nodes",
        "--n_nodes",
        type=_positive_int,
        default=4,
        help="intermediate nodes per cell (4)",
    )
    space.add_argument(
        "--init-channels",
        "--init_channels",
        type=_positive_int,
        default=16,
        help="supernet channels C (16)",
    )
    space.add_argument("--layers", type=_positive_int, default=8, help="supernet cells (8)")
    space.add_argument(
        "--hidden-size",
        "--hidden_size",
        type=_positive_int,
        default=None,
        help="cnas: controller LSTM width (128)",
    )
    space.add_argument("--temperature", type=float, default=None)
    space.add_argument("--tanh-constant", "--tanh_constant", type=float, default=None)
    space.add_argument("--op-tanh-reduce", "--op_tanh_reduce", type=float, default=None)
    opt = p.add_argument_group("optimization")
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
        "--controller-lr",
        "--controller_learning_rate",
        type=float,
        default=None,
        help="cnas: controller Adam learning rate (3e-4)",
    )
    opt.add_argument(
        "--controller-weight-decay",
        "--controller_weight_decay",
        type=float,
        default=None,
        help="cnas: controller weight decay (5e-4)",
    )
    opt.add_argument(
        "--entropy-coeff",
        "--entropy_coeff",
        type=float,
        default=None,
        help="cnas: entropy bonus weight (0.005)",
    )
    opt.add_argument(
        "--grad-clip",
        "--grad_clip",
        type=float,
        default=None,
        help="cnas: controller gradient-norm clip (5)",
    )
    opt.add_argument(
        "--baseline-decay",
        "--baseline_moving_gamma",
        type=float,
        default=None,
        help="cnas: moving-average baseline decay (0.99)",
    )
    opt.add_argument(
        "--derive-rounds", type=_positive_int, default=None, help="cnas: derive rounds (3)"
    )
    opt.add_argument(
        "--derive-samples",
        type=_positive_int,
        default=None,
        help="cnas: candidates per derive round (10)",
    )
    opt.add_argument(
        "--derive-batches",
        type=_positive_int,
        default=None,
        help="score derived candidates on at most N validation batches",
    )
    opt.add_argument(
        "--steps-per-epoch",
        type=_positive_int,
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
    p.set_defaults(func=_cmd_search)


# Options that only one search strategy reads: (strategies, default). Giving one to
# another strategy is a mistake to report, not to ignore.
_STRATEGY_OPTIONS: dict[str, tuple[tuple[str, ...], object]] = {
    "alpha_lr": (("darts", "gdas"), 3e-4),
    "alpha_weight_decay": (("darts", "gdas"), 1e-3),
    "tau_max": (("gdas",), 10.0),
    "tau_min": (("gdas",), 0.1),
    "hidden_size": (("cnas",), 128),
    "temperature": (("cnas",), None),
    "tanh_constant": (("cnas",), None),
    "op_tanh_reduce": (("cnas",), None),
    "controller_lr": (("cnas",), 3e-4),
    "controller_weight_decay": (("cnas",), 5e-4),
    "entropy_coeff": (("cnas",), 0.005),
    "grad_clip": (("cnas",), 5.0),
    "baseline_decay": (("cnas",), 0.99),
    "derive_rounds": (("cnas",), 3),
    "derive_samples": (("cnas",), 10),
}


def _resolve_strategy_options(args: argparse.Namespace) -> None:
    """Refuse options of another strategy; fill in the defaults of the chosen one."""
    for dest, (strategies, default) in _STRATEGY_OPTIONS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
        elif args.strategy not in strategies:
            flag = "--" + dest.replace("_", "-")
            raise CLIError(
                f"{flag} applies to --strategy {' or '.join(strategies)}, "
                f"not --strategy {args.strategy}"
            )


def _cmd_search(args: argparse.Namespace) -> int:
    import torch

    from . import distributed as dist_utils
    from ._checkpoint import CheckpointError
    from .controller import Controller
    from .curriculum import CurriculumSchedule
    from .data import DatasetNotFoundError, load_search_data
    from .ops import DARTS_OPS
    from .search import Searcher
    from .space import SearchSpace
    from .supernet import SuperNet

    _resolve_strategy_options(args)
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
    device = _join_processes(args.device)
    try:
        train, val, info = load_search_data(
            args.dataset,
            args.data,
            download=not args.no_download,
            train_portion=args.train_portion,
            seed=args.seed,
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
    controller = (
        Controller(
            space,
            hidden_size=args.hidden_size,
            temperature=args.temperature,
            tanh_constant=args.tanh_constant,
            op_tanh_reduce=args.op_tanh_reduce,
        )
        if args.strategy == "cnas"
        else None
    )
    try:
        searcher = Searcher(
            supernet,
            controller,
            schedule,
            args.output,
            strategy=args.strategy,
            alpha_lr=args.alpha_lr,
            alpha_weight_decay=args.alpha_weight_decay,
            tau_max=args.tau_max,
            tau_min=args.tau_min,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            controller_lr=args.controller_lr,
            controller_weight_decay=args.controller_weight_decay,
            grad_clip=args.grad_clip,
            entropy_coeff=args.entropy_coeff,
            baseline_decay=args.baseline_decay,
            derive_rounds=args.derive_rounds,
            derive_samples=args.derive_samples,
            derive_batches=args.derive_batches,
            steps_per_epoch=args.steps_per_epoch,
            device=device,
            channels_last=not args.no_channels_last,
            seed=args.seed,
            num_workers=args.num_workers,
            resume=not args.no_resume,
            progress=False if args.no_progress else None,
        )
        result = searcher.fit(train, val)
    except (CheckpointError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if dist_utils.is_main_process():
        out = Path(args.output)
        if result.genotype is not None:
            _out(f"final genotype: {result.genotype!r}")
            _out(f"genotype:  {out / 'genotype.json'}")
        _out(f"report:    {out / 'report.md'}")
        _out(f"metrics:   {out / 'metrics.jsonl'}")
    return 0


def _add_train_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a genotype's network from scratch",
        description="Train NetworkCIFAR / NetworkImageNet for a genotype with the paper's "
        "recipe (defaults per dataset). The original eval_arch.py spellings work too "
        "(--batch_size, --init_channels, --max_epochs, --no_bias_decay, ...).",
    )
    p.add_argument(
        "--arch",
        default="CNAS",
        help="a published or registered genotype name, or a genotype.json path",
    )
    p.add_argument(
        "--dataset", choices=("cifar10", "imagenet", "digits", "synthetic"), default="cifar10"
    )
    p.add_argument(
        "--data",
        default="data",
        help="data folder (CIFAR-10, or the ImageNet folder with train/ and val/)",
    )
    p.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    p.add_argument("-o", "--output", default="runs/train", help="output folder")
    p.add_argument("--init-channels", "--init_channels", type=_positive_int)
    p.add_argument("--layers", type=_positive_int)
    p.add_argument("--epochs", "--max-epochs", "--max_epochs", type=_positive_int)
    p.add_argument(
        "--batch-size",
        "--batch_size",
        type=_positive_int,
        help="global batch size (split over torchrun processes)",
    )
    p.add_argument("--lr", "--learning-rate", "--learning_rate", type=float)
    p.add_argument("--lr-min", "--learning_rate_min", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", "--weight_decay", type=float)
    p.add_argument("--no-bias-decay", "--no_bias_decay", action="store_true", default=None)
    p.add_argument("--scheduler", "--schedule", choices=("cosine", "linear"))
    p.add_argument("--warmup-epochs", "--warmup_epochs", type=_non_negative_int)
    p.add_argument("--grad-clip", "--grad_clip", type=float)
    p.add_argument(
        "--auxiliary-weight",
        "--auxiliary_weight",
        type=float,
        help="0 trains without the auxiliary head",
    )
    p.add_argument("--drop-path-prob", "--drop_path_prob", type=float)
    p.add_argument("--cutout", "--cutout-length", "--cutout_length", type=_non_negative_int)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument(
        "--label-smooth",
        "--label_smooth",
        dest="label_smoothing",
        action="store_const",
        const=0.1,
        help="label smoothing 0.1",
    )
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", "--num_workers", type=_non_negative_int)
    p.add_argument("--max-steps", type=_positive_int, help="stop after N training steps")
    p.add_argument("--device", default=None)
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue from OUTPUT/last.pt, or from CHECKPOINT",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train)

    e = sub.add_parser(
        "evaluate",
        help="report top-1/top-5 of trained weights",
        description="Evaluate trained weights (model.safetensors written by cnas train, a "
        "last.pt/best.pt checkpoint, or a plain state dict) on a dataset split.",
    )
    e.add_argument("--weights", required=True, help="weights file")
    e.add_argument(
        "--arch", default=None, help="genotype (default: from config.json beside the weights)"
    )
    e.add_argument(
        "--dataset",
        choices=("cifar10", "imagenet", "digits", "synthetic"),
        default=None,
        help="default: from config.json, else cifar10",
    )
    e.add_argument("--data", default="data")
    e.add_argument("--no-download", action="store_true")
    e.add_argument("--split", choices=("val", "train"), default="val")
    e.add_argument("--init-channels", "--init_channels", type=_positive_int)
    e.add_argument("--layers", type=_positive_int)
    e.add_argument("--batch-size", "--batch_size", type=_positive_int, default=256)
    e.add_argument("--device", default=None)
    e.set_defaults(func=_cmd_evaluate)


_TRAIN_FLAGS = {
    "init_channels": "init_channels",
    "layers": "layers",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "lr_min": "lr_min",
    "momentum": "momentum",
    "weight_decay": "weight_decay",
    "no_bias_decay": "no_bias_decay",
    "scheduler": "schedule",
    "warmup_epochs": "warmup_epochs",
    "grad_clip": "grad_clip",
    "auxiliary_weight": "auxiliary_weight",
    "drop_path_prob": "drop_path_prob",
    "cutout": "cutout",
    "label_smoothing": "label_smoothing",
    "precision": "precision",
    "compile": "compile",
    "seed": "seed",
    "num_workers": "num_workers",
    "max_steps": "max_steps",
}


def _build_network(
    name: str,
    genotype: object,
    C: int,
    layers: int,
    num_classes: int,
    auxiliary: bool,
    in_channels: int,
) -> Any:
    from .models import NetworkCIFAR, NetworkImageNet

    cls = NetworkImageNet if name == "imagenet" else NetworkCIFAR
    try:
        return cls(
            C,
            num_classes,
            layers,
            auxiliary,
            genotype,  # type: ignore[arg-type]
            in_channels=in_channels,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from . import distributed as dist_utils
    from ._checkpoint import CheckpointError
    from .data import DatasetNotFoundError, load_train_data
    from .training import TrainConfig, Trainer

    genotype = _resolve_genotype(args.arch)
    overrides = {
        field: getattr(args, flag)
        for flag, field in _TRAIN_FLAGS.items()
        if getattr(args, flag) is not None
    }
    if args.no_channels_last:
        overrides["channels_last"] = False
    try:
        config = TrainConfig.preset(args.dataset, **overrides)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.dataset == "imagenet" and args.data == "data" and not Path("data/train").is_dir():
        raise CLIError("--dataset imagenet needs --data PATH, a folder with train/ and val/")
    if args.precision == "fp16" and args.device in (None, "cpu") and not torch.cuda.is_available():
        raise CLIError("--precision fp16 needs a GPU; use bf16 on the CPU")
    out = Path(args.output)
    if not args.resume and ((out / "last.pt").exists() or (out / "metrics.jsonl").exists()):
        raise CLIError(
            f"{out} already holds a training run; pass --resume to continue it or "
            "choose another -o folder"
        )
    device = _join_processes(args.device)
    if config.batch_size % dist_utils.world_size():
        raise CLIError(
            f"--batch-size {config.batch_size} is not divisible by the "
            f"{dist_utils.world_size()} processes"
        )
    try:
        train, val, info = load_train_data(
            args.dataset,
            args.data,
            download=not args.no_download,
            cutout=config.cutout,
            seed=config.seed,
        )
    except DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None
    if args.dataset != "imagenet" and config.auxiliary_weight > 0 and info.image_size < 32:
        raise CLIError(
            f"the auxiliary head needs inputs of at least 32x32 ({args.dataset} has "
            f"{info.image_size}x{info.image_size}); pass --auxiliary-weight 0"
        )
    torch.manual_seed(config.seed)
    model = _build_network(
        args.dataset,
        genotype,
        config.init_channels,
        config.layers,
        info.num_classes,
        config.auxiliary_weight > 0,
        info.in_channels,
    )
    try:
        trainer = Trainer(
            model,
            config,
            out,
            dataset=args.dataset,
            device=device,
            resume=args.resume,
            progress=False if args.no_progress else None,
            image_size=info.image_size,
        )
        result = trainer.fit(train, val)
    except (CheckpointError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if dist_utils.is_main_process():
        _out(
            f"best val top-1 {100 * result.best_top1:.2f}% (epoch {result.best_epoch}); "
            f"last epoch top-1 {100 * result.final['top1']:.2f}%, "
            f"top-5 {100 * result.final['top5']:.2f}%"
        )
        _out(f"weights:   {out / 'model.safetensors'} (with {out / 'config.json'})")
        _out(f"metrics:   {out / 'metrics.jsonl'}")
    return 0


def _load_weights(path: Path) -> dict[str, Any]:
    from .models._hub import WeightsFormatError, read_state_dict

    try:  # .pth files only through torch.load(weights_only=True); train checkpoints unwrapped
        return read_state_dict(path)
    except (FileNotFoundError, WeightsFormatError) as exc:
        raise CLIError(str(exc)) from None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from ._genotype import Genotype
    from .data import DatasetNotFoundError, load_train_data
    from .training import TrainConfig, Trainer

    weights_path = Path(args.weights)
    state = _load_weights(weights_path)
    saved: dict[str, Any] = {}
    config_file = weights_path.with_name("config.json")
    if config_file.is_file():
        try:
            saved = json.loads(config_file.read_text())
        except json.JSONDecodeError as exc:
            raise CLIError(f"{config_file} is not valid JSON: {exc}") from None
    dataset = args.dataset or saved.get("dataset", "cifar10")
    if dataset not in ("cifar10", "imagenet", "digits", "synthetic"):
        dataset = "cifar10"
    if args.arch is not None:
        genotype = _resolve_genotype(args.arch)
    elif "genotype" in saved:
        try:
            genotype = Genotype.from_dict(saved["genotype"])
        except ValueError as exc:
            raise CLIError(f"{config_file}: {exc}") from None
    else:
        raise CLIError("pass --arch (no config.json beside the weights)")
    preset = TrainConfig.preset(dataset)
    C = args.init_channels or saved.get("init_channels", preset.init_channels)
    layers = args.layers or saved.get("layers", preset.layers)
    try:
        train, val, info = load_train_data(
            dataset, args.data, download=not args.no_download, cutout=0
        )
    except DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None
    auxiliary = any(k.startswith("auxiliary_head.") for k in state)
    model = _build_network(
        dataset, genotype, C, layers, info.num_classes, auxiliary, info.in_channels
    )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CLIError(
            f"{weights_path} does not fit {type(model).__name__}(C={C}, "
            f"layers={layers}) with this genotype: {first}"
        ) from None
    config = TrainConfig.preset(dataset, batch_size=args.batch_size, init_channels=C, layers=layers)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, config, tmp, device=args.device, progress=False)
        metrics = trainer.evaluate(val if args.split == "val" else train)
    _out(
        f"{dataset} {args.split}: top-1 {100 * metrics['top1']:.2f}%, "
        f"top-5 {100 * metrics['top5']:.2f}%, loss {metrics['loss']:.4f} "
        f"({int(metrics['images'])} images)"
    )
    return 0


def _add_convert_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "convert",
        help="turn a checkpoint into a Hub-ready folder",
        description="Write model.safetensors, config.json and a README.md model card into "
        "OUTPUT_DIR, ready for 'hf upload ORG/NAME OUTPUT_DIR'. The weights are loaded into "
        "the network with strict=True first.",
    )
    p.add_argument(
        "input",
        metavar="INPUT",
        help="an original-format .pth (such as cnas-imagenet-602b7057.pth), a cnas train "
        "checkpoint (last.pt, best.pt), a .safetensors file, or a cnas train output folder",
    )
    p.add_argument("output", metavar="OUTPUT_DIR", help="the folder to write")
    p.add_argument(
        "--arch",
        default=None,
        help="the genotype of an original-format checkpoint (default: CNAS); the network "
        "size is read from the tensor shapes",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="NAME",
        help="the registered weights INPUT holds (e.g. CNAS_ImageNet_Weights.IMAGENET1K_V1), "
        "for the model card; the official release file is recognised by itself",
    )
    p.add_argument("--dataset", default=None, help="the training dataset, for the model card")
    p.add_argument(
        "--repo-id", default=None, metavar="ORG/NAME", help="the Hub repository it is meant for"
    )
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty OUTPUT_DIR, replacing files"
    )
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from ._genotype import Genotype
    from .models._pretrained import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, convert, find_weights

    weights = None
    if args.weights is not None:
        try:
            weights = find_weights(args.weights)
        except KeyError as exc:
            raise CLIError(str(exc.args[0])) from None
    genotype = _resolve_genotype(args.arch) if args.arch is not None else None
    assert genotype is None or isinstance(genotype, Genotype)
    out = Path(args.output)
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise CLIError(f"{out} is not empty; pass --force to write into it")
    try:
        convert(
            args.input,
            out,
            arch=genotype,
            weights=weights,
            dataset=args.dataset,
            repo_id=args.repo_id,
            overwrite=args.force,
        )
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    _out(f"wrote {out / WEIGHTS_NAME}, {out / CONFIG_NAME} and {out / CARD_NAME}")
    _out(f"upload with: hf upload {args.repo_id or 'ORG/NAME'} {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cnas`` command."""
    parser = argparse.ArgumentParser(
        prog="cnas",
        description="Curriculum Neural Architecture Search (Guo et al., ICML 2020).",
    )
    parser.add_argument("--version", action="version", version=f"cnas {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    draw = sub.add_parser(
        "draw",
        help="draw the cells of a genotype with graphviz",
        description="Render the normal and reduction cells of a genotype.",
    )
    draw.add_argument(
        "arch",
        metavar="ARCH",
        help="a genotype name (see 'cnas genotypes') or a genotype JSON file",
    )
    draw.add_argument(
        "-o",
        "--output",
        default="cells.svg",
        help="output file; its suffix picks the format (default: cells.svg)",
    )
    draw.add_argument(
        "-f",
        "--format",
        default=None,
        help="graphviz output format (svg, png, pdf, ...); default: from --output",
    )
    draw.add_argument("--title", default=None, help="caption above the cells")
    draw.add_argument("--force", action="store_true", help="overwrite an existing output file")
    draw.set_defaults(func=_cmd_draw)

    gen = sub.add_parser(
        "genotypes",
        help="list the registered genotypes or print one",
        description="List the registered genotypes, or print one in a chosen format.",
    )
    gen.add_argument("name", nargs="?", metavar="ARCH", help="a name or a genotype JSON file")
    gen.add_argument(
        "--format",
        choices=("repr", "json", "darts"),
        default="repr",
        help="how to print the genotype (default: repr)",
    )
    gen.set_defaults(func=_cmd_genotypes)
    _add_search_parser(sub)
    _add_train_parsers(sub)
    _add_convert_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnas`` command on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # long-running commands report their epochs; the others only warnings
    base = logging.INFO if args.command in ("search", "train") else logging.WARNING
    level = max(base - 10 * args.verbose, logging.DEBUG)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(level)
    try:
        return int(args.func(args))
    except CLIError as exc:
        _err(f"cnas {args.command}: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
