"""Structural checks of loaded documents (checkpoints, study files), and content digests.

A schema is a tree of small checkers; ``validate(value, schema)`` walks the value beside
it and raises :class:`SchemaError` naming the first place that does not fit
(``position.stage: expected an integer >= 0, got 'x'``). Only structure and ranges are
checked here; what depends on the run (does this state dict fit this network) is for the
loader that knows the run.

``digest`` is a SHA-256 over a nested value of the kinds ``weights_only`` loading
returns: containers, numbers, strings and tensors (dtype, shape and bytes). It depends
only on the contents, not on how a file stores them, so a checkpoint can carry the digest
of everything else it holds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "ANY",
    "BOOL",
    "SCALAR",
    "STR",
    "Dict",
    "Int",
    "ListOf",
    "MapOf",
    "Maybe",
    "Number",
    "OneOf",
    "Schema",
    "SchemaError",
    "Seq",
    "Tensor",
    "digest",
    "finite_or_none",
    "validate",
]


class SchemaError(ValueError):
    """A value does not fit its schema; ``where`` is the dotted path to the first misfit."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where or 'the top level'}: {message}")
        self.where = where
        self.reason = message


Schema = Callable[[Any, str], None]
"""A checker: called with a value and its path, raises ``SchemaError`` when it misfits."""


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else f"{type(value).__name__} {text[:57]}..."


def _join(where: str, key: object) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def validate(value: Any, schema: Schema, where: str = "") -> None:
    """Raise ``SchemaError`` unless ``value`` fits ``schema``."""
    schema(value, where)


def ANY(value: Any, where: str) -> None:  # noqa: N802 - a constant-like checker
    """Anything fits."""


def BOOL(value: Any, where: str) -> None:  # noqa: N802
    """``True`` or ``False``."""
    if not isinstance(value, bool):
        raise SchemaError(where, f"expected true or false, got {_show(value)}")


def STR(value: Any, where: str) -> None:  # noqa: N802
    """A string."""
    if not isinstance(value, str):
        raise SchemaError(where, f"expected a string, got {_show(value)}")


def SCALAR(value: Any, where: str) -> None:  # noqa: N802
    """What a JSON record holds besides containers: None, a bool, a number (NaN and
    infinities included), a string."""
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise SchemaError(where, f"expected a number or a string, got {_show(value)}")


@dataclass(frozen=True)
class Int:
    """An int (not a bool) within ``[minimum, maximum]``."""

    minimum: int | None = None
    maximum: int | None = None

    def __call__(self, value: Any, where: str) -> None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and self.minimum is not None and value < self.minimum:
            ok = False
        if ok and self.maximum is not None and value > self.maximum:
            ok = False
        if not ok:
            bounds = []
            if self.minimum is not None:
                bounds.append(f">= {self.minimum}")
            if self.maximum is not None:
                bounds.append(f"<= {self.maximum}")
            what = " ".join(["an integer", " and ".join(bounds)]).strip()
            raise SchemaError(where, f"expected {what}, got {_show(value)}")


