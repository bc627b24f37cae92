"""``cnas train`` (arguments -> a ``TrainConfig`` -> ``Trainer.from_config(...).fit()``)
and ``cnas evaluate`` (trained weights scored on a split of the data their run records)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from .._io import parse_json
from ..errors import ConfigError
from ._common import (
    CLIError,
    join_processes,
    launched_world_size,
    out,
    parse_device,
    positive_int,
    resolve_genotype,
)
from ._config_flags import (
    add_config_file_flags,
    add_config_flags,
    add_per_process_batch_flag,
    config_error,
    given_fields,
    load_config,
    per_process_batch,
)

__all__ = ["add_parsers", "train_config"]

_TITLES = {"data": "data", "runtime": "run"}
LABEL_SMOOTH = 0.1
"""What the original's ``--label_smooth`` switch sets the label smoothing to."""


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``train`` (its flags are made when it is used: from ``TrainConfig``) and
    ``evaluate``."""
    sub.add_parser(
        "train",
        help="train a genotype's network from scratch",
        description="Train NetworkCIFAR / NetworkImageNet for a genotype with the paper's "
        "recipe (each dataset's preset, docs/training.md). Every flag sets a field of the "
        "training's configuration (docs/configuration.md); --config FILE reads one, and a "
        "training folder's config.json holds one. The original eval_arch.py spellings work "
        "too (--batch_size, --init_channels, --max_epochs, --no_bias_decay, ...).",
        populate=_populate_train,
    )
    e = sub.add_parser(
        "evaluate",
        help="report top-1/top-5 of trained weights",
        description="Evaluate trained weights (a cnas train folder or its model.safetensors, "
        "a last.pt/best.pt checkpoint, or a plain state dict) on a split of the data the run "
        "recorded in its config.json.",
    )
    e.add_argument("--weights", required=True, help="weights file, or a cnas train folder")
    e.add_argument(
        "--arch", default=None, help="genotype (default: from config.json beside the weights)"
    )
    e.add_argument("--dataset", default=None, help="default: the run's (config.json)")
    e.add_argument("--data", default=None, help="data folder (default: the run's)")
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
        help="digits/synthetic: the seed of the train/val split (default: the run's own)",
    )
    e.add_argument("--init-channels", "--init_channels", type=positive_int)
    e.add_argument("--layers", type=positive_int)
    e.add_argument("--batch-size", "--batch_size", type=positive_int, default=256)
    e.add_argument("--device", default=None)
    e.set_defaults(func=_cmd_evaluate)


def _populate_train(p: argparse.ArgumentParser) -> None:
    from ..training import PRESETS, TrainConfig

    p.add_argument("-o", "--output", default="runs/train", help="output folder")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="the recipe the flags change (default: the preset of --dataset); "
        "cifar10-defaults is the original's final defaults without flags, cifar10 its "
        "first README's command (docs/training.md)",
    )
    add_config_file_flags(p, "training")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue from OUTPUT/last.pt, or from CHECKPOINT",
    )
    add_per_process_batch_flag(p)
    p.add_argument(
        "--label-smooth",
        "--label_smooth",
        dest="cfg:label_smoothing",
        action="store_const",
        const=LABEL_SMOOTH,
        default=argparse.SUPPRESS,
        help=f"label smoothing {LABEL_SMOOTH} (the original's switch)",
    )
    p.add_argument("--local-rank", "--local_rank", type=int, help=argparse.SUPPRESS)
    add_config_flags(p, TrainConfig, titles=_TITLES)
    p.set_defaults(func=_cmd_train)


def train_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` a ``cnas train`` command line gives: ``--config FILE``, else
    the preset of ``--dataset``, with the flags given."""
    from ..data import DataConfig
    from ..training import TrainConfig

    args = per_process_batch(args, "batch_size")
    given = given_fields(args)
    preset = getattr(args, "preset", None)
    dataset = given.get("data.dataset", DataConfig().dataset)
    if preset is not None:
        data = TrainConfig.preset(preset).data
        trains_on = data.dataset if data is not None else preset
        if "data.dataset" in given and trains_on != dataset:
            raise CLIError(f"--preset {preset} trains on {trains_on}, not --dataset {dataset}")
        dataset = preset
    config = load_config(TrainConfig, args, lambda: TrainConfig.preset(dataset))
    world = launched_world_size()
    if config.batch_size % world:
        raise CLIError(
            f"the global batch size {config.batch_size} is not divisible by the {world} processes"
        )
    return config


