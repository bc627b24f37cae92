"""``cnas train`` and ``cnas evaluate``: a genotype's network, trained from scratch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import (
    CLIError,
    add_batch_size_flags,
    add_hold_out_flags,
    global_batch,
    hold_out_config,
    join_processes,
    launched_world_size,
    non_negative_int,
    out,
    parse_device,
    portion,
    positive_int,
    recorded_hold_out,
    resolve_genotype,
    seed_int,
)

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
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
    add_hold_out_flags(p)
    p.add_argument(
        "--train-portion",
        type=portion,
        default=None,
        help="with --hold-out-test: the share of the rest that trains; the rest validates "
        "(default: 0.8). The final weights are scored once on the test split (test.json)",
    )
    p.add_argument("-o", "--output", default="runs/train", help="output folder")
    p.add_argument("--init-channels", "--init_channels", type=positive_int)
    p.add_argument("--layers", type=positive_int)
    p.add_argument("--epochs", "--max-epochs", "--max_epochs", type=positive_int)
    add_batch_size_flags(p, default=None)
    p.add_argument("--lr", "--learning-rate", "--learning_rate", type=float)
    p.add_argument("--lr-min", "--learning_rate_min", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", "--weight_decay", type=float)
    p.add_argument("--no-bias-decay", "--no_bias_decay", action="store_true", default=None)
    p.add_argument("--scheduler", "--schedule", choices=("cosine", "linear"))
    p.add_argument("--warmup-epochs", "--warmup_epochs", type=non_negative_int)
    p.add_argument("--grad-clip", "--grad_clip", type=float)
    p.add_argument(
        "--auxiliary-weight",
        "--auxiliary_weight",
        type=float,
        help="0 trains without the auxiliary head",
    )
    p.add_argument("--drop-path-prob", "--drop_path_prob", type=float)
    p.add_argument("--cutout", "--cutout-length", "--cutout_length", type=non_negative_int)
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
    p.add_argument("--seed", type=seed_int)
    p.add_argument("--num-workers", "--num_workers", type=non_negative_int)
    p.add_argument("--max-steps", type=positive_int, help="stop after N training steps")
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
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved configuration (global and per-process batch, recipe) as "
        "JSON and exit without training",
    )
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
    e.add_argument(
        "--split",
        choices=("val", "train", "test"),
        default="val",
        help="test: the split a run trained with --hold-out-test held out (default: val)",
    )
    e.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="digits/synthetic: the seed of the train/val split (default: the run's own, "
        "from config.json beside the weights)",
    )
    e.add_argument("--init-channels", "--init_channels", type=positive_int)
    e.add_argument("--layers", type=positive_int)
    e.add_argument("--batch-size", "--batch_size", type=positive_int, default=256)
    e.add_argument("--device", default=None)
    e.set_defaults(func=_cmd_evaluate)


_TRAIN_FLAGS = {
    "init_channels": "init_channels",
    "layers": "layers",
    "epochs": "epochs",
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
    from ..models import NetworkCIFAR, NetworkImageNet

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
    import json

    import torch

    from .. import distributed as dist_utils
    from .._memory import check_fits
    from .._run import TEST_RESULT_NAME, RunFolder
    from ..data import DATASETS, DatasetInfo, DatasetNotFoundError, load_test_data, load_train_data
    from ..errors import CheckpointError, NonFiniteLossError
    from ..training import TrainConfig, Trainer

    genotype = resolve_genotype(args.arch)
    held_out = hold_out_config(args)
    if args.train_portion is not None and not held_out:
        raise CLIError("--train-portion needs --hold-out-test")
    data_config: dict[str, Any] | None = None
    if held_out:
        data_config = {
            "dataset": args.dataset,
            **held_out,
            "train_portion": 0.8 if args.train_portion is None else args.train_portion,
        }
    overrides = {
        field: getattr(args, flag)
        for flag, field in _TRAIN_FLAGS.items()
        if getattr(args, flag) is not None
    }
    if args.no_channels_last:
        overrides["channels_last"] = False
    batch = global_batch(args)
    if batch is not None:
        overrides["batch_size"] = batch
    try:
        config = TrainConfig.preset(args.dataset, **overrides)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    world = launched_world_size()
    if config.batch_size % world:
        raise CLIError(
            f"the global batch size {config.batch_size} is not divisible by the {world} processes"
        )
    if args.dry_run:
        out(
            json.dumps(
                {
                    "command": "train",
                    "arch": args.arch,
                    "dataset": args.dataset,
                    "output": args.output,
                    "world_size": world,
                    "batch_size": config.batch_size,
                    "batch_size_per_process": config.batch_size // world,
                    "train_config": config.to_dict(),
                },
                indent=2,
            )
        )
        return 0
    if args.dataset == "imagenet" and args.data == "data" and not Path("data/train").is_dir():
        raise CLIError("--dataset imagenet needs --data PATH, a folder with train/ and val/")
    if args.precision == "fp16" and args.device in (None, "cpu") and not torch.cuda.is_available():
        raise CLIError("--precision fp16 needs a GPU; use bf16 on the CPU")
    target = Path(args.output)
    try:  # before any data is loaded
        RunFolder(target, "training").check(
            resume=args.resume, require_checkpoint=args.resume is True
        )
    except CheckpointError as exc:
        hint = " (--resume continues it)" if "already holds" in str(exc) else ""
        raise CLIError(f"{exc}{hint}") from None
    device = join_processes(args.device)
    known = DATASETS.get(args.dataset, DatasetInfo(args.dataset, 3, 1000, 224))
    try:  # before any data is loaded
        check_fits(
            lambda: _build_network(
                args.dataset,
                genotype,
                config.init_channels,
                config.layers,
                known.num_classes,
                config.auxiliary_weight > 0,
                known.in_channels,
            ),
            device,
            hint="use fewer channels (--init-channels) or layers (--layers)",
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        train, val, info = load_train_data(
            args.dataset,
            args.data,
            download=not args.no_download,
            cutout=config.cutout,
            seed=config.seed,
            **(
                {}
                if data_config is None
                else {k: v for k, v in data_config.items() if k != "dataset"}
            ),
        )
        test = (
            None
            if data_config is None
            else load_test_data(
                args.dataset,
                args.data,
                download=not args.no_download,
                test_portion=data_config["test_portion"],
                test_seed=data_config["test_seed"],
            )
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
            target,
            dataset=args.dataset,
            device=device,
            resume=args.resume,
            progress=False if args.no_progress else None,
            image_size=info.image_size,
            data_config=data_config,
        )
        result = trainer.fit(train, val)
        scored = None if test is None else trainer.evaluate(test)
    except (CheckpointError, ValueError, NonFiniteLossError) as exc:
        raise CLIError(str(exc)) from None
    if scored is not None and data_config is not None and dist_utils.is_main_process():
        _write_test_result(
            trainer, target, data_config, scored, len(result.history), info.image_size
        )
    if dist_utils.is_main_process():
        out(
            f"best val top-1 {100 * result.best_top1:.2f}% (epoch {result.best_epoch}); "
            f"last epoch top-1 {100 * result.final['top1']:.2f}%, "
            f"top-5 {100 * result.final['top5']:.2f}%"
        )
        out(f"weights:   {target / 'model.safetensors'} (with {target / 'config.json'})")
        out(f"metrics:   {target / 'metrics.jsonl'}")
        if scored is not None:
            out(
                f"held-out test top-1 {100 * scored['top1']:.2f}%, top-5 "
                f"{100 * scored['top5']:.2f}% ({int(scored['images'])} images): "
                f"{target / TEST_RESULT_NAME}"
            )
    return 0


def _write_test_result(
    trainer: Any,
    target: Path,
    data_config: dict[str, Any],
    scored: dict[str, float],
    epochs: int,
    image_size: int,
) -> None:
    import json

    from .._io import atomic_write_text
    from .._run import TEST_RESULT_NAME
    from ..utils import count_madds, count_params

    model = trainer.model
    shape = (model.in_channels, image_size, image_size)
    record = {
        "format": "cnas.test-result",
        "version": 1,
        "weights": "final",
        "epochs": epochs,
        "data": data_config,
        "top1": scored["top1"],
        "top5": scored["top5"],
        "loss": scored["loss"],
        "images": int(scored["images"]),
        "params": count_params(model),
        "madds": count_madds(model, shape),
        "input_size": list(shape),
    }
    atomic_write_text(target / TEST_RESULT_NAME, json.dumps(record, indent=2) + "\n")


def _load_weights(path: Path) -> dict[str, Any]:
    from ..models import WeightsFormatError, read_state_dict

    try:  # .pth files only through torch.load(weights_only=True); train checkpoints unwrapped
        return read_state_dict(path)
    except (FileNotFoundError, WeightsFormatError) as exc:
        raise CLIError(str(exc)) from None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from .._genotype import Genotype
    from ..data import DatasetNotFoundError, load_test_data, load_train_data
    from ..training import TrainConfig, Trainer

    weights_path = Path(args.weights)
    if weights_path.is_dir():  # a cnas train folder or a saved model's
        if not (weights_path / "model.safetensors").is_file():
            raise CLIError(f"{weights_path} is a folder without model.safetensors")
        weights_path = weights_path / "model.safetensors"
    state = _load_weights(weights_path)
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise CLIError(f"{weights_path} holds NaN or infinite values ({key})")
    saved: dict[str, Any] = {}
    config_file = weights_path.with_name("config.json")
    if config_file.is_file():
        try:
            saved = json.loads(config_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CLIError(f"{config_file} is not valid JSON: {exc}") from None
        if not isinstance(saved, dict):
            raise CLIError(f"{config_file} is not a JSON object")
    dataset = args.dataset or saved.get("dataset", "cifar10")
    if dataset not in ("cifar10", "imagenet", "digits", "synthetic"):
        dataset = "cifar10"
    if args.arch is not None:
        genotype = resolve_genotype(args.arch)
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
    # score the split the run held out: digits/synthetic are split with the run's seed
    recorded = saved.get("train_config")
    run_seed = recorded.get("seed") if isinstance(recorded, dict) else None
    if args.split_seed is not None:
        seed, which = args.split_seed, f"split seed {args.split_seed}, as given"
    elif isinstance(run_seed, int) and dataset == saved.get("dataset"):
        seed, which = run_seed, f"the split the run held out (seed {run_seed})"
    else:
        seed, which = 0, "split seed 0: no config.json of the run says otherwise"
    if dataset in ("cifar10", "imagenet"):
        which = "the test set" if dataset == "cifar10" else "the val folder"
        if args.split == "train":
            which = "the training set"
    splits = recorded_hold_out(saved.get("data"), config_file, train=True)
    if args.split == "test" and not splits:
        raise CLIError(
            "--split test needs the weights of a run trained with --hold-out-test (its "
            "config.json records the held-out split)"
        )
    if splits:
        which = f"held out with test seed {splits['test_seed']}, as the run"
    try:
        train, val, info = load_train_data(
            dataset, args.data, download=not args.no_download, cutout=0, seed=seed, **splits
        )
        if args.split == "test":
            val = load_test_data(
                dataset,
                args.data,
                download=not args.no_download,
                test_portion=splits["test_portion"],
                test_seed=splits["test_seed"],
            )
    except (DatasetNotFoundError, ValueError) as exc:
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
        trainer = Trainer(model, config, tmp, device=parse_device(args.device), progress=False)
        metrics = trainer.evaluate(train if args.split == "train" else val)
    out(
        f"{dataset} {args.split} ({which}): top-1 {100 * metrics['top1']:.2f}%, "
        f"top-5 {100 * metrics['top5']:.2f}%, loss {metrics['loss']:.4f} "
        f"({int(metrics['images'])} images)"
    )
    return 0
