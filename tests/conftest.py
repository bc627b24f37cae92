"""Shared fixtures for the cnas test suite."""

from __future__ import annotations

import shutil

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def needs_dot() -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' is not installed (CI installs it)")
