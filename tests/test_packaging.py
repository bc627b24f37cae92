"""The package metadata and the install instructions say what is true."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 11):  # tomllib is 3.11's; pip vendors a TOML reader for 3.10
    tomllib = pytest.importorskip("pip._vendor.tomli")
else:
    import tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_metadata_names_every_project_url_and_mkdocs_agrees() -> None:
    urls = PROJECT["urls"]
    assert {"Homepage", "Source", "Documentation", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    mkdocs = (ROOT / "mkdocs.yml").read_text()
    assert f"site_url: {urls['Documentation']}\n" in mkdocs
    assert f"repo_url: {urls['Source']}\n" in mkdocs
    assert all(urls[key].startswith(urls["Source"]) for key in ("Issues", "Changelog"))


def test_python_classifiers_match_requires_python() -> None:
    floor = re.fullmatch(r">=\s*3\.(\d+)", PROJECT["requires-python"])
    assert floor is not None
    listed = sorted(
        int(c.rsplit(".", 1)[1])
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert listed and listed[0] == int(floor.group(1))
    assert listed == list(range(listed[0], listed[-1] + 1))  # no gaps


def test_install_instructions_do_not_promise_an_unpublished_package() -> None:
    for page in ("README.md", "docs/index.md"):
        text = (ROOT / page).read_text()
        for line in text.splitlines():
            if re.search(r"^\s*pip install cnas\b", line):
                raise AssertionError(f"{page}: {line.strip()!r} (cnas is not on PyPI yet)")
        assert "download.pytorch.org/whl/cpu" in text, page  # the CPU-only torch note
    index = (ROOT / "docs/index.md").read_text()
    torch_floor = next(d for d in PROJECT["dependencies"] if d.startswith("torch>="))
    assert f"PyTorch {torch_floor.removeprefix('torch>=')} or newer" in index
