"""``cnas predict``: class names and probabilities for image files."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import CLIError, out, positive_int

__all__ = ["add_predict_parser"]


def add_predict_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``predict``."""
    p = sub.add_parser(
        "predict",
        help="classify image files with a trained network and its recorded preprocessing",
        description="Classify image files (or folders of them) with a network trained on an "
        "image folder: its recorded preprocessing (resize, crop, normalization) is applied "
        "and each image's most probable classes are printed, in the order given (a "
        "folder's images sorted). An ONNX file needs the export extra: "
        'pip install "cnas[export]".',
    )
    p.add_argument(
        "source",
        metavar="MODEL",
        help="a folder written by cnas train or save_pretrained, hf-hub:ORG/NAME, or an "
        "ONNX file written by cnas export",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of them")
    p.add_argument(
        "--top-k", type=positive_int, default=1, metavar="K", help="classes per image (default 1)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list: per image path, class, probability and top_k",
    )
    p.add_argument("--device", default="cpu", metavar="DEVICE", help="default cpu")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..errors import CnasError
    from ..models import Predictor

    try:
        predictor = Predictor(args.source, args.device)
        predictions = predictor.predict(args.images, top_k=args.top_k)
    except (CnasError, FileNotFoundError, ValueError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        out(json.dumps([p.to_dict() for p in predictions], indent=2))
        return 0
    for p in predictions:
        ranked = ", ".join(f"{name} {100 * prob:.1f}%" for name, prob in p.top_k)
        out(f"{p.path}: {ranked}")
    return 0
