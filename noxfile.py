"""Developer sessions: ``nox -s lint typecheck tests docs build``, and ``nox -s minimum``
(not a default: the test suite on the oldest declared versions of everything)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.version import Version

nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.reuse_venv = "yes"  # torch is large: keep session environments between runs
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PROJECT = nox.project.load_toml(ROOT / "pyproject.toml")["project"]


def _floors() -> dict[str, str]:
    """The floor (the ``>=`` version) of each runtime dependency in pyproject.toml."""
    floors = {}
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        low = [s.version for s in req.specifier if s.operator == ">="]
        if len(low) != 1:
            raise ValueError(f"{spec!r}: each runtime dependency needs exactly one >= floor")
        floors[req.name] = low[0]
    return floors


_PYTHON_FLOOR = re.fullmatch(r">=\s*(\d+\.\d+)", PROJECT["requires-python"].strip())
assert _PYTHON_FLOOR, "requires-python must read '>=X.Y'"
MIN_PYTHON = _PYTHON_FLOOR.group(1)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (slow tests included; ``-- -m "not slow"`` skips them)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=MIN_PYTHON)
def minimum(session: nox.Session) -> None:
    """Run the test suite on the declared floors: oldest Python, each dependency at its ``>=``.

    That is the oldest Python that ``requires-python`` allows and every runtime dependency
    at exactly the ``>=`` version that pyproject.toml declares for it.

    The pins are read from pyproject.toml, so the session tests whatever is declared. They
    go in as pip constraints: ``.[test]`` installs around them, and pip fails rather than
    upgrade one. torch comes from the configured index (PyPI: CUDA wheels, a few GB the
    first time); ``PIP_EXTRA_INDEX_URL`` can point at a CPU-only one. Not a default session.
    """
    floors = _floors()
    constraints = Path(session.create_tmp()) / "floors.txt"
    constraints.write_text("".join(f"{name}=={v}\n" for name, v in floors.items()))
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("python", "-m", "pip", "check")
    got = session.run(
        "python",
        "-c",
        "import sys, importlib.metadata as m; print(*(m.version(n) for n in sys.argv[1:]))",
        *floors,
        silent=True,
    )
    installed = dict(zip(floors, str(got).split(), strict=True))
    off = {n: v for n, v in installed.items() if Version(Version(v).public) != Version(floors[n])}
    if off:
        session.error(f"not at the declared floors: {off} (floors: {floors})")
    session.log("at the floors: " + ", ".join(f"{n}=={v}" for n, v in installed.items()))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy in strict mode."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors (static analysis; no torch needed)."""
    session.install("mkdocs>=1.5,<2", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25")
    site = session.create_tmp() + "/site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, check their metadata and that py.typed ships."""
    session.install("build>=1.0", "twine>=5.0")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    session.run(
        "python",
        "-c",
        "import sys, zipfile, glob; names = zipfile.ZipFile(glob.glob('dist/*.whl')[0]).namelist();"
        " missing = [n for n in ('cnas/py.typed', 'cnas/__init__.py') if n not in names];"
        " sys.exit(f'wheel lacks {missing}' if missing else 0)",
    )
