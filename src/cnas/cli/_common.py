"""What every subcommand shares: output lines, one-line errors, argument types."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "CLIError",
    "DeferredParser",
    "err",
    "int_at_least",
    "join_processes",
    "launched_world_size",
    "non_negative_int",
    "out",
    "parse_device",
    "positive_int",
    "resolve_genotype",
    "seed_int",
]


def out(message: str) -> None:
    """Write a result line to standard output (the CLI's job; library code logs instead)."""
    sys.stdout.write(message + "\n")


def err(message: str) -> None:
    """Write a message line to standard error."""
    sys.stderr.write(message + "\n")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class DeferredParser(argparse.ArgumentParser):
    """An argument parser whose arguments are added by ``populate(parser)`` when it is
    first used (to parse, or for its usage and help). Subcommands whose flags come from
    the registries (``search``, ``derive``) use it, so ``cnas --help`` and the other
    subcommands do not import torch to build them."""

    def __init__(
        self,
        *args: Any,
        populate: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _ensure(self) -> None:
        populate, self._populate = self._populate, None
        if populate is not None:
            populate(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """Populate, then parse as ``argparse`` does."""
        self._ensure()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        """Populate, then format as ``argparse`` does."""
        self._ensure()
        return super().format_usage()

    def format_help(self) -> str:
        """Populate, then format as ``argparse`` does."""
        self._ensure()
        return super().format_help()


def resolve_genotype(spec: str) -> object:
    from .. import genotypes

    try:
        return genotypes.resolve(spec)
    except (KeyError, FileNotFoundError, ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None


def int_at_least(minimum: int) -> Callable[[str], int]:
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


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def parse_device(device_flag: str | None) -> Any:
    """``--device`` as a ``torch.device`` that exists here (``None``: this process's
    default, ``cuda:LOCAL_RANK`` when CUDA is available), or a one-line error naming what
    is wrong."""
    from .. import distributed as dist_utils

    try:
        return dist_utils.resolve_device(device_flag)
    except ValueError as exc:
        raise CLIError(f"--device {exc}") from None


def join_processes(device_flag: str | None) -> Any:
    """The device to run on (``--device`` or this process's default), after joining the
    process group ``torchrun`` describes, if any."""
    from .. import distributed as dist_utils

    device = parse_device(device_flag)
    dist_utils.init_from_env(device)
    return device


def seed_int(text: str) -> int:
    """An argparse ``type`` for a seed: an integer torch can seed with (0 .. 2**64 - 1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"a seed must be in 0 .. 2**64 - 1, got {value}")
    return value


def launched_world_size() -> int:
    """How many processes ``torchrun`` launched (``WORLD_SIZE``; 1 without it)."""
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(text)
    except ValueError:
        raise CLIError(f"WORLD_SIZE must be a positive integer, got {text!r}") from None
    if world < 1:
        raise CLIError(f"WORLD_SIZE must be a positive integer, got {world}")
    return world
