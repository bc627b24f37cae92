"""The budget flags of ``cnas search`` (``--max-params``, ``--max-madds``,
``--max-latency-ms`` with ``--latency-table``, ``--cost-weight``, ``--cost-penalty``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ._common import CLIError, positive_int

__all__ = ["add_budget_flags", "budget_from_args", "count", "network_from_args"]

_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9}


def count(text: str) -> float:
    """A positive count, with an optional K/M/G suffix: ``3.7M``, ``600M``, ``250000``."""
    value = text.strip().replace("_", "").replace(",", "")
    scale = _SUFFIX.get(value[-1:].lower(), 1.0)
    if scale != 1.0:
        value = value[:-1]
    try:
        number = float(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count such as 250000, 3.7M or 600M, got {text!r}"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return number


def _number(text: str, *, zero: bool) -> float:
    """A finite number above 0 (or at least 0 with ``zero``), for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise argparse.ArgumentTypeError(
            f"expected a number {'>= 0' if zero else 'above 0'}, got {text!r}"
        )
    return value


def _positive_float(text: str) -> float:
    return _number(text, zero=False)


def _weight(text: str) -> float:
    return _number(text, zero=True)


def add_network_flags(group: Any, what: str) -> None:
    """``--eval-init-channels`` and ``--eval-layers``: the evaluation network of ``what``."""
    group.add_argument(
        "--eval-init-channels",
        type=positive_int,
        default=None,
        metavar="C",
        help=f"channels of the evaluation network {what} (default: cnas train's for the "
        "dataset: 36 for cifar10)",
    )
    group.add_argument(
        "--eval-layers",
        type=positive_int,
        default=None,
        metavar="L",
        help=f"cells of the evaluation network {what} (default: cnas train's: 20 for cifar10)",
    )


def add_budget_flags(parser: argparse.ArgumentParser) -> None:
    """Add the budget group to ``cnas search``."""
    group = parser.add_argument_group(
        "budget (costs of the derived cell's evaluation network; see docs/search.md#budgets)"
    )
    group.add_argument(
        "--max-params", type=count, default=None, metavar="N",
        help="most parameters, without the auxiliary head (e.g. 3.7M)",
    )  # fmt: skip
    group.add_argument(
        "--max-madds", type=count, default=None, metavar="N",
        help="most multiply-adds per image (e.g. 600M)",
    )  # fmt: skip
    group.add_argument(
        "--max-latency-ms", type=_positive_float, default=None, metavar="MS",
        help="most predicted latency per batch; needs --latency-table",
    )  # fmt: skip
    group.add_argument(
        "--latency-table", default=None, metavar="FILE",
        help="a latency table written by cnas profile for this evaluation network",
    )  # fmt: skip
    group.add_argument(
        "--latency-device", default=None, metavar="DEVICE",
        help="the device the latency limit is for (default: the search's device type); a "
        "table measured on another is refused",
    )  # fmt: skip
    group.add_argument(
        "--cost-weight", type=_weight, default=None, metavar="W",
        help="strength of the cost objective: MnasNet's exponent for cnas (0.07 soft, "
        "1.0 hard), the loss weight for darts/gdas (0.1); 0: the hard limit at derive only",
    )  # fmt: skip
    group.add_argument(
        "--cost-penalty", choices=("soft", "hard"), default="soft",
        help="soft: prefer cheaper cells everywhere; hard: penalize only costs over the limit",
    )  # fmt: skip
    add_network_flags(group, "the budget counts on")


def network_from_args(args: argparse.Namespace, dataset: str) -> Any:
    """The ``NetworkSpec`` of ``dataset`` with ``--eval-init-channels``/``--eval-layers``."""
    from ..costs import NetworkSpec

    overrides = {}
    if args.eval_init_channels is not None:
        overrides["C"] = args.eval_init_channels
    if args.eval_layers is not None:
        overrides["layers"] = args.eval_layers
    try:
        return NetworkSpec.for_dataset(dataset, **overrides)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def budget_from_args(args: argparse.Namespace, dataset: str, device: Any) -> Any:
    """The ``Budget`` the flags ask for, or ``None``; bad ones are ``CLIError``."""
    from ..costs import Budget, LatencyTable
    from ..errors import BudgetError, LatencyTableError

    limits = (args.max_params, args.max_madds, args.max_latency_ms)
    if all(v is None for v in limits):
        given = [
            flag
            for flag, value in (
                ("--latency-table", args.latency_table),
                ("--cost-weight", args.cost_weight),
                ("--latency-device", args.latency_device),
                ("--eval-init-channels", args.eval_init_channels),
                ("--eval-layers", args.eval_layers),
            )
            if value is not None
        ]
        if given or args.cost_penalty != "soft":
            flags = ", ".join(given) or "--cost-penalty"
            raise CLIError(
                f"{flags} need(s) a limit: --max-params, --max-madds or --max-latency-ms"
            )
        return None
    if args.latency_device is not None and args.latency_table is None:
        raise CLIError("--latency-device applies to a --latency-table")
    network = network_from_args(args, dataset)
    try:
        table = None
        if args.latency_table is not None:
            table = LatencyTable.load(args.latency_table)
            table.check(
                network=network,
                device=args.latency_device or getattr(device, "type", str(device)),
            )
        return Budget(
            max_params=args.max_params,
            max_madds=args.max_madds,
            max_latency_ms=args.max_latency_ms,
            latency_table=table,
            network=network,
            penalty=args.cost_penalty,
            cost_weight=args.cost_weight,
        )
    except (FileNotFoundError, BudgetError, LatencyTableError) as exc:
        raise CLIError(str(exc)) from None
