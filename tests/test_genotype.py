"""Genotype: construction, validation, formats and error messages."""

from __future__ import annotations

import copy
import json
import pickle
from collections import namedtuple
from pathlib import Path

import pytest

import cnas
from cnas import Edge, Genotype, GenotypeError
from cnas.genotypes import CNAS, DARTS_V2, NASNet

DartsTuple = namedtuple("DartsTuple", "normal normal_concat reduce reduce_concat")

SMALL_NORMAL = [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2)]
SMALL_REDUCE = [("max_pool_3x3", 0, 2), ("sep_conv_5x5", 1, 2)]


def small(**overrides: object) -> Genotype:
    kwargs: dict[str, object] = {
        "normal": SMALL_NORMAL,
        "normal_concat": [2],
        "reduce": SMALL_REDUCE,
        "reduce_concat": [2],
    }
    kwargs.update(overrides)
    return Genotype(**kwargs)  # type: ignore[arg-type]


def test_from_arch_keeps_edges_in_order_as_edge_tuples() -> None:
    assert CNAS.normal[0] == Edge("dil_conv_3x3", 1, 2)
    assert CNAS.reduce[-1] == Edge("sep_conv_3x3", 3, 5)
    assert CNAS.normal_concat == (2, 3, 4, 5)
    assert CNAS.n_nodes == 4


def test_concat_defaults_to_all_intermediate_nodes() -> None:
    g = Genotype(CNAS.normal, None, CNAS.reduce, None)
    assert g.normal_concat == (2, 3, 4, 5)
    assert g == CNAS


def test_genotype_is_immutable() -> None:
    with pytest.raises(AttributeError, match="immutable"):
        CNAS.normal = ()  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del CNAS._normal


def test_genotype_is_hashable_and_compares_by_value() -> None:
    twin = Genotype.from_json(CNAS.to_json())
    assert twin == CNAS and twin is not CNAS
    assert {CNAS: 1}[twin] == 1
    assert CNAS != DARTS_V2
    assert CNAS != "CNAS"


def test_pickle_and_copy_round_trip() -> None:
    assert pickle.loads(pickle.dumps(CNAS)) == CNAS
    assert copy.deepcopy(CNAS) is CNAS


def test_repr_is_evaluable() -> None:
    assert eval(repr(CNAS), {"Genotype": Genotype}) == CNAS


def test_ops_lists_the_ops_used() -> None:
    assert small().ops == {"sep_conv_3x3", "skip_connect", "max_pool_3x3", "sep_conv_5x5"}


def test_cell_accessor_rejects_unknown_cell() -> None:
    assert CNAS.cell("reduce") == (CNAS.reduce, CNAS.reduce_concat)
    with pytest.raises(ValueError, match="unknown cell 'middle'"):
        CNAS.cell("middle")  # type: ignore[arg-type]


# -- DARTS -----------------------------------------------------------------------------------


def test_darts_round_trip_through_namedtuple() -> None:
    darts = CNAS.to_darts()
    assert darts.normal[:2] == [("dil_conv_3x3", 1), ("sep_conv_3x3", 0)]
    assert Genotype.from_darts(darts) == CNAS


def test_darts_round_trip_through_printed_repr() -> None:
    text = repr(DARTS_V2.to_darts())
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)")
    assert Genotype.from_darts(text) == DARTS_V2


def test_from_darts_reads_range_concat_and_foreign_namedtuples() -> None:
    darts = DartsTuple(
        normal=[("sep_conv_3x3", 0), ("skip_connect", 1)],
        normal_concat=range(2, 3),
        reduce=[("max_pool_3x3", 0), ("sep_conv_5x5", 1)],
        reduce_concat=range(2, 3),
    )
    assert Genotype.from_darts(darts) == small()
    text = (
        "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=range(2, 3), "
        "reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1)], reduce_concat=range(2, 3))"
    )
    assert Genotype.from_darts(text) == small()


def test_from_darts_reads_nested_per_node_pairs() -> None:
    nested = DartsTuple(
        normal=[[("sep_conv_3x3", 0), ("skip_connect", 1)]],
        normal_concat=[2],
        reduce=[[("max_pool_3x3", 0), ("sep_conv_5x5", 1)]],
        reduce_concat=[2],
    )
    assert Genotype.from_darts(nested) == small()


