"""Cell diagrams: graphviz rendering and the fallback without ``dot``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import cnas
from cnas.genotypes import CNAS, NASNet


@pytest.mark.usefixtures("needs_dot")
def test_draw_renders_both_cells_to_svg(tmp_path: Path) -> None:
    out = cnas.viz.draw(CNAS, tmp_path / "cells.svg", title="CNAS")
    svg = out.read_text()
    assert out == tmp_path / "cells.svg"
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    for text in ("normal cell", "reduction cell", "dil_conv_5x5", "max_pool_3x3", "CNAS"):
        assert text in svg
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.usefixtures("needs_dot")
def test_draw_renders_png(tmp_path: Path) -> None:
    out = cnas.viz.draw(NASNet, tmp_path / "cells.png", format="png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("needs_dot")
def test_genotype_shows_as_svg_in_notebooks() -> None:
    svg = CNAS._repr_svg_()
    assert svg is not None and "sep_conv_5x5" in svg


def test_graph_source_has_one_edge_per_genotype_edge_and_concat() -> None:
    source = cnas.viz.genotype_graph(CNAS).source
    assert source.count("->") == 16 + 8  # edges + concat links, both cells
    assert cnas.viz.cell_graph(NASNet, "reduce").source.count("->") == 10 + 3


def test_without_dot_draw_writes_the_source_and_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(cnas.viz, "_WARNED", [])
    with caplog.at_level(logging.WARNING, logger="cnas"):
        out = cnas.viz.draw(CNAS, tmp_path / "cells.svg")
    assert out == tmp_path / "cells.gv"
    assert "digraph" in out.read_text()
    assert not (tmp_path / "cells.svg").exists()
    assert "apt-get install graphviz" in caplog.text
    assert CNAS._repr_svg_() is None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cnas"):  # a search draws every stage
        for stage in range(3):
            assert cnas.viz.draw(CNAS, tmp_path / f"s{stage}.svg").suffix == ".gv"
    assert "was not found" not in caplog.text  # said once per process, not per drawing


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown drawing format 'svgz2'"):
        cnas.viz.draw(CNAS, tmp_path / "x", format="svgz2")


def test_without_dot_the_search_report_links_the_graph_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).with_name("scripts")))
    from tiny_search import build

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(cnas.viz, "_WARNED", [])
    searcher, train, val = build(str(tmp_path / "run"), draw=True)
    searcher.fit(train, val)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "[cells.gv](stages/stage-1/cells.gv) (source)" in report
    assert "dot -Tsvg cells.gv -o cells.svg" in report and "apt-get install graphviz" in report
    assert (tmp_path / "run" / "stages" / "stage-1" / "cells.gv").is_file()
