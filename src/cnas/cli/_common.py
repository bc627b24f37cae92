"""What every subcommand shares: output lines, one-line errors, argument types."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "CLIError",
    "err",
    "int_at_least",
    "join_processes",
    "non_negative_int",
    "out",
    "positive_int",
    "resolve_genotype",
]


def out(message: str) -> None:
    """Write a result line to standard output (the CLI's job; library code logs instead)."""
    sys.stdout.write(message + "\n")


def err(message: str) -> None:
    """Write a message line to standard error."""
    sys.stderr.write(message + "\n")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


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


def join_processes(device_flag: str | None) -> Any:
    """The device to run on (``--device`` or this process's default), after joining the
    process group ``torchrun`` describes, if any."""
    import torch

    from .. import distributed as dist_utils

    device = torch.device(device_flag) if device_flag else dist_utils.default_device()
    dist_utils.init_from_env(device)
    return device
