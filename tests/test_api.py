"""The public API is stable on purpose: a snapshot of names and signatures, packaging facts."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import os
import typing
import warnings
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

import cnas
from cnas._deprecation import deprecated, warn_deprecated

SNAPSHOT = Path(__file__).with_name("api_snapshot.json")
PUBLIC_MODULES = (
    "cnas",
    "cnas.costs",
    "cnas.data",
    "cnas.distributed",
    "cnas.errors",
    "cnas.genotypes",
    "cnas.kernels",
    "cnas.models",
    "cnas.ops",
    "cnas.search",
    "cnas.study",
    "cnas.training",
    "cnas.utils",
    "cnas.viz",
)


def _is_alias(obj: object) -> bool:
    """A type alias such as ``Callable[[int], nn.Module]`` (a class to ``inspect`` on 3.10)."""
    return typing.get_origin(obj) is not None


def _describe(obj: object) -> object:
    if isinstance(obj, ModuleType):
        return "module"
    if _is_alias(obj):
        return "callable" if callable(obj) else "alias"
    if inspect.isclass(obj):
        members: dict[str, str] = {}
        if hasattr(obj, "_fields"):
            members["_fields"] = repr(obj._fields)
        for klass in reversed(obj.__mro__):  # own and inherited cnas members
            if not klass.__module__.startswith("cnas"):
                continue
            for name, member in vars(klass).items():
                if name.startswith("_") and name not in ("__init__", "__call__"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    members[name] = "property"
                elif callable(member):
                    try:
                        members[name] = str(inspect.signature(member))
                    except (TypeError, ValueError):
                        members[name] = "callable"
        return {"class": dict(sorted(members.items()))}
    if callable(obj):
        try:
            return str(inspect.signature(obj))
        except (TypeError, ValueError):
            return "callable"
    return type(obj).__name__


def current_api() -> dict[str, dict[str, object]]:
    api: dict[str, dict[str, object]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        api[module_name] = {name: _describe(getattr(module, name)) for name in module.__all__}
    return api


def test_public_api_matches_the_snapshot() -> None:
    api = current_api()
    if os.environ.get("CNAS_UPDATE_API_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(api, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert api == expected, (
        "the public API changed; if on purpose, regenerate with "
        "CNAS_UPDATE_API_SNAPSHOT=1 pytest tests/test_api.py and update CHANGELOG.md"
    )


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_exists_and_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(module, name)
        if _is_alias(obj):
            continue  # its docstring is the one below its assignment, for the docs
        if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, ModuleType):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_version_matches_the_installed_metadata() -> None:
    assert cnas.__version__ == importlib.metadata.version("cnas")


def test_package_ships_py_typed() -> None:
    assert resources.files("cnas").joinpath("py.typed").is_file()


def test_deprecation_helper_names_the_removing_version() -> None:
    @deprecated(removed_in="1.0", instead="new_thing()")
    def old_thing(x: int) -> int:
        """Old."""
        return x + 1

    with pytest.warns(
        FutureWarning,
        match=r"old_thing\(\) is deprecated and will be removed "
        r"in cnas 1.0; use new_thing\(\) instead",
    ):
        assert old_thing(1) == 2

    def old_api() -> None:
        warn_deprecated("old_api()", removed_in="2.0")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        old_api()
    assert caught[0].category is FutureWarning
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)  # points at the caller
