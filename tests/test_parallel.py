"""The suite runs on several pytest-xdist workers; a test marked ``alone`` runs while no
other test runs (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BUSY = '''
import os, time
from pathlib import Path
import pytest

FOLDER = Path(os.environ["CNAS_ALONE_CHECK"])


def busy(name):
    """Mark a test as running for a while (a busy loop, not a sleep)."""
    flag = FOLDER / f"busy-{os.getpid()}-{name}"
    flag.write_text("running")
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    flag.unlink()
'''

MODULE_A = (
    BUSY
    + """

@pytest.mark.parametrize("i", range(6))
def test_busy(i):
    busy(f"a{i}")
"""
)

MODULE_B = (
    BUSY
    + """

@pytest.mark.alone
@pytest.mark.parametrize("i", range(3))
def test_alone(i):
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        assert not list(FOLDER.glob("busy-*")), "another test ran beside an alone test"


@pytest.mark.parametrize("i", range(6))
def test_busy_too(i):
    busy(f"b{i}")
"""
)


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is an flock (POSIX)")
def test_an_alone_test_runs_while_no_other_test_runs(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: runs alone\n")
    (tmp_path / "test_a.py").write_text(MODULE_A)
    (tmp_path / "test_b.py").write_text(MODULE_B)
    (tmp_path / "flags").mkdir()
    env = {**os.environ, "CNAS_ALONE_CHECK": str(tmp_path / "flags")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "--dist",
            "load",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "15 passed" in result.stdout
