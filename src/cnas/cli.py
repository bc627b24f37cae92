"""The ``cnas`` command line (also ``python -m cnas``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnas`` command on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
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
