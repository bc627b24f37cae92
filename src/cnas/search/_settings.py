"""A strategy's settings, read from its own definition: ``__init__``'s keyword arguments.

Names, defaults and types come from the signature, the help text from the class
docstring's ``Args:`` section, extra spellings from ``Strategy.cli_aliases``. The command
line builds its strategy flags from these, so no default is written down twice.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["Setting", "strategy_settings"]

_SIMPLE = (bool, int, float, str)


@dataclass(frozen=True)
class Setting:
    """One hyper-parameter of a strategy.

    Attributes:
        name: The keyword argument.
        type: ``bool``, ``int``, ``float`` or ``str``.
        default: Its default value.
        optional: Whether ``None`` is allowed.
        help: The first sentence of its description in the class docstring.
        flags: Its command-line spellings: ``--dashed-name`` first, then the aliases.
    """

    name: str
    type: type
    default: Any
    optional: bool
    help: str
    flags: tuple[str, ...]


def _simple_type(annotation: Any) -> tuple[type, bool] | None:
    """``(type, optional)`` for ``T`` or ``T | None`` with a simple ``T``, else None."""
    if annotation in _SIMPLE:
        return annotation, False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in _SIMPLE and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return None


def _arg_help(doc: str | None) -> dict[str, str]:
    """The first sentence of each entry of a Google-style ``Args:`` section."""
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, list[str]] = {}
    inside = False
    current: str | None = None
    indent: int | None = None
    for line in lines:
        if line.strip() in ("Args:", "Arguments:"):
            inside, current, indent = True, None, None
            continue
        if not inside:
            continue
        if line.strip() and not line.startswith(" "):
            inside = False  # the next section
            continue
        match = re.match(r"^(\s+)(\*{0,2}\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = match.group(2).lstrip("*")
            out[current] = [match.group(3)]
        elif current is not None and line.strip():
            out[current].append(line.strip())
    helps: dict[str, str] = {}
    for name, parts in out.items():
        text = " ".join(parts).replace("``", "")
        sentence = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
        sentence = re.sub(r"\s*\([^()]*\)$", "", sentence)  # a parenthesis at the end: details
        helps[name] = sentence
    return helps


def strategy_settings(cls: type) -> tuple[Setting, ...]:
    """The settings of strategy class ``cls`` that have a default and a simple type.

    Other keyword arguments (a ``Controller``, a tuple of betas) are settings too, but
    have no command-line flag; ``Strategy.settings()`` records only these.
    """
    init = cls.__init__  # type: ignore[misc]
    try:
        signature = inspect.signature(init)
        hints = typing.get_type_hints(init)
    except (TypeError, ValueError, NameError):
        return ()
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's text wins
        helps.update(_arg_help(klass.__doc__))
    aliases: dict[str, Any] = dict(getattr(cls, "cli_aliases", {}) or {})
    settings = []
    for p in signature.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            continue
        simple = _simple_type(hints.get(p.name, p.annotation))
        if simple is None:
            continue
        kind, optional = simple
        if p.default is None and not optional:
            continue
        flags = ("--" + p.name.replace("_", "-"), *tuple(aliases.get(p.name, ())))
        settings.append(
            Setting(p.name, kind, p.default, optional, helps.get(p.name, ""), tuple(flags))
        )
    return tuple(settings)