@dataclass(frozen=True)
class Number:
    """An int or float (not a bool) that a float can hold (not ``10**400``); finite
    unless ``finite`` is False; at least ``minimum`` when given."""

    minimum: float | None = None
    finite: bool = True

    def __call__(self, value: Any, where: str) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            try:
                number = float(value)
            except OverflowError:  # an int beyond any float: 10**400
                ok = False
            else:
                ok = math.isfinite(number) or not self.finite
        if ok and self.minimum is not None and not value >= self.minimum:
            ok = False
        if not ok:
            what = "a finite number" if self.finite else "a number"
            if self.minimum is not None:
                what += f" >= {self.minimum}"
            raise SchemaError(where, f"expected {what}, got {_show(value)}")


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else ``None``: for a
    number read from a file that may hold anything (``"slow"``, ``1e999``, ``10**400``).

    Examples:
        >>> finite_or_none(2), finite_or_none(float("nan")), finite_or_none(10**400)
        (2.0, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Tensor:
    """A tensor, of ``dtype`` and with ``ndim`` dimensions when they are given."""

    dtype: torch.dtype | None = None
    ndim: int | None = None

    def __call__(self, value: Any, where: str) -> None:
        ok = isinstance(value, torch.Tensor)
        if ok and self.dtype is not None and value.dtype != self.dtype:
            ok = False
        if ok and self.ndim is not None and value.dim() != self.ndim:
            ok = False
        if not ok:
            what = "a tensor"
            if self.dtype is not None:
                what = f"a {self.dtype} tensor"
            if self.ndim is not None:
                what += f" with {self.ndim} dimension(s)"
            raise SchemaError(where, f"expected {what}, got {_show(value)}")


@dataclass(frozen=True)
class Maybe:
    """``None``, or a value that fits ``schema``."""

    schema: Schema

    def __call__(self, value: Any, where: str) -> None:
        if value is not None:
            self.schema(value, where)


@dataclass(frozen=True)
class OneOf:
    """A value that fits one of ``schemas`` (the first one's complaint is reported)."""

    schemas: tuple[Schema, ...]

    def __call__(self, value: Any, where: str) -> None:
        first: SchemaError | None = None
        for schema in self.schemas:
            try:
                schema(value, where)
                return
            except SchemaError as exc:
                first = first or exc
        assert first is not None
        raise first


@dataclass(frozen=True)
class ListOf:
    """A list or tuple whose items fit ``item``, with exactly ``length`` items when given."""

    item: Schema
    length: int | None = None

    def __call__(self, value: Any, where: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise SchemaError(where, f"expected a list, got {_show(value)}")
        if self.length is not None and len(value) != self.length:
            raise SchemaError(where, f"expected {self.length} items, got {len(value)}")
        for i, item in enumerate(value):
            self.item(item, _join(where, i))


@dataclass(frozen=True)
class Seq:
    """A list or tuple of exactly ``len(items)`` values, each fitting its own schema."""

    items: tuple[Schema, ...]

    def __call__(self, value: Any, where: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise SchemaError(where, f"expected a list, got {_show(value)}")
        if len(value) != len(self.items):
            raise SchemaError(where, f"expected {len(self.items)} items, got {len(value)}")
        for i, (item, schema) in enumerate(zip(value, self.items, strict=True)):
            schema(item, _join(where, i))


@dataclass(frozen=True)
class MapOf:
    """A dict whose keys fit ``key`` and whose values fit ``value``."""

    key: Schema = STR
    value: Schema = ANY

    def __call__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(where, f"expected a mapping, got {_show(value)}")
        for k, v in value.items():
            self.key(k, _join(where, f"<key {k!r}>"))
            self.value(v, _join(where, k))


@dataclass(frozen=True)
class Dict:
    """A dict with the ``required`` keys and, when present, the ``optional`` ones, each
    fitting its schema; other keys are allowed unless ``closed``."""

    required: Mapping[str, Schema]
    optional: Mapping[str, Schema] = field(default_factory=dict)
    closed: bool = False

    def __call__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise SchemaError(where, f"expected a mapping, got {_show(value)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise SchemaError(where, f"missing {', '.join(map(repr, missing))}")
        for key, schema in {**self.required, **self.optional}.items():
            if key in value:
                schema(value[key], _join(where, key))
        if self.closed:
            extra = [k for k in value if k not in self.required and k not in self.optional]
            if extra:
                raise SchemaError(where, f"unexpected {', '.join(map(repr, extra))}")


# -- digests -----------------------------------------------------------------------------------


_SCALAR_TAGS: tuple[tuple[type, bytes], ...] = (
    (type(None), b"N"),
    (bool, b"?"),  # before int: a bool is an int
    (int, b"I"),
    (float, b"F"),
    (complex, b"C"),
)


def _feed(h: Any, value: Any, depth: int = 0) -> None:
    """Add ``value`` to the hash ``h``: each item with its type tag and length, so that
    no two different values feed the same bytes."""
    if depth > MAX_DEPTH:
        raise TypeError(f"cannot digest a value nested more than {MAX_DEPTH} deep")
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_meta or value.is_quantized:
            what = f"{value.layout} {value.dtype} tensor on {value.device}"
            raise TypeError(f"cannot digest a {what}")
        t = value.detach().cpu().contiguous()
        head = f"{t.dtype}{tuple(t.shape)}".encode()
        h.update(b"T" + len(head).to_bytes(8, "little") + head)
        if t.numel():
            h.update(t.resolve_conj().resolve_neg().reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        h.update(b"D" + len(value).to_bytes(8, "little"))
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(h, key, depth + 1)
            _feed(h, value[key], depth + 1)
    elif isinstance(value, (list, tuple)):
        h.update((b"L" if isinstance(value, list) else b"U") + len(value).to_bytes(8, "little"))
        for item in value:
            _feed(h, item, depth + 1)
    else:
        if isinstance(value, (str, bytes)):
            # (surrogatepass: a string with a lone surrogate has a digest too)
            data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
            tag = b"S" if isinstance(value, str) else b"B"
        elif value is None or isinstance(value, (bool, int, float, complex)):
            tag = next(t for kind, t in _SCALAR_TAGS if isinstance(value, kind))
            data = repr(value).encode()
        elif isinstance(value, (torch.dtype, torch.device)):
            data, tag = repr(value).encode(), b"O"
        else:
            raise TypeError(f"cannot digest a {type(value).__name__}")
        h.update(tag + len(data).to_bytes(8, "little") + data)


MAX_DEPTH = 64
"""The deepest nesting ``digest`` follows: checkpoints nest about ten deep."""


def digest(value: Any) -> str:
    """The SHA-256 of ``value``'s contents, as ``"sha256:<hex>"``.

    Raises:
        TypeError: ``value`` holds something other than containers, numbers, strings,
            bytes and dense tensors, or nests deeper than ``MAX_DEPTH``.
    """
    h = hashlib.sha256()
    _feed(h, value)
    return f"sha256:{h.hexdigest()}"
