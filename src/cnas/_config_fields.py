"""The fields of a run configuration (``cnas._config``): what each holds, how it is
checked, read from the command line and written back, and its description from the
class docstring."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ._io import shorten
from .errors import ConfigError

__all__ = ["SEED_LIMIT", "FieldInfo", "close_matches", "config_fields", "field_help"]

SEED_LIMIT = 2**64
"""Seeds are what ``torch.Generator.manual_seed`` takes: 0 .. 2**64 - 1."""


def close_matches(name: str, known: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for a name close to one of ``known`` (else ``""``)."""
    if len(name) > 200:  # no field name is that long (and difflib would take minutes)
        return ""
    found = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    initials = "".join(word[:1] for word in name.split("_"))  # learning_rate -> lr
    if "_" in name and initials in known and initials not in found:
        found.append(initials)
    if not found:
        return ""
    return "; did you mean " + " or ".join(repr(f) for f in found) + "?"


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What a configuration field holds and how it is checked.

    Attributes:
        name: The field's name.
        kind: ``bool``, ``int``, ``float``, ``str``, ``choice``, ``strs`` (a list of
            strings), ``mapping`` (a JSON object), ``part`` (a nested configuration) or
            ``custom`` (a type of its own, with ``decode``/``encode`` in its metadata).
        optional: Whether ``None`` is allowed.
        default: The default value (``None`` for a part; ``part_type()`` builds it).
        choices: The allowed values of a ``choice``.
        part_type: The configuration class of a ``part``.
        flags: The command-line spellings.
        metadata: The field's other metadata (bounds, ``parse``).
    """

    name: str
    kind: str
    optional: bool
    default: Any
    choices: tuple[Any, ...] = ()
    part_type: Any = None
    flags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    # -- checks -----------------------------------------------------------------------

    def expected(self) -> str:
        """What the field takes, in words (for error messages and help)."""
        meta = self.metadata
        if self.kind == "custom":
            return str(meta["expected"])
        if self.kind == "bool":
            text = "true or false"
        elif self.kind in ("int", "float"):
            text = "an integer" if self.kind == "int" else "a finite number"
            bounds = []
            if meta.get("seed"):
                bounds.append("in 0 .. 2**64 - 1")
            if meta.get("minimum") is not None:
                bounds.append(f">= {_number_text(meta['minimum'])}")
            if meta.get("above") is not None:
                bounds.append(f"> {_number_text(meta['above'])}")
            if meta.get("maximum") is not None:
                bounds.append(f"<= {_number_text(meta['maximum'])}")
            if meta.get("below") is not None:
                bounds.append(f"< {_number_text(meta['below'])}")
            if bounds:
                text += " " + " and ".join(bounds)
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "strs":
            text = "a list of strings"
        elif self.kind == "str":
            text = "a non-empty string" if meta.get("nonempty") else "a string"
        else:
            text = "an object"
        return text + (" or null" if self.optional else "")

    def check(self, value: Any, path: str) -> Any:
        """``value`` checked and normalized (a list becomes a tuple, an int a float for a
        float field), or ``ConfigError`` naming ``path``."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(path, f"expected {self.expected()}, got null")
        kind = self.kind
        if kind == "custom":
            return self.metadata["decode"](value, path)
        if kind == "bool":
            if not isinstance(value, bool):
                raise self._bad(value, path)
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._bad(value, path)
            if self.metadata.get("seed") and not 0 <= value < SEED_LIMIT:
                raise self._bad(value, path)
            self._bounds(value, path)
            return value
        if kind == "float":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise self._bad(value, path)
            self._bounds(value, path)
            return float(value)
        if kind == "str":
            if not isinstance(value, str) or (self.metadata.get("nonempty") and not value):
                raise self._bad(value, path)
            return value
        if kind == "choice":
            if value not in self.choices or isinstance(value, bool):
                hint = close_matches(str(value), [str(c) for c in self.choices])
                raise ConfigError(path, f"expected {self.expected()}, got {shorten(value)}{hint}")
            return value
        if kind == "strs":
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise self._bad(value, path)
            items = tuple(value)
            if not all(isinstance(v, str) and v for v in items):
                raise ConfigError(
                    path, f"expected a list of non-empty strings, got {shorten(value)}"
                )
            if self.metadata.get("nonempty") and not items:
                raise ConfigError(path, "expected a non-empty list of strings, got []")
            return items
        if kind == "mapping":
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise self._bad(value, path)
            return dict(value)
        if kind == "part":
            assert self.part_type is not None
            if isinstance(value, self.part_type):
                return value
            if isinstance(value, Mapping):
                return self.part_type.from_dict(value, where=path)
            raise ConfigError(
                path, f"expected a {self.part_type.__name__} or an object, got {shorten(value)}"
            )
        raise AssertionError(kind)  # pragma: no cover

    def _bad(self, value: Any, path: str) -> ConfigError:
        return ConfigError(path, f"expected {self.expected()}, got {shorten(value)}")

    def _bounds(self, value: float, path: str) -> None:
        meta = self.metadata
        low, above = meta.get("minimum"), meta.get("above")
        high, below = meta.get("maximum"), meta.get("below")
        if (
            (low is not None and value < low)
            or (above is not None and value <= above)
            or (high is not None and value > high)
            or (below is not None and value >= below)
        ):
            raise self._bad(value, path)

    # -- text (the command line) ----------------------------------------------------------

    def parse_text(self, text: str) -> Any:
        """The value the command line's ``text`` stands for (checked later, by ``check``).

        Raises:
            ValueError: text that is not of the field's kind.
        """
        if self.optional and text.strip().lower() in ("off", "none", "null"):
            return None
        custom = self.metadata.get("parse")
        if custom is not None:
            return custom(text)
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"expected {self.expected()}, got {shorten(text)}") from None
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"expected {self.expected()}, got {shorten(text)}") from None
        if self.kind == "strs":
            return tuple(item.strip() for item in text.split(",") if item.strip())
        if self.kind == "choice" and self.choices and isinstance(self.choices[0], int):
            return int(text)
        return text

    def text(self, value: Any) -> str:
        """``value`` as the command line and the docs write it."""
        if value is None:
            return "off" if self.optional and self.kind != "str" else "none"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        if isinstance(value, float):
            return _number_text(value)
        return str(value)


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else repr(value)
    return repr(value)


