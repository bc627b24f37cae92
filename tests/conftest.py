"""Shared fixtures for the cnas test suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One intra-op thread, here and in the subprocesses the tests start: the tensors in the
# tests are small, and with two threads a busy second core stalls every parallel kernel at
# its barrier (seen here: BatchNorm 30x slower). One thread is also faster on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def needs_dot() -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' is not installed (CI installs it)")


@pytest.fixture
def write_exploit(tmp_path: Path) -> Callable[[Path, str], Path]:
    """Write a torch checkpoint at ``path`` (a tensor under ``key``) whose unpickling would
    create a marker file; return the marker's path, which must never come to exist."""

    def write(path: Path, key: str) -> Path:
        marker = tmp_path / "pwned"

        class Exploit:
            def __reduce__(self) -> tuple[Any, ...]:
                return (os.system, (f"touch {marker}",))

        torch.save({key: torch.zeros(1), "payload": Exploit()}, path)
        return marker

    return write
