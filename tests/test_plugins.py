"""Installed packages contribute models and genotypes through entry points, as they do
ops (tests/test_ops.py) and strategies (tests/test_strategies.py): one registry, one way."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from plugins import install_dummy_distribution, run_python  # noqa: E402


def test_a_plugin_model_and_genotype_are_found_by_name(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        """
        import cnas

        MINE = cnas.Genotype.from_darts(repr(cnas.genotypes.DARTS_V1.to_darts()))

        def tiny_net(**kwargs):
            return cnas.NetworkCIFAR(8, 10, 5, False, "my_cell", **kwargs)
        """,
        "[cnas.models]\ntiny_net = cnas_dummy_zoo:tiny_net\n"
        "[cnas.genotypes]\nmy_cell = cnas_dummy_zoo:MINE\n",
        package="cnas_dummy_zoo",
    )
    result = run_python(
        """
        import cnas
        assert "my_cell" in cnas.genotypes.list_genotypes()
        assert cnas.genotypes.get_genotype("MY_CELL") == cnas.genotypes.DARTS_V1
        assert "tiny_net" in cnas.models.list_models("tiny_*")
        net = cnas.models.get_model("tiny_net")
        print(type(net).__name__, net.genotype == cnas.genotypes.DARTS_V1)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["NetworkCIFAR", "True"]


def test_a_plugin_that_is_not_a_genotype_is_reported_when_asked_for(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        "NOT_A_CELL = 'sep_conv_3x3'\n",
        "[cnas.genotypes]\nbad_cell = cnas_dummy_zoo:NOT_A_CELL\n",
        package="cnas_dummy_zoo",
    )
    result = run_python(
        """
        import cnas
        assert "CNAS" in cnas.genotypes.list_genotypes()
        try:
            cnas.genotypes.get_genotype("bad_cell")
        except KeyError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "genotype 'bad_cell' failed to load from its plugin: cnas-dummy-zoo" in result.stdout
    assert "expected a cnas.Genotype, got str" in result.stdout
