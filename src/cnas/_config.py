"""Typed run configurations: the machinery behind ``SearchConfig``, ``TrainConfig`` and
their parts.

A configuration is a frozen dataclass that subclasses ``Config``. Each field is declared
with ``setting(default, ...)`` (a value: its checks and its command-line spellings ride
along as field metadata) or ``part(Factory)`` (a nested configuration), so that a default
is written exactly once: the command line builds its flags from the fields, the docs
build their tables from them, and a configuration file holds only what differs.

What every configuration does:

- checks each field when it is made (``ConfigError`` naming the field);
- ``to_dict()`` / ``from_dict()`` round-trip through JSON; a bad value is refused naming
  its path (``optimizer.lr: expected a finite number > 0, got 'x'``), an unknown key
  with close matches;
- ``replace(...)`` makes a changed copy (``config.replace(seed=1, optimizer={"lr": 0.1})``
  or ``config.replace(**{"optimizer.lr": 0.1})``);
- ``load(path)`` / ``save(path)`` read and write a JSON file (atomically).

A field's help text and source come from its class docstring's ``Attributes:`` section.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ._config_fields import close_matches, config_fields
from ._io import atomic_write_text, parse_json, shorten
from .errors import ConfigError

__all__ = [
    "Config",
    "custom_setting",
    "default_of",
    "describe_differences",
    "mapping_setting",
    "part",
    "setting",
]

C = TypeVar("C", bound="Config")


def setting(
    default: Any,
    *,
    flags: Sequence[str] = (),
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    seed: bool = False,
    parse: Callable[[str], Any] | None = None,
    nonempty: bool = False,
    metavar: str | None = None,
) -> Any:
    """A configuration field holding a value.

    Args:
        default: Its one default (a tuple for a list of strings).
        flags: Its command-line spellings, the preferred one first (none: no flag).
        minimum: The smallest value allowed (``>=``).
        above: A bound the value must exceed (``>``).
        maximum: The largest value allowed (``<=``).
        below: A bound the value must stay under (``<``).
        seed: An integer seed (0 .. 2**64 - 1).
        parse: How the command line reads its text (default: from the field's type).
        nonempty: A string or list that may not be empty.
        metavar: How the command line's help names its value (default: its type).
    """
    metadata = {
        "flags": tuple(flags),
        "minimum": minimum,
        "above": above,
        "maximum": maximum,
        "below": below,
        "seed": seed,
        "parse": parse,
        "nonempty": nonempty,
        "metavar": metavar,
    }
    if isinstance(default, (dict, list)):
        raise TypeError("a mutable default: use a tuple, or a mapping field with part=False")
    return dataclasses.field(default=default, metadata=metadata)


def mapping_setting(*, flags: Sequence[str] = ()) -> Any:
    """A configuration field holding a JSON object (``{}`` by default)."""
    return dataclasses.field(
        default_factory=dict, metadata={"flags": tuple(flags), "mapping": True}
    )


def custom_setting(
    default: Any,
    *,
    decode: Callable[[Any, str], Any],
    encode: Callable[[Any], Any],
    expected: str,
    flags: Sequence[str] = (),
    metavar: str | None = None,
) -> Any:
    """A configuration field of a type of its own (a genotype, say): ``decode(value,
    path)`` checks and converts what a file or the command line gives (raising
    ``ConfigError``), ``encode(value)`` writes it as JSON, ``expected`` says in words what
    it takes, ``metavar`` names its value on the command line."""
    metadata = {
        "flags": tuple(flags),
        "custom": True,
        "decode": decode,
        "encode": encode,
        "expected": expected,
        "metavar": metavar,
    }
    return dataclasses.field(default=default, metadata=metadata)


def part(factory: Callable[[], Any] | None) -> Any:
    """A nested configuration (``None``: an optional part, absent by default)."""
    if factory is None:
        return dataclasses.field(default=None, metadata={"part": True})
    return dataclasses.field(default_factory=factory, metadata={"part": True})


def default_of(cls: type[Config], name: str) -> Any:
    """The default of field ``name`` of configuration class ``cls`` (where another API
    takes the same value, it reads it here rather than restate it)."""
    info = next((i for i in config_fields(cls) if i.name == name), None)
    if info is None:
        raise KeyError(name)
    return info.default


def _unknown(path: str, key: str, known: Sequence[str]) -> ConfigError:
    hint = close_matches(key, known)
    if hint:
        return ConfigError(path, f"unknown field{hint}")
    return ConfigError(path, f"unknown field (known: {', '.join(known)})")


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


# -- the base class --------------------------------------------------------------------------


class Config:
    """The base of cnas's run configurations (frozen dataclasses).

    Subclasses are ``@dataclass(frozen=True)`` classes that declare their fields with
    ``setting`` and ``part`` and may override ``validate`` for checks that involve
    several fields.
    """

    FORMAT: ClassVar[str] = ""
    """The ``format`` tag a top-level configuration writes (empty for a part)."""

    RUN_KIND: ClassVar[str] = ""
    """The kind of run a run folder's ``config.json`` records for this configuration."""

    def __post_init__(self) -> None:
        for info in config_fields(type(self)):
            value = info.check(getattr(self, info.name), info.name)
            object.__setattr__(self, info.name, value)
        self.validate()

    def validate(self) -> None:
        """Checks across fields; raise ``ConfigError`` naming the field."""

    # -- dicts --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict (``from_dict`` reads it back)."""
        out: dict[str, Any] = {}
        if self.FORMAT:
            out["format"] = self.FORMAT
            out["version"] = 1
        for info in config_fields(type(self)):
            value = getattr(self, info.name)
            if info.kind == "custom" and value is not None:
                out[info.name] = info.metadata["encode"](value)
            else:
                out[info.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls: type[C], data: Any, *, where: str = "") -> C:
        """A configuration from a dict (``to_dict``'s form). Keys left out keep their
        defaults; at the top, ``format``/``version`` are checked and a ``run`` object (the
        run record of a run folder's ``config.json``) is ignored.

        Raises:
            ConfigError: a value that the field does not take, or an unknown key, naming
                its path.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(where, f"expected an object, got {type(data).__name__}")
        data = dict(data)
        if cls.FORMAT and not where:
            found = data.pop("format", cls.FORMAT)
            if found != cls.FORMAT:
                raise ConfigError(
                    "format", f"this is a {shorten(found)} file, not a {cls.FORMAT!r} configuration"
                )
            version = data.pop("version", 1)
            if version != 1:
                raise ConfigError("version", f"this cnas reads version 1, got {shorten(version)}")
            run = data.pop("run", None)
            kind = run.get("kind") if isinstance(run, Mapping) else None
            if kind is not None and cls.RUN_KIND and kind != cls.RUN_KIND:
                raise ConfigError(
                    "run", f"this is the config.json of a {kind} run, not of a {cls.RUN_KIND} run"
                )
            if run is not None and not isinstance(run, Mapping):
                data["run"] = run  # not a run record: an unknown field
        fields = {info.name: info for info in config_fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            path = _join(where, str(key))
            info = fields.get(key) if isinstance(key, str) else None
            if info is None:
                raise _unknown(path, str(key), list(fields))
            kwargs[key] = info.check(value, path)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise exc.within(where) from None

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes``: a field's new value, a dict of changes for a part
        (merged into it), or a dotted path (``"optimizer.lr"``; into a mapping field,
        ``"strategy.settings.entropy_coeff"``, it changes one key).

        Raises:
            ConfigError: an unknown field or a bad value, naming its path.

        Examples:
            >>> from cnas.search import SearchConfig
            >>> config = SearchConfig().replace(seed=1, optimizer={"lr": 0.05})
            >>> config.seed, config.optimizer.lr, config.optimizer.momentum
            (1, 0.05, 0.9)
        """
        fields = {info.name: info for info in config_fields(type(self))}
        direct: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            head, dot, rest = key.partition(".")
            info = fields.get(head)
            if info is None:
                raise _unknown(head, head, list(fields))
            if dot:
                nested.setdefault(head, {})[rest] = value
            elif info.kind == "part" and isinstance(value, Mapping):
                nested.setdefault(head, {}).update(value)
            else:
                direct[head] = info.check(value, head)
        for head, sub in nested.items():
            info = fields[head]
            current = direct.get(head, getattr(self, head))
            if info.kind == "mapping":
                merged = dict(current or {})
                for key, value in sub.items():
                    merged[key] = value
                direct[head] = info.check(merged, head)
                continue
            assert info.part_type is not None
            if current is None:  # an absent optional part: made from the changes alone
                direct[head] = info.part_type.from_dict(_nest(sub), where=head)
                continue
            try:
                direct[head] = current.replace(**sub)
            except ConfigError as exc:
                raise exc.within(head) from None
        return dataclasses.replace(self, **direct)  # type: ignore[type-var]

    # -- files --------------------------------------------------------------------------

    @classmethod
    def load(cls: type[C], path: str | os.PathLike[str]) -> C:
        """Read a configuration from a JSON file (a run folder's ``config.json`` too).

        Raises:
            FileNotFoundError: no such file.
            ConfigError: not JSON, or not a valid configuration (the message names the
                file and the field).
        """
        p = Path(path)
        if p.is_dir():
            p = p / "config.json"
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{p}: no such configuration file") from None
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise ConfigError(str(p), f"not a JSON configuration ({exc})") from None
        try:
            data = parse_json(text)
        except ValueError as exc:
            raise ConfigError(str(p), f"not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc.path}" if exc.path else str(p), exc.reason) from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_dict()`` as indented JSON to ``path``, atomically."""
        return atomic_write_text(path, self.to_json())

    def to_json(self) -> str:
        """``to_dict()`` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"


def _nest(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested dicts: ``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        head, dot, rest = key.partition(".")
        if dot:
            out[head] = {**dict(out.get(head) or {}), **_nest({rest: value})}
        else:
            out[key] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def describe_differences(
    saved: Any, now: Any, prefix: str = "", *, opaque: Sequence[str] = ()
) -> list[str]:
    """``"path: old -> new"`` for every leaf where ``saved`` and ``now`` differ; a key in
    ``opaque`` that differs is named, not printed (``"genotype: differs"``)."""
    if not isinstance(saved, Mapping) or not isinstance(now, Mapping):
        return [] if saved == now else [f"{prefix or 'config'}: {saved!r} -> {now!r}"]
    out = []
    for key in sorted(set(saved) | set(now), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key in opaque:
            out += [f"{path}: differs"] if saved.get(key) != now.get(key) else []
        else:
            out += describe_differences(saved.get(key), now.get(key), path, opaque=opaque)
    return out
