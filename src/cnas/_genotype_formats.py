"""Reading genotypes from the formats cnas accepts: the original search's ``arch`` records,
DARTS genotype ``repr`` strings and the lists inside JSON documents. ``Genotype``'s
constructors call these; each raises ``GenotypeError`` naming the bad field."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from ._io import parse_json
from .errors import GenotypeError

__all__ = [
    "MAX_RANGE",
    "arch_record",
    "as_int_list",
    "as_triples",
    "decode_ordinal",
    "is_int",
    "literal",
    "looks_like_pairs",
    "optional_int_list",
    "pairs_to_edges",
    "parse_darts_repr",
]


def is_int(value: object) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def arch_record(arch: object) -> dict[str, Any]:
    """The genotype object of an original ``arch-*.json`` record's ``"arch"`` field."""
    if isinstance(arch, str):
        try:
            arch = parse_json(arch)
        except ValueError as exc:
            raise GenotypeError(f"arch: not a genotype JSON string: {exc}") from None
    if not isinstance(arch, dict):
        raise GenotypeError(
            f"arch: expected the original CNAS genotype (a JSON object or string), got "
            f"{type(arch).__name__}"
        )
    return arch


def as_int_list(field: str, value: object) -> list[int]:
    if isinstance(value, range):
        return list(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise GenotypeError(f"{field}: expected a list of node indices, got {value!r}")
    out = list(value)
    for v in out:
        if not is_int(v):
            raise GenotypeError(f"{field}: node {v!r} is not an integer")
    return out


def optional_int_list(field: str, value: object) -> list[int] | None:
    return None if value is None else as_int_list(field, value)


def as_triples(field: str, value: object) -> list[tuple[Any, Any, Any]]:
    if isinstance(value, (str, bytes)) or not isinstance(value, list):
        raise GenotypeError(f"{field}: expected a list of [op, src, dst] edges, got {value!r}")
    out: list[tuple[Any, Any, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise GenotypeError(f"{field}, edge {i} {item!r}: expected [op, src, dst]")
        out.append((item[0], item[1], item[2]))
    return out


def decode_ordinal(cell: str, ordinal: object, primitives: list[Any]) -> list[tuple[str, int, int]]:
    triples = as_triples(f"ordinal_{cell}_arch", ordinal)
    out: list[tuple[str, int, int]] = []
    for i, (index, src, dst) in enumerate(triples):
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not (0 <= index < len(primitives))
        ):
            raise GenotypeError(
                f"ordinal_{cell}_arch, edge {i} {[index, src, dst]!r}: op index {index!r} "
                f"is not in primitives (0..{len(primitives) - 1})"
            )
        op = primitives[index]
        out.append((op, src, dst))
    return out


def looks_like_pairs(value: object) -> bool:
    if not isinstance(value, (list, tuple)) or not value:
        return False
    first = value[0]
    return bool(isinstance(first, (list, tuple)) and len(first) == 2)


def pairs_to_edges(field: str, value: object) -> list[tuple[str, int, int]]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise GenotypeError(f"{field}: expected a list of (op, src) pairs, got {value!r}")
    items = list(value)
    # nested layout: one [(op, src), (op, src)] list per node
    if items and all(
        isinstance(it, (list, tuple))
        and len(it) == 2
        and all(isinstance(p, (list, tuple)) for p in it)
        for it in items
    ):
        items = [p for node in items for p in node]
    edges: list[tuple[str, int, int]] = []
    for i, pair in enumerate(items):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise GenotypeError(f"{field}, entry {i} {pair!r}: expected an (op, src) pair")
        op, src = pair
        edges.append((op, src, 2 + i // 2))
    return edges


def literal(node: ast.AST, source: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal(e, source) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = literal(node.operand, source)
        if is_int(value):
            return -value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [literal(a, source) for a in node.args]
        if all(is_int(a) for a in args):
            try:
                span = range(*args)
            except ValueError as exc:  # range(0, 10, 0)
                raise GenotypeError(f"DARTS genotype string: {exc}") from None
            if len(span) > MAX_RANGE:  # measured without making the list
                raise GenotypeError(
                    f"DARTS genotype string: {ast.get_source_segment(source, node)!r} has "
                    f"{len(span)} values; a cell's node lists have at most {MAX_RANGE}"
                )
            return list(span)
    snippet = ast.get_source_segment(source, node) or type(node).__name__
    raise GenotypeError(
        f"DARTS genotype string: cannot read {snippet!r}; only literals and range(...) are allowed"
    )


MAX_RANGE = 1000
"""The longest ``range(...)`` a DARTS genotype string may expand to."""


def parse_darts_repr(text: str) -> dict[str, Any]:
    """The fields of a DARTS ``Genotype(...)`` repr, read as literals (nothing runs).

    Raises:
        GenotypeError: not such a string, nested too deeply, or a ``range`` too long.
    """
    try:
        return _parse_darts_repr(text)
    except (RecursionError, MemoryError):
        raise GenotypeError("DARTS genotype string: nested too deeply to be a genotype") from None


def _parse_darts_repr(text: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise GenotypeError(f"DARTS genotype string: not valid syntax ({exc.msg})") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise GenotypeError(
            "DARTS genotype string: expected Genotype(normal=..., "
            "normal_concat=..., reduce=..., reduce_concat=...)"
        )
    names = ("normal", "normal_concat", "reduce", "reduce_concat")
    if len(call.args) > len(names):
        raise GenotypeError("DARTS genotype string: too many positional fields")
    fields = {name: literal(arg, text) for name, arg in zip(names, call.args, strict=False)}
    for kw in call.keywords:
        if kw.arg not in names:
            raise GenotypeError(f"DARTS genotype string: unknown field {kw.arg!r}")
        fields[kw.arg] = literal(kw.value, text)
    return fields
