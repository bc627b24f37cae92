"""The published genotypes and the by-name registry."""

from __future__ import annotations

import pytest

import cnas
from cnas import Edge, genotypes
from cnas.utils import count_params

# Parameter counts of NetworkCIFAR(C=36, layers=20) without the auxiliary head. CNAS and
# DARTS_V2 are the published figures (3.7M / 3.3M); the others pin our transcription.
CIFAR_PARAMS = {
    "CNAS": 3_695_374,
    "DARTS_V1": 3_169_414,
    "DARTS_V2": 3_349_342,
    "PC_DARTS": 3_634_678,
    "PDARTS": 3_433_798,
    "NASNet": 3_830_950,
    "AmoebaNet": 3_145_078,
}


@pytest.mark.parametrize(("name", "params"), sorted(CIFAR_PARAMS.items()))
def test_published_cell_builds_a_network_of_the_expected_size(name: str, params: int) -> None:
    net = cnas.NetworkCIFAR(36, 10, 20, True, genotypes.get_genotype(name))
    assert count_params(net) == params


def test_cnas_cell_is_the_one_in_the_authors_readme() -> None:
    g = genotypes.CNAS
    assert [tuple(e) for e in g.normal] == [
        ("dil_conv_3x3", 1, 2),
        ("sep_conv_3x3", 0, 2),
        ("sep_conv_3x3", 0, 3),
        ("skip_connect", 1, 3),
        ("sep_conv_3x3", 1, 4),
        ("max_pool_3x3", 3, 4),
        ("sep_conv_3x3", 2, 5),
        ("sep_conv_3x3", 4, 5),
    ]
    assert [tuple(e) for e in g.reduce] == [
        ("sep_conv_3x3", 0, 2),
        ("skip_connect", 1, 2),
        ("dil_conv_5x5", 2, 3),
        ("skip_connect", 1, 3),
        ("dil_conv_3x3", 2, 4),
        ("sep_conv_3x3", 1, 4),
        ("sep_conv_5x5", 0, 5),
        ("sep_conv_3x3", 3, 5),
    ]


def test_darts_v1_cell() -> None:
    g = genotypes.DARTS_V1
    assert g.normal[-1] == Edge("skip_connect", 2, 5)
    assert g.reduce[-1] == Edge("avg_pool_3x3", 0, 5)


def test_darts_v2_cell_and_alias() -> None:
    assert genotypes.DARTS is genotypes.DARTS_V2
    assert genotypes.DARTS_V2.normal[-1] == Edge("dil_conv_3x3", 2, 5)
    assert {e.op for e in genotypes.DARTS_V2.reduce} == {"max_pool_3x3", "skip_connect"}


def test_pc_darts_cell() -> None:
    g = genotypes.PC_DARTS
    assert g.normal[0] == Edge("sep_conv_3x3", 1, 2)
    assert g.reduce[-1] == Edge("sep_conv_3x3", 2, 5)


def test_pdarts_cell() -> None:
    g = genotypes.PDARTS
    assert g.normal[-1] == Edge("dil_conv_5x5", 4, 5)
    assert g.reduce[-1] == Edge("dil_conv_5x5", 3, 5)


def test_nasnet_cell_has_five_nodes_and_partial_reduce_concat() -> None:
    g = genotypes.NASNet
    assert (g.n_nodes, g.normal_concat, g.reduce_concat) == (5, (2, 3, 4, 5, 6), (4, 5, 6))
    assert g.reduce[1] == Edge("sep_conv_7x7", 0, 2)


def test_amoebanet_cell_uses_the_darts_spelling_of_the_factorized_7x7_conv() -> None:
    g = genotypes.AmoebaNet
    assert (g.normal_concat, g.reduce_concat) == ((4, 5, 6), (3, 4, 6))
    assert g.reduce[8] == Edge("conv_7x1_1x7", 0, 6)


