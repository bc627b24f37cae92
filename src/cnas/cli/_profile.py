"""``cnas profile``: measure a latency table of an evaluation network on this device."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from ._common import CLIError, non_negative_int, out, parse_device, positive_int
from ._network_flags import add_network_flags, network_from_args

__all__ = ["add_profile_parser"]

logger = logging.getLogger("cnas")


def add_profile_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``profile``."""
    p = sub.add_parser(
        "profile",
        help="measure a latency table of an evaluation network on this device",
        description="Time every candidate op at every cell position's input shape (stride, "
        "channels, resolution) of an evaluation network, and the fixed parts (stems, "
        "preprocessing, node sums, head), on this device; write the latency table that "
        "cnas search --max-latency-ms --latency-table reads. Then measure random whole "
        "networks against their predictions (--check).",
    )
    p.add_argument("-o", "--output", required=True, help="the latency table to write (JSON)")
    p.add_argument(
        "--dataset",
        default=None,
        help="the evaluation network of cnas train for this dataset (default: a search's: "
        "cifar10, C=36, 20 layers, 3x32x32)",
    )
    add_network_flags(p, "to profile")
    p.add_argument("--ops", default=None, help="comma-separated candidate ops (the DARTS ops)")
    p.add_argument(
        "--nodes", type=positive_int, default=None, help="nodes per cell (default: a search's, 4)"
    )
    p.add_argument("--batch-size", type=positive_int, default=1, help="images per pass (1)")
    p.add_argument("--device", default="cpu", help="where to measure (cpu, cuda, ...)")
    p.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads (default: as set)"
    )
    p.add_argument("--channels-last", action="store_true", help="measure in channels-last layout")
    p.add_argument("--repeats", type=positive_int, default=7, help="timed blocks per entry (7)")
    p.add_argument(
        "--check",
        type=non_negative_int,
        default=20,
        metavar="N",
        help="measure N random whole networks against their predictions (20; 0: skip)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing table")
    p.set_defaults(func=_cmd_profile)


def _cmd_profile(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise CLIError(f"{output} exists; pass --overwrite to replace it")
    if output.is_dir():
        raise CLIError(f"{output} is a folder")
    import torch

    from ..costs import check_predictions, profile
    from ..errors import UnknownOpError
    from ..ops import DARTS_OPS
    from ..search import SearchConfig

    search = SearchConfig()  # the defaults: a profile measures for a search's network and space
    assert search.data is not None
    args.dataset = args.dataset or search.data.dataset
    args.nodes = args.nodes or search.space.n_nodes
    network = network_from_args(args, args.dataset)
    ops = list(DARTS_OPS)
    if args.ops is not None:
        ops = [o.strip() for o in args.ops.split(",") if o.strip()]
        if not ops:
            raise CLIError("--ops names no op; give comma-separated op names, or leave it out")
    if args.check == 1:
        raise CLIError("--check needs at least 2 networks (a rank correlation), or 0 to skip")
    device = parse_device(args.device)
    start = time.perf_counter()
    logger.warning("profiling %s on %s; this takes a minute or two", network.describe(), device)
    try:
        table = profile(
            network,
            ops,
            n_nodes=args.nodes,
            batch_size=args.batch_size,
            device=device,
            threads=args.threads,
            channels_last=args.channels_last,
            repeats=args.repeats,
        )
    except UnknownOpError as exc:
        raise CLIError(str(exc.args[0])) from None
    measured = time.perf_counter() - start
    table.save(output, overwrite=args.overwrite)  # kept, should the check fail
    if args.check:
        report = check_predictions(table, args.check, threads=table.threads)
        table = dataclasses.replace(table, validation=report.to_dict())
        table.save(output, overwrite=True)
    out(
        f"{output}: {len(table.entries)} op entries, fixed parts for 1..{args.nodes} nodes, "
        f"{network.describe()}, batch {args.batch_size}, {table.device} ({table.device_name}), "
        f"{table.threads} thread(s), torch {torch.__version__}; measured in {measured:.0f} s"
    )
    if args.check:
        v = table.validation
        out(
            f"prediction over {v['genotypes']} random networks: Spearman {v['spearman']:.3f}, "
            f"mean absolute error {v['mape']:.1f}%, measured / predicted {v['mean_ratio']:.2f}"
        )
    return 0
