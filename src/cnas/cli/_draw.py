"""``cnas draw`` and ``cnas genotypes``: pictures and listings of genotypes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import CLIError, err, out, resolve_genotype

__all__ = ["add_parsers"]


def _cmd_draw(args: argparse.Namespace) -> int:
    from .. import viz
    from .._genotype import Genotype

    genotype = resolve_genotype(args.arch)
    assert isinstance(genotype, Genotype)
    target = Path(args.output)
    fmt = args.format or (target.suffix.lstrip(".").lower() or "svg")
    if not target.suffix:
        target = target.with_suffix(f".{fmt}")
    if target.exists() and not args.force:
        raise CLIError(f"{target} exists; pass --force to overwrite it")
    try:
        written = viz.draw(genotype, target, format=fmt, title=args.title)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if written != target:
        err(f"once graphviz is installed: dot -T{fmt} {written} -o {target}")
        return 1
    out(f"wrote {target}")
    return 0


def _cmd_genotypes(args: argparse.Namespace) -> int:
    from .. import genotypes

    if args.name is None:
        for name in genotypes.list_genotypes():
            out(name)
        return 0
    genotype = resolve_genotype(args.name)
    from .._genotype import Genotype

    assert isinstance(genotype, Genotype)
    if args.format == "json":
        out(genotype.to_json(indent=2))
    elif args.format == "darts":
        out(repr(genotype.to_darts()))
    else:
        out(repr(genotype))
    return 0


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``draw`` and ``genotypes``."""
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
