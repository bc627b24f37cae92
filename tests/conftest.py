"""Shared fixtures for the cnas test suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One intra-op thread, here and in the subprocesses the tests start: the tensors in the
# tests are small, and with two threads a busy second core stalls every parallel kernel at
# its barrier (seen here: BatchNorm 30x slower). One thread is also faster on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

try:
    import fcntl
except ImportError:  # not POSIX: no exclusive tests (they then share the CPU)
    fcntl = None  # type: ignore[assignment]

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under pytest-xdist, a test marked ``alone`` runs while no other worker runs one.

    Every test holds a shared lock on one file of the run (setup, call and teardown);
    an ``alone`` test holds it exclusively, so it waits for the other workers' current
    tests and they wait for it. Without xdist, nothing to do.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or fcntl is None:
        yield
        return
    # beside the workers' temporary folders (pytest removes old ones), else in /tmp
    factory = getattr(item.config, "_tmp_path_factory", None)
    folder = factory.getbasetemp().parent if factory is not None else Path(tempfile.gettempdir())
    path = folder / f"cnas-tests-{run}.lock"
    with open(path, "a") as handle:
        exclusive = item.get_closest_marker("alone") is not None
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
