"""Command-line flags made from a run configuration's fields (``SearchConfig``,
``TrainConfig``): each field's spellings, type, help and default come from its
declaration, so no default is written here; ``--config FILE`` and ``--print-config``;
and the flags given turned back into a configuration."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ._common import CLIError

__all__ = [
    "FLAG_TABLE",
    "add_config_file_flags",
    "add_config_flags",
    "add_per_process_batch_flag",
    "config_error",
    "given_fields",
    "load_config",
    "per_process_batch",
]

C = TypeVar("C")

FLAG_TABLE = "_config_flags"
"""Where a parser keeps ``{field path: its preferred flag}`` (argparse defaults)."""

_DEST = "cfg:"


def _describe(cls: type, name: str) -> str:
    from .._config_fields import field_help

    text = field_help(cls, name).replace("`", "")
    text = text.split(" Source:", 1)[0] if not text.startswith("Source:") else ""
    return text.rstrip(".").replace("%", "%%")  # argparse formats help with %


def _type(info: Any) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return info.parse_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = info.kind  # argparse names the type in its messages
    return parse


def add_config_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    prefix: str = "",
    titles: Mapping[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
    group: Any = None,
) -> None:
    """Add a flag for every field of configuration class ``cls`` that declares flags
    (recursing into its parts, one argument group each, titled from ``titles``); ``skip``
    names field paths to leave out. Flags default to absent: only the flags given
    change the configuration."""
    from .._config_fields import config_fields

    table: dict[str, str] = dict(parser.get_default(FLAG_TABLE) or {})
    target = group or parser
    for info in config_fields(cls):
        path = f"{prefix}{info.name}"
        if path in skip:
            continue
        if info.kind == "part":
            title = (titles or {}).get(path, path)
            sub = parser.add_argument_group(title) if titles is not None else target
            assert info.part_type is not None
            add_config_flags(
                parser, info.part_type, prefix=f"{path}.", titles=titles, skip=skip, group=sub
            )
            table.update(parser.get_default(FLAG_TABLE) or {})
            continue
        if not info.flags:
            continue
        help_text = _describe(cls, info.name)
        for sibling in config_fields(cls):  # the part's fields it names, as their flags
            if "_" in sibling.name and sibling.flags and sibling.name in help_text:
                help_text = help_text.replace(sibling.name, sibling.flags[0])
        default = "unset" if info.default is None else info.text(info.default)
        options: dict[str, Any] = {"dest": _DEST + path, "default": argparse.SUPPRESS}
        flags = list(info.flags)
        if info.kind == "bool" and flags[0].startswith("--no-"):
            # a negative field (no_bias_decay): its flag sets it, the positive one clears it
            options.update(
                action="store_const", const=True, help=f"{help_text} (default: {default})"
            )
            target.add_argument(*flags, **options)
            target.add_argument(
                "--" + flags[0][len("--no-") :],
                dest=_DEST + path,
                default=argparse.SUPPRESS,
                action="store_const",
                const=False,
                help=argparse.SUPPRESS,
            )
        elif info.kind == "bool":
            options.update(
                action=argparse.BooleanOptionalAction, help=f"{help_text} (default: {default})"
            )
            target.add_argument(*flags, **options)
        else:
            if info.kind == "choice":
                options["choices"] = list(info.choices)
                options["metavar"] = info.metadata.get("metavar") or (
                    "{" + ",".join(map(str, info.choices)) + "}"
                )
            else:
                options["metavar"] = info.metadata.get("metavar") or (
                    info.kind.upper() if info.kind != "strs" else "A,B,..."
                )
            off = "; off for none" if info.optional and info.kind not in ("str", "custom") else ""
            options.update(type=_type(info), help=f"{help_text} (default: {default}{off})")
            target.add_argument(*flags, **options)
        table[path] = flags[0]
    parser.set_defaults(**{FLAG_TABLE: table})


def add_config_file_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--config FILE`` and ``--print-config``."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"read the {what} configuration from FILE (a JSON file, or a run's "
        "config.json); flags given beside it override its values",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the configuration the command line resolves to (JSON, as --config "
        "reads it) and exit",
    )


def add_per_process_batch_flag(parser: argparse.ArgumentParser) -> None:
    """``--batch_size N``: the original code's spelling, with its meaning (per process)."""
    from ._common import positive_int

    parser.add_argument(
        "--batch_size",
        dest="batch_size_per_process",
        type=positive_int,
        default=None,
        metavar="N",
        help="batch size per process, the original code's spelling and meaning: the "
        "global batch (--batch-size) is N times the number of processes",
    )


def per_process_batch(args: argparse.Namespace, field: str) -> argparse.Namespace:
    """``args`` with ``--batch_size N`` turned into the global batch ``field`` (N times
    the processes ``torchrun`` launched).

    Raises:
        CLIError: both batch flags given.
    """
    from ._common import launched_world_size

    if args.batch_size_per_process is None:
        return args
    if _DEST + field in vars(args):
        raise CLIError("give --batch-size (global) or --batch_size (per process), not both")
    args = argparse.Namespace(**vars(args))
    setattr(args, _DEST + field, args.batch_size_per_process * launched_world_size())
    return args


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration fields the flags given set: ``{"optimizer.lr": 0.05, ...}``."""
    return {k[len(_DEST) :]: v for k, v in vars(args).items() if k.startswith(_DEST)}


def config_error(exc: Exception, args: argparse.Namespace) -> CLIError:
    """A ``ConfigError`` as the command line says it: the field named by its flag."""
    from ..errors import ConfigError

    if not isinstance(exc, ConfigError):
        return CLIError(str(exc))
    flags: dict[str, str] = dict(getattr(args, FLAG_TABLE, {}) or {})
    for name, entries in (getattr(args, "_strategy_flags", {}) or {}).items():
        flags[f"strategy.settings.{name}"] = entries[0][1].flags[0]  # a strategy's setting
    path, reason = exc.path, exc.reason
    if path == "strategy.settings":  # the strategy refused its settings: "cnas: ..."
        return CLIError(f"--strategy {reason}")
    part = path if path not in flags else path.rpartition(".")[0]
    for name, flag in flags.items():  # the part's fields that the reason names, as flags
        leaf = name.rpartition(".")[2]
        if "_" in leaf and name.rpartition(".")[0] == part and f" {leaf}" in f" {reason}":
            reason = reason.replace(leaf, flag)
    return CLIError(f"{flags.get(path, path)}: {reason}" if path else reason)


def load_config(
    cls: Any,
    args: argparse.Namespace,
    base: Callable[[], C],
    *,
    adjust: Callable[[C], C] | None = None,
) -> C:
    """The configuration of a command line: ``--config FILE`` (else ``base()``), then
    ``adjust`` (a hook for what a flag implies beyond its field), then the fields the
    flags give.

    Raises:
        CLIError: an unreadable file, or a value that the field does not take (named by
            its flag).
    """
    from ..errors import ConfigError

    given = given_fields(args)
    try:
        config: Any = cls.load(args.config) if args.config else base()
        if adjust is not None:
            config = adjust(config)
        return config.replace(**given)  # type: ignore[no-any-return]
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    except ConfigError as exc:
        raise config_error(exc, args) from None
