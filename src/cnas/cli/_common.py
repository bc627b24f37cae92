"""What every subcommand shares: output lines, one-line errors, argument types."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "HOLD_OUT_DEFAULT",
    "CLIError",
    "DeferredParser",
    "add_batch_size_flags",
    "add_hold_out_flags",
    "err",
    "global_batch",
    "hold_out_config",
    "int_at_least",
    "join_processes",
    "launched_world_size",
    "non_negative_int",
    "out",
    "parse_device",
    "portion",
    "positive_int",
    "recorded_hold_out",
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
    default), or a one-line error naming what is wrong."""
    import torch

    from .. import distributed as dist_utils

    if not device_flag:
        return dist_utils.default_device()
    try:
        device = torch.device(device_flag)
    except (RuntimeError, ValueError):
        raise CLIError(
            f"--device {device_flag!r} is not a device; use cpu, cuda, cuda:1, mps, ..."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CLIError(f"--device {device_flag}: no CUDA device is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CLIError(
                f"--device {device_flag}: this machine has {torch.cuda.device_count()} CUDA "
                "device(s)"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise CLIError(f"--device {device_flag}: MPS is not available here")
    return device


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


def add_batch_size_flags(parser: Any, *, default: int | None, what: str = "") -> None:
    """``--batch-size N`` (the global batch, summed over processes) or ``--batch_size N``
    (per process: the original code's spelling, with its meaning), and the hidden
    ``--local-rank`` that ``python -m torch.distributed.launch`` passes."""
    shown = f" (default {default})" if default is not None else " (default: the preset's)"
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"global {what}batch size, summed over all torchrun processes{shown}",
    )
    group.add_argument(
        "--batch_size",
        dest="batch_size_per_process",
        type=positive_int,
        default=None,
        metavar="N",
        help="batch size per process, the original code's spelling and meaning: the "
        "global batch is N times the number of processes",
    )
    parser.add_argument("--local-rank", "--local_rank", type=int, help=argparse.SUPPRESS)


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


def global_batch(args: argparse.Namespace) -> int | None:
    """The global batch size the flags of ``add_batch_size_flags`` ask for (``None``:
    neither flag given)."""
    if getattr(args, "batch_size_per_process", None) is not None:
        return int(args.batch_size_per_process) * launched_world_size()
    return None if args.batch_size is None else int(args.batch_size)


def portion(text: str) -> float:
    """An argparse ``type`` for a share strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, got {text!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


HOLD_OUT_DEFAULT = 0.3
"""``cnas.data.DEFAULT_TEST_PORTION``, restated so that ``--help`` does not import torch
(a test checks that they agree)."""


def add_hold_out_flags(group: Any) -> None:
    """``--hold-out-test``, ``--test-portion`` and ``--test-seed``: keep a test split out of
    the run (``cnas.data.hold_out``), as ``cnas study`` does for every run."""
    group.add_argument(
        "--hold-out-test",
        action="store_true",
        help="keep a test split out of this run: CIFAR-10's test set, an ImageNet folder's "
        "val/, or a share of the digits/synthetic set (--test-portion) drawn with --test-seed",
    )
    group.add_argument(
        "--test-portion",
        type=portion,
        default=None,
        help=f"with --hold-out-test: the held-out share of digits/synthetic "
        f"(default: {HOLD_OUT_DEFAULT})",
    )
    group.add_argument(
        "--test-seed",
        type=seed_int,
        default=None,
        help="with --hold-out-test: the seed of the held-out split (default: 0)",
    )


def hold_out_config(args: argparse.Namespace) -> dict[str, Any]:
    """The hold-out flags as ``load_*_data`` keywords (``{}`` without ``--hold-out-test``);
    the test flags alone are an error, not silently ignored."""
    from ..data import DEFAULT_TEST_PORTION

    if not args.hold_out_test:
        given = [
            f
            for f, v in (("--test-portion", args.test_portion), ("--test-seed", args.test_seed))
            if v is not None
        ]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise CLIError(f"{' and '.join(given)} {verb} --hold-out-test")
        return {}
    return {
        "hold_out_test": True,
        "test_portion": DEFAULT_TEST_PORTION if args.test_portion is None else args.test_portion,
        "test_seed": 0 if args.test_seed is None else args.test_seed,
    }


def recorded_hold_out(data: Any, where: Any, *, train: bool = False) -> dict[str, Any]:
    """The ``load_*_data`` keywords of the held-out split a run recorded in its ``data``
    configuration (``{}`` when it held none out); ``train`` adds the training share.
    A record that names a held-out split without its settings is a one-line error."""
    if not isinstance(data, dict) or not data.get("hold_out_test"):
        return {}
    try:
        keywords = {
            "hold_out_test": True,
            "test_portion": float(data["test_portion"]),
            "test_seed": int(data["test_seed"]),
        }
        if train:
            keywords["train_portion"] = float(data["train_portion"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CLIError(f"{where} records a held-out test split without its {exc}") from None
    return keywords