def test_get_is_case_insensitive_and_suggests_close_names() -> None:
    assert genotypes.get_genotype("cnas") is genotypes.CNAS
    with pytest.raises(KeyError, match="unknown genotype 'DART_V2'; did you mean 'DARTS_V2'"):
        genotypes.get_genotype("DART_V2")
    with pytest.raises(genotypes.UnknownGenotypeError):
        genotypes.get_genotype(3)  # type: ignore[arg-type]


def test_list_genotypes_is_sorted_and_filters_by_pattern_ignoring_case() -> None:
    names = genotypes.list_genotypes()
    assert names == sorted(names)
    assert set(CIFAR_PARAMS) <= set(names)
    assert genotypes.list_genotypes("darts_v*") == ["DARTS_V1", "DARTS_V2"]


def test_the_never_released_list_is_gone() -> None:
    assert not hasattr(genotypes, "list")  # list_genotypes() does not shadow the builtin


def test_published_genotypes_can_be_neither_replaced_nor_removed() -> None:
    with pytest.raises(ValueError, match="'CNAS' is built in and cannot be replaced"):
        genotypes.register_genotype("cnas", genotypes.DARTS_V2, override=True)
    with pytest.raises(ValueError, match="'DARTS_V2' is built in and cannot be removed"):
        genotypes.unregister_genotype("darts_v2")
    assert genotypes.get_genotype("CNAS") is genotypes.CNAS


def test_genotype_plugins_come_from_the_entry_point_group() -> None:
    assert cnas.ENTRY_POINT_GROUPS["genotypes"] == "cnas.genotypes"
    from cnas.genotypes import _from_entry_point

    assert _from_entry_point("x", genotypes.CNAS, "dist") is genotypes.CNAS
    with pytest.raises(TypeError, match="expected a cnas.Genotype, got str"):
        _from_entry_point("x", "not a genotype", "dist")


def test_register_get_and_unregister_a_user_genotype() -> None:
    mine = cnas.Genotype.from_darts(repr(genotypes.PDARTS.to_darts()))
    try:
        assert genotypes.register_genotype("MINE", mine) is mine
        assert genotypes.get_genotype("mine") is mine
        assert "MINE" in genotypes.list_genotypes()
        with pytest.raises(ValueError, match="genotype 'MINE' is already registered"):
            genotypes.register_genotype("mine", genotypes.CNAS)
        genotypes.register_genotype("MINE", genotypes.CNAS, override=True)
        assert genotypes.get_genotype("MINE") is genotypes.CNAS
    finally:
        genotypes.unregister_genotype("MINE")
    assert "MINE" not in genotypes.list_genotypes()


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    [
        ("CNAS", genotypes.DARTS_V2, ValueError, "'CNAS' is built in"),
        ("darts_v2", genotypes.CNAS, ValueError, "'DARTS_V2' is built in"),
        ("", genotypes.CNAS, ValueError, "invalid genotype name ''"),
        ("my cell", genotypes.CNAS, ValueError, "invalid genotype name 'my cell': use letters"),
        ("X", "CNAS", TypeError, "expected a cnas.Genotype, got str"),
    ],
)
def test_register_refuses_bad_input(name: str, value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        genotypes.register_genotype(name, value)  # type: ignore[arg-type]


def test_unregister_refuses_published_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="'CNAS' is built in and cannot be removed"):
        genotypes.unregister_genotype("CNAS")
    with pytest.raises(KeyError, match="unknown genotype 'nope'"):
        genotypes.unregister_genotype("nope")


def test_resolve_accepts_genotypes_names_and_paths(tmp_path: pytest.TempPathFactory) -> None:
    path = genotypes.CNAS.save(tmp_path / "g.json")  # type: ignore[operator]
    assert genotypes.resolve(genotypes.CNAS) is genotypes.CNAS
    assert genotypes.resolve("DARTS_V2") is genotypes.DARTS_V2
    assert genotypes.resolve(path) == genotypes.CNAS
    assert genotypes.resolve(str(path)) == genotypes.CNAS
    with pytest.raises(FileNotFoundError):
        genotypes.resolve("missing.json")
    with pytest.raises(TypeError, match="got int"):
        genotypes.resolve(1)  # type: ignore[arg-type]
