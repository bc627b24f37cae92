"""``Genotype``: an immutable, validated description of a normal and a reduction cell."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from typing_extensions import Self

from ._genotype_formats import (
    arch_record,
    as_int_list,
    as_triples,
    decode_ordinal,
    is_int,
    looks_like_pairs,
    optional_int_list,
    pairs_to_edges,
    parse_darts_repr,
)
from ._io import atomic_write_text, parse_json
from .errors import GenotypeError
from .ops import DARTS_OPS, get_op, is_registered

__all__ = ["CellName", "DartsGenotype", "Edge", "Genotype"]

CellName = Literal["normal", "reduce"]

JSON_FORMAT = "cnas.genotype"
JSON_VERSION = 1


class Edge(NamedTuple):
    """One edge of a cell: ``op`` applied to node ``src``, summed into node ``dst``.

    Nodes 0 and 1 are the cell's inputs (the outputs of the two previous cells);
    intermediate nodes are numbered from 2.
    """

    op: str
    src: int
    dst: int


class DartsGenotype(NamedTuple):
    """The DARTS genotype layout: per node two ``(op, src)`` pairs, and the concat lists.

    Its ``repr`` is the one DARTS prints (``Genotype(normal=[...], normal_concat=...)``).
    """

    normal: list[tuple[str, int]]
    normal_concat: list[int]
    reduce: list[tuple[str, int]]
    reduce_concat: list[int]

    def __repr__(self) -> str:
        return (
            f"Genotype(normal={self.normal!r}, normal_concat={self.normal_concat!r}, "
            f"reduce={self.reduce!r}, reduce_concat={self.reduce_concat!r})"
        )


def _check_cell(
    cell: CellName, edges: object, concat: object | None
) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
    """Validate one cell and return it normalized; raise GenotypeError naming the problem."""
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
        raise GenotypeError(
            f"{cell} cell: edges must be a list of (op, src, dst) triples, "
            f"got {type(edges).__name__}"
        )
    edge_list = list(edges)
    if not edge_list:
        raise GenotypeError(f"{cell} cell: has no edges")
    checked: list[Edge] = []
    for i, raw in enumerate(edge_list):
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or len(raw) != 3:
            raise GenotypeError(f"{cell} cell, edge {i} {raw!r}: expected an (op, src, dst) triple")
        op, src, dst = raw
        if not isinstance(op, str):
            raise GenotypeError(f"{cell} cell, edge {i} {tuple(raw)!r}: op must be a string")
        if not is_int(src) or not is_int(dst):
            raise GenotypeError(
                f"{cell} cell, edge {i} {tuple(raw)!r}: src and dst must be integers"
            )
        if not is_registered(op):
            try:
                get_op(op)
            except KeyError as exc:
                raise GenotypeError(f"{cell} cell, edge {i} {tuple(raw)!r}: {exc}") from None
        checked.append(Edge(op, src, dst))

    counts: dict[int, int] = {}
    for i, edge in enumerate(checked):
        where = f"{cell} cell, edge {i} {tuple(edge)!r}"
        if edge.dst < 2:
            raise GenotypeError(
                f"{where}: destination node {edge.dst} is a cell input; intermediate nodes "
                "are numbered from 2"
            )
        if not 0 <= edge.src < edge.dst:
            raise GenotypeError(
                f"{where}: source node {edge.src} must be an earlier node "
                f"(0..{edge.dst - 1}) than destination node {edge.dst}"
            )
        counts[edge.dst] = counts.get(edge.dst, 0) + 1
    last = max(counts)
    for node in range(2, last + 1):
        if counts.get(node, 0) != 2:
            raise GenotypeError(
                f"{cell} cell: node {node} has {counts.get(node, 0)} incoming edge(s); "
                "every intermediate node takes exactly two"
            )
    for i in range(1, len(checked)):
        if checked[i].dst < checked[i - 1].dst:
            raise GenotypeError(
                f"{cell} cell, edge {i} {tuple(checked[i])!r}: edges must be listed by "
                f"destination node in increasing order (node {checked[i].dst} comes after "
                f"node {checked[i - 1].dst})"
            )

    if concat is None:
        concat_list = list(range(2, last + 1))
    else:
        if isinstance(concat, (str, bytes)) or not isinstance(concat, Iterable):
            raise GenotypeError(f"{cell}_concat: expected a list of node indices, got {concat!r}")
        concat_list = list(concat)
        if not concat_list:
            raise GenotypeError(f"{cell}_concat: is empty; the cell output needs at least a node")
        for node in concat_list:
            if not is_int(node):
                raise GenotypeError(f"{cell}_concat: node {node!r} is not an integer")
            if not 2 <= node <= last:
                raise GenotypeError(
                    f"{cell}_concat: node {node} does not exist; intermediate nodes are 2..{last}"
                )
        if len(set(concat_list)) != len(concat_list):
            raise GenotypeError(f"{cell}_concat: {concat_list} lists a node twice")
    return tuple(checked), tuple(concat_list)


class Genotype:
    """An architecture: the edges of a normal cell and of a reduction cell.

    Immutable, hashable and validated on construction: every intermediate node has
    exactly two incoming edges from earlier nodes, every op is registered (see
    ``cnas.ops``) and every concat node exists. Bad input raises
    ``GenotypeError``, whose message names the offending cell, edge or field.

    Args:
        normal: The normal cell's edges, ``(op, src, dst)`` triples listed by destination
            node (two per intermediate node, nodes numbered from 2).
        normal_concat: Nodes concatenated into the cell output; all intermediate nodes
            when omitted.
        reduce: The reduction cell's edges.
        reduce_concat: The reduction cell's output nodes.

    Examples:
        >>> import cnas
        >>> g = cnas.genotypes.CNAS
        >>> g.normal[0]
        Edge(op='dil_conv_3x3', src=1, dst=2)
        >>> cnas.Genotype.from_json(g.to_json()) == g
        True
    """

    __slots__ = ("_normal", "_normal_concat", "_reduce", "_reduce_concat")

    _normal: tuple[Edge, ...]
    _normal_concat: tuple[int, ...]
    _reduce: tuple[Edge, ...]
    _reduce_concat: tuple[int, ...]

    def __init__(
        self,
        normal: Iterable[tuple[str, int, int]],
        normal_concat: Iterable[int] | None = None,
        reduce: Iterable[tuple[str, int, int]] | None = None,
        reduce_concat: Iterable[int] | None = None,
    ) -> None:
        if reduce is None:
            raise GenotypeError("reduce: the reduction cell's edges are required")
        n_edges, n_concat = _check_cell("normal", normal, normal_concat)
        r_edges, r_concat = _check_cell("reduce", reduce, reduce_concat)
        if len(n_edges) != len(r_edges):
            raise GenotypeError(
                f"the normal cell has {len(n_edges) // 2} intermediate nodes and the reduction "
                f"cell {len(r_edges) // 2}; both cells need the same number"
            )
        object.__setattr__(self, "_normal", n_edges)
        object.__setattr__(self, "_normal_concat", n_concat)
        object.__setattr__(self, "_reduce", r_edges)
        object.__setattr__(self, "_reduce_concat", r_concat)

    # -- immutability, equality, pickling ---------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Genotype is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Genotype is immutable; cannot delete {name!r}")

    def _key(self) -> tuple[object, ...]:
        return (self._normal, self._normal_concat, self._reduce, self._reduce_concat)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genotype):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Genotype, self._key())

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __repr__(self) -> str:
        def edges(es: tuple[Edge, ...]) -> str:
            return "[" + ", ".join(repr(tuple(e)) for e in es) + "]"

        return (
            f"Genotype(normal={edges(self._normal)}, normal_concat={list(self._normal_concat)}, "
            f"reduce={edges(self._reduce)}, reduce_concat={list(self._reduce_concat)})"
        )

    def _repr_svg_(self) -> str | None:
        """Both cells as an SVG diagram, for notebooks (None when graphviz is missing)."""
        from .viz import to_svg

        return to_svg(self)

    # -- accessors ----------------------------------------------------------------------

    @property
    def normal(self) -> tuple[Edge, ...]:
        """The normal cell's edges, by destination node."""
        return self._normal

    @property
    def normal_concat(self) -> tuple[int, ...]:
        """The normal cell's output nodes, concatenated in this order."""
        return self._normal_concat

    @property
    def reduce(self) -> tuple[Edge, ...]:
        """The reduction cell's edges, by destination node."""
        return self._reduce

    @property
    def reduce_concat(self) -> tuple[int, ...]:
        """The reduction cell's output nodes, concatenated in this order."""
        return self._reduce_concat

    @property
    def n_nodes(self) -> int:
        """The number of intermediate nodes per cell."""
        return len(self._normal) // 2

    def cell(self, name: CellName) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        """The edges and concat nodes of the ``"normal"`` or ``"reduce"`` cell."""
        if name == "normal":
            return self._normal, self._normal_concat
        if name == "reduce":
            return self._reduce, self._reduce_concat
        raise ValueError(f"unknown cell {name!r}; expected 'normal' or 'reduce'")

    @property
    def ops(self) -> frozenset[str]:
        """The set of op names used by either cell."""
        return frozenset(e.op for e in self._normal + self._reduce)

    # -- the original CNAS form -----------------------------------------------------------

    @classmethod
    def from_arch(
        cls,
        normal_arch: Iterable[tuple[str, int, int]],
        normal_concat: Iterable[int] | None = None,
        reduced_arch: Iterable[tuple[str, int, int]] | None = None,
        reduced_concat: Iterable[int] | None = None,
    ) -> Genotype:
        """Build a genotype from ``(op, from, to)`` triples, as the original CNAS README writes.

        Examples:
            >>> import cnas
            >>> g = cnas.Genotype.from_arch(
            ...     normal_arch=[("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2)],
            ...     normal_concat=[2],
            ...     reduced_arch=[("max_pool_3x3", 0, 2), ("sep_conv_5x5", 1, 2)],
            ...     reduced_concat=[2])
            >>> g.n_nodes
            1
        """
        if reduced_arch is None:
            raise GenotypeError("reduced_arch: the reduction cell's edges are required")
        return cls(normal_arch, normal_concat, reduced_arch, reduced_concat)

    # -- DARTS --------------------------------------------------------------------------

    @classmethod
    def from_darts(cls, genotype: object) -> Genotype:
        """Build a genotype from a DARTS ``Genotype`` namedtuple or its printed repr.

        DARTS lists two ``(op, src)`` pairs per intermediate node, in node order; nested
        per-node pairs (``[[(op, src), (op, src)], ...]``) are read too. A string is parsed
        without evaluating code: only literals and ``range(...)`` are understood.

        Raises:
            GenotypeError: the input is not a DARTS genotype or describes an invalid cell.
        """
        if isinstance(genotype, str):
            fields = parse_darts_repr(genotype)
        elif isinstance(genotype, Mapping):
            fields = dict(genotype)
        else:
            try:
                fields = {
                    k: getattr(genotype, k)
                    for k in ("normal", "normal_concat", "reduce", "reduce_concat")
                }
            except AttributeError as exc:
                raise GenotypeError(
                    f"not a DARTS genotype: {type(genotype).__name__} has no field "
                    f"{exc.name!r}; expected normal, normal_concat, reduce, reduce_concat"
                ) from None
        for key in ("normal", "normal_concat", "reduce", "reduce_concat"):
            if key not in fields:
                raise GenotypeError(f"DARTS genotype: missing field {key!r}")
        return cls(
            pairs_to_edges("normal", fields["normal"]),
            as_int_list("normal_concat", fields["normal_concat"]),
            pairs_to_edges("reduce", fields["reduce"]),
            as_int_list("reduce_concat", fields["reduce_concat"]),
        )

    def to_darts(self) -> DartsGenotype:
        """This genotype in the DARTS layout (a namedtuple whose repr DARTS code can read)."""
        return DartsGenotype(
            normal=[(e.op, e.src) for e in self._normal],
            normal_concat=list(self._normal_concat),
            reduce=[(e.op, e.src) for e in self._reduce],
            reduce_concat=list(self._reduce_concat),
        )

    # -- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the cnas format (see ``to_json``)."""
        return {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "normal": [list(e) for e in self._normal],
            "normal_concat": list(self._normal_concat),
            "reduce": [list(e) for e in self._reduce],
            "reduce_concat": list(self._reduce_concat),
        }

    def to_json(
        self, *, indent: int | None = None, style: Literal["cnas", "original"] = "cnas"
    ) -> str:
        """Serialize to JSON.

        Args:
            indent: Passed to ``json.dumps``.
            style: ``"cnas"`` (keys ``normal``, ``normal_concat``, ``reduce``,
                ``reduce_concat`` with ``[op, src, dst]`` edges) or ``"original"``, the
                layout the original CNAS code writes and reads (``named_normal_arch``,
                ``ordinal_normal_arch``, ..., ``primitives``, ``loose_end``).
        """
        if style == "cnas":
            return json.dumps(self.to_dict(), indent=indent)
        if style == "original":
            primitives = list(DARTS_OPS)  # the original's PRIMITIVES, in its order
            for op in sorted(self.ops - set(primitives)):
                primitives.append(op)
            data = {
                "named_normal_arch": [list(e) for e in self._normal],
                "ordinal_normal_arch": [
                    [primitives.index(e.op), e.src, e.dst] for e in self._normal
                ],
                "normal_concat": list(self._normal_concat),
                "named_reduced_arch": [list(e) for e in self._reduce],
                "ordinal_reduced_arch": [
                    [primitives.index(e.op), e.src, e.dst] for e in self._reduce
                ],
                "reduced_concat": list(self._reduce_concat),
                "primitives": primitives,
                "loose_end": False,
            }
            return json.dumps(data, indent=indent)
        raise ValueError(f"unknown JSON style {style!r}; expected 'cnas' or 'original'")

    @classmethod
    def from_json(cls, text: str | bytes) -> Genotype:
        """Read a genotype from JSON: the cnas format, the original CNAS search output, or a
        DARTS-style object with ``[op, src]`` pairs.

        The original search output is read in both its forms: the genotype object
        (``named_normal_arch``, ``ordinal_normal_arch``, ``primitives``, ...) and the
        ``arch-*.json`` records its derive step writes, which hold that object as a JSON
        string under ``"arch"`` beside ``derived_acc``, ``normal_logp`` and other fields.

        Raises:
            GenotypeError: the text is not JSON, or not a genotype in a known layout.
        """
        try:
            data = parse_json(text)
        except (ValueError, TypeError) as exc:
            raise GenotypeError(f"malformed genotype JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> Genotype:
        """Build a genotype from a parsed JSON object (see ``from_json``)."""
        if not isinstance(data, dict):
            raise GenotypeError(f"genotype JSON must be an object, got {type(data).__name__}")
        if "genotype" in data and isinstance(data["genotype"], dict):
            data = data["genotype"]  # e.g. a config.json written by cnas train
        if "arch" in data and not any(k.startswith(("named_", "ordinal_")) for k in data):
            data = arch_record(data["arch"])  # an arch-*.json of the original search
        if any(k.startswith(("named_", "ordinal_")) for k in data):
            return cls._from_original(data)
        if "normal" in data and "reduce" in data:
            fmt = data.get("format", JSON_FORMAT)
            if fmt != JSON_FORMAT:
                raise GenotypeError(f"format: expected {JSON_FORMAT!r}, got {fmt!r}")
            version = data.get("version", JSON_VERSION)
            if version != JSON_VERSION:
                raise GenotypeError(
                    f"version: this cnas reads genotype format version {JSON_VERSION}, "
                    f"got {version!r}; upgrade cnas"
                )
            normal, reduce = data["normal"], data["reduce"]
            if looks_like_pairs(normal) and looks_like_pairs(reduce):
                return cls.from_darts(data)
            return cls(
                as_triples("normal", normal),
                optional_int_list("normal_concat", data.get("normal_concat")),
                as_triples("reduce", reduce),
                optional_int_list("reduce_concat", data.get("reduce_concat")),
            )
        raise GenotypeError(
            f"not a genotype: keys {sorted(data)}; expected 'normal' and 'reduce' (cnas) or "
            "'named_normal_arch' and 'named_reduced_arch' (original CNAS)"
        )

    @classmethod
    def _from_original(cls, data: dict[str, Any]) -> Genotype:
        if data.get("loose_end"):
            raise GenotypeError(
                "loose_end: true is not supported (the original code did not implement it either)"
            )
        primitives = data.get("primitives")
        cells: dict[str, list[tuple[str, int, int]]] = {}
        for cell in ("normal", "reduced"):
            named = data.get(f"named_{cell}_arch")
            ordinal = data.get(f"ordinal_{cell}_arch")
            if named is not None:
                cells[cell] = as_triples(f"named_{cell}_arch", named)
                if ordinal is not None and isinstance(primitives, list):
                    decoded = decode_ordinal(cell, ordinal, primitives)
                    if decoded != cells[cell]:
                        raise GenotypeError(
                            f"named_{cell}_arch and ordinal_{cell}_arch disagree "
                            f"under primitives {primitives}"
                        )
            elif ordinal is not None:
                if not isinstance(primitives, list):
                    raise GenotypeError(
                        f"primitives: needed to decode ordinal_{cell}_arch, got {primitives!r}"
                    )
                cells[cell] = decode_ordinal(cell, ordinal, primitives)
            else:
                raise GenotypeError(f"named_{cell}_arch: missing (and no ordinal_{cell}_arch)")
        return cls(
            cells["normal"],
            optional_int_list("normal_concat", data.get("normal_concat")),
            cells["reduced"],
            optional_int_list("reduced_concat", data.get("reduced_concat")),
        )

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the genotype as JSON to ``path`` atomically and return the path.

        Raises:
            FileExistsError: ``path`` exists and ``overwrite`` is False.
        """
        return atomic_write_text(path, self.to_json(indent=2) + "\n", overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Genotype:
        """Read a genotype JSON file written by ``save``, ``cnas search`` or the original code.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            GenotypeError: the file is not a genotype.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"genotype file not found: {p}")
        try:
            return cls.from_json(p.read_bytes())
        except GenotypeError as exc:
            raise GenotypeError(f"{p}: {exc}") from None


# -- parsing helpers ------------------------------------------------------------------------