def _cmd_train(args: argparse.Namespace) -> int:
    config = train_config(args)
    if args.print_config:
        out(config.to_json().rstrip())
        return 0
    from .. import distributed as dist_utils
    from ..data import DatasetNotFoundError
    from ..errors import CheckpointError, NonFiniteLossError
    from ..training import Trainer

    join_processes(config.runtime.device)
    try:
        trainer = Trainer.from_config(config, args.output, resume=args.resume)
        result = trainer.fit()
    except ConfigError as exc:
        raise config_error(exc, args) from None
    except CheckpointError as exc:
        hint = " (--resume continues it)" if "already holds" in str(exc) else ""
        raise CLIError(f"{exc}{hint}") from None
    except (ValueError, NonFiniteLossError, DatasetNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    if dist_utils.is_main_process():
        target = Path(args.output)
        out(
            f"best val top-1 {100 * result.best_top1:.2f}% (epoch {result.best_epoch}); "
            f"last epoch top-1 {100 * result.final['top1']:.2f}%, "
            f"top-5 {100 * result.final['top5']:.2f}%"
        )
        out(f"weights:   {target / 'model.safetensors'} (with {target / 'config.json'})")
        out(f"metrics:   {target / 'metrics.jsonl'}")
        if result.test is not None:
            test = result.test
            out(
                f"held-out test top-1 {100 * test['top1']:.2f}%, top-5 "
                f"{100 * test['top5']:.2f}% ({int(test['images'])} images): "
                f"{target / 'test.json'}"
            )
    return 0


# -- cnas evaluate ---------------------------------------------------------------------------


def _weights(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The weights file (a folder's ``model.safetensors``) and its state dict."""
    from ..models import WeightsFormatError, read_state_dict

    path = Path(args.weights)
    if path.is_dir():  # a cnas train folder or a saved model's
        if not (path / "model.safetensors").is_file():
            raise CLIError(f"{path} is a folder without model.safetensors")
        path = path / "model.safetensors"
    try:  # .pth files only through torch.load(weights_only=True); train checkpoints unwrapped
        state = read_state_dict(path)
    except (FileNotFoundError, WeightsFormatError) as exc:
        raise CLIError(str(exc)) from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise CLIError(f"{path} holds NaN or infinite values ({key})")
    return path, state


def _run_record(path: Path) -> tuple[dict[str, Any], Any]:
    """The ``config.json`` beside the weights (``{}`` without one) and the training
    configuration it holds (``None`` when it holds none)."""

    from ..training import TrainConfig

    file = path.with_name("config.json")
    if not file.is_file():
        return {}, None
    try:
        saved = parse_json(file.read_bytes())
    except ValueError as exc:
        raise CLIError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(saved, dict):
        raise CLIError(f"{file} is not a JSON object")
    if not isinstance(saved.get("train"), dict):
        return saved, None
    try:
        return saved, TrainConfig.from_dict(saved)
    except ConfigError as exc:
        raise CLIError(f"{file}: {exc}") from None


def _evaluation_data(
    args: argparse.Namespace, config: Any, saved: dict[str, Any]
) -> tuple[Any, Any, str, str]:
    """The split to score, the dataset's name and how the split was chosen."""
    from ..data import DataConfig

    data = config.data if config is not None and config.data is not None else DataConfig()
    if config is None and isinstance(saved.get("dataset"), str):
        with contextlib.suppress(ConfigError):  # a saved model's dataset, if cnas knows it
            data = DataConfig(dataset=saved["dataset"])
    if args.dataset is not None and args.dataset != data.dataset:
        data = DataConfig(dataset=args.dataset)  # another dataset: none of the run's splits
    if args.data is not None or args.no_download:
        data = data.replace(root=args.data or data.root, download=not args.no_download)
    run_seed = config.seed if config is not None and config.data == data else None
    if args.split_seed is not None:
        seed, which = args.split_seed, f"split seed {args.split_seed}, as given"
    elif run_seed is not None:
        part = "trained on" if args.split == "train" else "held out"
        seed, which = run_seed, f"the split the run {part} (seed {run_seed})"
    else:
        seed, which = 0, "split seed 0: no config.json of the run says otherwise"
    if data.dataset in ("cifar10", "imagenet"):
        which = "the test set" if data.dataset == "cifar10" else "the val folder"
    if args.split == "train":
        which = "the training set" if data.dataset in ("cifar10", "imagenet") else which
    if args.split == "test" and not data.hold_out_test:
        raise CLIError(
            "--split test needs the weights of a run trained with --hold-out-test (its "
            "config.json records the held-out split)"
        )
    if data.hold_out_test:
        which = f"held out with test seed {data.test_seed}, as the run"
    if data.dataset == "folder" and not Path(data.root).is_dir():
        if args.data is not None:
            raise CLIError(f"--data {data.root}: not a folder")
        raise CLIError(
            f"the run read its images from {data.root}, which is not a folder (any more); "
            "pass --data DIR with the same images"
        )
    train, val, info = data.load_train(seed, 0)
    split = {"train": train, "val": val}.get(args.split) or data.load_test()
    return split, info, data.dataset, which


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from .._genotype import Genotype
    from ..data import DatasetNotFoundError
    from ..models import default_network, network_for_images
    from ..training import TrainConfig, Trainer

    path, state = _weights(args)
    saved, config = _run_record(path)
    genotype: Any
    if args.arch is not None:
        genotype = resolve_genotype(args.arch)
    elif config is not None:
        genotype = config.resolved_genotype()
    elif "genotype" in saved:  # a saved model's config.json
        try:
            genotype = Genotype.from_dict(saved["genotype"])
        except ValueError as exc:
            raise CLIError(f"{path.with_name('config.json')}: {exc}") from None
    else:
        raise CLIError("pass --arch (no config.json of a saved model beside the weights)")
    try:
        split, info, dataset, which = _evaluation_data(args, config, saved)
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    except (DatasetNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    network = default_network(dataset)
    C = args.init_channels or saved.get("init_channels") or network.init_channels
    layers = args.layers or saved.get("layers") or network.layers
    kind = saved.get("network")
    if kind not in ("NetworkCIFAR", "NetworkImageNet"):
        kind = network_for_images(dataset, info.image_size)
    model = _network(kind, genotype, C, layers, info, state, path)
    run = TrainConfig(genotype=genotype, data=None, init_channels=C, layers=layers)
    run = run.replace(batch_size=args.batch_size, runtime={"progress": False})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model, run.replace(runtime={"device": str(parse_device(args.device))}), tmp
        )
        metrics = trainer.evaluate(split)
    out(
        f"{dataset} {args.split} ({which}): top-1 {100 * metrics['top1']:.2f}%, "
        f"top-5 {100 * metrics['top5']:.2f}%, loss {metrics['loss']:.4f} "
        f"({int(metrics['images'])} images)"
    )
    return 0


def _network(
    kind: str, genotype: Any, C: int, layers: int, info: Any, state: Any, path: Path
) -> Any:
    """The network the weights were trained as, with them loaded."""
    from .._memory import check_fits
    from ..models import NetworkCIFAR, NetworkImageNet

    cls = NetworkImageNet if kind == "NetworkImageNet" else NetworkCIFAR
    auxiliary = any(k.startswith("auxiliary_head.") for k in state)

    def build() -> Any:
        return cls(C, info.num_classes, layers, auxiliary, genotype, in_channels=info.in_channels)

    try:
        check_fits(build, copies=1, what=f"{cls.__name__}(C={C}, layers={layers})")
        model = build()
        model.load_state_dict(state, strict=True)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CLIError(
            f"{path} does not fit {cls.__name__}(C={C}, layers={layers}) with this genotype: "
            f"{first}"
        ) from None
    return model
