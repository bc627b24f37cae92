"""Lay out installed plugin distributions, as pip does, and run Python that sees them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def install_dummy_distribution(
    site: Path, body: str, entry_points: str, package: str = "cnas_dummy_ops"
) -> None:
    """A package ``package`` with ``body`` and its .dist-info with ``entry_points``."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(body))
    name = package.replace("_", "-")
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (info / "RECORD").write_text("")


def run_python(
    code: str, site: Path, *args: str, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (or, with ``code=""``, ``python ARGS``) with ``site`` on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    command = [sys.executable, "-c", textwrap.dedent(code)] if code else [sys.executable]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
