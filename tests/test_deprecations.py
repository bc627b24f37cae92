"""Old spellings keep working, each with a FutureWarning that names its replacement and
the release that removes it (docs/stability.md)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import cnas
from cnas.ops import _blocks, _norm

OLD_NAMES: list[tuple[str, str, Any, str]] = [
    ("cnas.genotypes", "get", cnas.genotypes.get_genotype, "cnas.genotypes.get_genotype"),
    (
        "cnas.genotypes",
        "register",
        cnas.genotypes.register_genotype,
        "cnas.genotypes.register_genotype",
    ),
    (
        "cnas.genotypes",
        "unregister",
        cnas.genotypes.unregister_genotype,
        "cnas.genotypes.unregister_genotype",
    ),
    ("cnas.genotypes", "ENTRY_POINT_GROUP", "cnas.genotypes", "ENTRY_POINT_GROUPS"),
    ("cnas.ops", "ENTRY_POINT_GROUP", "cnas.ops", "ENTRY_POINT_GROUPS"),
    ("cnas.models", "ENTRY_POINT_GROUP", "cnas.models", "ENTRY_POINT_GROUPS"),
    ("cnas.search", "ENTRY_POINT_GROUP", "cnas.strategies", "ENTRY_POINT_GROUPS"),
    ("cnas.ops", "Tail", _blocks.Tail, "no public replacement"),
    ("cnas.ops", "preactivated_tail", _blocks.preactivated_tail, "no public replacement"),
    ("cnas.ops", "switch_batchnorm", _norm.switch_batchnorm, "no public replacement"),
    ("cnas.ops", "use_gemv_batchnorm", _norm.use_gemv_batchnorm, "no public replacement"),
    ("cnas.training", "accuracy", cnas.training.count_correct, "cnas.training.count_correct"),
]


@pytest.mark.parametrize(("module", "name", "now", "instead"), OLD_NAMES)
def test_an_old_name_warns_and_still_works(module: str, name: str, now: Any, instead: str) -> None:
    imported = importlib.import_module(module)
    assert name not in imported.__all__  # not part of the public API any more
    with pytest.warns(FutureWarning, match=rf"{module}\.{name} .*removed in cnas 0\.3") as caught:
        value = getattr(imported, name)
    assert value == now
    assert instead in str(caught[0].message)


def test_an_old_name_warns_at_the_line_that_uses_it() -> None:
    with pytest.warns(FutureWarning) as caught:
        from cnas.genotypes import get  # noqa: F401
    assert caught[0].filename == __file__


def test_the_old_validate_returns_the_dict_it_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    check = cnas.costs.PredictionCheck(3, 0, 0.5, 12.0, 1.1, ((1.0, 1.2), (2.0, 2.1), (3.0, 3.3)))
    monkeypatch.setattr(cnas.costs, "check_predictions", lambda *a, **k: check)
    with pytest.warns(FutureWarning, match="use cnas.costs.check_predictions"):
        validate = cnas.costs.validate
    result = validate("table", 3)
    assert result == check.to_dict() and result["pairs"] == [[1.0, 1.2], [2.0, 2.1], [3.0, 3.3]]


def test_unknown_names_are_still_attribute_errors() -> None:
    for module in ("cnas.genotypes", "cnas.ops", "cnas.models", "cnas.search", "cnas.costs"):
        with pytest.raises(AttributeError, match="has no attribute 'nope'"):
            _ = importlib.import_module(module).nope


def test_the_plugin_groups_are_one_public_mapping() -> None:
    assert dict(cnas.ENTRY_POINT_GROUPS) == {
        "genotypes": "cnas.genotypes",
        "models": "cnas.models",
        "ops": "cnas.ops",
        "strategies": "cnas.strategies",
    }
    with pytest.raises(TypeError):
        cnas.ENTRY_POINT_GROUPS["ops"] = "x"  # type: ignore[index]
