"""``--eval-init-channels`` and ``--eval-layers`` of ``cnas profile``: the evaluation
network a latency table is measured on (``cnas search``'s budget flags are its
configuration's, ``cnas.search.BudgetConfig``)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import CLIError, positive_int

__all__ = ["add_network_flags", "network_from_args"]


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
