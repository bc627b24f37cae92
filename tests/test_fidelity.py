"""``benchmarks/fidelity.py``, the side-by-side harness against the original code: its
dry run (cnas's side and the plumbing, without the original) and its refusals."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import cnas

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fidelity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity", ROOT / "benchmarks" / "fidelity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fidelity"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_dry_run_runs_the_cnas_side_and_counts_what_it_would_compare(
    fidelity: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    dtype = torch.get_default_dtype()
    assert fidelity.main(["--dry-run", "--curriculum", "nodes", "--stages", "1"]) == 0
    out = capsys.readouterr().out
    # 1 warm-up + 2 supernet epochs of 4 batches, 2 controller epochs of 4 batches, 3 x 10
    # candidates; 1 node: 4 decisions per architecture, 12 + 8 + 30 architectures
    assert (
        "dry run, nodes curriculum: cnas ran 12 weight steps, 8 controller steps and 30 "
        "derive scores over 1 stages; 200 forced decisions per cell type" in out
    )
    assert torch.get_default_dtype() == dtype  # float64 only inside the run


def test_decisions_give_back_the_architecture_they_were_made_from(
    fidelity: ModuleType,
) -> None:
    space = cnas.SearchSpace(fidelity.OPS, n_nodes=4)
    g = torch.Generator().manual_seed(0)
    order = list(reversed(space.ops))
    for _ in range(20):
        genotype = space.sample(generator=g)
        actions = fidelity.forced_actions([genotype], order)
        assert len(actions["normal"]) == len(actions["reduce"]) == 16
        for kind in ("normal", "reduce"):
            edges = fidelity.genotype_of_actions(actions[kind], 4, order)
            assert edges == [tuple(e) for e in getattr(genotype, kind)]


def test_the_comparison_finds_the_first_step_that_departs(fidelity: ModuleType) -> None:
    def side(losses: list[float]) -> dict[str, object]:
        controller = {key: [torch.zeros(2), torch.zeros(2)] for key, _ in fidelity.CONTROLLER_KEYS}
        return {
            "trace": {"losses": losses, "rewards": [], "policy_losses": [], "derive_scores": []},
            "kept": [],
            "final": {"supernet": [torch.ones(3)], "controller": controller},
        }

    rows = fidelity.compare(side([1.0, 2.0, 3.0]), side([1.0, 2.0 + 1e-13, 3.5]))
    name, count, largest, first = rows[0]
    assert (name, count, first) == ("supernet loss", 3, 3)
    assert largest == pytest.approx(0.5)
    rows = fidelity.compare(side([1.0]), side([1.0, 2.0]))
    assert rows[0][1] == -1  # the counts differ


def test_a_folder_that_is_not_the_original_is_refused(
    fidelity: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        fidelity.main(["--original", str(tmp_path)])
    assert "is not a checkout of guoyongcs/CNAS" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fidelity.main([])
    assert "--original PATH" in capsys.readouterr().err