def _analyse(name: str, annotation: Any, field: dataclasses.Field[Any]) -> FieldInfo:
    meta = dict(field.metadata)
    flags = tuple(meta.pop("flags", ()))
    if meta.pop("custom", False):
        optional = type(None) in typing.get_args(annotation)
        return FieldInfo(name, "custom", optional, field.default, flags=flags, metadata=meta)
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            raise TypeError(f"field {name}: a union of {args} is not a configuration type")
        annotation = args[0]
        origin = typing.get_origin(annotation)
    default = (
        None
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        else field.default
        if field.default is not dataclasses.MISSING
        else None
    )
    if meta.pop("part", False):
        if not (isinstance(annotation, type) and hasattr(annotation, "from_dict")):
            raise TypeError(f"field {name}: part() needs a Config type, got {annotation!r}")
        return FieldInfo(name, "part", optional, None, part_type=annotation, flags=flags)
    if meta.pop("mapping", False):
        return FieldInfo(name, "mapping", optional, {}, flags=flags, metadata=meta)
    if origin is Literal:
        return FieldInfo(
            name,
            "choice",
            optional,
            default,
            typing.get_args(annotation),
            flags=flags,
            metadata=meta,
        )
    if origin is tuple:
        return FieldInfo(name, "strs", optional, default, flags=flags, metadata=meta)
    kinds = {bool: "bool", int: "int", float: "float", str: "str"}
    if annotation in kinds:
        return FieldInfo(name, kinds[annotation], optional, default, flags=flags, metadata=meta)
    raise TypeError(f"field {name}: {annotation!r} is not a configuration type")


_FIELDS: dict[type, tuple[FieldInfo, ...]] = {}


def config_fields(cls: type) -> tuple[FieldInfo, ...]:
    """The fields of configuration class ``cls``, analysed once."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(typing.cast(Any, cls))
        found = tuple(_analyse(f.name, hints[f.name], f) for f in fields if f.init)
        _FIELDS[cls] = found
    return found


_HELP: dict[type, dict[str, str]] = {}


def field_help(cls: type, name: str, *, sentence: bool = False) -> str:
    """A field's description from its class's ``Attributes:`` docstring section (the
    first sentence with ``sentence``)."""
    if cls not in _HELP:
        helps: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            helps.update(_attributes(inspect.getdoc(klass) or ""))
        _HELP[cls] = helps
    text = _HELP[cls].get(name, "")
    if sentence:
        text = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    return text


def _attributes(doc: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    inside = False
    current: str | None = None
    indent: int | None = None
    for line in doc.splitlines():
        if line.strip() in ("Attributes:", "Args:"):
            inside, current, indent = True, None, None
            continue
        if not inside:
            continue
        if line.strip() and not line.startswith(" "):
            inside = False
            continue
        match = re.match(r"^(\s+)(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = match.group(2)
            out[current] = [match.group(3)]
        elif current is not None and line.strip():
            out[current].append(line.strip())
    return {k: " ".join(v).replace("``", "`") for k, v in out.items()}