def test_five_node_cells_with_partial_concat() -> None:
    assert NASNet.n_nodes == 5
    assert NASNet.reduce_concat == (4, 5, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Genotype(normal=[", "not valid syntax"),
        ("__import__('os').system('true')", "expected Genotype"),
        ("Genotype(normal=open('x'))", "cannot read \"open\\('x'\\)\""),
        ("[1, 2]", "expected Genotype"),
        ("Genotype(normal=[], colour=1)", "unknown field 'colour'"),
        ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)])", "missing field"),
    ],
)
def test_from_darts_rejects_bad_strings_without_evaluating(text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_darts(text)


def test_from_darts_rejects_objects_without_fields() -> None:
    with pytest.raises(GenotypeError, match="has no field 'normal'"):
        Genotype.from_darts(42)


def test_from_darts_rejects_entries_that_are_not_pairs() -> None:
    bad = DartsTuple([("sep_conv_3x3", 0, 2), ("skip_connect", 1)], [2], SMALL_REDUCE, [2])
    with pytest.raises(GenotypeError, match=r"normal, entry 0 .*expected an \(op, src\) pair"):
        Genotype.from_darts(bad)


# -- JSON ------------------------------------------------------------------------------------


def test_json_round_trip_in_cnas_format() -> None:
    data = json.loads(CNAS.to_json())
    assert data["format"] == "cnas.genotype" and data["version"] == 1
    assert data["normal"][0] == ["dil_conv_3x3", 1, 2]
    assert Genotype.from_json(CNAS.to_json(indent=2)) == CNAS
    assert Genotype.from_json(CNAS.to_json().encode()) == CNAS


ORIGINAL_JSON = {
    # as str(genotype) of the original CNAS search writes it (json.dumps of __dict__)
    "named_normal_arch": [
        ["dil_conv_3x3", 1, 2],
        ["sep_conv_3x3", 0, 2],
        ["sep_conv_3x3", 0, 3],
        ["skip_connect", 1, 3],
        ["sep_conv_3x3", 1, 4],
        ["max_pool_3x3", 3, 4],
        ["sep_conv_3x3", 2, 5],
        ["sep_conv_3x3", 4, 5],
    ],
    "ordinal_normal_arch": [
        [6, 1, 2],
        [0, 0, 2],
        [0, 0, 3],
        [5, 1, 3],
        [0, 1, 4],
        [2, 3, 4],
        [0, 2, 5],
        [0, 4, 5],
    ],
    "normal_concat": [2, 3, 4, 5],
    "named_reduced_arch": [
        ["sep_conv_3x3", 0, 2],
        ["skip_connect", 1, 2],
        ["dil_conv_5x5", 2, 3],
        ["skip_connect", 1, 3],
        ["dil_conv_3x3", 2, 4],
        ["sep_conv_3x3", 1, 4],
        ["sep_conv_5x5", 0, 5],
        ["sep_conv_3x3", 3, 5],
    ],
    "ordinal_reduced_arch": [
        [0, 0, 2],
        [5, 1, 2],
        [7, 2, 3],
        [5, 1, 3],
        [6, 2, 4],
        [0, 1, 4],
        [1, 0, 5],
        [0, 3, 5],
    ],
    "reduced_concat": [2, 3, 4, 5],
    "primitives": list(cnas.DARTS_OPS),
    "loose_end": False,
}


def test_from_json_reads_the_original_cnas_layout() -> None:
    assert Genotype.from_json(json.dumps(ORIGINAL_JSON)) == CNAS


def test_from_json_decodes_ordinal_only_original_layout() -> None:
    data = {k: v for k, v in ORIGINAL_JSON.items() if not k.startswith("named_")}
    assert Genotype.from_json(json.dumps(data)) == CNAS


def test_to_json_original_style_is_read_back_and_matches_the_original_layout() -> None:
    data = json.loads(CNAS.to_json(style="original"))
    assert data == ORIGINAL_JSON
    assert Genotype.from_json(json.dumps(data)) == CNAS


def test_original_layout_with_disagreeing_named_and_ordinal_is_refused() -> None:
    data = copy.deepcopy(ORIGINAL_JSON)
    data["ordinal_normal_arch"][0] = [0, 1, 2]  # type: ignore[index]
    with pytest.raises(GenotypeError, match="named_normal_arch and ordinal_normal_arch disagree"):
        Genotype.from_json(json.dumps(data))


def test_original_layout_with_ordinal_out_of_range_is_refused() -> None:
    data = {k: v for k, v in ORIGINAL_JSON.items() if not k.startswith("named_")}
    data["ordinal_reduced_arch"] = [[9, 0, 2], *ORIGINAL_JSON["ordinal_reduced_arch"][1:]]  # type: ignore[misc]
    with pytest.raises(GenotypeError, match=r"ordinal_reduced_arch, edge 0 .*op index 9"):
        Genotype.from_json(json.dumps(data))


def test_from_json_reads_genotype_nested_in_a_config() -> None:
    config = {"C": 36, "layers": 20, "genotype": CNAS.to_dict()}
    assert Genotype.from_json(json.dumps(config)) == CNAS


def test_from_json_reads_darts_pairs() -> None:
    data = {
        "normal": [["sep_conv_3x3", 0], ["skip_connect", 1]],
        "normal_concat": [2],
        "reduce": [["max_pool_3x3", 0], ["sep_conv_5x5", 1]],
        "reduce_concat": [2],
    }
    assert Genotype.from_json(json.dumps(data)) == small()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "malformed genotype JSON"),
        ("", "malformed genotype JSON"),
        (b"\xff\xfe", "malformed genotype JSON"),
        ("[1, 2, 3]", "must be an object, got list"),
        ('{"normal": []}', "not a genotype: keys \\['normal'\\]"),
        ('{"format": "other", "normal": [], "reduce": []}', "format: expected 'cnas.genotype'"),
        ('{"version": 99, "normal": [], "reduce": []}', "version: .* got 99; upgrade cnas"),
        ('{"normal": "sep", "reduce": []}', "normal: expected a list of \\[op, src, dst\\]"),
        (
            '{"normal": [["sep_conv_3x3", 0]], "reduce": [[1, 2, 3]]}',
            r"normal, edge 0 .*expected \[op, src, dst\]",
        ),
        ('{"named_normal_arch": [], "loose_end": true}', "loose_end"),
        ('{"ordinal_normal_arch": [[0, 0, 2]]}', "primitives: needed"),
    ],
)
def test_from_json_rejects_malformed_input(text: str | bytes, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_json(text)


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"normal": [("sep_conv_3x3", 0, 2), ("sep3x3", 1, 2)]},
            r"normal cell, edge 1 \('sep3x3', 1, 2\): unknown op 'sep3x3'",
        ),
        (
            {"normal": [("sep_conv_3x3", 0, 2), ("sep_conv_3x", 1, 2)]},
            "did you mean 'sep_conv_3x3'",
        ),
        (
            {"reduce": [("max_pool_3x3", 0, 2), ("sep_conv_5x5", 3, 2)]},
            r"reduce cell, edge 1 .*source node 3 must be an earlier node \(0..1\)",
        ),
        ({"reduce": [("max_pool_3x3", 2, 2), ("sep_conv_5x5", 1, 2)]}, "source node 2"),
        ({"normal": [("sep_conv_3x3", -1, 2), ("skip_connect", 1, 2)]}, "source node -1"),
        ({"normal": [("sep_conv_3x3", 0, 2)]}, "node 2 has 1 incoming edge"),
        (
            {"normal": [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 2), ("skip_connect", 1, 3)]},
            r"normal cell: node 3 has 1 incoming edge\(s\); every intermediate node takes",
        ),
        (
            {"normal": [("sep_conv_3x3", 0, 1), ("skip_connect", 1, 2)]},
            "destination node 1 is a cell input",
        ),
        (
            {"normal": [("sep_conv_3x3", 0, 2), ("skip_connect", 1, 3)]},
            "node 2 has 1 incoming edge",
        ),
        (
            {
                "normal": [
                    ("sep_conv_3x3", 0, 2),
                    ("skip_connect", 1, 2),
                    ("skip_connect", 1, 2),
                    ("skip_connect", 0, 3),
                ]
            },
            r"node 2 has 3 incoming edge",
        ),
        (
            {
                "normal": [
                    ("sep_conv_3x3", 0, 2),
                    ("skip_connect", 1, 2),
                    ("skip_connect", 1, 4),
                    ("skip_connect", 0, 4),
                ]
            },
            "node 3 has 0 incoming edge",
        ),
        (
            {
                "normal": [
                    ("skip_connect", 0, 3),
                    ("skip_connect", 1, 3),
                    ("sep_conv_3x3", 0, 2),
                    ("sep_conv_3x3", 1, 2),
                ],
                "normal_concat": [2, 3],
            },
            "listed by destination node in increasing order",
        ),
        ({"normal": []}, "normal cell: has no edges"),
        ({"normal": "sep_conv_3x3"}, "normal cell: edges must be a list"),
        (
            {"normal": [("sep_conv_3x3", 0), ("skip_connect", 1, 2)]},
            r"normal cell, edge 0 .*expected an \(op, src, dst\) triple",
        ),
        ({"normal": [(3, 0, 2), ("skip_connect", 1, 2)]}, "op must be a string"),
        (
            {"normal": [("sep_conv_3x3", "0", 2), ("skip_connect", 1, 2)]},
            "src and dst must be integers",
        ),
        (
            {"normal": [("sep_conv_3x3", True, 2), ("skip_connect", 1, 2)]},
            "src and dst must be integers",
        ),
        ({"normal_concat": [3]}, "normal_concat: node 3 does not exist"),
        ({"normal_concat": []}, "normal_concat: is empty"),
        ({"reduce_concat": [2, 2]}, r"reduce_concat: \[2, 2\] lists a node twice"),
        ({"reduce_concat": ["2"]}, "reduce_concat: node '2' is not an integer"),
        ({"reduce_concat": 2}, "reduce_concat: expected a list"),
        ({"reduce": None}, "reduce: the reduction cell's edges are required"),
        (
            {"reduce": CNAS.reduce, "reduce_concat": None},
            "normal cell has 1 intermediate nodes and the reduction cell 4",
        ),
    ],
)
def test_invalid_genotypes_raise_genotype_error_naming_the_problem(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(GenotypeError, match=message):
        small(**overrides)


def test_genotype_error_is_a_value_error() -> None:
    assert issubclass(GenotypeError, ValueError)


def test_from_arch_requires_the_reduced_cell() -> None:
    with pytest.raises(GenotypeError, match="reduced_arch"):
        Genotype.from_arch(normal_arch=SMALL_NORMAL)


# -- files -----------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    path = CNAS.save(tmp_path / "g.json")  # type: ignore[operator]
    assert Genotype.load(path) == CNAS
    assert not list(path.parent.glob(".*.tmp"))


def test_save_refuses_to_overwrite_unless_asked(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "g.json"  # type: ignore[operator]
    path.write_text("precious")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        CNAS.save(path)
    assert path.read_text() == "precious"
    CNAS.save(path, overwrite=True)
    assert Genotype.load(path) == CNAS


def test_load_reports_missing_and_bad_files(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(FileNotFoundError, match="genotype file not found"):
        Genotype.load(tmp_path / "nope.json")  # type: ignore[operator]
    bad = tmp_path / "bad.json"  # type: ignore[operator]
    bad.write_text("{")
    with pytest.raises(GenotypeError, match=r"bad.json: malformed genotype JSON"):
        Genotype.load(bad)


def _original_arch_record(genotype_json: str, **fields: object) -> dict[str, object]:
    """An arch-*.json record as the original search's derive step writes it.

    The field list is that of the original ArchSample dataclass
    (cnas/search/core/arch_sample.py), in its order; derive_test fills ``arch`` with
    ``str(best_arch)``, the genotype's JSON, and the statistics, and leaves the rest None.
    """
    record: dict[str, object] = {
        "start_time": None,
        "end_time": None,
        "elapsed_time": None,
        "description": None,
        "type_": None,
        "sample_id": None,
        "arch": genotype_json,
        "derived_acc": 0.4375,
        "normal_logp": -21.3,
        "node_normal_entropy": 4.1,
        "op_normal_entropy": 6.2,
        "reduced_logp": -20.7,
        "node_reduced_entropy": 4.0,
        "op_reduced_entropy": 6.1,
        "n_channels": None,
        "n_layers": None,
        "n_params": None,
        "flops": None,
        "eval_acc": None,
        "eval_epoch": None,
    }
    record.update(fields)
    return record


def test_load_reads_the_original_searchs_arch_json_records(tmp_path: Path) -> None:
    # The original search orders its primitives as the curriculum does (op 0 first, the
    # rest shuffled) and writes the ordinals against that order.
    order = ["sep_conv_3x3", "avg_pool_3x3", "max_pool_3x3", "skip_connect"]
    order += ["dil_conv_3x3", "none", "dil_conv_5x5", "sep_conv_5x5"]
    arch = copy.deepcopy(ORIGINAL_JSON)
    arch["primitives"] = order
    for cell in ("normal", "reduced"):
        named = arch[f"named_{cell}_arch"]
        arch[f"ordinal_{cell}_arch"] = [[order.index(op), s, t] for op, s, t in named]  # type: ignore[union-attr]
    path = tmp_path / "derive" / "stage-8" / "epoch-320" / "arch-1.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_original_arch_record(json.dumps(arch)), indent=2))
    assert Genotype.load(path) == CNAS
    assert cnas.genotypes.resolve(str(path)) == CNAS  # what cnas train --arch uses
    arch["ordinal_normal_arch"][0] = [0, 1, 2]  # type: ignore[index]
    path.write_text(json.dumps(_original_arch_record(json.dumps(arch))))
    with pytest.raises(GenotypeError, match="named_normal_arch and ordinal_normal_arch disagree"):
        Genotype.load(path)


def test_a_broken_arch_json_record_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "arch-1.json"
    path.write_text(json.dumps(_original_arch_record("{not json")))
    with pytest.raises(GenotypeError, match="arch: not a genotype JSON string"):
        Genotype.load(path)
    path.write_text(json.dumps(_original_arch_record(None)))  # type: ignore[arg-type]
    with pytest.raises(GenotypeError, match="arch: expected the original CNAS genotype"):
        Genotype.load(path)
