"""``cnas convert``: a checkpoint into a Hub-ready folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import CLIError, out, resolve_genotype

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
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
    from .._genotype import Genotype
    from ..models import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, convert, find_weights

    weights = None
    if args.weights is not None:
        try:
            weights = find_weights(args.weights)
        except KeyError as exc:
            raise CLIError(str(exc.args[0])) from None
    genotype = resolve_genotype(args.arch) if args.arch is not None else None
    assert genotype is None or isinstance(genotype, Genotype)
    target = Path(args.output)
    if target.is_dir() and any(target.iterdir()) and not args.force:
        raise CLIError(f"{target} is not empty; pass --force to write into it")
    try:
        convert(
            args.input,
            target,
            arch=genotype,
            weights=weights,
            dataset=args.dataset,
            repo_id=args.repo_id,
            overwrite=args.force,
        )
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    out(f"wrote {target / WEIGHTS_NAME}, {target / CONFIG_NAME} and {target / CARD_NAME}")
    out(f"upload with: hf upload {args.repo_id or 'ORG/NAME'} {target}")
    return 0
