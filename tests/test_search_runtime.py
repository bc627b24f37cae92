"""Where a search runs and what survives a kill: a ``Searcher`` built in Python under
``torchrun`` takes ``cuda:LOCAL_RANK`` as training does, and a callback's state survives
a SIGKILL and a resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).with_name("scripts")


def test_a_searcher_under_torchrun_takes_its_local_gpu_as_training_does(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(SCRIPTS / "device_under_torchrun.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert seen == {
            "searcher": f"cuda:{rank}",
            "engine": f"cuda:{rank}",
            "training": f"cuda:{rank}",
            "world_size": "2",
        }


def _run(out: Path, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "callback_search.py"), str(out), str(state), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_a_callbacks_state_survives_a_kill_and_a_resume(tmp_path: Path) -> None:
    reference = _run(tmp_path / "reference", tmp_path / "reference.json")
    assert reference.returncode == 0, reference.stderr
    expected = json.loads((tmp_path / "reference.json").read_text())
    assert expected["restored"] is None and expected["state"]["epochs"] == 8  # 4 stages x 2
    killed = _run(tmp_path / "killed", tmp_path / "killed.json", "--kill-after-epoch", "5")
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup ran
    resumed = _run(tmp_path / "killed", tmp_path / "resumed.json")
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads((tmp_path / "resumed.json").read_text())
    # handed back what the last checkpoint held: the 4 epochs before the killed one
    assert got["restored"] is not None and got["restored"]["epochs"] == 4
    assert got["state"] == expected["state"]  # as if it had never been killed
