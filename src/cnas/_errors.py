"""Exception types shared across cnas."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["GenotypeError", "UnknownNameError", "close_matches"]


class GenotypeError(ValueError):
    """A genotype is malformed: bad structure, unknown op, wrong types or unreadable input.

    The message names the offending cell, edge or field.
    """


class UnknownNameError(KeyError):
    """A name (op, genotype, model) is not registered.

    Subclasses ``KeyError`` so ``except KeyError`` keeps working, but prints its message
    plainly instead of as a quoted key.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def close_matches(name: str, known: Iterable[str]) -> str:
    """Return a "did you mean ...?" fragment and the list of known names, for messages."""
    known_sorted = sorted(known)
    matches = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(m) for m in matches)}?" if matches else ""
    return f"{hint or ';'} known: {', '.join(known_sorted)}"
