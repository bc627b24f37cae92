"""Developer sessions: ``nox -s lint typecheck tests docs build``."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.reuse_venv = "yes"  # torch is large: keep session environments between runs
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (slow tests included; ``-- -m "not slow"`` skips them)."""
    session.install("-e", ".[test]")
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
