"""The ``cnas`` command line (also ``python -m cnas``): one module per subcommand."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from .._version import __version__
from . import _convert, _derive, _draw, _export, _predict, _profile, _search, _study, _train
from ._common import CLIError, DeferredParser, err

__all__ = ["build_parser", "main"]

logger = logging.getLogger("cnas")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cnas`` command."""
    parser = DeferredParser(
        prog="cnas",
        description="Curriculum Neural Architecture Search (Guo et al., ICML 2020).",
    )
    parser.add_argument("--version", action="version", version=f"cnas {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more of cnas's log output (-v: its progress, or its debug messages for "
        "search, train and study); -vv: every library's debug messages too",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _draw.add_parsers(sub)
    _search.add_search_parser(sub)
    _derive.add_derive_parser(sub)
    _train.add_parsers(sub)
    _convert.add_parser(sub)
    _study.add_study_parser(sub)
    _profile.add_profile_parser(sub)
    _export.add_export_parser(sub)
    _predict.add_predict_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnas`` command on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # long-running commands report their epochs; the others only warnings. -v raises
    # cnas's own logger; other libraries (PIL logs every PNG chunk) speak from -vv on
    base = logging.INFO if args.command in ("search", "train", "study") else logging.WARNING
    level = max(base - 10 * args.verbose, logging.DEBUG)
    others = logging.DEBUG if args.verbose >= 2 else logging.WARNING
    if not logging.getLogger().handlers:
        logging.basicConfig(level=others, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(level)
    try:
        return int(args.func(args))
    except CLIError as exc:
        err(f"cnas {args.command}: error: {exc}")
        return 2
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except OSError as exc:  # a full disk, a folder made read-only mid-run: one line
        where = f": {exc.filename}" if exc.filename else ""
        err(f"cnas {args.command}: error: {exc.strerror or exc}{where}")
        return 1
