"""Command-line flags for search strategies, made from each strategy's own definition
(``cnas.search.strategy_settings``): no default is restated here, and a plugin strategy
gets its flags too. Shared by ``cnas search`` and ``cnas derive``."""

from __future__ import annotations

import argparse
import inspect
import logging
from typing import Any

from ._common import CLIError

__all__ = ["add_strategy_flags", "build_strategy", "given_settings", "strategy_listing"]

logger = logging.getLogger("cnas")

_TABLE = "_strategy_flags"  # where a parser keeps its strategy flags (argparse defaults)


_OFF = object()  # "off" given for an optional setting: None, as opposed to not given


def _strategy_table() -> dict[str, list[tuple[str, Any]]]:
    """Every registered strategy's settings: ``{name: [(strategy, Setting), ...]}``.

    A name that two strategies give different types gets no flag (a warning says so).
    """
    from ..search import get_strategy, list_strategies, strategy_settings

    table: dict[str, list[tuple[str, Any]]] = {}
    clashes: set[str] = set()
    for strategy in list_strategies():
        for setting in strategy_settings(get_strategy(strategy)):
            entry = table.setdefault(setting.name, [])
            if entry and (entry[0][1].type, entry[0][1].optional) != (
                setting.type,
                setting.optional,
            ):
                clashes.add(setting.name)
            entry.append((strategy, setting))
    for name in sorted(clashes):
        logger.warning(
            "strategies %s give the setting %r different types; no flag for it",
            ", ".join(strategy for strategy, _ in table[name]),
            name,
        )
        del table[name]
    return table


def _parser_for(setting: Any) -> Any:
    def parse(text: str) -> Any:
        if setting.optional and text.lower() in ("off", "none"):
            return _OFF
        try:
            return setting.type(text)
        except ValueError:
            kind = setting.type.__name__
            extra = " or 'off'" if setting.optional else ""
            raise argparse.ArgumentTypeError(f"expected {kind}{extra}, got {text!r}") from None

    return parse


def add_strategy_flags(parser: argparse.ArgumentParser) -> None:
    """The strategies' settings as flags, after every other flag of ``parser``: a plugin's
    setting whose flag is taken gets none (a warning says so), never the other's."""
    group = parser.add_argument_group(
        "strategy settings", "each applies to the strategies named in its help"
    )
    added: dict[str, list[tuple[str, Any]]] = {}
    for name, entries in _strategy_table().items():
        setting = entries[0][1]
        defaults = {"off" if s.default is None else s.default for _, s in entries}
        if len(defaults) == 1:
            default = f"default: {defaults.pop()}"
        else:
            default = "defaults: " + ", ".join(
                f"{strategy} {'off' if s.default is None else s.default}" for strategy, s in entries
            )
        strategies = " or ".join(strategy for strategy, _ in entries)
        off = "; 'off' for none" if setting.optional else ""
        options: dict[str, Any] = {
            "dest": f"strategy__{name}",
            "default": None,
            "help": f"{setting.help or name} ({strategies}; {default}{off})",
        }
        if setting.type is bool and not setting.optional:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _parser_for(setting)
            options["metavar"] = setting.type.__name__.upper()
        try:
            group.add_argument(*setting.flags, **options)
        except argparse.ArgumentError as exc:
            logger.warning("no flag for strategy setting %r of %s: %s", name, strategies, exc)
            continue
        added[name] = entries
    parser.set_defaults(**{_TABLE: added})


def given_settings(args: argparse.Namespace, strategy: str) -> dict[str, Any]:
    """The strategy settings given on the command line; a flag of another strategy is an
    error, not something to ignore."""
    given: dict[str, Any] = {}
    for name, entries in getattr(args, _TABLE).items():
        value = getattr(args, f"strategy__{name}")
        if value is None:
            continue
        if strategy not in [s for s, _ in entries]:
            strategies = " or ".join(s for s, _ in entries)
            raise CLIError(
                f"{entries[0][1].flags[0]} applies to --strategy {strategies}, "
                f"not --strategy {strategy}"
            )
        given[name] = None if value is _OFF else value
    return given


def build_strategy(name: str, settings: dict[str, Any]) -> Any:
    from ..search import get_strategy

    try:
        return get_strategy(name)(**settings)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--strategy {name}: {exc}") from None


def strategy_listing() -> str:
    from ..search import get_strategy, list_strategies, strategy_settings

    lines = ["search strategies (--strategy NAME) and their settings:"]
    for name in list_strategies():
        cls = get_strategy(name)
        doc = inspect.getdoc(cls) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        lines += ["", f"{name}: {cls.__module__.split('._')[0]}.{cls.__name__}", f"  {summary}"]
        for s in strategy_settings(cls):
            default = "off" if s.default is None else s.default
            lines.append(f"  {' / '.join(s.flags)} (default: {default}): {s.help}")
    return "\n".join(lines)


# -- cnas search --------------------------------------------------------------------------------
