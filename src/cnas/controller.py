"""Deprecated module: the controller lives in ``cnas.search`` now (``cnas.Controller``)."""

from __future__ import annotations

from typing import Any

from ._deprecation import warn_deprecated

__all__: list[str] = []

_MOVED = ("Controller", "ControllerSample")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warn_deprecated(f"cnas.controller.{name}", removed_in="0.2", instead=f"cnas.{name}")
        from . import search

        return getattr(search, name)
    raise AttributeError(f"module 'cnas.controller' has no attribute {name!r}")
