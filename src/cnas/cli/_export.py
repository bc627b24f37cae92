"""``cnas export``: a network as an ONNX file or a ``torch.export`` program, checked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import CLIError, err, out, positive_int

__all__ = ["add_export_parser"]

# restated from cnas.models (a test checks that they agree), so --help imports no torch
_DEFAULT_OPSET = 18
_EXPORT_DATASETS = ("cifar10", "imagenet", "digits", "synthetic")


def add_export_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``export``."""
    p = sub.add_parser(
        "export",
        help="export a network to ONNX or torch.export (.pt2) for inference",
        description="Export the inference graph of a network (eval mode, no auxiliary head, "
        "a dynamic batch dimension) to an ONNX file or a torch.export program, then run "
        "the file on random images and report its largest difference from PyTorch. ONNX "
        'needs the export extra: pip install "cnas[export]".',
    )
    p.add_argument(
        "source",
        metavar="SOURCE",
        help="a model name (cnas_cifar10, ...; untrained unless --weights), a folder "
        "written by cnas train or save_pretrained, or a genotype (a JSON file or a name)",
    )
    p.add_argument("-o", "--output", required=True, help="the file to write (.onnx or .pt2)")
    p.add_argument(
        "--format",
        choices=("onnx", "torch"),
        default=None,
        help="onnx, or torch (a torch.export .pt2 file); default: torch for a .pt2 "
        "output, else onnx",
    )
    p.add_argument(
        "--opset", type=positive_int, default=None, help=f"ONNX opset (default {_DEFAULT_OPSET})"
    )
    p.add_argument(
        "--exporter",
        choices=("dynamo", "torchscript"),
        default=None,
        help="the torch.onnx exporter: dynamo (torch's default from 2.9 on) or torchscript "
        "(deprecated by torch, opsets up to 20, about 20x faster)",
    )
    p.add_argument(
        "--input-size",
        type=positive_int,
        nargs=3,
        metavar=("C", "H", "W"),
        help="the images' channels and size (default: the network's, its dataset's size)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=4,
        metavar="N",
        help="random images for the check (default 4)",
    )
    p.add_argument(
        "--with-preprocessing",
        action="store_true",
        help="for a network trained on an image folder: put its scaling and normalization "
        "into the graph, which then takes raw uint8 pixels of the input size",
    )
    p.add_argument("--no-check", action="store_true", help="do not run the written file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument(
        "--weights",
        default=None,
        help="for a model name: its weights (DEFAULT downloads the official ones, or a file)",
    )
    group = p.add_argument_group("for a genotype (or a model name)")
    group.add_argument("--init-channels", "--init_channels", type=positive_int)
    group.add_argument("--layers", type=positive_int)
    group.add_argument("--num-classes", type=positive_int)
    group.add_argument(
        "--dataset",
        choices=_EXPORT_DATASETS,
        default=None,
        help="a genotype's network is built for it (default cifar10)",
    )
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..errors import UnknownNameError
    from ..models import export

    target = Path(args.output)
    if target.exists() and not args.overwrite:
        raise CLIError(f"{target} exists; pass --overwrite to replace it")
    try:
        result = export(
            args.source,
            target,
            format=args.format,
            opset=args.opset,
            exporter=args.exporter,
            input_size=tuple(args.input_size) if args.input_size else None,
            batch_size=args.batch_size,
            check=not args.no_check,
            overwrite=args.overwrite,
            weights=args.weights,
            init_channels=args.init_channels,
            layers=args.layers,
            num_classes=args.num_classes,
            dataset=args.dataset,
            with_preprocessing=args.with_preprocessing,
        )
    except (ImportError, UnknownNameError, FileNotFoundError, FileExistsError) as exc:
        raise CLIError(str(exc)) from None
    except (ValueError, TypeError) as exc:  # GenotypeError, WeightsFormatError, ...
        raise CLIError(str(exc)) from None
    what = (
        f"ONNX opset {result.opset}, {result.exporter} exporter"
        if result.format == "onnx"
        else "torch.export program"
    )
    C, H, W = result.input_size
    out(
        f"wrote {result.path} ({what}; {result.network}, input batch x {C} x {H} x {W}, "
        f"{result.export_seconds:.1f} s)"
    )
    if result.max_abs_diff is None:
        out("not checked (--no-check)")
        return 0
    out(
        f"checked with {result.runtime} on {result.check_batch} random images: largest "
        f"absolute difference from PyTorch {result.max_abs_diff:.2g}"
    )
    if not result.check_passed:
        err(
            f"cnas export: warning: the difference is above {result.tolerance:g}; the file "
            "does not reproduce the network"
        )
        return 1
    return 0
