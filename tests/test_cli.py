"""The ``cnas`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnas
from cnas.cli import main


@pytest.mark.usefixtures("needs_dot")
def test_draw_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cells.svg"
    assert main(["draw", "CNAS", "-o", str(out)]) == 0
    assert "dil_conv_5x5" in out.read_text()
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.usefixtures("needs_dot")
def test_draw_takes_the_format_from_the_suffix_or_the_flag(tmp_path: Path) -> None:
    assert main(["draw", "DARTS_V2", "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["draw", "DARTS_V2", "-o", str(tmp_path / "c"), "--format", "pdf"]) == 0
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.usefixtures("needs_dot")
def test_draw_reads_a_genotype_file(tmp_path: Path) -> None:
    path = cnas.genotypes.PDARTS.save(tmp_path / "g.json")
    assert main(["draw", str(path), "-o", str(tmp_path / "g.svg")]) == 0


def test_draw_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cells.svg"
    out.write_text("keep me")
    assert main(["draw", "CNAS", "-o", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("CNSA", "unknown genotype 'CNSA'; did you mean 'CNAS'?"),
        ("missing.json", "genotype file not found: missing.json"),
    ],
)
def test_draw_explains_bad_architectures_in_one_line(
    arch: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draw", arch, "-o", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_draw_explains_a_malformed_genotype_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"normal": [["sep_conv_3x3", 0, 3]], "reduce": []}))
    assert main(["draw", str(bad), "-o", str(tmp_path / "x.svg")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "normal cell" in err and "Traceback" not in err


def test_draw_without_dot_exits_1_and_leaves_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["draw", "CNAS", "-o", str(tmp_path / "cells.svg")]) == 1
    assert (tmp_path / "cells.gv").exists() and not (tmp_path / "cells.svg").exists()
    assert "dot -Tsvg" in capsys.readouterr().err


def test_unknown_format_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draw", "CNAS", "-o", str(tmp_path / "x.svgq")]) == 2
    assert "unknown drawing format 'svgq'" in capsys.readouterr().err


def test_genotypes_lists_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["genotypes"]) == 0
    assert capsys.readouterr().out.split() == cnas.genotypes.list_genotypes()
    assert main(["genotypes", "CNAS", "--format", "json"]) == 0
    assert cnas.Genotype.from_json(capsys.readouterr().out) == cnas.genotypes.CNAS
    assert main(["genotypes", "CNAS", "--format", "darts"]) == 0
    assert cnas.Genotype.from_darts(capsys.readouterr().out) == cnas.genotypes.CNAS


def test_wrong_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["draw", "CNAS", "--colour", "red"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cnas", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"cnas {cnas.__version__}"
    result = subprocess.run(
        [sys.executable, "-m", "cnas", "draw", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0 and "--output" in result.stdout


def test_help_and_version_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from cnas.cli import main\n"
        "for argv in (['--help'], ['--version'], ['evaluate', '--help'], ['study', '--help'],\n"
        "             ['draw', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
