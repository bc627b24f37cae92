"""The scripts in examples/ run as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cnas

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_genotype_tour_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "genotype_tour.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "same as the published cell: True" in result.stdout
    assert "NetworkCIFAR(36, 10, 20): 3,695,374 parameters" in result.stdout
    assert "NetworkImageNet(48, 1000, 14): 5,318,368 parameters" in result.stdout
    assert (tmp_path / "genotype.json").is_file()
    assert (tmp_path / "cells.svg").is_file() or (tmp_path / "cells.gv").is_file()


def test_custom_curriculum_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_curriculum.py"), str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "stage 1: 2 ops, 2 nodes" in result.stdout
    assert "stage 3: validation top-1" in result.stdout
    genotype = cnas.Genotype.load(tmp_path / "genotype.json")
    assert genotype.n_nodes == 4
    first = cnas.Genotype.load(tmp_path / "stages" / "stage-1" / "genotype.json")
    assert first.ops <= {"sep_conv_3x3", "dil_conv_3x3"}


def test_custom_strategy_example_registers_searches_and_resumes(tmp_path: Path) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(EXAMPLES / "custom_strategy.py"), str(tmp_path), "--quick"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert "stage 3 (" in first.stdout and "wins per op:" in first.stdout
    genotype = cnas.Genotype.load(tmp_path / "genotype.json")
    assert genotype.ops <= set(cnas.DARTS_OPS)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["strategy"]["name"] == "tournament"
    assert config["strategy"]["settings"] == {"candidates": 8, "smoothing": 1.0}
    result = json.loads((tmp_path / "stages" / "stage-3" / "result.json").read_text())
    assert result["strategy"] == "tournament" and result["evaluated"] == 8
    state = json.loads((tmp_path / "stages" / "stage-3" / "strategy.json").read_text())
    assert state["strategy"] == "tournament"
    again = run()  # a finished search: resumed, nothing trained, the same result
    assert again.returncode == 0, again.stderr
    final = [line for line in first.stdout.splitlines() if line.startswith("final genotype")]
    assert final and final[0] in again.stdout


def test_study_in_code_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "study_in_code.py"), str(tmp_path / "study"), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"format": "cnas.study-plan"' in result.stdout
    for label in ("cnas/nodes", "random/fixed", "random"):
        assert f"\n{label}: test top-1 " in result.stdout
    record = json.loads((tmp_path / "study" / "study.json").read_text())
    assert record["results"]["complete"]
    assert record["plan"]["arms"][0] == {
        "strategy": "cnas",
        "curriculum": "nodes",
        "settings": {"entropy_coeff": 0.001},
    }
    # the arm's setting reached its searches' configurations
    first = json.loads((tmp_path / "study" / record["commands"][0]["config"]).read_text())
    assert first["strategy"]["settings"] == {"entropy_coeff": 0.001}


def test_search_from_config_example_runs_and_its_record_is_its_config(tmp_path: Path) -> None:
    from cnas.search import SearchConfig

    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "search_from_config.py"), str(out), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "final genotype:" in result.stdout
    saved = SearchConfig.load(tmp_path / "run.json")
    assert SearchConfig.load(out / "config.json") == saved  # the run's record is its config
    assert (saved.curriculum.stages, saved.supernet.layers) == (2, 3)
    assert cnas.Genotype.load(out / "genotype.json").n_nodes == 2


def test_own_images_example_walks_the_whole_path(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "own_images.py"), str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "CNAS_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert "3 classes ('bottom_left', 'top_left', 'top_right'), 32x32" in result.stdout
    assert "takes raw uint8 pixels (3, 32, 32)" in result.stdout
    assert (tmp_path / "net.onnx").is_file() and (tmp_path / "train" / "config.json").is_file()
    assert len([line for line in result.stdout.splitlines() if ".png: " in line]) == 2
